// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/type1.hpp: mock::type1, an executable model of Linux's VFIO type1 IOMMU driver.
//
// Theory of operation. type1<Memory> is one VFIO container driven by vfio_iommu_type1.c
// (spec: docs linux-type1-semantics.md), exact to the errno and to the page of locked_vm
// accounting, for the kernel chosen by a kernel_profile (mock/profile.hpp) on the IOMMU
// described by a geometry. It is the oracle the fuzzers and the real kernel are held
// against, and it satisfies iommu_backend, tracks_dirty_pages and pins_for_consumers.
//   Memory        the mapping process (current->mm and dma->mm; mock::process by default).
//   iommu_type    type1 or type1v2, applied by the first attach of an empty container, as
//                 VFIO_SET_IOMMU does; dma_entry_limit is sampled then. When the last group
//                 leaves, the driver is released (every mapping goes) and the next attach
//                 opens it afresh.
//   groups        attach_group/detach_group take real IOMMU groups; groups of one domain
//                 class share a domain, a new class gets a new domain and vfio_iommu_replay.
//                 A group already in the container gets -EINVAL from the group layer
//                 (VFIO_GROUP_SET_CONTAINER) before type1 looks at anything.
//   devices       add_device(callback) registers an emulated-IOMMU device (an mdev): it gets
//                 its own emulated group (attach, §1.4 step 3) and its dma_unmap callback
//                 joins the device list; add_device(g, callback) registers a device of an
//                 attached real group. remove_device unregisters and detaches.
// The operations are in type1_map.hpp (MAP_DMA), type1_unmap.hpp (UNMAP_DMA and the unmap
// notification), type1_pin.hpp (vfio_pin_pages/vfio_unpin_pages), type1_attach.hpp
// (attach, detach, replay, IOVA list), type1_dirty.hpp (DIRTY_PAGES), type1_info.hpp
// (GET_INFO, state dump); type1_core.hpp holds the state and shared steps, invariants.hpp
// the checker.
//
// Locking (the kernel's iommu->lock and iommu->device_list_lock):
//   - lock_ (iommu->lock) is held for the whole of every public operation, so each one is
//     atomic with respect to the others, from any thread.
//   - dev_lock_ (device_list_lock) guards the device list together with lock_: a device
//     list change holds both, so either one is enough to read the list. The unmap
//     notification (vfio_notify_dma_unmap) returns at once if no device has a dma_unmap
//     (the lock is not dropped, the unmap retries), else it DROPS lock_, takes dev_lock_,
//     calls every device's dma_unmap callback, releases dev_lock_ and retakes lock_. So a
//     callback may call unpin_pages (and pin_pages, map_dma, ...) re-entrantly on its own
//     thread, other threads may run any operation meanwhile (the unmap re-validates from
//     the start, "goto again"), and remove_device waits for callbacks in flight, so a
//     device is never called after remove_device returned. A callback must not call
//     add_device or remove_device (dev_lock_ is held: deadlock, as in the kernel).
//   - Lock order is dev_lock_ before lock_, everywhere (add_device, remove_device, the
//     destructor; a callback's unpin_pages). The kernel takes device_list_lock before
//     dropping iommu->lock, while vfio_iommu_type1_register_device takes iommu->lock and
//     then device_list_lock: an ABBA with a dma_unmap callback that calls vfio_unpin_pages
//     while another thread opens a device (found by ThreadSanitizer on a first version of
//     this model that copied it). The model drops lock_ first; nothing else observable
//     changes, because the unmap re-validates after the notification anyway.
//   - The memory backend is called only with lock_ held: a process needs no lock of its
//     own as long as nothing else uses it concurrently.
// Failure injection: set_fault_injector() numbers the model's fallible steps (allocations,
// domain maps, bitmap allocation, copies to the user) together with the process's (GUP,
// accounting), so a fail-nth sweep covers both; after an injected failure the state equals
// the state before the operation (state_dump(), invariant 24), except where the kernel
// itself leaves partial effects (documented per operation).
// Teardown never fails: the destructor releases every mapping, pin and charge.
#ifndef VFIOPIN_MOCK_TYPE1_HPP
#define VFIOPIN_MOCK_TYPE1_HPP

