// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/type1_core.hpp: the state of a mock type1 container and its shared steps.
//
// Theory of operation. type1_state is struct vfio_iommu (drivers/vfio/vfio_iommu_type1.c) plus
// what the model needs that the kernel keeps elsewhere: the memory backend standing for
// current->mm and dma->mm (one process: cross-process VADDR updates are not modelled, so
// vfio_change_dma_owner() is its `mm == dma->mm` early return), the profile and geometry,
// the WARN log (warnings) and the log of kernel bugs the model refused to reproduce
// (anomalies). The operations live in the type1_*.hpp headers as free function templates
// over this state; every one of them runs with the container lock held (mock/type1.hpp).
// This header holds the steps several ioctls share, each named after its kernel function
// (the dma lookups, vfio_find_dma and vfio_find_dma_first_node, are in mock/dma_tree.hpp):
//   lock_acct                    vfio_lock_acct (charge or uncharge dma->mm, dma->locked_vm)
//   pin_chunk                    vfio_pin_pages_remote: GUP in batches of at most 512 pages
//                                (refill: each faults in its whole window at once, so a
//                                failure leaves the rest of the batch faulted in),
//                                one chunk = physically contiguous frames of one kind,
//                                accounting per chunk against RLIMIT_MEMLOCK
//   unpin_remote                 vfio_unpin_pages_remote
//   iommu_map_all                vfio_iommu_map (every domain, unwound on failure)
//   unmap_unpin                  vfio_unmap_unpin (other domains first, then walk the first)
//   remove_dma                   vfio_remove_dma
// Frame kinds: `page` frames hold one GUP pin per use and are charged; `reserved_page` (the
// zero page) and `no_page` (PFNMAP MMIO) are is_invalid_reserved_pfn(): never put, never
// charged. A chunk never mixes kinds (the kernel mixes reserved and no_page, which are both
// "rsvd"; they are never physically adjacent in the mock, so this changes nothing).
#ifndef VFIOPIN_MOCK_TYPE1_CORE_HPP
#define VFIOPIN_MOCK_TYPE1_CORE_HPP

#include <vfiopin/concepts/memory_backend.hpp>
#include <vfiopin/config.hpp>
#include <vfiopin/error.hpp>
#include <vfiopin/mock/dma_record.hpp>
#include <vfiopin/mock/dma_tree.hpp>
#include <vfiopin/mock/domain.hpp>
#include <vfiopin/mock/fault_injection.hpp>
#include <vfiopin/mock/mutant.hpp>
#include <vfiopin/mock/profile.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/dma.hpp>
#include <vfiopin/types/page.hpp>

#include <algorithm>
#include <bit>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vfiopin::mock {

/// What type1 needs of the mapping process: a page-capable memory backend with
/// __account_locked_vm-style accounting and CAP_IPC_LOCK (mock::process is one).
template <class M>
concept type1_memory = memory_backend<M> && page_source<M> &&
                       requires(M& m, const M& cm, page_count n, bool cap) {
                         { m.account_locked(n, cap) } -> std::same_as<result<void>>;
                         { m.unaccount_locked(n) } noexcept;
                         { cm.locked_vm() } -> std::convertible_to<page_count>;
                         { cm.cap_ipc_lock() } -> std::convertible_to<bool>;
                       };

namespace detail {

inline constexpr std::uint64_t vfio_batch_max = 512;        // VFIO_BATCH_MAX_CAPACITY

/// struct vfio_batch, as far as the model needs it: the frames pinned past the last chunk
/// (`carry`), and the vaddr window [first, first + pages * 4 KiB) its last GUP pinned.
struct gup_batch {
  std::optional<pfn_run> carry;
  std::uint64_t first = 0;
  std::uint64_t pages = 0;
};
inline constexpr std::uint64_t pin_pages_max = 512;         // VFIO_PIN_PAGES_MAX_ENTRIES
inline constexpr std::uint64_t dirty_pages_max = 0x7fffffff;  // DIRTY_BITMAP_PAGES_MAX
inline constexpr std::uint64_t page_mask = ~(page_bytes - 1);  // PAGE_MASK
inline constexpr std::uint32_t notify_retries_max = 10;     // BUG_ON(++retries > 10)

/// A registered device with a dma_unmap op (iommu->device_list).
struct device_entry {
  device_id id{};
  dma_unmap_callback callback{};
  group_id group{};
  bool emulated = true;  ///< its group is an emulated-IOMMU group (an mdev)
};

/// A pinned, accounted chunk (vfio_pin_pages_remote's result).
struct chunk {
  std::uint64_t frame = 0;
  std::uint64_t pages = 0;
  frame_kind kind = frame_kind::page;
};

/// struct vfio_iommu and the model's bookkeeping.
template <type1_memory Memory>
struct type1_state : dma_tree {
  type1_state(Memory& m, iommu_type t, kernel_profile p, geometry g)
      : dma_tree(p.full_address_space),
        mem(&m),
        type(t),
        profile(p),
        geo(std::move(g)),
        entry_limit_param(geo.dma_entry_limit) {}

