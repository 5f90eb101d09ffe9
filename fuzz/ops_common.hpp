// SPDX-License-Identifier: Apache-2.0
//
// ops_common: what the op-sequence fuzzers share besides the decoder: the IOMMU geometries
// (run_config::geometry), the harness limits, the operation names and the live mappings.
//
// Theory of operation. fuzz_ops and fuzz_diff_ref decode the same configuration byte
// (op_decoder.hpp); make_geometry() turns its geometry variant into a mock::geometry, so both
// targets run the same hardware for the same input, with the same bounds on work per
// operation and the same names in their traces.
//   0  the test bed (mock::geometry's default: VT-d, 39-bit aperture, the MSI window reserved)
//   1  group 2 behind a second IOMMU: attach replays into a new domain
//   2  group 1 without MSI isolation (EPERM); group 2 with 64 KiB pages and a 48-bit aperture
//   3  the whole 64-bit space, no reserved region, tiny limits; group 2: no domain (EIO)
#ifndef VFIOPIN_FUZZ_OPS_COMMON_HPP
#define VFIOPIN_FUZZ_OPS_COMMON_HPP

#include "op_decoder.hpp"

#include "../tools/replay/mock_geometry.hpp"

#include <vfiopin/mock/profile.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vfiopin::fuzz::ops {

/// Largest region an mmap makes (past 64 GiB stays, for ENOMEM), bytes per touch, bitmap
/// words per dirty request, page handles per pin.
inline constexpr std::uint64_t max_region_bytes = std::uint64_t{2} << 20;
inline constexpr std::size_t max_touch_bytes = 16 * 1024;
inline constexpr std::size_t max_bitmap_words = 1024;
inline constexpr std::size_t max_pin_pages = 520;

/// op_kind names, in op_kind order.
inline constexpr std::array<const char*, 24> op_names{
    "attach",      "detach",      "mmap",         "munmap",      "touch",      "alias",
    "map",         "map-vaddr",   "unmap",        "unmap-all",   "unmap-vaddr", "unmap-dirty",
    "dirty-start", "dirty-stop",  "dirty-get",    "entry-limit", "memlock",    "cap-restore",
    "add-emulated", "add-real",   "remove-device", "pin",        "unpin",      "info"};

/// The IOMMU geometry of variant v (see the header comment; tools/replay/mock_geometry.hpp,
/// so that a fuzz reproducer's `geometry N` runs the same hardware).
inline mock::geometry make_geometry(std::uint8_t v) { return replay::geometry_variant(v); }

/// The live mappings of a mock type1 container's state (under its lock), in iova order, as
/// extents for resolve().
template <class State>
void mapping_extents_of(const State& s, std::vector<extent>& out) {
  out.clear();
  s.dmas.for_each([&](std::uint64_t first, const auto& d) { out.push_back({first, d.last()}); });
}

/// The same, taking the container's lock.
template <class Type1>
void mapping_extents(const Type1& t, std::vector<extent>& out) {
  t.with_state([&](const auto& s) { mapping_extents_of(s, out); });
}

}  // namespace vfiopin::fuzz::ops

#endif  // VFIOPIN_FUZZ_OPS_COMMON_HPP
