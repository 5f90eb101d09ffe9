// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/memory_buffer.hpp: lazily zeroed host memory for the mock's pages and tables.
//
// Theory of operation. The mock memory (mock/physmem.hpp, mock/memory_object.hpp) needs
// real bytes behind every page a consumer or a DMA check touches, and flat per-page tables
// for regions of up to tens of GiB, without paying for pages nobody touches. Both come
// from one private anonymous host mapping per object:
//   mmap(PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE)
// The host kernel hands out zero-filled pages on first touch, so an untouched 1 GiB region
// costs address space only, and a zero table entry means "nothing here yet".
//
// Buffers of at most small_bytes (a small region's page table, a one-page object) come
// from the heap instead: a mapping and its munmap are two system calls and a VMA, which
// dominated the cost of short-lived mock processes (the fuzzers create one per input).
// A heap buffer is zeroed at once unless the caller asks for contents::unspecified (page
// bytes, which memory_object zeroes page by page as it hands each page out: zeroing a
// whole 64 KiB region that is mostly never touched was half the instructions of a
// fuzz_ops input). zeroed() says whether the buffer's bytes are known zero.
//
// host_buffer is the RAII owner of one such mapping: move-only, munmap on destruction. Its
// address never changes while it lives, which is what lets page handles point straight
// into it from other threads. allocate() answers an empty optional when the host refuses
// the mapping; callers turn that into ENOMEM, as the kernel does for a failed mmap.
//
// Thread safety: none of its own; the bytes are plain memory.
#ifndef VFIOPIN_MOCK_MEMORY_BUFFER_HPP
#define VFIOPIN_MOCK_MEMORY_BUFFER_HPP

#include <vfiopin/config.hpp>

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>

namespace vfiopin::mock::detail {

/// One private anonymous host mapping, zero-filled on first touch.
class host_buffer {
 public:
  constexpr host_buffer() noexcept = default;

  /// What a new buffer holds.
  enum class contents : std::uint8_t {
    zeroed,       ///< all zero
    unspecified,  ///< anything (a heap buffer is not cleared; a mapping is zero anyway)
  };

  /// A buffer of `bytes` bytes, or nothing if the host refuses it. bytes == 0 gives an
  /// empty buffer. A heap buffer starts on an `align` boundary (a power of two; page bytes
  /// need the default, a table only its entries' alignment); a mapping on a host page.
  [[nodiscard]] static std::optional<host_buffer> allocate(
      std::uint64_t bytes, contents c = contents::zeroed, std::size_t align = alignment) noexcept {
    if (bytes == 0) return host_buffer();
    if (bytes <= small_bytes) {
      VFIOPIN_ASSERT(align != 0 && (align & (align - 1)) == 0 && align <= alignment,
                     "host_buffer alignment");
      void* p = std::aligned_alloc(align, (bytes + align - 1) & ~(align - 1));
      if (p == nullptr) return std::nullopt;
      if (c == contents::zeroed) std::memset(p, 0, bytes);
      return host_buffer(static_cast<std::byte*>(p), bytes, c == contents::zeroed);
    }
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return std::nullopt;
    return host_buffer(static_cast<std::byte*>(p), bytes, true);
  }

  /// Largest buffer taken from the heap; larger ones are mappings, zeroed lazily.
  static constexpr std::uint64_t small_bytes = 64 * 1024;
  /// The default alignment: 4 KiB, as a page's bytes need.
  static constexpr std::size_t alignment = 4096;

  host_buffer(host_buffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)),
        zeroed_(std::exchange(o.zeroed_, true)) {}
  host_buffer& operator=(host_buffer&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      zeroed_ = std::exchange(o.zeroed_, true);
    }
    return *this;
  }
  host_buffer(const host_buffer&) = delete;
  host_buffer& operator=(const host_buffer&) = delete;
  ~host_buffer() { reset(); }

  [[nodiscard]] std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }
  /// The bytes were zero when allocated (contents::zeroed, or a host mapping).
  [[nodiscard]] bool zeroed() const noexcept { return zeroed_; }

  /// The buffer as an array of T (allocated with at least T's alignment); the bytes start
  /// as zeros, which must be a valid T (integers here).
  template <class T>
  [[nodiscard]] T* as() const noexcept {
    return reinterpret_cast<T*>(data_);
  }

 private:
  host_buffer(std::byte* data, std::uint64_t size, bool zeroed) noexcept
      : data_(data), size_(size), zeroed_(zeroed) {}
  void reset() noexcept {
    if (data_ != nullptr && size_ <= small_bytes) {
      std::free(data_);
    } else if (data_ != nullptr) {
      const int rc = ::munmap(data_, size_);
      VFIOPIN_ASSERT(rc == 0, "munmap of a mock memory buffer failed");
    }
    data_ = nullptr;
    size_ = 0;
  }

  std::byte* data_ = nullptr;
  std::uint64_t size_ = 0;
  bool zeroed_ = true;
};

}  // namespace vfiopin::mock::detail

#endif  // VFIOPIN_MOCK_MEMORY_BUFFER_HPP
