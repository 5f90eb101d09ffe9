// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/concepts/iommu_backend.hpp: a VFIO type1 container, mock or real.
//
// Theory of operation. An IOMMU backend is one type1 container: the thing behind
// /dev/vfio/vfio once VFIO_SET_IOMMU has chosen type1 or type1v2. vfiopin has two:
// the mock, an executable model of the kernel's driver that is the oracle of the test
// suite and the fuzzers, and the real one over the kernel's ioctls. Both answer the same
// typed requests (types/dma.hpp) with the same results, errno for errno, so the same
// code and the same scenario scripts run on either.
//
// Required pieces (each a named sub-concept):
//   dma_mapper          map_dma(req) -> result<void>, unmap_dma(req) -> result<reply>
//   reports_iommu_info  info() -> result<iommu_info>
//   hosts_groups        attach_group(g) / detach_group(g) -> result<void>
// Optional refinements, required by the code that uses them:
//   tracks_dirty_pages  dirty_start(), dirty_stop(), dirty_bitmap(range, pgsize, out)
//   pins_for_consumers  the vfio_pin_pages() path for emulated-IOMMU devices:
//                       add_device(callback) -> result<device_id>, remove_device(d),
//                       pin_pages(d, iova, n, prot, out) -> result<void> (all or nothing,
//                       out receives page handles, never pfns), unpin_pages(d, iova, n).
// Pfns exist inside a backend (its page tables, its replay) and nowhere in this
// interface: what leaves a backend toward a consumer is a page_handle.
//
// Semantic rules the compiler cannot check are in docs/concepts.md: every error leaves
// the state as it was (spec invariant 24); unpin_pages, remove_device and the destructor
// never fail; a range is unmapped only after every registered device was told.
//
// Opt-in: `using iommu_backend_tag = vfiopin::iommu_backend_tag;` or specialise
// `vfiopin::enable_iommu_backend<T>`.
#ifndef VFIOPIN_CONCEPTS_IOMMU_BACKEND_HPP
#define VFIOPIN_CONCEPTS_IOMMU_BACKEND_HPP

#include <vfiopin/result.hpp>
#include <vfiopin/types/address.hpp>
#include <vfiopin/types/count.hpp>
#include <vfiopin/types/dma.hpp>
#include <vfiopin/types/interval.hpp>
#include <vfiopin/types/page_handle.hpp>
#include <vfiopin/types/prot.hpp>

#include <concepts>
#include <cstdint>
#include <span>
#include <type_traits>

namespace vfiopin {

/// The opt-in tag.
struct iommu_backend_tag {};

/// Specialise to true to make a type you cannot edit an IOMMU backend.
template <class T>
inline constexpr bool enable_iommu_backend = requires {
  typename T::iommu_backend_tag;
  requires std::same_as<typename T::iommu_backend_tag, iommu_backend_tag>;
};

/// The type opted in.
template <class B>
concept iommu_backend_opted_in = enable_iommu_backend<std::remove_cvref_t<B>>;

/// MAP_DMA and UNMAP_DMA.
template <class B>
concept dma_mapper = requires(B& b, const dma_map_request& map, const dma_unmap_request& unmap) {
  { b.map_dma(map) } -> std::same_as<result<void>>;
  { b.unmap_dma(unmap) } -> std::same_as<result<dma_unmap_reply>>;
};

/// GET_INFO.
template <class B>
concept reports_iommu_info = requires(B& b) {
  { b.info() } -> std::same_as<result<iommu_info>>;
};

/// Attaching and detaching IOMMU groups.
template <class B>
concept hosts_groups = requires(B& b, group_id g) {
  { b.attach_group(g) } -> std::same_as<result<void>>;
  { b.detach_group(g) } -> std::same_as<result<void>>;
};

/// DIRTY_PAGES start, stop and get-bitmap.
template <class B>
concept tracks_dirty_pages =
    requires(B& b, interval<iova> range, byte_count pgsize, std::span<std::uint64_t> out) {
      { b.dirty_start() } -> std::same_as<result<void>>;
      { b.dirty_stop() } -> std::same_as<result<void>>;
      { b.dirty_bitmap(range, pgsize, out) } -> std::same_as<result<void>>;
    };

/// The vfio_pin_pages() path: page handles for registered emulated devices.
template <class B>
concept pins_for_consumers = requires(B& b, dma_unmap_callback cb, device_id d, iova at,
                                      page_count n, prot p, std::span<page_handle> out) {
  { b.add_device(cb) } -> std::same_as<result<device_id>>;
  { b.remove_device(d) } noexcept;
  { b.pin_pages(d, at, n, p, out) } -> std::same_as<result<void>>;
  { b.unpin_pages(d, at, n) } noexcept;
};

/// An IOMMU backend: see the header comment and docs/concepts.md.
template <class B>
concept iommu_backend =
    iommu_backend_opted_in<B> && dma_mapper<B> && reports_iommu_info<B> && hosts_groups<B>;

/// An IOMMU backend with dirty page tracking.
template <class B>
concept dirty_tracking_iommu_backend = iommu_backend<B> && tracks_dirty_pages<B>;

/// An IOMMU backend that pins pages for consumers (emulated-IOMMU devices).
template <class B>
concept pinning_iommu_backend = iommu_backend<B> && pins_for_consumers<B>;

}  // namespace vfiopin

#endif  // VFIOPIN_CONCEPTS_IOMMU_BACKEND_HPP
