// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/real/bar_region.hpp: an mmap of a device BAR: DMA-mappable, pfn-only memory.
//
// Theory of operation. vfio-pci maps a BAR into user space with remap_pfn_range, so the
// VMA is VM_IO | VM_PFNMAP and its frames are MMIO without struct pages. type1 still maps
// such memory for DMA (peer-to-peer: vaddr_get_pfns follows the PFNs), which the test
// bed confirmed for edu's BAR0. A consumer must never get a page of it. So bar_region is
// pfn-only at compile time: `backing = backing_kind::pfn_only`, it has map_request() like
// every real memory (real/dma_memory.hpp) and has no page_at(); real::page_at() on it
// does not compile and names the rule [consumer.pages-only].
//
// A bar_region is made by real::device::map_bar() (real/device.hpp), placed like every
// region (real/mapping.hpp). It also gives the driver of the device (real/edu.hpp) its
// registers: read32/read64/write32/write64 are single volatile accesses of that width,
// which the device sees as one MMIO access of that size. Their offsets are the driver's
// constants, so a misaligned or out-of-range offset is a programmer error (trap).
//
// While it lives, the mmap holds the device file open in the kernel: the group cannot
// leave its container (VFIO_GROUP_UNSET_CONTAINER answers EBUSY) until the BAR is
// unmapped, even if the device fd was closed. Destroy bar_regions first.
#ifndef VFIOPIN_REAL_BAR_REGION_HPP
#define VFIOPIN_REAL_BAR_REGION_HPP

#include <vfiopin/concepts/memory_backend.hpp>
#include <vfiopin/config.hpp>
#include <vfiopin/real/dma_memory.hpp>
#include <vfiopin/real/mapping.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/address.hpp>
#include <vfiopin/types/count.hpp>
#include <vfiopin/types/dma.hpp>
#include <vfiopin/types/interval.hpp>

#include <cstdint>
#include <utility>

namespace vfiopin::real {

/// A mapped BAR: pfn-only memory and device registers (see the header comment).
class bar_region {
 public:
  static constexpr backing_kind backing = backing_kind::pfn_only;

  /// Adopts a placed mmap of BAR `index` (made by device::map_bar).
  bar_region(std::uint32_t index, placed_mapping map) noexcept
      : index_(index), map_(std::move(map)) {}
  bar_region(bar_region&&) noexcept = default;
  bar_region& operator=(bar_region&&) noexcept = default;
  bar_region(const bar_region&) = delete;
  bar_region& operator=(const bar_region&) = delete;
  ~bar_region() = default;

  [[nodiscard]] std::uint32_t index() const noexcept { return index_; }
  [[nodiscard]] vaddr base() const noexcept { return map_.base(); }
  [[nodiscard]] byte_count size() const noexcept { return map_.size(); }
  [[nodiscard]] interval<vaddr> range() const noexcept { return map_.range(); }

  /// MAP_DMA of [offset, offset + size) of the BAR (real/dma_memory.hpp).
  [[nodiscard]] result<dma_map_request> map_request(iova at, byte_count offset, byte_count size,
                                                    prot access) const {
    return make_map_request(base(), this->size(), at, offset, size, access);
  }

  [[nodiscard]] std::uint32_t read32(byte_count offset) const noexcept {
    return *reg<std::uint32_t>(offset);
  }
  [[nodiscard]] std::uint64_t read64(byte_count offset) const noexcept {
    return *reg<std::uint64_t>(offset);
  }
  void write32(byte_count offset, std::uint32_t v) const noexcept { *reg<std::uint32_t>(offset) = v; }
  void write64(byte_count offset, std::uint64_t v) const noexcept { *reg<std::uint64_t>(offset) = v; }

 private:
  template <class T>
  [[nodiscard]] volatile T* reg(byte_count offset) const noexcept {
    VFIOPIN_ASSERT(map_.mapped() && offset.value() % sizeof(T) == 0 &&
                       offset.value() <= map_.size().value() - sizeof(T),
                   "BAR register access out of range or misaligned");
    return reinterpret_cast<volatile T*>(map_.data() + offset.value());
  }

  std::uint32_t index_ = 0;
  placed_mapping map_;
};

static_assert(pfn_only_dma_memory<bar_region>);

}  // namespace vfiopin::real

#endif  // VFIOPIN_REAL_BAR_REGION_HPP
