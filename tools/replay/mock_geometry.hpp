// SPDX-License-Identifier: Apache-2.0
//
// tools/replay/mock_geometry.hpp: the IOMMU geometries of the mock, by number.
//
// Theory of operation. The op-sequence fuzzers (fuzz/ops_common.hpp) pick one of four
// hardware layouts from their configuration byte, and a fuzz reproducer names it with the
// scenario extension `geometry N`; both get the mock::geometry from here, so a reproducer
// runs on exactly the hardware its fuzz run had.
//   0  the test bed (mock::geometry's default: VT-d, 39-bit aperture, the MSI window reserved)
//   1  group 2 behind a second IOMMU: attach replays into a new domain
//   2  group 1 without MSI isolation (EPERM); group 2 with 64 KiB pages and a 48-bit aperture
//   3  the whole 64-bit space, no reserved region, tiny limits; group 2: no domain (EIO)
#ifndef VFIOPIN_TOOLS_REPLAY_MOCK_GEOMETRY_HPP
#define VFIOPIN_TOOLS_REPLAY_MOCK_GEOMETRY_HPP

#include <vfiopin/mock/profile.hpp>

#include <cstdint>

namespace vfiopin::replay {

/// The IOMMU geometry of variant v (see the header comment; other values: 0).
inline mock::geometry geometry_variant(std::uint8_t v) {
  mock::geometry g;
  switch (v) {
    case 1: {
      mock::domain_class other;
      other.pgsize_bitmap = 0x201000;
      other.aperture = *interval<iova>::from_bounds(iova(0), iova(0xffffffffffffULL));
      other.reserved.clear();
      g.classes.push_back(other);
      g.group_class = {{group_id{2}, 1}};
      break;
    }
    case 2: {
      mock::domain_class no_msi;
      no_msi.isolated_msi = false;
      mock::domain_class big_pages;
      big_pages.pgsize_bitmap = 0x40210000;
      big_pages.aperture = *interval<iova>::from_bounds(iova(0), iova(0xffffffffffffULL));
      g.classes.push_back(no_msi);
      g.classes.push_back(big_pages);
      g.group_class = {{group_id{1}, 1}, {group_id{2}, 2}};
      break;
    }
    case 3: {
      g.classes.front().aperture = *interval<iova>::from_bounds(iova(0), iova(~std::uint64_t{0}));
      g.classes.front().reserved.clear();
      mock::domain_class no_domain;
      no_domain.allocatable = false;
      g.classes.push_back(no_domain);
      g.group_class = {{group_id{2}, 1}};
      g.dma_entry_limit = 12;
      g.max_dirty_bitmap_bytes = 64;
      break;
    }
    default:
      break;
  }
  return g;
}

}  // namespace vfiopin::replay

#endif  // VFIOPIN_TOOLS_REPLAY_MOCK_GEOMETRY_HPP
