// SPDX-License-Identifier: Apache-2.0
//
// tests/unit/consumer_fixture.hpp: shared helpers of the consumer tests (gvt, s390_ap).
//
// recording_backend wraps a mock::type1 and records every vfio_pin_pages and
// vfio_unpin_pages call a consumer makes (iova, pages, and for pins whether it succeeded),
// so a test can check exactly what was unpinned, and that an empty range never is. The
// mock under it keeps the kernel's semantics and its WARNs (warnings()).
#ifndef VFIOPIN_TESTS_UNIT_CONSUMER_FIXTURE_HPP
#define VFIOPIN_TESTS_UNIT_CONSUMER_FIXTURE_HPP

#include <vfiopin/container.hpp>
#include <vfiopin/mock/process.hpp>
#include <vfiopin/mock/type1.hpp>

#include <cstdint>
#include <span>
#include <vector>

namespace vfiopin::test {

/// One pin or unpin call as the consumer made it.
struct pin_call {
  std::uint64_t at = 0;
  std::uint64_t pages = 0;
  bool ok = true;  ///< pins: the call succeeded
  friend bool operator==(const pin_call&, const pin_call&) = default;
};

/// A mock::type1 that records the consumer's pin and unpin calls.
class recording_backend {
 public:
  using iommu_backend_tag = vfiopin::iommu_backend_tag;
  explicit recording_backend(mock::process& p) : t_(p) {}

  result<void> map_dma(const dma_map_request& r) { return t_.map_dma(r); }
  result<dma_unmap_reply> unmap_dma(const dma_unmap_request& r) { return t_.unmap_dma(r); }
  result<iommu_info> info() { return t_.info(); }
  result<void> attach_group(group_id g) { return t_.attach_group(g); }
  result<void> detach_group(group_id g) { return t_.detach_group(g); }
  result<device_id> add_device(dma_unmap_callback cb) { return t_.add_device(cb); }
  void remove_device(device_id d) noexcept { t_.remove_device(d); }
  result<void> pin_pages(device_id d, iova at, page_count n, prot p, std::span<page_handle> out) {
    auto r = t_.pin_pages(d, at, n, p, out);
    pins.push_back({at.value(), n.value(), r.has_value()});
    return r;
  }
  void unpin_pages(device_id d, iova at, page_count n) noexcept {
    unpins.push_back({at.value(), n.value(), true});
    t_.unpin_pages(d, at, n);
  }

  [[nodiscard]] mock::type1<>& inner() noexcept { return t_; }
  void forget() {
    pins.clear();
    unpins.clear();
  }

  std::vector<pin_call> pins;
  std::vector<pin_call> unpins;

 private:
  mock::type1<> t_;
};

static_assert(pins_for_consumers<recording_backend>);

}  // namespace vfiopin::test

#endif  // VFIOPIN_TESTS_UNIT_CONSUMER_FIXTURE_HPP
