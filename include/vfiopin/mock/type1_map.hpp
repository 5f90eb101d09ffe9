// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/type1_map.hpp: VFIO_IOMMU_MAP_DMA of the mock type1 container.
//
// Theory of operation. do_map is vfio_iommu_type1_map_dma + vfio_dma_do_map (spec §2), with
// every check in the kernel's order and with the kernel's errno:
//   0. no IOMMU driver set on the container (VFIO_SET_IOMMU not done)        -EINVAL
//   1. flags outside READ|WRITE|VADDR                                         -EINVAL
//   Mastro profile only: size 0 -EINVAL, iova/vaddr + size - 1 wraps -EOVERFLOW
//   2. prot with VADDR, or no prot without VADDR                              -EINVAL
//   --- iommu->lock ---
//   3. size 0 or size|iova|vaddr not aligned to the minimum IOMMU page size  -EINVAL
//      (pre-Mastro: then iova/vaddr + size - 1 wraps                          -EINVAL)
//   4. vfio_find_dma(iova, size): VADDR: none -ENOENT, not an exact invalidated dma
//      -EINVAL, else the new vaddr is taken (vfio_change_dma_owner is a no-op for one mm);
//      plain map: any overlap -EEXIST
//   5. dma_avail == 0                                                         -ENOSPC
//   6. IOVA list not empty and [iova, iova+size-1] not inside one of its nodes -EINVAL
//   7. kzalloc of the vfio_dma (failure point)                                -ENOMEM
//   8. no real domain: the size is recorded, nothing is pinned, the vaddr is not checked
//      (lazy mapping, spec invariant 25); otherwise vfio_pin_map_dma: chunk by chunk,
//      pin (GUP errors: -EFAULT ...), charge (-ENOMEM over RLIMIT_MEMLOCK without
//      CAP_IPC_LOCK), map into every domain; any failure undoes everything (all or nothing)
//   9. dirty tracking on: bitmap allocation (failure point, -ENOMEM; more than INT_MAX
//      pages -EINVAL); failure removes the dma
// Pre-Mastro, vfio_find_dma cannot see an overlap when iova + size wraps to 0 (spec §10 H2):
// the real 6.1 kernel would then create overlapping mappings. The model answers -EEXIST
// instead (it cannot hold overlapping dmas) and logs the event in anomalies().
#ifndef VFIOPIN_MOCK_TYPE1_MAP_HPP
#define VFIOPIN_MOCK_TYPE1_MAP_HPP

#include <vfiopin/mock/mutant.hpp>
#include <vfiopin/mock/type1_core.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace vfiopin::mock::detail {

/// vfio_pin_map_dma: pins and maps all of d; on failure d holds nothing.
template <class Memory>
result<void> pin_map_dma(type1_state<Memory>& s, std::uint64_t iova0, dma_record& d,
                         std::uint64_t size) {
  gup_batch batch;
  const std::uint64_t npages = size / page_bytes;
  std::uint64_t mapped = 0;
  std::error_code err;
  while (mapped < npages) {
    const std::uint64_t at = iova0 + mapped * page_bytes;
    auto c = s.pin_chunk(d, at, d.vaddr() + mapped * page_bytes, npages - mapped, batch);
    if (!c) {
      err = c.error();
      break;
    }
    if (auto m = s.iommu_map_all(at, *c, d.access()); !m) {
      s.unpin_remote(d, at, *c, true);
      if (batch.carry) s.put_run(*batch.carry, d.access());
      batch.carry.reset();
      err = m.error();
      break;
    }
    mapped += c->pages;
  }
  d.set_iommu_mapped(true);
  if (err) {
    // mutant 4: the error path unpins without uncharging (d's locked_vm is lost with d)
    if (mapped != 0) s.unmap_unpin(iova0, iova0 + (mapped * page_bytes - 1), d, mutant != 4);
    d.set_iommu_mapped(false);
    return fail(err);
  }
  return {};
}

/// True if [first, last] lies inside one node of the IOVA list (vfio_iommu_iova_dma_valid).
template <class Memory>
bool iova_dma_valid(const type1_state<Memory>& s, std::uint64_t first, std::uint64_t last) {
  if (s.iova_list.empty()) return true;
  for (const auto& node : s.iova_list)
    if (first >= node.first().value() && last <= node.last().value()) return true;
  return false;
}

