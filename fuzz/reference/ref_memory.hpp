// SPDX-License-Identifier: Apache-2.0
//
// ref_memory: the reference model's view of the mapping process (fuzz_diff_ref's oracle).
//
// Theory of operation. The differential target (fuzz/fuzz_diff_ref.cpp) runs one op stream on
// the mock type1 container and on ref::type1 (ref_type1.hpp). The reference needs only what
// GUP tells type1 about a virtual page, so it keeps, per region, its start, page count, kind,
// whether it is read-only, and for private anonymous memory one bit per page: "written"
// (holds its own page) or not (still the shared zero page). Placement is the process's
// business, not the container's: the harness tells the reference where each mmap landed.
// The rules (spec linux-type1-semantics.md §2.2, §4.3; GUP in mm/gup.c):
//   hole, no region          EFAULT
//   write pin, read-only     EFAULT (FOLL_WRITE on a read-only VMA)
//   bar (VM_PFNMAP)          a pfn without struct page: reserved, never charged, never pinned
//   memfd, hugetlb           a page (shmem and hugetlbfs faults allocate); always charged
//   anon, written            a page
//   anon, not written        read pin: the shared zero page (reserved), unless the kernel
//                            unshares it for FOLL_LONGTERM (6.2+: a fresh page); a write pin
//                            faults a fresh page. Either fresh page makes it "written".
// CPU stores (the harness's touch) mark anon pages written; loads do not.
// locked_vm is __account_locked_vm: a charge over RLIMIT_MEMLOCK (pages, rounded down;
// "infinity" is ~0UL >> PAGE_SHIFT) is ENOMEM unless the dma had CAP_IPC_LOCK, and the count
// wraps like an unsigned long. Everything is a plain std::map walk: slow and obvious.
#ifndef VFIOPIN_FUZZ_REFERENCE_REF_MEMORY_HPP
#define VFIOPIN_FUZZ_REFERENCE_REF_MEMORY_HPP

#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <vector>

namespace vfiopin::fuzz::ref {

inline constexpr std::uint64_t page_len = 4096;

enum class vm_kind : std::uint8_t { anon, file, bar, hole };  ///< file: memfd or hugetlb

/// What GUP answers for one virtual page.
enum class frame : std::uint8_t {
  ram,            ///< a RAM page with struct page: pinned and charged
  zero,       ///< the shared zero page: reserved, pfn_valid, never charged
  no_page,    ///< VM_PFNMAP: no struct page, never charged
};

[[nodiscard]] constexpr bool charged(frame f) noexcept { return f == frame::ram; }

class memory {
 public:
  struct vma {
    std::uint64_t pages = 0;
    vm_kind kind = vm_kind::anon;
    bool read_only = false;
    std::vector<bool> written;  ///< anon only
  };

  void add(std::uint64_t start, std::uint64_t bytes, vm_kind kind, bool read_only) {
    vma v{bytes / page_len, kind, read_only, {}};
    if (kind == vm_kind::anon) v.written.assign(v.pages, false);
    vmas_[start] = std::move(v);
  }
  void remove(std::uint64_t start) { vmas_.erase(start); }

  /// A store at [va, va + len) that the process accepted: anon pages become written.
  void stored(std::uint64_t va, std::uint64_t len) {
    for (std::uint64_t p = va / page_len; len != 0 && p <= (va + len - 1) / page_len; ++p) {
      auto [v, index] = find(p * page_len);
      if (v != nullptr && v->kind == vm_kind::anon) v->written[index] = true;
    }
  }

  /// GUP of the page containing va; nullopt is EFAULT. `fault` makes the side effect (an
  /// anon page written by a write or unsharing pin) happen.
  [[nodiscard]] std::optional<frame> gup(std::uint64_t va, bool write, bool unshare) {
    auto [v, index] = find(va);
    if (v == nullptr || v->kind == vm_kind::hole) return std::nullopt;
    if (write && v->read_only) return std::nullopt;
    switch (v->kind) {
      case vm_kind::bar: return frame::no_page;
      case vm_kind::file: return frame::ram;
      default: break;
    }
    if (v->written[index]) return frame::ram;
    if (!write && !unshare) return frame::zero;
    v->written[index] = true;
    return frame::ram;
  }

  // ---- locked_vm ----
  [[nodiscard]] std::uint64_t locked_vm() const noexcept { return locked_; }
  void set_limit_pages(std::optional<std::uint64_t> p) noexcept { limit_ = p; }
  void set_cap(bool c) noexcept { cap_ = c; }
  [[nodiscard]] bool cap() const noexcept { return cap_; }
  [[nodiscard]] std::uint64_t limit() const noexcept {
    return limit_ ? *limit_ : (~std::uint64_t{0} >> 12);
  }
  /// Would charging n more pages (on top of `pending` not yet charged) fail?
  [[nodiscard]] bool over(std::uint64_t pending, std::uint64_t n, bool lock_cap) const noexcept {
    return !lock_cap && locked_ + pending + n > limit();
  }
  void charge(std::int64_t n) noexcept {
    // __account_locked_vm: WARN_ON_ONCE(pages > locked_vm), then it wraps below zero.
    if (n < 0 && static_cast<std::uint64_t>(-n) > locked_) ++underflows_;
    locked_ += static_cast<std::uint64_t>(n);
  }
  /// How many uncharges took more than was charged (each a kernel WARN).
  [[nodiscard]] std::uint64_t underflows() const noexcept { return underflows_; }

 private:
  std::pair<vma*, std::uint64_t> find(std::uint64_t va) {
    auto it = vmas_.upper_bound(va);
    if (it == vmas_.begin()) return {nullptr, 0};
    --it;
    const std::uint64_t index = (va - it->first) / page_len;
    if (index >= it->second.pages) return {nullptr, 0};
    return {&it->second, index};
  }

  std::map<std::uint64_t, vma> vmas_;
  std::uint64_t locked_ = 0;
  std::uint64_t underflows_ = 0;
  std::optional<std::uint64_t> limit_;
  bool cap_ = true;
};

}  // namespace vfiopin::fuzz::ref

#endif  // VFIOPIN_FUZZ_REFERENCE_REF_MEMORY_HPP
