// SPDX-License-Identifier: Apache-2.0
//
// ref_iova_list: the valid-IOVA list algebra of the reference type1 container.
//
// Theory of operation. type1 keeps a sorted list of inclusive [start, end] ranges in which
// MAP_DMA is allowed (spec §1.1 "IOVA list"). Attach trims it to the new domain's aperture
// (aper_resize) and cuts out the group's reserved regions (resv_exclude); detach widens it
// again (ref_type1_state.hpp: aper_expand, resv_refresh, built from these two). Both follow
// the kernel's node-by-node rules, edge cases included (a start equal to a node's end drops
// that node), rather than a set algebra.
#ifndef VFIOPIN_FUZZ_REFERENCE_REF_IOVA_LIST_HPP
#define VFIOPIN_FUZZ_REFERENCE_REF_IOVA_LIST_HPP

#include <cstdint>
#include <utility>
#include <vector>

namespace vfiopin::fuzz::ref::detail {

using range_list = std::vector<std::pair<std::uint64_t, std::uint64_t>>;  // inclusive

/// vfio_iommu_aper_resize: trims the list to [start, end] (or makes it that range).
inline void aper_resize(range_list& l, std::uint64_t start, std::uint64_t end) {
  if (l.empty()) {
    l.emplace_back(start, end);
    return;
  }
  while (!l.empty()) {
    auto& n = l.front();
    if (start < n.first) break;
    if (start < n.second) { n.first = start; break; }
    l.erase(l.begin());
  }
  range_list kept;
  for (auto n : l) {
    if (end > n.second) { kept.push_back(n); continue; }
    if (end > n.first) { kept.emplace_back(n.first, end); continue; }
  }
  l = std::move(kept);
}

/// vfio_iommu_resv_exclude: cuts the regions out; false when nothing is left (-EINVAL).
template <class Regions>
[[nodiscard]] bool resv_exclude(range_list& l, const Regions& regions) {
  for (const auto& r : regions) {
    const std::uint64_t s = r.first().value(), e = r.last().value();
    range_list next;
    for (auto n : l) {
      if (s > n.second || e < n.first) { next.push_back(n); continue; }
      if (s > n.first) next.emplace_back(n.first, s - 1);
      if (e < n.second) next.emplace_back(e + 1, n.second);
    }
    l = std::move(next);
  }
  return !l.empty();
}

}  // namespace vfiopin::fuzz::ref::detail

#endif  // VFIOPIN_FUZZ_REFERENCE_REF_IOVA_LIST_HPP
