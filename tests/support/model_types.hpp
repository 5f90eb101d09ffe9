// SPDX-License-Identifier: Apache-2.0
//
// Minimal model types for the three concepts, shared by the static, unit and compile-fail
// tests. Each is the smallest type that satisfies (or, for the look-alikes, deliberately
// fails) a concept; docs/concepts.md shows the same shapes.
#ifndef VFIOPIN_TESTS_SUPPORT_MODEL_TYPES_HPP
#define VFIOPIN_TESTS_SUPPORT_MODEL_TYPES_HPP

#include <vfiopin/vfiopin.hpp>

namespace vfiopin::test {

/// Page-backed memory: every frame has a struct page.
struct page_memory {
  using memory_backend_tag = vfiopin::memory_backend_tag;
  static constexpr backing_kind backing = backing_kind::pages;
  result<pfn_run> pin_frames(vaddr va, page_count n, prot) {
    return pfn_run{pfn(va.value() >> page_shift), n, frame_kind::page};
  }
  void unpin_frames(const pfn_run&, prot) noexcept {}
  result<page_handle> page_of(pfn) { return fail(errc::not_page_backed); }
};

/// pfn-only memory: a device BAR mapped VM_PFNMAP. It has no page_of().
struct bar_memory {
  using memory_backend_tag = vfiopin::memory_backend_tag;
  static constexpr backing_kind backing = backing_kind::pfn_only;
  result<pfn_run> pin_frames(vaddr, page_count n, prot) {
    return pfn_run{pfn(0xfe000), n, frame_kind::no_page};
  }
  void unpin_frames(const pfn_run&, prot) noexcept {}
};

/// A mixed address space (anonymous memory and BARs); page_of checks at run time.
struct mixed_memory : page_memory {
  static constexpr backing_kind backing = backing_kind::mixed;
};

/// Breaks rule [memory.pfn-only-has-no-pages]: pfn-only, yet offers page_of().
struct lying_bar_memory : bar_memory {
  result<page_handle> page_of(pfn) { return fail(errc::not_page_backed); }
};

/// Looks like page_memory but never opted in.
struct look_alike_memory {
  static constexpr backing_kind backing = backing_kind::pages;
  result<pfn_run> pin_frames(vaddr, page_count n, prot) { return pfn_run{pfn(1), n}; }
  void unpin_frames(const pfn_run&, prot) noexcept {}
  result<page_handle> page_of(pfn) { return fail(errc::not_page_backed); }
};

/// Opted in, but unpin_frames may throw (teardown must never fail).
struct throwing_unpin_memory {
  using memory_backend_tag = vfiopin::memory_backend_tag;
  static constexpr backing_kind backing = backing_kind::pages;
  result<pfn_run> pin_frames(vaddr, page_count n, prot) { return pfn_run{pfn(1), n}; }
  void unpin_frames(const pfn_run&, prot) {}
  result<page_handle> page_of(pfn) { return fail(errc::not_page_backed); }
};

/// A consumer that touches pages with the CPU (like GVT-g).
struct page_consumer {
  using consumer_tag = vfiopin::consumer_tag;
  static constexpr bool needs_pages = true;
  void on_dma_unmap(interval<iova>) noexcept {}
};

/// A consumer that never needs pages (only observes unmaps).
struct observer_consumer {
  using consumer_tag = vfiopin::consumer_tag;
  static constexpr bool needs_pages = false;
  void on_dma_unmap(interval<iova>) noexcept {}
};

/// Opted in, but its unmap hook may throw.
struct throwing_consumer {
  using consumer_tag = vfiopin::consumer_tag;
  static constexpr bool needs_pages = true;
  void on_dma_unmap(interval<iova>) {}
};

/// An IOMMU backend with only the required pieces.
struct minimal_iommu {
  using iommu_backend_tag = vfiopin::iommu_backend_tag;
  result<void> map_dma(const dma_map_request&) { return {}; }
  result<dma_unmap_reply> unmap_dma(const dma_unmap_request&) { return dma_unmap_reply{}; }
  result<iommu_info> info() { return iommu_info{}; }
  result<void> attach_group(group_id) { return {}; }
  result<void> detach_group(group_id) { return {}; }
};

/// minimal_iommu plus dirty tracking and the consumer pin path.
struct full_iommu : minimal_iommu {
  result<void> dirty_start() { return {}; }
  result<void> dirty_stop() { return {}; }
  result<void> dirty_bitmap(interval<iova>, byte_count, std::span<std::uint64_t>) { return {}; }
  result<device_id> add_device(dma_unmap_callback) { return device_id{1}; }
  void remove_device(device_id) noexcept {}
  result<void> pin_pages(device_id, iova, page_count, prot, std::span<page_handle>) {
    return fail(errc::invalid_argument);
  }
  void unpin_pages(device_id, iova, page_count) noexcept {}
};

/// An IOMMU backend missing unmap_dma.
struct no_unmap_iommu {
  using iommu_backend_tag = vfiopin::iommu_backend_tag;
  result<void> map_dma(const dma_map_request&) { return {}; }
  result<iommu_info> info() { return iommu_info{}; }
  result<void> attach_group(group_id) { return {}; }
  result<void> detach_group(group_id) { return {}; }
};

/// A type that opts in from outside, through the enable_ variable.
struct foreign_iommu {
  result<void> map_dma(const dma_map_request&) { return {}; }
  result<dma_unmap_reply> unmap_dma(const dma_unmap_request&) { return dma_unmap_reply{}; }
  result<iommu_info> info() { return iommu_info{}; }
  result<void> attach_group(group_id) { return {}; }
  result<void> detach_group(group_id) { return {}; }
};

}  // namespace vfiopin::test

template <>
inline constexpr bool vfiopin::enable_iommu_backend<vfiopin::test::foreign_iommu> = true;

#endif  // VFIOPIN_TESTS_SUPPORT_MODEL_TYPES_HPP
