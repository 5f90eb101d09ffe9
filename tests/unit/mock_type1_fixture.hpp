// SPDX-License-Identifier: Apache-2.0
//
// tests/unit/mock_type1_fixture.hpp: shared helpers of the mock type1 tests.
//
// A fixture is one mock process plus one mock type1 container over it (the test bed's
// geometry unless told otherwise), with terse helpers for MAP/UNMAP/pin and an invariant
// check (check_invariants + check_exclusive_process, as the process has one container)
// that every test calls after every step. fake_device is an emulated-IOMMU consumer that
// honours the unmap notification (it unpins everything it holds in the range), or, when
// told to misbehave, keeps its pins.
#ifndef VFIOPIN_TESTS_UNIT_MOCK_TYPE1_FIXTURE_HPP
#define VFIOPIN_TESTS_UNIT_MOCK_TYPE1_FIXTURE_HPP

#include "tests/support/catch.hpp"

#include <vfiopin/mock/invariants.hpp>
#include <vfiopin/mock/memory.hpp>
#include <vfiopin/mock/type1.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace vfiopin::mock::testing {

using namespace vfiopin::literals;

inline constexpr std::uint64_t KiB = 1024;
inline constexpr std::uint64_t MiB = 1024 * KiB;

/// The errno of a result (0 for success).
template <class T>
int err_of(const result<T>& r) {
  return r ? 0 : to_errno(r.error());
}
/// The errc of a failed result.
template <class T>
errc errc_of(const result<T>& r) {
  REQUIRE_FALSE(r.has_value());
  return static_cast<errc>(r.error().value());
}

/// The test bed's VT-d as class 0 plus a second IOMMU (class 1, group 1): 48-bit aperture,
/// 4K|2M pages, no reserved region. Attaching group 1 after group 0 needs a new domain
/// (vfio_iommu_replay).
inline geometry two_iommus() {
  geometry g;
  domain_class other;
  other.pgsize_bitmap = 0x201000;
  other.aperture = *interval<iova>::from_bounds(iova(0), iova(0xffffffffffffULL));
  other.reserved.clear();
  g.classes.push_back(other);
  g.group_class = {{group_id{1}, 1}};
  return g;
}

inline std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

struct fixture {
  process proc;
  std::unique_ptr<type1<>> owner;
  type1<>& t;

  explicit fixture(iommu_type ty = iommu_type::type1v2, kernel_profile p = debian_6_1,
                   geometry g = {})
      : owner(std::make_unique<type1<>>(proc, ty, p, std::move(g))), t(*owner) {}
  fixture(const fixture&) = delete;
  fixture& operator=(const fixture&) = delete;
  ~fixture() = default;

  /// Destroys the container (vfio_iommu_type1_release); t must not be used afterwards.
  void close() { owner.reset(); }

  vaddr mem(region_kind k, std::uint64_t size, bool ro = false) {
    auto r = proc.map_region(k, byte_count(size), ro);
    REQUIRE(r.has_value());
    return *r;
  }
  /// An anon region with every page written (faulted in).
  vaddr filled(std::uint64_t size) {
    const vaddr va = mem(region_kind::anon, size);
    std::vector<std::byte> data(size, std::byte{0x5a});
    REQUIRE(proc.write(va, data).has_value());
    return va;
  }
  result<void> map(std::uint64_t at, vaddr va, std::uint64_t size, prot p = prot::read_write) {
    return t.map_dma(dma_map_request{iova(at), va, byte_count(size), p, false});
  }
  result<void> map_raw(std::uint64_t at, std::uint64_t va, std::uint64_t size, prot p = prot::read_write) {
    return t.map_dma(dma_map_request{iova(at), vaddr(va), byte_count(size), p, false});
  }
  result<void> map_vaddr(std::uint64_t at, vaddr va, std::uint64_t size) {
    return t.map_dma(dma_map_request{iova(at), va, byte_count(size), prot::none, true});
  }
  result<dma_unmap_reply> unmap(std::uint64_t at, std::uint64_t size, unmap_flags f = {}) {
    return t.unmap_dma(dma_unmap_request{iova(at), byte_count(size), f, {}, {}});
  }
  result<dma_unmap_reply> unmap_all() { return unmap(0, 0, unmap_flags{.all = true}); }
  result<dma_unmap_reply> unmap_vaddr(std::uint64_t at, std::uint64_t size) {
    return unmap(at, size, unmap_flags{.vaddr = true});
  }
  std::uint64_t unmapped(const result<dma_unmap_reply>& r) {
    REQUIRE(r.has_value());
    return r->size.value();
  }
  [[nodiscard]] std::uint64_t locked() const { return proc.locked_vm().value(); }
  [[nodiscard]] std::uint32_t avail() { return *t.info()->dma_avail; }