#include <vfiopin/concepts/iommu_backend.hpp>
#include <vfiopin/mock/mutant.hpp>
#include <vfiopin/mock/process.hpp>
#include <vfiopin/mock/type1_attach.hpp>
#include <vfiopin/mock/type1_core.hpp>
#include <vfiopin/mock/type1_dirty.hpp>
#include <vfiopin/mock/type1_info.hpp>
#include <vfiopin/mock/type1_map.hpp>
#include <vfiopin/mock/type1_pin.hpp>
#include <vfiopin/mock/type1_unmap.hpp>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace vfiopin::mock {

/// A mock VFIO type1 container (see the header comment).
template <type1_memory Memory = process>
class type1 {
 public:
  using iommu_backend_tag = vfiopin::iommu_backend_tag;
  using memory_type = Memory;
  using state_type = detail::type1_state<Memory>;

  explicit type1(Memory& mem, iommu_type t = iommu_type::type1v2,
                 kernel_profile profile = debian_6_1, geometry geo = {})
      : s_(mem, t, profile, std::move(geo)) {}
  type1(const type1&) = delete;
  type1& operator=(const type1&) = delete;
  ~type1() {
    std::lock_guard dl(dev_lock_);
    std::lock_guard lk(lock_);
    s_.devices.clear();
    detail::release_container(s_);
  }

  // ---- configuration ----

  /// The dma_entry_limit module parameter: read when the IOMMU type is next set.
  void set_dma_entry_limit(std::uint32_t n) {
    std::lock_guard lk(lock_);
    s_.entry_limit_param = n;
  }
  /// The injector for the model's failure points and, if it takes one, the memory's.
  void set_fault_injector(fault_injector* fi) {
    std::lock_guard lk(lock_);
    s_.fi = fi;
    if constexpr (requires { s_.mem->set_fault_injector(fi); }) s_.mem->set_fault_injector(fi);
  }
  [[nodiscard]] const kernel_profile& profile() const noexcept { return s_.profile; }
  [[nodiscard]] Memory& memory() const noexcept { return *s_.mem; }

  // ---- iommu_backend ----

  result<void> attach_group(group_id g) {
    std::lock_guard lk(lock_);
    // VFIO_GROUP_SET_CONTAINER refuses a group that already has a container (-EINVAL,
    // vfio_group_ioctl_set_container) before type1 sees it, so before type1's -EBUSY for
    // an invalid vaddr (found by fuzz_diff_kernel: docs/fuzzing.md, Findings fixed).
    if (s_.iommu_set && s_.find_group(g) != nullptr) return fail(errc::invalid_argument);
    return with_open([&] { return detail::attach_real(s_, g); });
  }
  result<void> detach_group(group_id g) {
    std::lock_guard lk(lock_);
    if (!s_.iommu_set) return fail(errc::invalid_argument);
    for (const auto& d : s_.devices)
      if (d.group == g) return fail(d.emulated ? errc::invalid_argument : errc::busy);
    if (!detail::detach_real(s_, g)) return fail(errc::invalid_argument);
    if (s_.group_count() == 0) detail::release_container(s_);
    return {};
  }
  result<void> map_dma(const dma_map_request& req) {
    std::lock_guard lk(lock_);
    return detail::do_map(s_, req);
  }
  result<dma_unmap_reply> unmap_dma(const dma_unmap_request& req) {
    std::unique_lock lk(lock_);
    return detail::do_unmap(s_, req, [&](std::uint64_t first, std::uint64_t last) {
      // vfio_notify_dma_unmap: iommu->lock dropped, device_list_lock held.
      if (s_.device_list_empty()) return;
      lk.unlock();
      {
        std::lock_guard dl(dev_lock_);
        const auto range = *interval<iova>::from_bounds(iova(first), iova(last));
        for (const auto& d : s_.devices) {
          d.callback(range);
          if constexpr (mutant == 5) break;  // mutant: only the first device is told
        }
      }
      lk.lock();
    });
  }
  result<iommu_info> info() {
    std::lock_guard lk(lock_);
    return detail::get_info(s_);
  }