  Memory* mem;
  iommu_type type;
  kernel_profile profile;
  const geometry geo;  ///< fixed for the container's life: domains refer to its classes
  std::uint32_t entry_limit_param;  ///< the module parameter now
  fault_injector* fi = nullptr;

  bool iommu_set = false;  ///< VFIO_SET_IOMMU happened (a group is attached)
  bool v2 = false;
  bool dirty_tracking = false;
  std::uint32_t dma_avail = 0;
  std::uint32_t dma_limit = 0;  ///< dma_entry_limit sampled at open
  std::uint64_t vaddr_invalid_count = 0;
  std::uint64_t pgsize_bitmap = page_mask;
  std::uint64_t num_non_pinned_groups = 0;
  std::vector<interval<iova>> iova_list;
  std::vector<std::unique_ptr<iommu_domain>> domains;  ///< [0] is the list head ("first")
  std::vector<group_state> emulated_groups;
  std::vector<device_entry> devices;  ///< device_list, head first
  std::uint64_t residual_locked = 0;  ///< locked_vm of freed dmas (a kernel leak)
  std::vector<std::string> warnings;
  std::vector<std::string> anomalies;
  std::uint32_t next_device = 1;
  std::uint32_t next_emulated_group = 0;

  // ---- small helpers ----
  [[nodiscard]] bool fail_step() noexcept { return fi != nullptr && fi->fail_here(); }
  void warn(std::string s) { warnings.push_back(std::move(s)); }
  [[nodiscard]] std::uint64_t min_pgsize() const noexcept {
    return pgsize_bitmap & (~pgsize_bitmap + 1);
  }
  [[nodiscard]] unsigned pgshift() const noexcept {
    return static_cast<unsigned>(std::countr_zero(pgsize_bitmap));
  }

  // ---- accounting ----

  /// vfio_lock_acct(dma, npage): charge (npage > 0) or uncharge dma->mm.
  result<void> lock_acct(dma_record& d, std::int64_t npage) {
    if (npage == 0) return {};
    if (npage > 0) {
      const page_count n(static_cast<std::uint64_t>(npage));
      if (auto r = mem->account_locked(n, d.lock_cap()); !r) return r;
      d.add_locked(n.value());
      return {};
    }
    const auto n = static_cast<std::uint64_t>(-npage);
    if (n > page_count(mem->locked_vm()).value())  // WARN_ON_ONCE(pages > locked_vm)
      warn("__account_locked_vm: uncharging more than mm->locked_vm (it wraps below zero)");
    mem->unaccount_locked(page_count(n));
    d.sub_locked(n);
    return {};
  }

