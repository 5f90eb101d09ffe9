// SPDX-License-Identifier: Apache-2.0
//
// benchmarks/light_memory.hpp: the cheapest memory that GUP can be asked about.
//
// Theory of operation. A pin costs the kernel (or the mock) two things: finding and
// refcounting the page (GUP, here the "memory" side) and recording the pin (the vfio side:
// vfio_pfn nodes, or vfiopin's pin records). The benchmarks compare the second, so every
// baseline and vfiopin's structure-only row share this one stand-in for the first:
//   - the process's address space is one range of `pages` pages at va_base; page i is
//     frame first_frame + i (dense: physically contiguous, the common case after a fresh
//     fault-in) or first_frame + 2 * i (scatter: no two pages adjacent, the worst case for
//     run-length records);
//   - gup(va, max) pins the longest contiguous run from va (max pages dense, 1 scattered)
//     by incrementing one 32-bit pin count per page (struct page's _refcount), put() drops
//     them, charge()/uncharge() add to locked_vm. No checks, no errors.
// It is also a vfiopin memory_backend (pin_frames, unpin_frames, page_of, accounting), so
// mock::type1<light_memory> runs the mock's whole pin path over the same stand-in: the row
// "type1-light" isolates the mock's bookkeeping from its emulated process memory.
#ifndef VFIOPIN_BENCHMARKS_LIGHT_MEMORY_HPP
#define VFIOPIN_BENCHMARKS_LIGHT_MEMORY_HPP

#include <vfiopin/concepts/memory_backend.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/page.hpp>
#include <vfiopin/types/page_handle.hpp>
#include <vfiopin/types/pfn.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace vfiopin::bench {

/// A run of frames pinned by light_memory::gup.
struct frame_run {
  std::uint64_t frame = 0;
  std::uint64_t pages = 0;
};

/// The GUP stand-in (see the header comment).
class light_memory {
 public:
  using memory_backend_tag = vfiopin::memory_backend_tag;
  static constexpr backing_kind backing = backing_kind::pages;
  static constexpr std::uint64_t va_base = 0x7f0000000000ULL;
  static constexpr std::uint64_t first_frame = 0x100000;

  light_memory(std::uint64_t pages, bool scatter)
      : pins_(static_cast<std::size_t>(pages * (scatter ? 2 : 1))), scatter_(scatter) {}
  light_memory(const light_memory&) = delete;
  light_memory& operator=(const light_memory&) = delete;
  ~light_memory() = default;

  [[nodiscard]] std::uint64_t frame_of(std::uint64_t va) const noexcept {
    const std::uint64_t i = (va - va_base) / page_bytes;
    return first_frame + (scatter_ ? 2 * i : i);
  }
  /// Pins the run at va: max pages (dense) or 1 (scatter).
  frame_run gup(std::uint64_t va, std::uint64_t max) noexcept {
    const std::uint64_t n = scatter_ ? 1 : max;
    const std::uint64_t f = frame_of(va);
    for (std::uint64_t i = 0; i < n; ++i) ++pins_[static_cast<std::size_t>(f - first_frame + i)];
    return {f, n};
  }
  /// Drops one pin from each frame of [frame, frame + pages).
  void put(std::uint64_t frame, std::uint64_t pages) noexcept {
    for (std::uint64_t i = 0; i < pages; ++i) --pins_[static_cast<std::size_t>(frame - first_frame + i)];
  }
  void charge(std::uint64_t n) noexcept { locked_ += n; }
  void uncharge(std::uint64_t n) noexcept { locked_ -= n; }

  // ---- memory_backend and mock::type1_memory ----

  result<pfn_run> pin_frames(vaddr va, page_count max, prot) {
    const frame_run r = gup(va.value(), max.value());
    return pfn_run{pfn(r.frame), page_count(r.pages), frame_kind::page};
  }
  void unpin_frames(const pfn_run& r, prot) noexcept { put(r.first.value(), r.count.value()); }
  result<page_handle> page_of(pfn f) noexcept {
    return page_handle(page_handle::issue_tag{}, this, f.value(), page_bytes_, std::nullopt);
  }
  result<void> account_locked(page_count n, bool) {
    charge(n.value());
    return {};
  }
  void unaccount_locked(page_count n) noexcept { uncharge(n.value()); }
  [[nodiscard]] page_count locked_vm() const noexcept { return page_count(locked_); }
  [[nodiscard]] bool cap_ipc_lock() const noexcept { return true; }

  // ---- checks (not timed) ----

  [[nodiscard]] std::uint32_t pincount(pfn f) const noexcept {
    const std::uint64_t i = f.value() - first_frame;
    return i < pins_.size() ? pins_[static_cast<std::size_t>(i)] : 0;
  }
  [[nodiscard]] std::uint64_t total_pins() const noexcept {
    std::uint64_t t = 0;
    for (const std::uint32_t p : pins_) t += p;
    return t;
  }

 private:
  std::vector<std::uint32_t> pins_;
  bool scatter_;
  std::uint64_t locked_ = 0;
  std::byte page_bytes_[1] = {};  // what page handles point at; never read
};

static_assert(memory_backend<light_memory>);

}  // namespace vfiopin::bench

#endif  // VFIOPIN_BENCHMARKS_LIGHT_MEMORY_HPP
