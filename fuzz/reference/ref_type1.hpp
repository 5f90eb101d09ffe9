// SPDX-License-Identifier: Apache-2.0
//
// ref_type1: a deliberately simple, page-granular reference of one VFIO type1 container,
// written from docs linux-type1-semantics.md and vfio_iommu_type1.c, not from the mock.
//
// Theory of operation. fuzz_diff_ref runs the same op stream on mock::type1 and on this
// model and traps on any difference. Structure (nothing shared with the mock but types):
//   dmas     std::map<iova, dma>; a dma keeps, per 4 KiB page, the frame the IOMMU maps
//            (while mapped), its external pin records std::map<exact key, {refs, frame}>
//            and, while dirty tracking is on, one bool per minimum-pgsize unit.
//   groups   real groups with their domain class and dirty scope; emulated group ids;
//            a "domain" is a class with at least one attached real group.
//   iova     the valid-IOVA list, maintained with the kernel's own list algebra
//            (aper_resize, resv_exclude, aper_expand, resv_refresh).
//   devices  newest first (list_add), each with its dma_unmap callback.
// Every operation validates in the kernel's order and returns 0 or an errno (errc value);
// lookups are linear scans. Memory and locked_vm are ref::memory (ref_memory.hpp).
// Modelled kernels (kernel_profile fields read): 6.2+ VADDR rules, exact-key vfio_find_vpfn,
// pre-Mastro errnos; longterm_pin_unshares_zero_page (6.12) and pfnmap_pin (6.1.31: the
// library's bogus_page). NOT modelled (the harness keeps such inputs away): requests or
// mappings ending exactly at 2^64 - 1 (pre-Mastro lookups compute iova + size in 64 bits and
// the answer depends on the rb-tree shape), pin/unpin pages that straddle a dma boundary
// (vfio_find_dma then picks a dma by tree shape, and the kernel computes a vaddr below the
// dma), IOMMU page sizes above 4 KiB (iommu_map alignment depends on physical frames),
// the ~6.17 vpfn range accounting and the Mastro overflow errnos (profile upstream-2025).
#ifndef VFIOPIN_FUZZ_REFERENCE_REF_TYPE1_HPP
#define VFIOPIN_FUZZ_REFERENCE_REF_TYPE1_HPP

#include "ref_memory.hpp"
#include "ref_type1_state.hpp"

namespace vfiopin::fuzz::ref {

using detail::device;
using detail::dma;
using detail::record;

/// The container: ioctls, attach/detach and the emulated-device pin interface.
class type1 : public detail::state {
 public:
  using detail::state::state;

  // ---- MAP_DMA ----
  [[nodiscard]] int map(std::uint64_t at, std::uint64_t va, std::uint64_t size, unsigned p, bool vaddr_flag) {
    if (!set) return EINVAL;
    if ((p != 0) == vaddr_flag) return EINVAL;
    const std::uint64_t pg = pgsize();
    if (size == 0 || (size | at | va) % pg != 0) return EINVAL;
    if (at + size - 1 < at || va + size - 1 < va) return EINVAL;
    dma* hit = first_overlap(at, at + size - 1);
    if (vaddr_flag) {
      if (hit == nullptr) return ENOENT;
      if (!hit->vaddr_invalid || hit->iova != at || hit->size != size) return EINVAL;
      hit->vaddr = va;
      hit->vaddr_invalid = false;
      return 0;
    }
    if (hit != nullptr) return EEXIST;
    if (avail == 0) return ENOSPC;
    if (!iova_list.empty() && !in_one_node(at, at + size - 1)) return EINVAL;
    dma d{at, size, va, p, mem->cap(), false, false, {}, {}, {}};
    if (has_domain()) {
      if (const int e = pin_dma(d)) return e;
    }
    if (tracking) {
      if (size / pg > 0x7fffffffULL) {
        release_iommu(d, true);
        return EINVAL;
      }
      d.dirty.assign(size / pg, false);
    }
    dmas.emplace(at, std::move(d));
    --avail;
    return 0;
  }