/// VFIO_IOMMU_MAP_DMA (see the header comment). Runs under the container lock.
template <class Memory>
result<void> do_map(type1_state<Memory>& s, const dma_map_request& req) {
  if (!s.iommu_set) return fail(errc::invalid_argument);
  if (!is_valid(req.access)) return fail(errc::invalid_argument);
  const std::uint64_t iova0 = req.at.value();
  const std::uint64_t va = req.from.value();
  const std::uint64_t size = req.size.value();
  const bool set_vaddr = req.vaddr_update;
  const bool has_prot = req.access != prot::none;
  const bool wrap = size != 0 && (iova0 + (size - 1) < iova0 || va + (size - 1) < va);
  if (s.profile.overflow_errnos) {
    if (size == 0) return fail(errc::invalid_argument);
    if (wrap) return fail(errc::overflow);
  }
  if ((has_prot && set_vaddr) || (!has_prot && !set_vaddr)) return fail(errc::invalid_argument);

  const std::uint64_t pgsize = s.min_pgsize();
  if (size == 0 || ((size | iova0 | va) & (pgsize - 1)) != 0) return fail(errc::invalid_argument);
  if (wrap) return fail(errc::invalid_argument);
  const std::uint64_t last = iova0 + (size - 1);

  // One descent: `at` answers vfio_find_dma, the H2 check and where the new dma goes (the
  // index is not modified before the insert below).
  const auto at = s.dmas.locate(iova0);
  const auto found = s.find_dma_at(at, iova0, size);
  if (set_vaddr) {
    if (!found) return fail(errc::no_entry);
    dma_record& d = s.dmas.value(*found);
    if (!d.vaddr_invalid() || s.dmas.key(*found) != iova0 ||
        type1_state<Memory>::size_of(iova0, d) != size)
      return fail(errc::invalid_argument);
    // vfio_change_dma_owner(): current->mm == dma->mm, nothing to move.
    d.set_vaddr(va);
    d.set_vaddr_invalid(false);
    --s.vaddr_invalid_count;
    return {};
  }
  if (found) return fail(errc::exists);
  if (s.wraps() && mutant != 2) {  // mutant 2: the kernel's lookup alone (H2)
    // floor(last): the floor of iova0 unless a dma starts in (iova0, last].
    const auto above = s.dmas.above_at(at);
    const auto p = above && s.dmas.key(*above) <= last ? s.dmas.floor(last) : s.dmas.floor_at(at);
    if (p && s.dmas.value(*p).last() >= iova0) {
      s.anomalies.push_back("H2: MAP_DMA [" + std::to_string(iova0) + ", " + std::to_string(last) +
                            "] overlaps a mapping the pre-Mastro lookup cannot see; the kernel "
                            "would create overlapping dmas, the model answers EEXIST");
      return fail(errc::exists);
    }
  }
  if (s.dma_avail == 0) return fail(errc::no_space);
  if (!iova_dma_valid(s, iova0, last)) return fail(errc::invalid_argument);
  if (s.fail_step()) return fail(errc::out_of_memory);  // kzalloc(sizeof(*dma))

  dma_record d(last, va, req.access, s.mem->cap_ipc_lock());
  if (!s.domains.empty()) {
    if (auto r = pin_map_dma(s, iova0, d, size); !r) {
      if constexpr (mutant == 10) --s.dma_avail;  // mutant: the entry taken is not given back
      return r;
    }
  }
  if (s.dirty_tracking) {
    std::error_code err;
    if (size / pgsize > dirty_pages_max) err = make_error_code(errc::invalid_argument);
    else if (s.fail_step()) err = make_error_code(errc::out_of_memory);  // kvzalloc(bitmap)
    if (err) {
      s.unmap_unpin(iova0, d, true);
      d.release_ext();
      if (d.locked_vm() != 0) s.residual_locked += d.locked_vm();
      return fail(err);
    }
  }
  --s.dma_avail;
  s.dmas.insert_at(at, iova0, d);
  return {};
}

}  // namespace vfiopin::mock::detail

#endif  // VFIOPIN_MOCK_TYPE1_MAP_HPP
