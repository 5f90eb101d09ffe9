// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/type1_attach.hpp: groups, domains, the IOVA list and replay (spec §1.4, §5).
//
// Theory of operation.
//   open / release     vfio_iommu_type1_open (VFIO_SET_IOMMU: v2 from the type,
//                      dma_avail = dma_entry_limit now) and vfio_iommu_type1_release (what
//                      __vfio_group_unset_container does when the last group leaves). The
//                      first attach of an empty container opens it; if that attach fails
//                      the driver is released again, as VFIO_SET_IOMMU fails.
//   attach_real        vfio_iommu_type1_attach_group for a group with an IOMMU: -EBUSY while
//                      a vaddr is invalid, -EINVAL if present, kzalloc of group and domain
//                      (failure points), -EIO if the class has no domain, aperture conflict
//                      with the IOVA list or a dma outside the new aperture -EINVAL
//                      (vfio_iommu_aper_conflict; none while the list is empty), a dma in a
//                      reserved region -EINVAL (vfio_iommu_resv_conflict), the IOVA list copy
//                      (failure point), resize + reserved exclusion (empty -> -EINVAL), no
//                      MSI isolation -EPERM; then join a domain of the same class, or replay
//                      into a new domain that goes to the head of the domain list.
//                      num_non_pinned_groups + 1 either way.
//   attach_emulated    the VFIO_EMULATED_IOMMU branch: -EBUSY while a vaddr is invalid,
//                      group kzalloc (failure point), pinned_page_dirty_scope = true.
//   replay             vfio_iommu_replay: every dma in iova order; mapped dmas are copied
//                      from the first domain run by run (no new pins); unmapped ones are
//                      pinned from the process like MAP (second GUP pin for pages that also
//                      have records, which are not charged again); failure unwinds exactly.
//   detach_real        vfio_iommu_type1_detach_group: an emptied domain is freed; the last
//                      domain takes every dma with it (vfio_iommu_unmap_unpin_all) unless
//                      emulated groups remain (vfio_iommu_unmap_unpin_reaccount: IOMMU pins
//                      dropped, locked_vm = the non-rsvd records); the IOVA list is widened
//                      (vfio_iommu_aper_expand, vfio_iommu_resv_refresh); a group that never
//                      pinned lowers num_non_pinned_groups and, while tracking, marks every
//                      bitmap full (vfio_iommu_populate_bitmap_full).
// The IOVA list helpers reproduce vfio_iommu_aper_resize / vfio_iommu_resv_exclude exactly,
// including their strict comparisons (a node whose end equals the new start is dropped).
#ifndef VFIOPIN_MOCK_TYPE1_ATTACH_HPP
#define VFIOPIN_MOCK_TYPE1_ATTACH_HPP

#include <vfiopin/mock/type1_core.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace vfiopin::mock::detail {

using iova_range = interval<iova>;

inline iova_range make_range(std::uint64_t a, std::uint64_t b) {
  return *iova_range::from_bounds(iova(a), iova(b));
}

/// vfio_iommu_aper_resize, in place (the list only shrinks).
inline void aper_resize(std::vector<iova_range>& list, std::uint64_t start, std::uint64_t end) {
  if (list.empty()) {
    list.push_back(make_range(start, end));
    return;
  }
  std::size_t w = 0;
  bool started = false;
  for (const auto& n : list) {
    std::uint64_t a = n.first().value();
    const std::uint64_t b = n.last().value();
    if (!started) {
      if (start < a) {
        started = true;
      } else if (start >= a && start < b) {
        a = start;
        started = true;
      } else {
        continue;  // nodes before the new start are deleted
      }
    }
    list[w++] = make_range(a, b);
  }
  list.erase(list.begin() + static_cast<std::ptrdiff_t>(w), list.end());
  w = 0;
  for (const auto& n : list) {
    const std::uint64_t a = n.first().value();
    const std::uint64_t b = n.last().value();
    if (end > b) list[w++] = n;
    else if (end > a && end <= b) list[w++] = make_range(a, end);
    // else: after the new end, deleted
  }
  list.erase(list.begin() + static_cast<std::ptrdiff_t>(w), list.end());
}

/// Scratch IOVA lists, one set per thread, that keep their capacity from call to call:
/// attach and detach work on copies of the IOVA list (vfio_iommu_iova_get_copy) and the
/// reserved regions, and the fuzzers run them after nearly every step. 0: the working copy
/// of attach and detach, 1: the reserved regions of detach, 2: resv_exclude's output.
inline std::vector<iova_range>& iova_scratch(std::size_t which) {
  thread_local std::array<std::vector<iova_range>, 3> lists;
  return lists[which];
}