  /// Every invariant, after every step.
  void ok() {
    const auto v = check_invariants(t);
    INFO(join(v));
    CHECK(v.empty());
    const auto w = check_exclusive_process(t);
    INFO(join(w));
    CHECK(w.empty());
  }
};

/// An emulated-IOMMU consumer (an mdev driver): pins through the container and, when told
/// that a range goes away, unpins everything it holds there (unless `stubborn`). It never
/// holds its own lock while calling the container, so it may be used from several threads
/// while another thread unmaps.
class fake_device {
 public:
  explicit fake_device(type1<>& t) : t_(&t) {}
  fake_device(const fake_device&) = delete;
  fake_device& operator=(const fake_device&) = delete;

  result<device_id> attach() {
    auto r = t_->add_device(dma_unmap_callback(*this));
    if (r) id_ = *r;
    return r;
  }
  void detach() { t_->remove_device(id_); }
  [[nodiscard]] device_id id() const { return id_; }

  /// vfio_pin_pages; on success the pin is recorded (what the device holds).
  result<void> pin(std::uint64_t at, std::uint64_t n, prot p = prot::read_write) {
    std::vector<page_handle> out(n);
    auto r = t_->pin_pages(id_, iova(at), page_count(n), p, out);
    if (r) {
      std::lock_guard lk(m_);
      held_.emplace_back(at, n);
      handles_ = std::move(out);
    }
    return r;
  }
  /// Drops one recorded pin (at, n) if the device still holds it; each recorded pin is
  /// unpinned exactly once, here or by the notification.
  void unpin(std::uint64_t at, std::uint64_t n) {
    bool found = false;
    {
      std::lock_guard lk(m_);
      for (auto it = held_.begin(); it != held_.end(); ++it)
        if (it->first == at && it->second == n) {
          held_.erase(it);
          found = true;
          break;
        }
    }
    if (found) t_->unpin_pages(id_, iova(at), page_count(n));
  }
  [[nodiscard]] std::size_t held() {
    std::lock_guard lk(m_);
    return held_.size();
  }
  [[nodiscard]] const std::vector<page_handle>& last_handles() const { return handles_; }

  /// dma_unmap: the kernel's ops->dma_unmap(vdev, iova, length).
  void operator()(interval<iova> range) noexcept {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> drop;
    {
      std::lock_guard lk(m_);
      ++notifications;
      notified.push_back(range);
      if (stubborn) return;
      for (auto it = held_.begin(); it != held_.end();) {
        const std::uint64_t last = it->first + it->second * 4096 - 1;
        if (it->first <= range.last().value() && last >= range.first().value()) {
          drop.push_back(*it);
          it = held_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (const auto& [at, n] : drop) t_->unpin_pages(id_, iova(at), page_count(n));
  }

  bool stubborn = false;
  int notifications = 0;
  std::vector<interval<iova>> notified;

 private:
  type1<>* t_;
  device_id id_{};
  std::mutex m_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> held_;
  std::vector<page_handle> handles_;
};

}  // namespace vfiopin::mock::testing

#endif  // VFIOPIN_TESTS_UNIT_MOCK_TYPE1_FIXTURE_HPP