  /// Pages of [iova, iova + pages) that already carry external pin records and so are not
  /// charged again (vfio_find_vpfn per page, or vpfn_pages() on ~6.17+).
  [[nodiscard]] std::uint64_t pages_with_records(const dma_record& d, std::uint64_t iova0,
                                                 std::uint64_t pages) const noexcept {
    if (!d.has_pins()) return 0;
    const pin_records& pr = d.ext()->pins;
    if (profile.vpfn_range_accounting) return pr.count_in(iova0, iova0 + (pages * page_bytes - 1));
    return pr.count_exact(iova0, pages);
  }
  /// True when a record of d has an unaligned key (in the span or not: a key in the page
  /// before the dma lies in no chunk, and no chunk's vfio_find_vpfn sees it). The kernel's
  /// counting then differs from the closed accounting formula (spec §10 H1b).
  [[nodiscard]] static bool unaligned_records(const dma_record& d) noexcept {
    if (!d.has_pins()) return false;
    bool found = false;
    d.ext()->pins.for_each([&](const pin_run_view& v) { found |= (v.key & (page_bytes - 1)) != 0; });
    return found;
  }
  /// True when a record in the span holds a frame that was never charged (the zero page,
  /// a reserved pfn) while the span itself is charged page by page: the chunk skips the
  /// record's page, so the dma is charged one page less than its non-rsvd page count.
  [[nodiscard]] static bool uncharged_records_in(const dma_record& d, std::uint64_t iova0,
                                                 std::uint64_t pages) {
    if (!d.has_pins()) return false;
    const std::uint64_t last = iova0 + (pages * page_bytes - 1);
    bool found = false;
    d.ext()->pins.for_each([&](const pin_run_view& v) {
      if (v.kind != frame_kind::page && v.key <= last && v.last_key() >= iova0) found = true;
    });
    return found;
  }

  // ---- vfio_pin_pages_remote / vfio_unpin_pages_remote ----

  /// GUP of at most one batch at va. Before 6.9 GUP pins the zero page too; 6.0-6.8 drop
  /// that pin at once, as put_pfn() never would (an rsvd pfn).
  result<pfn_run> gup(std::uint64_t va, std::uint64_t max, prot p) {
    const page_count n(std::min(max, vfio_batch_max));
    result<pfn_run> r = fail(errc::bad_address);
    if constexpr (requires { mem->pin_frames(vaddr(va), n, p, gup_options{}); }) {
      r = mem->pin_frames(vaddr(va), n, p,
                          gup_options{.unshare_zero_page = profile.longterm_pin_unshares_zero_page,
                                      .pin_zero_page = profile.unpin_zero_pages});
      if constexpr (mutant == 11) return r;  // mutant: the zero page's pin is kept (pre-6.0)
      if (r && r->kind == frame_kind::reserved_page && profile.unpin_zero_pages)
        mem->unpin_zero_page();  // "vfio/type1: Unpin zero pages"
    } else {
      r = mem->pin_frames(vaddr(va), n, p);
    }
    return r;
  }
  void put_run(const pfn_run& r, prot p) noexcept {
    if (r.kind == frame_kind::page && r.count.value() != 0) mem->unpin_frames(r, p);
  }

  /// The per-page test of vfio_pin_pages_remote for the first `pages` pages from iova0:
  /// `mm->locked_vm + lock_acct > RLIMIT_MEMLOCK >> PAGE_SHIFT` (never with lock_cap).
  [[nodiscard]] bool over_memlock(const dma_record& d, std::uint64_t iova0,
                                  std::uint64_t pages) const {
    if (d.lock_cap()) return false;
    if constexpr (requires { mem->over_memlock_each(page_count{}); }) {
      return mem->over_memlock_each(page_count(pages - pages_with_records(d, iova0, pages)));
    } else {
      return false;  // a memory without a limit to consult: the final charge decides
    }
  }

  /// A refill of the kernel's batch at va, unless va is inside the window the last refill
  /// pinned: GUP of min(npage, 512) pages faults in every page up to the first it cannot
  /// pin (a PFNMAP page is a batch of one), however few of them vfio then consumes.
  void refill(const dma_record& d, std::uint64_t va, std::uint64_t npage, gup_batch& batch) {
    if (va >= batch.first && va - batch.first < batch.pages * page_bytes) return;
    std::uint64_t got = 1;
    if constexpr (requires { mem->fault_in(vaddr(va), page_count(1), prot::read, gup_options{}); }) {
      got = mem->fault_in(vaddr(va), page_count(std::min(npage, vfio_batch_max)), d.access(),
                          gup_options{.unshare_zero_page = profile.longterm_pin_unshares_zero_page});
    }
    batch.first = va;
    batch.pages = std::max<std::uint64_t>(got, 1);
  }

