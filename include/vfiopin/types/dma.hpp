// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/types/dma.hpp: the requests and replies of the type1 container surface.
//
// Theory of operation. An IOMMU backend (concepts/iommu_backend.hpp) is driven with the
// same requests the kernel's type1 ioctls take, in typed form:
//   VFIO_IOMMU_MAP_DMA      dma_map_request
//   VFIO_IOMMU_UNMAP_DMA    dma_unmap_request -> dma_unmap_reply
//   VFIO_IOMMU_GET_INFO     -> iommu_info
// Requests carry the caller's raw numbers (a size may be 0, unaligned, or wrap): it is
// the backend's job to validate them in the kernel's order and answer with the kernel's
// errno (spec §2.1, §3.1). Typed fields only keep iova, vaddr and sizes from being
// swapped; they do not pre-validate.
//
// group_id and device_id name attached groups and registered emulated devices.
// dma_unmap_callback is how a backend tells a registered consumer that a range it may
// have pinned is going away (type1's ops->dma_unmap); it must not fail.
#ifndef VFIOPIN_TYPES_DMA_HPP
#define VFIOPIN_TYPES_DMA_HPP

#include <vfiopin/types/address.hpp>
#include <vfiopin/types/count.hpp>
#include <vfiopin/types/interval.hpp>
#include <vfiopin/types/prot.hpp>

#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

namespace vfiopin {

/// The IOMMU model of a container (VFIO_SET_IOMMU argument values).
enum class iommu_type : std::uint32_t {
  type1 = 1,    ///< VFIO_TYPE1_IOMMU: v1 unmap rules, no pins for emulated devices
  type1v2 = 3,  ///< VFIO_TYPE1v2_IOMMU: no bisecting unmaps
};

/// An IOMMU group attached (or to be attached) to a container.
struct group_id {
  std::uint32_t value = 0;
  friend constexpr auto operator<=>(group_id, group_id) noexcept = default;
};
/// An emulated-IOMMU device registered with a container (a consumer).
struct device_id {
  std::uint32_t value = 0;
  friend constexpr auto operator<=>(device_id, device_id) noexcept = default;
};

/// VFIO_IOMMU_MAP_DMA: map `size` bytes of the process's memory `from` a vaddr `at` an iova.
struct dma_map_request {
  iova at{};                    ///< where the device sees the memory
  vaddr from{};                 ///< where the process sees it
  byte_count size{};
  prot access = prot::none;     ///< READ/WRITE flags; none is only valid with vaddr_update
  bool vaddr_update = false;    ///< VFIO_DMA_MAP_FLAG_VADDR
};

/// VFIO_IOMMU_UNMAP_DMA flags.
struct unmap_flags {
  bool all = false;               ///< VFIO_DMA_UNMAP_FLAG_ALL
  bool vaddr = false;             ///< VFIO_DMA_UNMAP_FLAG_VADDR
  bool get_dirty_bitmap = false;  ///< VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP
};

/// VFIO_IOMMU_UNMAP_DMA.
struct dma_unmap_request {
  iova at{};
  byte_count size{};
  unmap_flags flags{};
  byte_count bitmap_pgsize{};            ///< with get_dirty_bitmap
  std::span<std::uint64_t> bitmap{};     ///< with get_dirty_bitmap; zeroed by the caller
};

/// What UNMAP_DMA reports on success.
struct dma_unmap_reply {
  byte_count size{};  ///< bytes unmapped (v1 may exceed the request)
};

/// VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION.
struct migration_info {
  std::uint64_t pgsize_bitmap = 0;
  std::uint64_t max_dirty_bitmap_size = 0;
};

/// VFIO_IOMMU_GET_INFO with its capability chain, parsed.
struct iommu_info {
  std::uint64_t iova_pgsizes = 0;
  std::optional<std::vector<interval<iova>>> iova_ranges;  ///< CAP_IOVA_RANGE
  std::optional<std::uint32_t> dma_avail;                  ///< CAP_DMA_AVAIL
  std::optional<migration_info> migration;                 ///< CAP_MIGRATION
};

/// A non-owning, non-failing callback: "the range r is about to be unmapped".
class dma_unmap_callback {
 public:
  constexpr dma_unmap_callback() noexcept = default;
  /// Binds a callable (not copied: f must outlive the callback). Never chosen for a
  /// dma_unmap_callback itself, which is copied as a value.
  template <class F>
    requires(!std::is_same_v<std::remove_cv_t<F>, dma_unmap_callback>) &&
            requires(F& f, interval<iova> r) {
              { f(r) } noexcept;
            }
  constexpr explicit dma_unmap_callback(F& f) noexcept
      : ctx_(&f), fn_([](void* c, interval<iova> r) noexcept { (*static_cast<F*>(c))(r); }) {}
  /// Calls t.on_dma_unmap(r): binds a consumer.
  template <class T>
    requires requires(T& t, interval<iova> r) {
      { t.on_dma_unmap(r) } noexcept;
    }
  [[nodiscard]] static constexpr dma_unmap_callback notify(T& t) noexcept {
    dma_unmap_callback cb;
    cb.ctx_ = &t;
    cb.fn_ = [](void* c, interval<iova> r) noexcept { static_cast<T*>(c)->on_dma_unmap(r); };
    return cb;
  }
  void operator()(interval<iova> r) const noexcept {
    if (fn_ != nullptr) fn_(ctx_, r);
  }
  [[nodiscard]] constexpr bool empty() const noexcept { return fn_ == nullptr; }

 private:
  void* ctx_ = nullptr;
  void (*fn_)(void*, interval<iova>) noexcept = nullptr;
};

}  // namespace vfiopin

#endif  // VFIOPIN_TYPES_DMA_HPP
