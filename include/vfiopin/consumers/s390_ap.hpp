// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/consumers/s390_ap.hpp: s390 vfio-ap style adapter interrupts, a vfiopin::consumer.
//
// Theory of operation. A vfio-ap mediated device passes AP (crypto adapter) queues to a
// guest. When the guest enables interrupts for a queue (PQAP/AQIC), it names a
// notification indicator byte (NIB) in its memory; the firmware writes interrupt bits
// there, asynchronously, for as long as interrupts stay enabled, at a host PHYSICAL
// address. So the driver pins the NIB's page and gives the firmware the page's host
// address plus the NIB's offset in it (spec §8.3, vfio_ap_ops.c vfio_ap_irq_enable):
//   enable_irq(q, nib, isc)   in the kernel's order: an unknown queue ENODEV (the kernel
//                             answers AP_RESPONSE_Q_NOT_AVAIL), a queue already enabled
//                             EBUSY, NIB address 0 EINVAL; then vfio_pin_pages of one page
//                             at the NIB's own, unaligned, IOVA (6.2+), read and write
//                             (any pin error is returned: AP_RESPONSE_INVALID_ADDRESS).
//                             The host NIB is page_handle::frame().phys_addr() | (nib &
//                             4095): the handle gives a page_frame, never a pfn. A frame
//                             the backend cannot tell (pagemap without CAP_SYS_ADMIN) is
//                             EPERM. Then the gisc registration and the AQIC enable are
//                             asked of the firmware (ap_firmware). Every error after the
//                             pin unpins before returning ("s390/vfio-ap: unpin pages on
//                             gisc registration failure", spec §10 item 12).
//   disable_irq(q), reset(q)  disable at the firmware, unregister the gisc, unpin.
//   on_dma_unmap(range)       validates the IOVA ("vfio/ap: Validate iova during dma_unmap
//                             and trigger irq disable"): only a queue whose pinned NIB window
//                             [nib, nib + 4 KiB) overlaps the range is disabled (which
//                             unpins); the others are left alone. (Before that fix the
//                             driver unpinned one page at the range's start.) The window,
//                             not the byte: an unaligned pin key's window may reach the next
//                             mapping, and the backend may hold the pin under either.
// A queue holds its pin as a pin_lease; the lease is keyed by the unaligned NIB IOVA, as
// the kernel's vfio_pfn is, so two queues whose NIBs share a page hold two pins.
//
// Lifetime and threads: as consumers/gvt.hpp. s390_ap is registered by address (neither
// copyable nor movable; open() makes one on the heap); its destructor disables every
// queue, then unregisters; one mutex guards the queues, held across pin and unpin. The
// firmware's unregister_gisc and disable run on teardown paths and must not throw.
#ifndef VFIOPIN_CONSUMERS_S390_AP_HPP
#define VFIOPIN_CONSUMERS_S390_AP_HPP

#include <vfiopin/concepts/consumer.hpp>
#include <vfiopin/concepts/iommu_backend.hpp>
#include <vfiopin/container.hpp>
#include <vfiopin/error.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/page.hpp>
#include <vfiopin/types/page_handle.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <vector>

namespace vfiopin::consumers {

/// The firmware and KVM calls the driver makes once the NIB is pinned. An empty function
/// succeeds (or does nothing).
struct ap_firmware {
  /// kvm_s390_gisc_register(isc).
  std::function<result<void>(std::uint16_t apqn, std::uint8_t isc)> register_gisc;
  /// kvm_s390_gisc_unregister(isc).
  std::function<void(std::uint16_t apqn, std::uint8_t isc)> unregister_gisc;
  /// ap_aqic(apqn, enable, host NIB physical address).
  std::function<result<void>(std::uint16_t apqn, std::uint64_t host_nib)> enable;
  /// ap_aqic(apqn, disable).
  std::function<void(std::uint16_t apqn)> disable;
};

/// The state of one queue's interrupts.
struct ap_irq_state {
  iova nib{};                  ///< the guest's NIB address (the pin's IOVA)
  std::uint64_t host_nib = 0;  ///< what the firmware writes to
  std::uint8_t isc = 0;
};

/// vfio-ap style adapter interrupts for a set of queues (see the header comment).
template <pins_for_consumers Backend>
class s390_ap {
 public:
  using consumer_tag = vfiopin::consumer_tag;
  static constexpr bool needs_pages = true;

  /// Interrupt control for `queues` (APQNs), registered with c as an emulated-IOMMU device.
  [[nodiscard]] static result<std::unique_ptr<s390_ap>> open(container<Backend>& c,
                                                             std::span<const std::uint16_t> queues,
                                                             ap_firmware fw = {}) {
    static_assert(consumer<s390_ap>);
    std::unique_ptr<s390_ap> a;
    try {
      a.reset(new s390_ap(queues, std::move(fw)));
    } catch (const std::bad_alloc&) {
      return fail(errc::out_of_memory);
    }
    auto reg = c.add_consumer(*a);
    if (!reg) return fail(reg.error());
    a->reg_ = std::move(*reg);
    return a;
  }

