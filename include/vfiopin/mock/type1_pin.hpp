// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/type1_pin.hpp: vfio_pin_pages / vfio_unpin_pages for emulated-IOMMU devices.
//
// Theory of operation. do_pin is the vfio_main.c front end (vfio_pin_pages,
// vfio_device_container_pin_pages) followed by vfio_iommu_type1_pin_pages (spec §4):
//   front end: out shorter than npage ("pages == NULL") or npage 0 -EINVAL; device not
//   registered or without dma_unmap -EINVAL; npage > 512 -E2BIG.
//   back end:  v1 container -EACCES (Mastro: then iova + npage*4K - 1 wraps -EOVERFLOW);
//   --- iommu->lock ---; any invalidated vaddr -EBUSY; no device with dma_unmap -EINVAL;
//   do_accounting = no real domain. Then page k = 0..npage-1, iova_k = iova + k * 4096
//   (no alignment: keys are exact; pre-Mastro the sum wraps like dma_addr_t):
//     a. vfio_find_dma(iova_k, PAGE_SIZE): none -EINVAL
//     b. (dma->prot & prot) != prot -EPERM
//     c. an existing record with key iova_k: refcount + 1, same page, no GUP, no charge
//     d. vfio_pin_page_external: GUP one page of dma->vaddr + (iova_k - dma->iova) with the
//        DMA's prot (not the caller's); GUP errors (-EFAULT); if do_accounting and the page
//        is not rsvd, charge 1 (-ENOMEM over the limit, the page is put; it stays faulted
//        in, the pages after it are never touched)
//     e. 6.4+: a pfn without struct page (PFNMAP) -EINVAL. 6.0-6.3 insert the record and
//        return pfn_to_page() garbage: the model finishes the call and, if nothing else
//        failed, fails it with errc::bogus_page after undoing everything (no handle ever
//        names MMIO)
//     f. insert the record (kzalloc, failure point: -ENOMEM, the page is put and uncharged)
//     g. out[k] = the page's handle; with tracking on, the dirty bit of iova_k is set
//   any failure unwinds pages 0..k-1 (vfio_unpin_page_external: refcount - 1, put and
//   uncharge at 0) and clears out: all or nothing. Dirty bits set on the way stay set,
//   exactly as in the kernel (spec invariant 8 says otherwise; the code does not clear them).
//   Success marks the device's group pinned_page_dirty_scope (num_non_pinned_groups - 1 for
//   a real group that had not pinned before).
// Pages are processed per stretch: consecutive pages in one dma and all with, or all
// without, records; a stretch without records is pinned with one GUP per contiguous run.
// Errors still come from the first failing page, as in the per-page kernel loop.
// do_unpin is vfio_unpin_pages + vfio_iommu_type1_unpin_pages: WARN and return on v1, on
// npage 0 or > 512 and (Mastro) on wrap; per page: no covering dma ends the loop (WARN),
// no record is silently skipped, else refcount - 1 and at 0 the page is put (dirtied if the
// dma is writable) and, without a real domain, uncharged.
#ifndef VFIOPIN_MOCK_TYPE1_PIN_HPP
#define VFIOPIN_MOCK_TYPE1_PIN_HPP

#include <vfiopin/mock/mutant.hpp>
#include <vfiopin/mock/type1_core.hpp>

#include <algorithm>
#include <cstdint>
#include <span>

