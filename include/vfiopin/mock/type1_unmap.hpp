// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/type1_unmap.hpp: VFIO_IOMMU_UNMAP_DMA of the mock type1 container.
//
// Theory of operation. do_unmap is vfio_iommu_type1_unmap_dma + vfio_dma_do_unmap (spec §3):
//   0. no IOMMU driver set                                                      -EINVAL
//   1. GET_DIRTY_BITMAP with ALL or VADDR                                         -EINVAL
//   2. GET_DIRTY_BITMAP: bitmap page size 0 (H3) or verify_bitmap_size() fails     -EINVAL
//   --- iommu->lock ---
//   3. VADDR while an emulated-IOMMU group is attached                            -EBUSY
//   4. iova not aligned to the minimum page size                                  -EINVAL
//   5. ALL: iova or size not 0 -EINVAL. Otherwise size 0 or unaligned -EINVAL, and
//      iova + size - 1 wraps: -EINVAL (pre-Mastro) / -EOVERFLOW (Mastro)
//   6. GET_DIRTY_BITMAP while not tracking, or with another page size              -EINVAL
//   again:
//   7. v2 and not ALL: a dma holding iova but not starting there, or holding the last
//      byte but not ending there: -EINVAL (no bisection)
//   8. walk from vfio_find_dma_first_node: stop at a dma starting past the range; v1 stops
//      at a dma starting below iova (success); VADDR marks dmas invalid (an already invalid
//      one rolls back this call's marks, -EINVAL); a dma with external pins is announced to
//      every registered device (the WHOLE dma range, container lock dropped, see notify)
//      and the walk restarts at `again`; GET_DIRTY_BITMAP reports the dma
//      (update_user_bitmap: -EFAULT stops the walk, dmas removed before stay removed);
//      otherwise the dma is removed (vfio_remove_dma) and its size added to the reply.
// The notification retry rule is the kernel's: retries resets when a different dma is being
// processed and the kernel executes BUG_ON(++retries > 10), i.e. the 12th visit of a dma that
// is still pinned after 11 notifications crashes the host. There the model fails the unmap
// with errc::pins_retained instead; dmas removed earlier in the call stay removed, nothing
// else changes. Sizes add in 64 bits like the kernel's size_t (an unmap-all of 2^64 bytes of
// mappings reports 0).
#ifndef VFIOPIN_MOCK_TYPE1_UNMAP_HPP
#define VFIOPIN_MOCK_TYPE1_UNMAP_HPP

#include <vfiopin/mock/mutant.hpp>
#include <vfiopin/mock/type1_core.hpp>
#include <vfiopin/mock/type1_dirty.hpp>

#include <bit>
#include <cstdint>
#include <optional>
#include <utility>

namespace vfiopin::mock::detail {

/// VFIO_IOMMU_UNMAP_DMA. notify(first, last) must drop the container lock, call every
/// registered device's dma_unmap with [first, last] and take the lock again.
template <class Memory, class Notify>
result<dma_unmap_reply> do_unmap(type1_state<Memory>& s, const dma_unmap_request& req,
                                 Notify&& notify) {
  if (!s.iommu_set) return fail(errc::invalid_argument);
  const bool all = req.flags.all;
  const bool invalidate_vaddr = req.flags.vaddr;
  const bool get_dirty = req.flags.get_dirty_bitmap;
  const std::uint64_t iova0 = req.at.value();
  std::uint64_t size = req.size.value();
  if (get_dirty && (all || invalidate_vaddr)) return fail(errc::invalid_argument);
  if (get_dirty) {
    if (req.bitmap_pgsize.value() == 0) return fail(errc::invalid_argument);  // __ffs(0)
    const auto shift = static_cast<unsigned>(std::countr_zero(req.bitmap_pgsize.value()));
    if (!bitmap_size_ok(s, size >> shift, req.bitmap.size_bytes())) return fail(errc::invalid_argument);
  }
  // --- iommu->lock ---
  if (invalidate_vaddr && !s.emulated_groups.empty()) return fail(errc::busy);
  const std::uint64_t pgsize = s.min_pgsize();
  if ((iova0 & (pgsize - 1)) != 0) return fail(errc::invalid_argument);
  if (all) {
    if (iova0 != 0 || size != 0) return fail(errc::invalid_argument);
    size = ~std::uint64_t{0};  // U64_MAX (SIZE_MAX after the Mastro series: the same here)
  } else {
    if (size == 0 || (size & (pgsize - 1)) != 0) return fail(errc::invalid_argument);
    if (iova0 + (size - 1) < iova0)
      return fail(s.profile.overflow_errnos ? errc::overflow : errc::invalid_argument);
  }
  if (get_dirty && (!s.dirty_tracking || req.bitmap_pgsize.value() != pgsize))
    return fail(errc::invalid_argument);

  std::uint64_t unmapped = 0;
  std::uint32_t retries = 0;
  std::optional<std::pair<std::uint64_t, const void*>> dma_last;
  for (;;) {  // again:
    if (s.v2 && !all && mutant != 3) {  // mutant 3: bisection allowed on v2
      if (auto p = s.find_dma(iova0, 1); p && s.dmas.key(*p) != iova0)
        return fail(errc::invalid_argument);
      const std::uint64_t last = iova0 + (size - 1);
      if (auto p = s.find_dma(last, 0)) {
        const bool ends_there = s.wraps() ? s.dmas.value(*p).last() + 1 == iova0 + size
                                          : s.dmas.value(*p).last() == last;
        if (!ends_there) return fail(errc::invalid_argument);
      }
    }
    auto n = s.find_first_node(iova0, size);
    const std::optional<std::uint64_t> first_key =
        n ? std::optional<std::uint64_t>(s.dmas.key(*n)) : std::nullopt;
    bool restart = false;
    while (n) {
      const std::uint64_t first = s.dmas.key(*n);
      dma_record& d = s.dmas.value(*n);
      if (s.at_or_past_end(first, iova0, size)) break;
      if (!s.v2 && iova0 > first) break;
      if (invalidate_vaddr) {
        if (d.vaddr_invalid()) {
          for (auto q = s.dmas.find(*first_key); q && s.dmas.key(*q) < first; q = s.dmas.next(*q)) {
            s.dmas.value(*q).set_vaddr_invalid(false);
            if constexpr (mutant != 12) --s.vaddr_invalid_count;  // mutant 12: count kept
          }
          return fail(errc::invalid_argument);
        }
        d.set_vaddr_invalid(true);
        ++s.vaddr_invalid_count;
        unmapped += type1_state<Memory>::size_of(first, d);
        n = s.dmas.next(*n);
        continue;
      }
      if (d.has_pins()) {
        const std::pair<std::uint64_t, const void*> who{first, d.ext()};
        if (dma_last && *dma_last == who) {
          if (++retries > notify_retries_max) {
            s.warn("vfio_dma_do_unmap: BUG_ON(++retries > 10): a device keeps its pins");
            return fail(errc::pins_retained);
          }
        } else {
          dma_last = who;
          retries = 0;
        }
        notify(first, d.last());
        restart = true;
        break;
      }
      if (get_dirty) {
        if (auto r = update_user_bitmap(s, req.bitmap, first, d, iova0); !r) return fail(r.error());
      }
      unmapped += type1_state<Memory>::size_of(first, d);
      s.remove_dma(*n);
      n = s.dmas.upper_bound(first);
    }
    if (!restart) break;
  }
  return dma_unmap_reply{byte_count(unmapped)};
}

}  // namespace vfiopin::mock::detail

#endif  // VFIOPIN_MOCK_TYPE1_UNMAP_HPP
