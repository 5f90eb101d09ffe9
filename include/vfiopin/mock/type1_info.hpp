// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/type1_info.hpp: VFIO_IOMMU_GET_INFO and the state dump of the mock container.
//
// Theory of operation.
//   get_info     vfio_iommu_type1_get_info: iova_pgsizes = iommu->pgsize_bitmap (PAGE_MASK
//                with no domain), then the capability chain in the kernel's order:
//                migration (vfio_iommu_migration_build_caps: minimum page size and
//                DIRTY_BITMAP_SIZE_MAX), DMA_AVAIL (vfio_iommu_dma_avail_build_caps) and,
//                only when the IOVA list is not empty, IOVA_RANGE
//                (vfio_iommu_iova_build_caps). Building the chain allocates (one failure
//                point, -ENOMEM). No IOMMU driver set: -EINVAL.
//   state_dump   a deterministic text rendering of everything the model's future behaviour
//                depends on (not the WARN or anomaly logs): container fields, IOVA list,
//                groups and their dirty scope, devices, every domain's page table, every
//                dma with its flags, locked_vm, pin runs and dirty bits, and the process's
//                locked_vm and pin total. Two dumps are equal iff the states are; the
//                fail-nth tests compare the dump before an operation with the dump after
//                an injected failure (spec invariant 24), and state_digest() hashes it.
#ifndef VFIOPIN_MOCK_TYPE1_INFO_HPP
#define VFIOPIN_MOCK_TYPE1_INFO_HPP

#include <vfiopin/mock/type1_core.hpp>

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace vfiopin::mock::detail {

/// VFIO_IOMMU_GET_INFO.
template <class Memory>
result<iommu_info> get_info(type1_state<Memory>& s) {
  if (!s.iommu_set) return fail(errc::invalid_argument);
  if (s.fail_step()) return fail(errc::out_of_memory);  // vfio_info_cap_add
  iommu_info info;
  info.iova_pgsizes = s.pgsize_bitmap;
  info.migration = migration_info{s.min_pgsize(), s.geo.max_dirty_bitmap_bytes};
  info.dma_avail = s.dma_avail;
  if (!s.iova_list.empty()) info.iova_ranges = s.iova_list;
  return info;
}

/// The state dump (see the header comment).
template <class Memory>
std::string state_dump(const type1_state<Memory>& s) {
  std::ostringstream o;
  o << std::hex;
  o << "set=" << s.iommu_set << " v2=" << s.v2 << " dirty=" << s.dirty_tracking
    << " avail=" << s.dma_avail << " limit=" << s.dma_limit
    << " invalid=" << s.vaddr_invalid_count << " pgsizes=" << s.pgsize_bitmap
    << " nonpinned=" << s.num_non_pinned_groups << " residual=" << s.residual_locked << '\n';
  o << "iova:";
  for (const auto& r : s.iova_list) o << ' ' << r.first().value() << '-' << r.last().value();
  o << "\nemulated:";
  for (const auto& g : s.emulated_groups) o << ' ' << g.id.value << (g.pinned_page_dirty_scope ? "s" : "");
  o << "\ndevices:";
  for (const auto& d : s.devices) o << ' ' << d.id.value << '@' << d.group.value;
  o << '\n';
  for (const auto& dom : s.domains) {
    o << "domain class=" << dom->class_id() << " groups:";
    for (const auto& g : dom->groups) o << ' ' << g.id.value << (g.pinned_page_dirty_scope ? "s" : "");
    o << '\n';
    dom->for_each([&](std::uint64_t a, std::uint64_t b, std::uint64_t f, prot p, frame_kind k) {
      o << "  pte " << a << '-' << b << " pfn=" << f << " prot=" << static_cast<unsigned>(p)
        << " kind=" << static_cast<unsigned>(k) << '\n';
    });
  }
  s.dmas.for_each([&](std::uint64_t first, const dma_record& d) {
    o << "dma " << first << '-' << d.last() << " va=" << d.vaddr()
      << " prot=" << static_cast<unsigned>(d.access()) << " mapped=" << d.iommu_mapped()
      << " cap=" << d.lock_cap() << " inval=" << d.vaddr_invalid() << " quirk=" << d.acct_quirk()
      << " locked=" << d.locked_vm() << '\n';
    if (const dma_ext* e = d.ext()) {
      e->pins.for_each([&](const pin_run_view& v) {
        o << "  pin " << v.key << " x" << v.pages << " pfn=" << v.frame
          << " kind=" << static_cast<unsigned>(v.kind) << " refs=" << v.refs << '\n';
      });
      if (e->dirty.full) {
        o << "  dirty all\n";
      } else if (!e->dirty.set.empty()) {
        auto bits = e->dirty.set;
        std::sort(bits.begin(), bits.end());
        bits.erase(std::unique(bits.begin(), bits.end()), bits.end());
        o << "  dirty";
        for (const auto b : bits) o << ' ' << b;
        o << '\n';
      }
    }
  });
  o << "mm locked=" << page_count(s.mem->locked_vm()).value();
  if constexpr (requires { s.mem->total_pins(); }) o << " pins=" << s.mem->total_pins();
  o << '\n';
  return o.str();
}

/// FNV-1a of the state dump.
template <class Memory>
std::uint64_t state_digest(const type1_state<Memory>& s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : state_dump(s)) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace vfiopin::mock::detail

#endif  // VFIOPIN_MOCK_TYPE1_INFO_HPP