  s390_ap(const s390_ap&) = delete;
  s390_ap& operator=(const s390_ap&) = delete;
  s390_ap(s390_ap&&) = delete;
  s390_ap& operator=(s390_ap&&) = delete;
  ~s390_ap() {
    {
      std::lock_guard l(m_);
      for (auto& q : queues_) disable_locked(q);
    }
    reg_ = {};  // unregister without holding m_ (removal waits for notifications)
  }

  /// PQAP/AQIC enable: pins the NIB's page; returns the host NIB address.
  [[nodiscard]] result<std::uint64_t> enable_irq(std::uint16_t apqn, iova nib, std::uint8_t isc) {
    std::lock_guard l(m_);
    queue* q = find(apqn);
    if (q == nullptr) return fail(errc::no_device);
    if (q->lease.held()) return fail(errc::busy);
    if (nib.value() == 0) return fail(errc::invalid_argument);
    page_handle page[1];
    auto lease = reg_.pin(nib, page_count(1), prot::read_write, page);
    if (!lease) return fail(lease.error());
    // From here every error drops `lease`, which unpins.
    const auto frame = page[0].frame();
    if (!frame) return fail(errc::not_permitted);
    const std::uint64_t host_nib = frame->phys_addr() | (nib.value() & (page_bytes - 1));
    if (fw_.register_gisc) {
      if (auto r = fw_.register_gisc(apqn, isc); !r) return fail(r.error());
    }
    if (fw_.enable) {
      if (auto r = fw_.enable(apqn, host_nib); !r) {
        if (fw_.unregister_gisc) fw_.unregister_gisc(apqn, isc);
        return fail(r.error());
      }
    }
    q->lease = std::move(*lease);
    q->state = ap_irq_state{nib, host_nib, isc};
    q->page = page[0];
    return host_nib;
  }

  /// PQAP/AQIC disable (no-op for a queue without interrupts or an unknown queue).
  void disable_irq(std::uint16_t apqn) noexcept {
    std::lock_guard l(m_);
    if (queue* q = find(apqn)) disable_locked(*q);
  }
  /// A queue reset (PQAP/RAPQ, ZAPQ) disables its interrupts.
  void reset(std::uint16_t apqn) noexcept { disable_irq(apqn); }

  /// The queue's interrupt state while enabled.
  [[nodiscard]] std::optional<ap_irq_state> irq(std::uint16_t apqn) const {
    std::lock_guard l(m_);
    const queue* q = find(apqn);
    if (q == nullptr || !q->lease.held()) return std::nullopt;
    return q->state;
  }
  /// The NIB byte as the firmware's writes reach it (valid while enabled), for an emulated
  /// firmware: the byte at the NIB's offset in the pinned page.
  [[nodiscard]] std::byte* nib_byte(std::uint16_t apqn) const {
    std::lock_guard l(m_);
    const queue* q = find(apqn);
    if (q == nullptr || !q->lease.held()) return nullptr;
    return q->page.bytes().data() + (q->state.nib.value() & (page_bytes - 1));
  }
  /// Queues with interrupts enabled (each holds one pin).
  [[nodiscard]] std::size_t enabled() const {
    std::lock_guard l(m_);
    std::size_t n = 0;
    for (const auto& q : queues_) n += q.lease.held() ? std::size_t{1} : std::size_t{0};
    return n;
  }

  /// Rule [consumer.unpin-on-notify]: disables every queue whose NIB window overlaps range.
  void on_dma_unmap(interval<iova> range) noexcept {
    std::lock_guard l(m_);
    for (auto& q : queues_) {
      if (!q.lease.held()) continue;
      const std::uint64_t first = q.state.nib.value();
      const std::uint64_t last =
          first > ~std::uint64_t{0} - (page_bytes - 1) ? ~std::uint64_t{0} : first + (page_bytes - 1);
      if (interval<iova>::from_bounds(iova(first), iova(last))->overlaps(range)) disable_locked(q);
    }
  }

 private:
  struct queue {
    std::uint16_t apqn = 0;
    ap_irq_state state{};
    page_handle page{};
    pin_lease<Backend> lease{};
  };

  s390_ap(std::span<const std::uint16_t> queues, ap_firmware fw) : fw_(std::move(fw)) {
    queues_.resize(queues.size());
    for (std::size_t i = 0; i < queues.size(); ++i) queues_[i].apqn = queues[i];
  }

  [[nodiscard]] queue* find(std::uint16_t apqn) noexcept {
    for (auto& q : queues_)
      if (q.apqn == apqn) return &q;
    return nullptr;
  }
  [[nodiscard]] const queue* find(std::uint16_t apqn) const noexcept {
    for (const auto& q : queues_)
      if (q.apqn == apqn) return &q;
    return nullptr;
  }

  void disable_locked(queue& q) noexcept {
    if (!q.lease.held()) return;
    if (fw_.disable) fw_.disable(q.apqn);
    if (fw_.unregister_gisc) fw_.unregister_gisc(q.apqn, q.state.isc);
    q.lease.unpin();
    q.page = page_handle{};
  }

  mutable std::mutex m_;
  consumer_registration<Backend, s390_ap> reg_;
  ap_firmware fw_;
  std::vector<queue> queues_;
};

}  // namespace vfiopin::consumers

#endif  // VFIOPIN_CONSUMERS_S390_AP_HPP
