// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/types/pfn.hpp: page frame numbers, on the two sides of the 2022 split.
//
// Theory of operation. Since Linux 6.0, vfio_pin_pages() returns struct page pointers:
// every consumer (GVT-g, vfio-ccw, vfio-ap) needs memory that has a struct page, which the
// CPU may touch. Raw frame numbers, which may name MMIO without a struct page (a PCI BAR
// mapped VM_PFNMAP), stay inside the IOMMU map and replay path. vfiopin gives the two
// their own types:
//   pfn         a raw frame on the IOMMU side. It may name MMIO. It has no CPU access and
//               no way to become a page: memory backends hand it to IOMMU backends only.
//   page_frame  the frame of a page that has a struct page (RAM). A page_handle gives it
//               where known, e.g. for vfio-ap, which programs a host physical address.
// A page_frame is not convertible to a pfn, nor a pfn to a page_frame: a consumer never
// holds a pfn, and an IOMMU path never pretends a pfn is a page.
#ifndef VFIOPIN_TYPES_PFN_HPP
#define VFIOPIN_TYPES_PFN_HPP

#include <vfiopin/config.hpp>
#include <vfiopin/types/address.hpp>
#include <vfiopin/types/count.hpp>
#include <vfiopin/types/page.hpp>

#include <compare>
#include <cstdint>
#include <functional>

namespace vfiopin {

struct pfn_tag {};
/// A raw page frame number (IOMMU side only). pfn + page_count -> pfn.
using pfn = basic_point<pfn_tag, page_count>;

/// The frame of a page that has a struct page (consumer side). Not a pfn.
class page_frame {
 public:
  constexpr explicit page_frame(std::uint64_t frame_number) noexcept : n_(frame_number) {}
  [[nodiscard]] constexpr std::uint64_t number() const noexcept { return n_; }
  /// The host physical address of the first byte of the page.
  [[nodiscard]] constexpr std::uint64_t phys_addr() const noexcept {
    VFIOPIN_ASSERT(n_ <= (~std::uint64_t{0} >> page_shift), "frame number out of range");
    return n_ << page_shift;
  }
  friend constexpr auto operator<=>(page_frame, page_frame) noexcept = default;

 private:
  std::uint64_t n_;
};

}  // namespace vfiopin

template <>
struct std::hash<vfiopin::page_frame> {
  std::size_t operator()(vfiopin::page_frame f) const noexcept {
    return std::hash<std::uint64_t>{}(f.number());
  }
};

#endif  // VFIOPIN_TYPES_PFN_HPP