/// vfio_iommu_resv_exclude: false if nothing is left.
inline bool resv_exclude(std::vector<iova_range>& list, const std::vector<iova_range>& resv) {
  std::vector<iova_range>& out = iova_scratch(2);
  for (const auto& r : resv) {
    const std::uint64_t start = r.first().value();
    const std::uint64_t end = r.last().value();
    out.clear();
    for (const auto& n : list) {
      const std::uint64_t a = n.first().value();
      const std::uint64_t b = n.last().value();
      if (start > b || end < a) {
        out.push_back(n);
        continue;
      }
      if (start > a) out.push_back(make_range(a, start - 1));
      if (end < b) out.push_back(make_range(end + 1, b));
    }
    list.assign(out.begin(), out.end());
  }
  return !list.empty();
}

template <class Memory>
void open_container(type1_state<Memory>& s) {
  s.iommu_set = true;
  s.v2 = s.type == iommu_type::type1v2;
  s.dma_limit = s.dma_avail = s.entry_limit_param;
  s.pgsize_bitmap = page_mask;
  s.vaddr_invalid_count = 0;
  s.num_non_pinned_groups = 0;
  s.dirty_tracking = false;
  s.iova_list.clear();
}

/// vfio_iommu_type1_release.
template <class Memory>
void release_container(type1_state<Memory>& s) {
  s.emulated_groups.clear();
  s.remove_all();
  s.domains.clear();
  s.iova_list.clear();
  s.iommu_set = false;
  s.dirty_tracking = false;
  s.num_non_pinned_groups = 0;
  s.pgsize_bitmap = page_mask;
  // The driver's private data is freed: nothing of it survives into the next SET_IOMMU,
  // and the state is the fresh one again (a failed first attach leaves no trace).
  s.v2 = false;
  s.dma_avail = 0;
  s.dma_limit = 0;
  s.vaddr_invalid_count = 0;
}

/// Walks the new domain over [first, last] of a freshly pinned dma: unmap and unpin.
template <class Memory>
void unwind_fresh(type1_state<Memory>& s, iommu_domain& dom, std::uint64_t first, dma_record& d) {
  std::uint64_t at = first;
  while (auto next = dom.first_mapped(at, d.last())) {
    auto run = dom.run_at(*next, d.last());
    const std::uint64_t run_last = *next + (run->pages * page_bytes - 1);
    dom.unmap(*next, run_last);
    s.unpin_remote(d, *next, chunk{run->frame, run->pages, run->kind}, true);
    if (run_last >= d.last()) break;
    at = run_last + 1;
  }
}

/// vfio_iommu_replay into dom (not yet in the domain list).
template <class Memory>
result<void> replay(type1_state<Memory>& s, iommu_domain& dom) {
  iommu_domain* src = s.domains.empty() ? nullptr : s.domains.front().get();
  gup_batch batch;
  std::error_code err;
  auto p = s.dmas.first();
  for (; p; p = s.dmas.next(*p)) {
    const std::uint64_t first = s.dmas.key(*p);
    dma_record& d = s.dmas.value(*p);
    std::uint64_t at = first;
    batch.pages = 0;  // each dma's first vfio_pin_pages_remote refills the batch
    while (true) {
      chunk c;
      if (d.iommu_mapped()) {
        if (src == nullptr) { err = make_error_code(errc::invalid_argument); break; }
        auto run = src->run_at(at, d.last());
        if (!run) {
          s.warn("vfio_iommu_replay: WARN_ON(!phys)");
          auto next = src->first_mapped(at, d.last());
          if (!next) break;
          at = *next;
          continue;
        }
        c = chunk{run->frame, run->pages, run->kind};
      } else {
        auto r = s.pin_chunk(d, at, d.vaddr() + (at - first), (d.last() - at) / page_bytes + 1, batch);
        if (!r) { err = r.error(); break; }
        c = *r;
      }
      if (auto m = dom.map(at, c.frame, c.pages, d.access(), c.kind, s.fi); !m) {
        if (!d.iommu_mapped()) {
          s.unpin_remote(d, at, c, true);
          if (batch.carry) s.put_run(*batch.carry, d.access());
          batch.carry.reset();
        }
        err = m.error();
        break;
      }
      const std::uint64_t c_last = at + (c.pages * page_bytes - 1);
      if (c_last >= d.last()) break;
      at = c_last + 1;
    }
    if (err) break;
  }
  if (!err) {
    for (auto q = s.dmas.first(); q; q = s.dmas.next(*q)) s.dmas.value(*q).set_iommu_mapped(true);
    return {};
  }
  for (; p; p = s.dmas.prev(*p)) {  // unwind, from the failing dma back to the first
    const std::uint64_t first = s.dmas.key(*p);
    dma_record& d = s.dmas.value(*p);
    if (d.iommu_mapped()) dom.unmap(first, d.last());
    else unwind_fresh(s, dom, first, d);
  }
  return fail(err);
}