  /// vfio_pin_pages_remote: pins and charges the next chunk of d at iova/va (at most npage
  /// pages). `batch.carry` holds frames pinned beyond the previous chunk (the batch leftover).
  result<chunk> pin_chunk(dma_record& d, std::uint64_t iova0, std::uint64_t va,
                          std::uint64_t npage, gup_batch& batch) {
    std::optional<pfn_run>& carry = batch.carry;
    pfn_run run;
    if (carry) {
      run = *carry;
      carry.reset();
    } else {
      refill(d, va, npage, batch);
      auto r = gup(va, npage, d.access());
      if (!r) return fail(r.error());
      run = *r;
    }
    chunk c{run.first.value(), run.count.value(), run.kind};
    while (c.pages < npage) {
      // The kernel consumes a batch page by page, testing RLIMIT_MEMLOCK at each charged
      // page, and refills it (GUP) only when it is empty: a chunk over the limit is ENOMEM
      // before the GUP of the page after the batch can fail (EFAULT), as Debian 6.1 shows.
      if (c.kind == frame_kind::page && over_memlock(d, iova0, c.pages)) {
        put_run(pfn_run{pfn(c.frame), page_count(c.pages), c.kind}, d.access());
        return fail(errc::out_of_memory);
      }
      refill(d, va + c.pages * page_bytes, npage - c.pages, batch);
      auto r = gup(va + c.pages * page_bytes, npage - c.pages, d.access());
      if (!r) {
        put_run(pfn_run{pfn(c.frame), page_count(c.pages), c.kind}, d.access());
        return fail(r.error());
      }
      if (r->kind != c.kind || r->first.value() != c.frame + c.pages) {
        carry = *r;  // the next chunk starts here
        break;
      }
      c.pages += r->count.value();
    }
    if (c.kind != frame_kind::page) return c;
    // The per-page test of the chunk's last pages (the same as the charge's own test unless
    // locked_vm wrapped below zero), then the charge.
    std::error_code err = make_error_code(errc::out_of_memory);
    if (!over_memlock(d, iova0, c.pages)) {
      const auto have = pages_with_records(d, iova0, c.pages);
      const auto charge = static_cast<std::int64_t>(c.pages) - static_cast<std::int64_t>(have);
      if (unaligned_records(d) || uncharged_records_in(d, iova0, c.pages))
        d.set_acct_quirk();
      auto a = lock_acct(d, charge);
      if (a) return c;
      err = a.error();
    }
    put_run(pfn_run{pfn(c.frame), page_count(c.pages), c.kind}, d.access());
    if (carry) put_run(*carry, d.access());
    carry.reset();
    return fail(err);
  }

  /// vfio_unpin_pages_remote: puts a chunk; returns the pages put (non-rsvd).
  std::uint64_t unpin_remote(dma_record& d, std::uint64_t iova0, const chunk& c,
                             bool do_accounting) {
    if (c.kind != frame_kind::page) return 0;
    mem->unpin_frames(pfn_run{pfn(c.frame), page_count(c.pages), c.kind}, d.access());
    if (do_accounting) {
      const auto locked = pages_with_records(d, iova0, c.pages);
      (void)lock_acct(d, static_cast<std::int64_t>(locked) - static_cast<std::int64_t>(c.pages));
    }
    return c.pages;
  }

  /// vfio_iommu_map: map a chunk into every domain; on failure unmap it from those done.
  result<void> iommu_map_all(std::uint64_t iova0, const chunk& c, prot p) {
    for (std::size_t i = 0; i < domains.size(); ++i) {
      if (auto r = domains[i]->map(iova0, c.frame, c.pages, p, c.kind, fi); !r) {
        for (std::size_t j = i; j-- > 0;) domains[j]->unmap(iova0, iova0 + (c.pages * page_bytes - 1));
        return r;
      }
    }
    return {};
  }