  // ---- tracks_dirty_pages ----

  result<void> dirty_start() {
    std::lock_guard lk(lock_);
    return detail::dirty_start(s_);
  }
  result<void> dirty_stop() {
    std::lock_guard lk(lock_);
    return detail::dirty_stop(s_);
  }
  /// GET_BITMAP of `range` into out (one bit per pgsize page, bit 0 = range.first()).
  result<void> dirty_bitmap(interval<iova> range, byte_count pgsize, std::span<std::uint64_t> out) {
    const auto size = range.size();
    if (!size) return fail(errc::invalid_argument);  // 2^64 bytes: not expressible
    return dirty_bitmap(range.first(), *size, pgsize, out);
  }
  /// GET_BITMAP with the raw (iova, size) of the ioctl, validated like the kernel.
  result<void> dirty_bitmap(iova at, byte_count size, byte_count pgsize, std::span<std::uint64_t> out) {
    std::lock_guard lk(lock_);
    return detail::dirty_get(s_, at.value(), size.value(), pgsize.value(), out);
  }

  // ---- pins_for_consumers ----

  /// Registers an emulated-IOMMU device (its own emulated group) with a dma_unmap callback.
  result<device_id> add_device(dma_unmap_callback cb) {
    std::lock_guard dl(dev_lock_);
    std::lock_guard lk(lock_);
    const group_id g{0x80000000U + s_.next_emulated_group};
    auto r = with_open([&] { return detail::attach_emulated(s_, g); });
    if (!r) return fail(r.error());
    ++s_.next_emulated_group;
    return register_device(cb, g, true);
  }
  /// Registers a device of the attached real group g (it may pin, which declares g's
  /// dirty scope); -EINVAL if g is not attached as a real group.
  result<device_id> add_device(group_id g, dma_unmap_callback cb) {
    std::lock_guard dl(dev_lock_);
    std::lock_guard lk(lock_);
    const detail::group_state* gs = s_.find_group(g);
    const bool emulated = std::any_of(s_.emulated_groups.begin(), s_.emulated_groups.end(),
                                      [&](const auto& e) { return e.id == g; });
    if (gs == nullptr || emulated) return fail(errc::invalid_argument);
    return register_device(cb, g, false);
  }
  void remove_device(device_id d) noexcept {
    std::lock_guard dl(dev_lock_);
    std::lock_guard lk(lock_);
    auto it = find_device(d);
    if (it == s_.devices.end()) {
      s_.warn("remove_device: unknown device");
      return;
    }
    const detail::device_entry dev = *it;
    s_.devices.erase(it);
    if (dev.emulated) {
      detail::detach_emulated(s_, dev.group);
      if (s_.group_count() == 0) detail::release_container(s_);
    }
  }
  /// vfio_pin_pages(): all or nothing; out receives a page handle per page.
  result<void> pin_pages(device_id d, iova at, page_count n, prot p, std::span<page_handle> out) {
    if (n.value() == 0 || out.size() < n.value()) return fail(errc::invalid_argument);
    std::lock_guard lk(lock_);
    auto it = find_device(d);
    if (it == s_.devices.end() || it->callback.empty()) return fail(errc::invalid_argument);
    // mutant 7: the 512-page limit off by one (513 pages accepted)
    if (n.value() > detail::pin_pages_max + (mutant == 7 ? 1 : 0)) return fail(errc::too_big);
    const detail::device_entry dev = *it;
    return detail::do_pin(s_, dev, at.value(), n.value(), p, out.first(n.value()));
  }
  /// vfio_unpin_pages(): never fails (kernel WARNs are logged in warnings()).
  void unpin_pages(device_id d, iova at, page_count n) noexcept {
    std::lock_guard lk(lock_);
    auto it = find_device(d);
    if (it == s_.devices.end() || it->callback.empty()) {
      s_.warn("vfio_unpin_pages: device without dma_unmap");
      return;
    }
    if (n.value() == 0 || n.value() > detail::pin_pages_max) {
      s_.warn("vfio_device_container_unpin_pages: WARN_ON(npage <= 0 || npage > 512)");
      return;
    }
    detail::do_unpin(s_, at.value(), n.value());
  }

