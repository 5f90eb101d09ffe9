// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/real/dma_memory.hpp: what real memory offers for DMA, as concepts.
//
// Theory of operation. The real memory regions (real/memory.hpp: anon, memfd, hugetlb)
// and a device BAR mmap (real/bar_region.hpp) are memory this process maps for DMA with
// VFIO_IOMMU_MAP_DMA. They do NOT model vfiopin::memory_backend, on purpose: that concept
// is the IOMMU side's pin_frames()/unpin_frames(), and user space cannot pin. The real
// kernel pins (GUP) inside MAP_DMA itself; a pin_frames() here could only read
// /proc/self/pagemap, whose answer the kernel may invalidate at any moment (migration,
// swap, THP collapse), and would have to pretend to hold a reference it does not hold.
// So real memory gets its own, smaller concepts:
//   dma_memory<M>               M::backing (a compile-time backing_kind, as for
//                               memory_backend), base() -> vaddr, size() -> byte_count,
//                               map_request(iova, offset, size, prot) ->
//                               result<dma_map_request>;
//   page_backed_dma_memory<M>   backing == pages, and page_at(offset) ->
//                               result<page_handle>: the CPU pointer of one 4 KiB page and
//                               its frame where pagemap shows it;
//   pfn_only_dma_memory<M>      backing == pfn_only, and NO page_at (the rule
//                               [memory.pfn-only-has-no-pages] of concepts/memory_backend.hpp).
// real::page_at(m, offset) is the checked way to get a page handle from any real memory:
// given a pfn-only type it stops compilation with a message naming the rule
// [consumer.pages-only], as consumer_of_rule does for memory backends.
//
// make_map_request() builds the MAP_DMA request for a part of a region, refusing a part
// that is empty or leaves the region (EINVAL). It checks the region's bounds only: the
// iova, the prot and the alignment are the IOMMU backend's to validate, in the kernel's
// order. (To map past a region's end on purpose, build the request by hand.)
#ifndef VFIOPIN_REAL_DMA_MEMORY_HPP
#define VFIOPIN_REAL_DMA_MEMORY_HPP

#include <vfiopin/concepts/memory_backend.hpp>
#include <vfiopin/error.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/address.hpp>
#include <vfiopin/types/count.hpp>
#include <vfiopin/types/dma.hpp>
#include <vfiopin/types/page_handle.hpp>
#include <vfiopin/types/prot.hpp>

#include <concepts>
#include <type_traits>

namespace vfiopin::real {

/// Memory this process can map for DMA (see the header comment).
template <class M>
concept dma_memory =
    declares_backing<M> &&
    requires(const M& m, iova at, byte_count offset, byte_count size, prot p) {
      { m.base() } -> std::same_as<vaddr>;
      { m.size() } -> std::same_as<byte_count>;
      { m.map_request(at, offset, size, p) } -> std::same_as<result<dma_map_request>>;
    };

/// Has a page_at(offset) member.
template <class M>
concept offers_page_at = requires(const M& m, byte_count offset) {
  { m.page_at(offset) } -> std::same_as<result<page_handle>>;
};

/// Real memory with a struct page behind every page: gives page handles.
template <class M>
concept page_backed_dma_memory =
    dma_memory<M> && backing_of<M> == backing_kind::pages && offers_page_at<M>;

/// Real memory without struct pages (a BAR mmap): maps for DMA, never gives a page.
template <class M>
concept pfn_only_dma_memory =
    dma_memory<M> && backing_of<M> == backing_kind::pfn_only && !offers_page_at<M>;

namespace detail {
template <class>
inline constexpr bool always_false = false;
}  // namespace detail

/// The page handle of the page at `offset` of m. Does not compile for pfn-only memory.
template <dma_memory M>
[[nodiscard]] result<page_handle> page_at(const M& m, byte_count offset) {
  if constexpr (backing_of<M> == backing_kind::pfn_only) {
    static_assert(detail::always_false<M>,
                  "vfiopin rule [consumer.pages-only]: this memory is pfn-only (a device BAR "
                  "mapped VM_PFNMAP has no struct pages), so it can never give a page handle");
    return unexpected(errc::not_page_backed);
  } else {
    return m.page_at(offset);
  }
}

/// MAP_DMA of [offset, offset + size) of a region at `base` of `region_size` bytes, at
/// `at` with `access`. EINVAL if size is 0 or the part leaves the region.
[[nodiscard]] inline result<dma_map_request> make_map_request(vaddr base, byte_count region_size,
                                                              iova at, byte_count offset,
                                                              byte_count size, prot access) {
  const auto end = checked_add(offset, size);
  if (size.value() == 0 || !end || *end > region_size) return unexpected(errc::invalid_argument);
  return dma_map_request{at, base + offset, size, access, false};
}

}  // namespace vfiopin::real

#endif  // VFIOPIN_REAL_DMA_MEMORY_HPP