/// vfio_iommu_aper_conflict.
template <class Memory>
bool aper_conflict(const type1_state<Memory>& s, std::uint64_t start, std::uint64_t end) {
  if (s.iova_list.empty()) return false;
  const std::uint64_t first = s.iova_list.front().first().value();
  const std::uint64_t last = s.iova_list.back().last().value();
  if (start > last || end < first) return true;
  if (start > first && s.find_dma(first, start - first)) return true;
  if (end < last && s.find_dma(end + 1, last - end)) return true;
  return false;
}

/// Reserved regions of every group of every domain, into out.
template <class Memory>
void resv_of_domains(const type1_state<Memory>& s, std::vector<iova_range>& out) {
  out.clear();
  for (const auto& dom : s.domains)
    for (std::size_t i = 0; i < dom->groups.size(); ++i)
      out.insert(out.end(), dom->config().reserved.begin(), dom->config().reserved.end());
}

/// vfio_iommu_type1_attach_group for a real group.
template <class Memory>
result<void> attach_real(type1_state<Memory>& s, group_id g) {
  if (s.vaddr_invalid_count != 0) return fail(errc::busy);
  if (s.find_group(g) != nullptr) return fail(errc::invalid_argument);
  if (s.fail_step()) return fail(errc::out_of_memory);  // kzalloc(group)
  if (s.fail_step()) return fail(errc::out_of_memory);  // kzalloc(domain)
  const std::uint32_t cls = s.geo.class_of(g);
  if (cls >= s.geo.classes.size() || !s.geo.classes[cls].allocatable) return fail(errc::io_error);
  const domain_class& cfg = s.geo.classes[cls];
  const std::uint64_t ap_start = cfg.aperture.first().value();
  const std::uint64_t ap_end = cfg.aperture.last().value();
  if (aper_conflict(s, ap_start, ap_end)) return fail(errc::invalid_argument);
  for (const auto& r : cfg.reserved)
    if (s.find_dma(r.first().value(), r.last().value() - r.first().value() + 1))
      return fail(errc::invalid_argument);
  if (s.fail_step()) return fail(errc::out_of_memory);  // vfio_iommu_iova_get_copy
  std::vector<iova_range>& copy = iova_scratch(0);
  copy.assign(s.iova_list.begin(), s.iova_list.end());
  aper_resize(copy, ap_start, ap_end);
  if (!resv_exclude(copy, cfg.reserved)) return fail(errc::invalid_argument);
  if (!cfg.isolated_msi) return fail(errc::not_permitted);
  s.iova_list.reserve(copy.size());  // may throw: nothing changed yet; the commit cannot
  for (auto& dom : s.domains) {
    if (dom->class_id() == cls) {
      dom->groups.push_back(group_state{g, false});
      s.iova_list.assign(copy.begin(), copy.end());
      ++s.num_non_pinned_groups;
      return {};
    }
  }
  auto dom = std::make_unique<iommu_domain>(cls, cfg);
  dom->groups.push_back(group_state{g, false});
  if (auto r = replay(s, *dom); !r) return r;
  s.domains.insert(s.domains.begin(), std::move(dom));
  s.update_pgsize_bitmap();
  s.iova_list.assign(copy.begin(), copy.end());
  ++s.num_non_pinned_groups;
  return {};
}

/// The VFIO_EMULATED_IOMMU branch of vfio_iommu_type1_attach_group.
template <class Memory>
result<void> attach_emulated(type1_state<Memory>& s, group_id g) {
  if (s.vaddr_invalid_count != 0) return fail(errc::busy);
  if (s.find_group(g) != nullptr) return fail(errc::invalid_argument);
  if (s.fail_step()) return fail(errc::out_of_memory);  // kzalloc(group)
  s.emulated_groups.insert(s.emulated_groups.begin(), group_state{g, true});
  return {};
}