  // ---- UNMAP_DMA ----
  struct unmap_result {
    int err = 0;
    std::uint64_t size = 0;
  };
  /// dirty: GET_DIRTY_BITMAP with `bitmap_pgsize` into `out` (zeroed by the caller).
  [[nodiscard]] unmap_result unmap(std::uint64_t at, std::uint64_t size, bool all, bool vaddr_flag,
                                   bool dirty, std::uint64_t bitmap_pgsize, std::span<std::uint64_t> out) {
    if (!set) return {EINVAL};
    if (dirty && !bitmap_size_ok(size, bitmap_pgsize, out.size())) return {EINVAL};
    if (vaddr_flag && !emulated.empty()) return {EBUSY};
    const std::uint64_t pg = pgsize();
    if (at % pg != 0) return {EINVAL};
    std::uint64_t last = 0;
    if (all) {
      if (at != 0 || size != 0) return {EINVAL};
      last = ~std::uint64_t{0};
    } else {
      if (size == 0 || size % pg != 0 || at + size - 1 < at) return {EINVAL};
      last = at + size - 1;
    }
    if (dirty && (!tracking || bitmap_pgsize != pg)) return {EINVAL};
    std::uint64_t unmapped = 0;
    bool retrying = false;
    std::uint64_t retried_at = 0;
    unsigned retries = 0;
  again:
    if (v2 && !all && bisects(at, last)) return {EINVAL};
    std::vector<std::uint64_t> marked;
    for (auto it = dmas.lower_bound(0); it != dmas.end();) {
      dma& d = it->second;
      if (d.last() < at) { ++it; continue; }
      if (d.iova > last) break;
      if (!v2 && d.iova < at) break;
      if (vaddr_flag) {
        if (d.vaddr_invalid) {
          for (auto k : marked) dmas.at(k).vaddr_invalid = false;
          return {EINVAL, 0};
        }
        d.vaddr_invalid = true;
        marked.push_back(d.iova);
        unmapped += d.size;
        ++it;
        continue;
      }
      if (!d.recs.empty()) {
        if (retrying && retried_at == d.iova) {
          if (++retries > 10) return {errc_value(errc::pins_retained)};
        } else {
          retrying = true;
          retried_at = d.iova;
          retries = 0;
        }
        notify(d.iova, d.last());
        goto again;
      }
      if (dirty) report_dirty(d, at, out);
      unmapped += d.size;
      const std::uint64_t key = it->first;
      ++it;
      remove(key, has_domain());
    }
    return {0, unmapped};
  }

  // ---- DIRTY_PAGES ----
  [[nodiscard]] int dirty_start() {
    if (!set) return EINVAL;
    if (!v2) return EACCES;
    if (tracking) return 0;
    const std::uint64_t pg = pgsize();
    for (auto& [k, d] : dmas)
      if (d.size / pg > 0x7fffffffULL) return EINVAL;
    for (auto& [k, d] : dmas) {
      d.dirty.assign(d.size / pg, false);
      populate(d);
    }
    tracking = true;
    return 0;
  }
  [[nodiscard]] int dirty_stop() {
    if (!set) return EINVAL;
    if (!v2) return EACCES;
    tracking = false;
    for (auto& [k, d] : dmas) d.dirty.clear();
    return 0;
  }
  [[nodiscard]] int dirty_get(std::uint64_t at, std::uint64_t size, std::uint64_t bitmap_pgsize,
                              std::span<std::uint64_t> out) {
    if (!set) return EINVAL;
    if (!v2) return EACCES;
    if (at + size < at) return EINVAL;
    if (!bitmap_size_ok(size, bitmap_pgsize, out.size())) return EINVAL;
    const std::uint64_t pg = pgsize();
    if (bitmap_pgsize != pg || at % pg != 0 || size == 0 || size % pg != 0) return EINVAL;
    if (!tracking) return EINVAL;
    const std::uint64_t last = at + size - 1;
    if (bisects(at, last)) return EINVAL;
    for (auto& [k, d] : dmas)
      if (d.iova >= at && d.iova <= last) report_dirty(d, at, out);
    return 0;
  }