namespace vfiopin::mock::detail {

/// vfio_unpin_page_external over the records key + i * 4096, i < pages, of dma d (keys
/// without a record are skipped).
template <class Memory>
void unpin_external(type1_state<Memory>& s, dma_record& d, std::uint64_t key,
                    std::uint64_t pages, bool do_accounting) {
  if (!d.has_pins()) return;
  d.ext()->pins.drop_ref(key, pages, [&](const pin_run_view& v) {
    if (v.kind != frame_kind::page) return;
    s.mem->unpin_frames(pfn_run{pfn(v.frame), page_count(v.pages), v.kind}, d.access());
    // mutant 13: uncharged even when a real domain holds the charge
    if (do_accounting || mutant == 13) (void)s.lock_acct(d, -static_cast<std::int64_t>(v.pages));
  });
  d.trim();
}

/// The dma for page iova_k, per vfio_find_dma(iova_k, PAGE_SIZE).
template <class Memory>
std::optional<typename type1_state<Memory>::pos> dma_for_page(const type1_state<Memory>& s,
                                                              std::uint64_t iova_k) {
  return s.find_dma(iova_k, page_bytes);
}

/// vfio_iommu_type1_unpin_pages' loop: drops one reference from every record among the
/// npage pages from iova0. False if a page has no covering dma (the loop ends there).
template <class Memory>
bool unpin_walk(type1_state<Memory>& s, std::uint64_t iova0, std::uint64_t npage,
                bool do_accounting) {
  std::uint64_t k = 0;
  while (k < npage) {
    const std::uint64_t iova_k = iova0 + k * page_bytes;
    const auto p = dma_for_page(s, iova_k);
    if (!p) return false;
    const std::uint64_t first = s.dmas.key(*p);
    dma_record& d = s.dmas.value(*p);
    std::uint64_t span = 1;
    if (iova_k >= first) span = std::min(npage - k, (d.last() - iova_k) / page_bytes + 1);
    unpin_external(s, d, iova_k, span, do_accounting);
    k += span;
  }
  return true;
}

/// vfio_iommu_type1_pin_pages GUPs, charges, records and (while tracking) marks dirty one
/// page at a time, so over RLIMIT_MEMLOCK the pages before the one whose charge fails are
/// pinned, recorded and marked (their dirty bits outlive the unwind), that page is the
/// last one faulted in, and the pages after it are never touched (an untouched anon page
/// stays the zero page for a later read pin). Of the next n pages of dma d, how many to
/// pin as one stretch: n if every charge fits (the per-page test of __account_locked_vm,
/// never failing with lock_cap), else the pages that fit, or, when none does, the one
/// whose charge fails.
template <class Memory>
std::uint64_t pages_to_first_charge_failure(const type1_state<Memory>& s, const dma_record& d,
                                            std::uint64_t n) {
  if (d.lock_cap()) return n;
  if constexpr (requires { s.mem->over_memlock_each(page_count{}); }) {
    const auto over = [&](std::uint64_t m) { return s.mem->over_memlock_each(page_count(m)); };
    if (!over(n)) return n;
    std::uint64_t fits = 0, fails = n;  // over(0) is false, over(n) true; over is monotone
    while (fails - fits > 1) {
      const std::uint64_t mid = fits + (fails - fits) / 2;
      (over(mid) ? fails : fits) = mid;
    }
    return fits != 0 ? fits : fails;
  } else {
    return n;  // a memory without a limit to consult
  }
}

/// The pin call after the front-end checks, under the lock.
template <class Memory>
result<void> do_pin(type1_state<Memory>& s, const device_entry& dev, std::uint64_t iova0,
                    std::uint64_t npage, prot want, std::span<page_handle> out) {
  if (!s.v2) return fail(errc::access_denied);
  if (s.profile.overflow_errnos && iova0 + (npage * page_bytes - 1) < iova0)
    return fail(errc::overflow);
  if (s.vaddr_invalid_count != 0) {
    s.warn("vfio_pin_pages not allowed with VFIO_UPDATE_VADDR");
    return fail(errc::busy);
  }
  if (s.device_list_empty()) return fail(errc::invalid_argument);
  const bool do_accounting = s.domains.empty();
  std::error_code err;
  bool bogus = false;
  std::uint64_t k = 0;
  // Pages 0..k-1 all took a reference (k only grows past pages done); the dmas did not
  // change, so the unpin walk drops exactly those references.
  auto unwind = [&] {
    (void)unpin_walk(s, iova0, k, do_accounting);
    std::fill(out.begin(), out.end(), page_handle{});
  };
  while (k < npage && !err) {
    const std::uint64_t iova_k = iova0 + k * page_bytes;  // dma_addr_t: wraps pre-Mastro
    const auto p = dma_for_page(s, iova_k);
    if (!p) { err = make_error_code(errc::invalid_argument); break; }
    const std::uint64_t first = s.dmas.key(*p);
    dma_record& d = s.dmas.value(*p);
    if (!includes(d.access(), want)) { err = make_error_code(errc::not_permitted); break; }
    // Pages k.. that start inside this dma (a page that only overlaps it is alone).
    std::uint64_t span = 1;
    if (iova_k >= first) span = std::min(npage - k, (d.last() - iova_k) / page_bytes + 1);
    const pin_records* pr = d.has_pins() ? &d.ext()->pins : nullptr;
    if (auto rec = pr ? pr->covering(iova_k) : std::nullopt) {
      const std::uint64_t n = std::min(span, (rec->last_key() - iova_k) / page_bytes + 1);
      if constexpr (mutant == 9) {  // mutant: pinned before the record lookup, never put
        const std::uint64_t va = d.vaddr() + (iova_k - first);
        (void)s.gup(va & ~(page_bytes - 1), n, d.access());
      }
      d.ext()->pins.add_ref(iova_k, n);
      for (std::uint64_t i = 0; i < n; ++i) {
        auto h = s.mem->page_of(pfn(rec->frame + (iova_k - rec->key) / page_bytes + i));
        if (h) out[k + i] = *h;
      }
      k += n;
      continue;
    }
    std::uint64_t n = pr ? pr->gap_pages(iova_k, span) : span;
    // vfio_pin_page_external over a stretch without records: GUP run by run; over the
    // limit, the pages that fit first, then the one whose charge fails.
    if (do_accounting) n = pages_to_first_charge_failure(s, d, n);
    const std::uint64_t va = d.vaddr() + (iova_k - first);  // wraps if iova_k < first
    auto run = s.gup(va & ~(page_bytes - 1), n, d.access());
    if (!run) { err = run.error(); break; }
    n = run->count.value();
    if (run->kind == frame_kind::no_page && s.profile.pfnmap_pin == pfnmap_pin_behaviour::invalid &&
        mutant != 6) {  // mutant 6: no pfn_valid check (a PFNMAP pin yields a "page")
      err = make_error_code(errc::invalid_argument);  // !pfn_valid(phys_pfn)
      break;
    }
    if (do_accounting && run->kind == frame_kind::page) {
      // Charged page by page in the kernel: the per-page test, then the charge.
      auto a = s.over_memlock(d, iova_k, n) ? result<void>(fail(errc::out_of_memory))
                                            : s.lock_acct(d, static_cast<std::int64_t>(n));
      if (!a) {
        s.put_run(*run, d.access());
        err = a.error();
        break;
      }
    }
    if (s.fail_step()) {  // kzalloc(vfio_pfn)
      s.put_run(*run, d.access());
      if (do_accounting && run->kind == frame_kind::page) (void)s.lock_acct(d, -static_cast<std::int64_t>(n));
      err = make_error_code(errc::out_of_memory);
      break;
    }
    d.ext_or_make().pins.insert(iova_k, run->first.value(), n, run->kind);
    if (run->kind == frame_kind::no_page) bogus = true;
    for (std::uint64_t i = 0; i < n; ++i) {
      if (run->kind != frame_kind::no_page) {
        if (auto h = s.mem->page_of(run->first + page_count(i))) out[k + i] = *h;
      }
      if (s.dirty_tracking) {
        const std::uint64_t key = iova_k + i * page_bytes;
        if (key >= first) d.ext()->dirty.mark((key - first) >> s.pgshift());
        else s.warn("vfio_iommu_type1_pin_pages: dirty bit before the dma (kernel writes out of bounds)");
      }
    }
    k += n;
  }
  if (err) {
    unwind();
    return fail(err);
  }
  if (bogus) {
    unwind();
    s.anomalies.push_back("6.0-6.3: vfio_pin_pages of a PFNMAP iova returns a bogus struct page");
    return fail(errc::bogus_page);
  }
  if (group_state* g = s.find_group(dev.group); g && !g->pinned_page_dirty_scope) {
    g->pinned_page_dirty_scope = true;
    --s.num_non_pinned_groups;
  }
  return {};
}

/// The unpin call after the front-end checks, under the lock.
template <class Memory>
void do_unpin(type1_state<Memory>& s, std::uint64_t iova0, std::uint64_t npage) {
  if (!s.v2) {
    s.warn("vfio_iommu_type1_unpin_pages: WARN_ON(!iommu->v2)");
    return;
  }
  if (s.profile.overflow_errnos && iova0 + (npage * page_bytes - 1) < iova0) {
    s.warn("vfio_iommu_type1_unpin_pages: WARN_ON(overflow)");
    return;
  }
  if (!unpin_walk(s, iova0, npage, s.domains.empty()))
    s.warn("vfio_iommu_type1_unpin_pages: WARN_ON(i != npage)");
}

}  // namespace vfiopin::mock::detail

#endif  // VFIOPIN_MOCK_TYPE1_PIN_HPP