/// vfio_iommu_unmap_unpin_reaccount.
template <class Memory>
void unmap_unpin_reaccount(type1_state<Memory>& s) {
  for (auto p = s.dmas.first(); p; p = s.dmas.next(*p)) {
    const std::uint64_t first = s.dmas.key(*p);
    dma_record& d = s.dmas.value(*p);
    const std::uint64_t unlocked = s.unmap_unpin(first, d, false);
    std::uint64_t locked = 0;
    if (d.has_pins())
      d.ext()->pins.for_each([&](const pin_run_view& v) {
        if (v.kind == frame_kind::page) locked += v.pages;
      });
    // Over RLIMIT_MEMLOCK the charge-back is ENOMEM and charges nothing, which the kernel
    // ignores: the dma's locked_vm then falls short of its records (reaccount_over_limit_6_1.vfs).
    if (!s.lock_acct(d, static_cast<std::int64_t>(locked) - static_cast<std::int64_t>(unlocked)))
      d.set_acct_quirk();
  }
}

/// Removal of a group that did not declare its dirty scope (detach_group_done).
template <class Memory>
void drop_unscoped_group(type1_state<Memory>& s) {
  --s.num_non_pinned_groups;
  if (!s.dirty_tracking) return;
  for (auto p = s.dmas.first(); p; p = s.dmas.next(*p)) s.dmas.value(*p).ext_or_make().dirty.mark_all();
}

/// vfio_iommu_type1_detach_group for a real group; false if g is not attached as one.
template <class Memory>
bool detach_real(type1_state<Memory>& s, group_id g) {
  for (std::size_t i = 0; i < s.domains.size(); ++i) {
    iommu_domain& dom = *s.domains[i];
    auto it = std::find_if(dom.groups.begin(), dom.groups.end(),
                           [&](const group_state& gs) { return gs.id == g; });
    if (it == dom.groups.end()) continue;
    std::vector<iova_range>& copy = iova_scratch(0);
    copy.assign(s.iova_list.begin(), s.iova_list.end());
    const bool unscoped = !it->pinned_page_dirty_scope;
    dom.groups.erase(it);
    if (dom.groups.empty()) {
      if (s.domains.size() == 1) {
        if (s.emulated_groups.empty()) {
          if (!s.device_list_empty()) s.warn("vfio_iommu_type1_detach_group: WARN_ON(device_list)");
          s.remove_all();
        } else {
          unmap_unpin_reaccount(s);
        }
      }
      s.domains.erase(s.domains.begin() + static_cast<std::ptrdiff_t>(i));
      if (!copy.empty()) {  // vfio_iommu_aper_expand
        std::uint64_t start = 0;
        std::uint64_t end = ~std::uint64_t{0};
        for (const auto& d : s.domains) {
          start = std::max(start, d->config().aperture.first().value());
          end = std::min(end, d->config().aperture.last().value());
        }
        copy.front() = make_range(start, copy.front().last().value());
        copy.back() = make_range(copy.back().first().value(), end);
      }
      s.update_pgsize_bitmap();
    }
    if (!copy.empty()) {  // vfio_iommu_resv_refresh
      const std::uint64_t start = copy.front().first().value();
      const std::uint64_t end = copy.back().last().value();
      copy.clear();  // the fresh list, in the same scratch
      aper_resize(copy, start, end);
      std::vector<iova_range>& resv = iova_scratch(1);
      resv_of_domains(s, resv);
      if (resv_exclude(copy, resv)) s.iova_list.assign(copy.begin(), copy.end());
    }
    if (unscoped) drop_unscoped_group(s);
    return true;
  }
  return false;
}

/// Detach of an emulated group (the emulated_iommu_groups branch of detach_group).
template <class Memory>
void detach_emulated(type1_state<Memory>& s, group_id g) {
  auto it = std::find_if(s.emulated_groups.begin(), s.emulated_groups.end(),
                         [&](const group_state& gs) { return gs.id == g; });
  if (it == s.emulated_groups.end()) return;
  const bool unscoped = !it->pinned_page_dirty_scope;
  s.emulated_groups.erase(it);
  if (s.emulated_groups.empty() && s.domains.empty()) {
    if (!s.device_list_empty()) s.warn("vfio_iommu_type1_detach_group: WARN_ON(device_list)");
    s.remove_all();
  }
  if (unscoped) drop_unscoped_group(s);
}

}  // namespace vfiopin::mock::detail

#endif  // VFIOPIN_MOCK_TYPE1_ATTACH_HPP