  // ---- introspection ----

  /// What a device of group g reaches at iova (its domain's page table), if anything.
  [[nodiscard]] std::optional<detail::domain_run> translate(group_id g, iova at) const {
    std::lock_guard lk(lock_);
    for (const auto& dom : s_.domains)
      for (const auto& gs : dom->groups)
        if (gs.id == g) return dom->translate(at.value());
    return std::nullopt;
  }
  [[nodiscard]] std::string state_dump() const {
    std::lock_guard lk(lock_);
    return detail::state_dump(s_);
  }
  [[nodiscard]] std::uint64_t state_digest() const {
    std::lock_guard lk(lock_);
    return detail::state_digest(s_);
  }
  /// Kernel WARNs the model hit (in order).
  [[nodiscard]] std::vector<std::string> warnings() const {
    std::lock_guard lk(lock_);
    return s_.warnings;
  }
  /// Kernel bugs the model detected and refused to reproduce (in order).
  [[nodiscard]] std::vector<std::string> anomalies() const {
    std::lock_guard lk(lock_);
    return s_.anomalies;
  }
  void clear_logs() {
    std::lock_guard lk(lock_);
    s_.warnings.clear();
    s_.anomalies.clear();
  }
  [[nodiscard]] std::size_t mapping_count() const {
    std::lock_guard lk(lock_);
    return s_.dmas.size();
  }
  /// Heap bytes of the dma index, the page tables and the pin records.
  [[nodiscard]] std::size_t heap_bytes() const {
    std::lock_guard lk(lock_);
    std::size_t b = s_.dmas.heap_bytes();
    for (const auto& dom : s_.domains) b += dom->heap_bytes() + sizeof(detail::iommu_domain);
    s_.dmas.for_each([&](std::uint64_t, const detail::dma_record& d) {
      if (d.ext()) b += sizeof(detail::dma_ext) + d.ext()->pins.heap_bytes();
    });
    return b;
  }
  /// f(const state_type&) under the lock (the invariant checker, tests).
  template <class F>
  decltype(auto) with_state(F&& f) const {
    std::lock_guard lk(lock_);
    return std::forward<F>(f)(std::as_const(s_));
  }

 private:
  /// Runs attach (f) on a container, setting the IOMMU type first if none is set, and
  /// releasing it again if that first attach fails (VFIO_SET_IOMMU semantics).
  template <class F>
  result<void> with_open(F&& f) {
    const bool opening = !s_.iommu_set;
    if (opening) {
      if (s_.type != iommu_type::type1 && s_.type != iommu_type::type1v2)
        return fail(errc::invalid_argument);
      detail::open_container(s_);
    }
    auto r = f();
    if (!r && opening) detail::release_container(s_);
    return r;
  }
  /// Adds a device to the list; the caller holds dev_lock_ and lock_.
  result<device_id> register_device(dma_unmap_callback cb, group_id g, bool emulated) {
    const device_id id{s_.next_device++};
    s_.devices.insert(s_.devices.begin(), detail::device_entry{id, cb, g, emulated});
    return id;
  }
  auto find_device(device_id d) {
    return std::find_if(s_.devices.begin(), s_.devices.end(),
                        [&](const detail::device_entry& e) { return e.id == d; });
  }

  mutable std::mutex lock_;
  std::mutex dev_lock_;
  state_type s_;
};

static_assert(iommu_backend<type1<>>);
static_assert(tracks_dirty_pages<type1<>>);
static_assert(pins_for_consumers<type1<>>);

}  // namespace vfiopin::mock

#endif  // VFIOPIN_MOCK_TYPE1_HPP