  // ---- GET_INFO ----
  struct info_result {
    int err = 0;
    std::uint64_t pgsizes = 0;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    std::uint32_t avail = 0;
    std::uint64_t migration_pgsize = 0;
    std::uint64_t migration_max = 0;
  };
  [[nodiscard]] info_result info() const {
    if (!set) return {EINVAL, 0, {}, 0, 0, 0};
    info_result r;
    r.pgsizes = pgsize_bitmap();
    r.ranges = iova_list;
    r.avail = avail;
    r.migration_pgsize = pgsize();
    r.migration_max = geo.max_dirty_bitmap_bytes;
    return r;
  }

  // ---- vfio_pin_pages / vfio_unpin_pages ----
  /// `out_size`: the caller's pages[] length (shorter than n: EINVAL, as a NULL array).
  /// On success `frames` gets one frame per page.
  [[nodiscard]] int pin(std::uint32_t dev, std::uint64_t at, std::uint64_t n, unsigned p,
                        std::size_t out_size, std::vector<frame>& frames) {
    frames.clear();
    if (n == 0 || out_size < n) return EINVAL;
    const device* dv = find_device(dev);
    if (dv == nullptr) return EINVAL;
    if (n > 512) return E2BIG;
    if (!v2) return EACCES;
    if (invalid_count() != 0) return EBUSY;
    const bool accounting = !has_domain();
    std::vector<std::uint64_t> done;
    int err = 0;
    bool bogus = false;
    for (std::uint64_t k = 0; k < n && err == 0; ++k) {
      const std::uint64_t key = at + k * page_len;
      dma* d = first_overlap(key, key + page_len - 1);
      if (d == nullptr) { err = EINVAL; break; }
      if ((d->prot & p) != p) { err = EPERM; break; }
      if (auto r = d->recs.find(key); r != d->recs.end()) {
        ++r->second.refs;
        frames.push_back(r->second.f);
        done.push_back(key);
        continue;
      }
      const auto f = mem->gup(d->vaddr + (key - d->iova), (d->prot & 2U) != 0, unshare());
      if (!f) { err = EFAULT; break; }
      if (accounting && charged(*f)) {
        if (mem->over(0, 1, d->lock_cap)) { err = ENOMEM; break; }
        mem->charge(1);
      }
      if (*f == frame::no_page) {  // 6.4+: !pfn_valid
        if (profile.pfnmap_pin == mock::pfnmap_pin_behaviour::invalid) { err = EINVAL; break; }
        bogus = true;  // 6.0-6.3: pfn_to_page() of it, handed out only if the call succeeds
      }
      d->recs.emplace(key, record{1, *f});
      if (tracking) d->dirty[(key - d->iova) / pgsize()] = true;
      frames.push_back(*f);
      done.push_back(key);
    }
    if (err == 0 && bogus) err = errc_value(errc::bogus_page);  // the library refuses it
    if (err != 0) {
      for (auto it = done.rbegin(); it != done.rend(); ++it) unpin_one(*it, accounting);
      frames.clear();
      return err;
    }
    for (auto& g : real)
      if (g.id == dv->group && !g.scoped) g.scoped = true;
    return 0;
  }
  /// vfio_unpin_pages; false when the kernel WARNs (nothing, or not everything, done; or
  /// an uncharge took locked_vm below zero).
  bool unpin(std::uint32_t dev, std::uint64_t at, std::uint64_t n) {
    if (find_device(dev) == nullptr) return false;
    if (n == 0 || n > 512) return false;
    if (!v2) return false;
    const std::uint64_t underflows = mem->underflows();
    for (std::uint64_t k = 0; k < n; ++k) {
      const std::uint64_t key = at + k * page_len;
      if (first_overlap(key, key + page_len - 1) == nullptr) return false;
      unpin_one(key, !has_domain());
    }
    return mem->underflows() == underflows;
  }
};

}  // namespace vfiopin::fuzz::ref

#endif  // VFIOPIN_FUZZ_REFERENCE_REF_TYPE1_HPP