  /// vfio_unmap_unpin over [first, last] of d (the whole dma, or the part a failing MAP
  /// had mapped): returns the pages put, or 0 when it did the accounting itself.
  std::uint64_t unmap_unpin(std::uint64_t first, std::uint64_t last, dma_record& d,
                            bool do_accounting) {
    if (domains.empty() || !d.iommu_mapped()) return 0;
    for (std::size_t i = 1; i < domains.size(); ++i) domains[i]->unmap(first, last);
    iommu_domain& dom = *domains.front();
    std::uint64_t unlocked = 0;
    std::uint64_t iova0 = first;
    while (true) {
      // mutant: end = dma->iova + dma->size, `while (iova < end)`; 0 for a dma at the top
      if constexpr (mutant == 1)
        if (!(iova0 < last + 1)) break;
      auto run = dom.run_at(iova0, last);
      if (!run) {
        warn("vfio_unmap_unpin: WARN_ON(!phys)");
        auto next = dom.first_mapped(iova0, last);
        if (!next) break;
        iova0 = *next;
        continue;
      }
      dom.unmap(iova0, iova0 + (run->pages * page_bytes - 1));
      unlocked += unpin_remote(d, iova0, chunk{run->frame, run->pages, run->kind}, false);
      const std::uint64_t run_last = iova0 + (run->pages * page_bytes - 1);
      if (run_last >= last) break;
      iova0 = run_last + 1;
    }
    d.set_iommu_mapped(false);
    if (do_accounting) {
      (void)lock_acct(d, -static_cast<std::int64_t>(unlocked));
      return 0;
    }
    return unlocked;
  }
  std::uint64_t unmap_unpin(std::uint64_t first, dma_record& d, bool do_accounting) {
    return unmap_unpin(first, d.last(), d, do_accounting);
  }

  /// Releases records a driver failed to unpin (the kernel WARNs and leaks them; the model
  /// releases them so a container close always leaves the process quiescent).
  void drop_leaked_pins(dma_record& d) {
    if (!d.has_pins()) return;
    warn("vfio_remove_dma: WARN_ON(!RB_EMPTY_ROOT(&dma->pfn_list))");
    const bool do_accounting = domains.empty();
    d.ext()->pins.for_each([&](const pin_run_view& v) {
      // One GUP pin per record, whatever its refcount.
      if (v.kind == frame_kind::page)
        mem->unpin_frames(pfn_run{pfn(v.frame), page_count(v.pages), v.kind}, d.access());
      if (do_accounting && v.kind == frame_kind::page)
        (void)lock_acct(d, -static_cast<std::int64_t>(v.pages));
    });
    d.ext()->pins.clear();
    d.trim();
  }

  /// vfio_remove_dma: unmap, unpin, uncharge and free the dma at p.
  void remove_dma(pos p) {
    const std::uint64_t first = dmas.key(p);
    dma_record& d = dmas.value(p);
    drop_leaked_pins(d);
    unmap_unpin(first, d, true);
    if (d.vaddr_invalid()) --vaddr_invalid_count;
    if (d.locked_vm() != 0) residual_locked += d.locked_vm();
    erase_dma(*dmas.find(first));
    ++dma_avail;
  }

  /// vfio_iommu_unmap_unpin_all.
  void remove_all() {
    while (auto p = dmas.first()) remove_dma(*p);
  }

  /// vfio_update_pgsize_bitmap.
  void update_pgsize_bitmap() noexcept {
    std::uint64_t b = ~std::uint64_t{0};
    for (const auto& dom : domains) b &= dom->config().pgsize_bitmap;
    if (b & ~page_mask) {
      b &= page_mask;
      b |= page_bytes;
    }
    pgsize_bitmap = b;
  }

  /// The group state of g, wherever it is attached.
  [[nodiscard]] group_state* find_group(group_id g) noexcept {
    return const_cast<group_state*>(std::as_const(*this).find_group(g));
  }
  [[nodiscard]] const group_state* find_group(group_id g) const noexcept {
    for (const auto& dom : domains)
      for (const auto& gs : dom->groups)
        if (gs.id == g) return &gs;
    for (const auto& gs : emulated_groups)
      if (gs.id == g) return &gs;
    return nullptr;
  }
  /// list_empty(&iommu->device_list): no registered device has a dma_unmap op.
  [[nodiscard]] bool device_list_empty() const noexcept {
    return std::none_of(devices.begin(), devices.end(),
                        [](const device_entry& d) { return !d.callback.empty(); });
  }
  [[nodiscard]] std::size_t group_count() const noexcept {
    std::size_t n = emulated_groups.size();
    for (const auto& dom : domains) n += dom->groups.size();
    return n;
  }
};

}  // namespace detail
}  // namespace vfiopin::mock

#endif  // VFIOPIN_MOCK_TYPE1_CORE_HPP
