// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/real/mapping.hpp: one mmap placed the way the scenario format lays out regions.
//
// Theory of operation. Every real memory region (real/memory.hpp) and every BAR mmap
// (real/bar_region.hpp) starts on a 2 MiB boundary and is followed by at least 2 MiB of
// address space with nothing accessible in it (scenario-format.md "Region layout"), so a
// DMA map or a pin that runs past a region's end faults (EFAULT) instead of reaching the
// next region. placed_mapping does it in two steps:
//   1. reserve size + 4 MiB of address space: PROT_NONE, private, anonymous, NORESERVE
//      (nothing is committed, nothing can be touched);
//   2. mmap the region itself with MAP_FIXED at the first 2 MiB boundary inside it.
// The reservation's rest stays PROT_NONE: up to 2 MiB of slack before the region, and a
// guard of at least 2 MiB after it, which no later mmap can take. real/vma.hpp classifies
// such a guard as `unmapped`, since GUP faults there exactly as on no VMA at all.
//
// The object is move-only and munmaps the whole reservation (region included) when it is
// destroyed; munmap of a range this object owns cannot fail, and its result is ignored.
// All calls go through the syscalls seam.
#ifndef VFIOPIN_REAL_MAPPING_HPP
#define VFIOPIN_REAL_MAPPING_HPP

#include <vfiopin/error.hpp>
#include <vfiopin/real/sys.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/address.hpp>
#include <vfiopin/types/count.hpp>
#include <vfiopin/types/interval.hpp>
#include <vfiopin/types/page.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

namespace vfiopin::real {

/// Where regions start (a multiple of), and the guard after each.
inline constexpr byte_count region_alignment = huge_page_size;
inline constexpr byte_count region_guard = huge_page_size;

/// An mmap placed on a 2 MiB boundary, followed by a PROT_NONE guard (see above).
class placed_mapping {
 public:
  placed_mapping() noexcept = default;
  placed_mapping(const placed_mapping&) = delete;
  placed_mapping& operator=(const placed_mapping&) = delete;
  placed_mapping(placed_mapping&& o) noexcept
      : sys_(o.sys_),
        reserve_(std::exchange(o.reserve_, nullptr)),
        reserve_len_(std::exchange(o.reserve_len_, 0)),
        base_(std::exchange(o.base_, nullptr)),
        size_(std::exchange(o.size_, 0)) {}
  placed_mapping& operator=(placed_mapping&& o) noexcept {
    if (this != &o) {
      reset();
      sys_ = o.sys_;
      reserve_ = std::exchange(o.reserve_, nullptr);
      reserve_len_ = std::exchange(o.reserve_len_, 0);
      base_ = std::exchange(o.base_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~placed_mapping() { reset(); }

  /// mmap(base, size, prot, flags | MAP_FIXED, fd, offset) at a placed base. `size` must
  /// be a non-zero multiple of 4 KiB (EINVAL otherwise); ENOMEM when the reservation does
  /// not fit; the region mmap's own errno otherwise (e.g. ENOMEM for hugetlb without free
  /// huge pages).
  [[nodiscard]] static result<placed_mapping> create(syscalls& sys, byte_count size, int prot,
                                                     int flags, int fd, off_t offset) {
    if (size.value() == 0 || !is_aligned(size, page_bytes)) {
      return unexpected(errc::invalid_argument);
    }
    const auto total = checked_add(size, region_alignment + region_guard);
    if (!total) return unexpected(errc::out_of_memory);
    placed_mapping m;
    m.sys_ = &sys;
    void* reserve = nullptr;
    const long r = sys.mmap(nullptr, total->value(), PROT_NONE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0, &reserve);
    if (r < 0) return unexpected(sys_error(r));
    m.reserve_ = static_cast<std::byte*>(reserve);
    m.reserve_len_ = total->value();
    const auto base = align_up(vaddr{reinterpret_cast<std::uintptr_t>(reserve)},
                               region_alignment.value());
    if (!base) return unexpected(errc::out_of_memory);  // m's destructor releases it
    void* placed = nullptr;
    const long p = sys.mmap(reinterpret_cast<void*>(base->value()), size.value(), prot,
                            flags | MAP_FIXED, fd, offset, &placed);
    if (p < 0) return unexpected(sys_error(p));
    if (placed != reinterpret_cast<void*>(base->value())) {
      return unexpected(errc::protocol_error);  // MAP_FIXED must map where asked
    }
    m.base_ = static_cast<std::byte*>(placed);
    m.size_ = size.value();
    return m;
  }

  [[nodiscard]] bool mapped() const noexcept { return base_ != nullptr; }
  [[nodiscard]] std::byte* data() const noexcept { return base_; }
  [[nodiscard]] vaddr base() const noexcept { return vaddr{reinterpret_cast<std::uintptr_t>(base_)}; }
  [[nodiscard]] byte_count size() const noexcept { return byte_count{size_}; }
  [[nodiscard]] std::span<std::byte> bytes() const noexcept { return {base_, size_}; }
  /// [base, base + size - 1]; only for a mapped object.
  [[nodiscard]] interval<vaddr> range() const noexcept {
    VFIOPIN_ASSERT(mapped(), "range() of an empty placed_mapping");
    return *interval<vaddr>::from(base(), size());
  }
  [[nodiscard]] syscalls& sys() const noexcept { return *sys_; }

  /// Unmaps everything (region, slack and guard). Never fails.
  void reset() noexcept {
    if (reserve_ != nullptr) (void)sys_->munmap(reserve_, reserve_len_);
    reserve_ = nullptr;
    reserve_len_ = 0;
    base_ = nullptr;
    size_ = 0;
  }

 private:
  syscalls* sys_ = &linux_syscalls();
  std::byte* reserve_ = nullptr;
  std::size_t reserve_len_ = 0;
  std::byte* base_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace vfiopin::real

#endif  // VFIOPIN_REAL_MAPPING_HPP
