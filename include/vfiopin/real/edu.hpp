// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/real/edu.hpp: a driver for QEMU's `edu` PCI device, the test bed's DMA engine.
//
// Theory of operation. edu (QEMU hw/misc/edu.c, docs/specs/edu.rst) has a 1 MiB BAR0 and
// a 4 KiB internal buffer that only its DMA engine can reach, seen at the bus address
// 0x40000. Its DMA registers are 64-bit, accessed with 4- or 8-byte MMIO:
//   0x80 source   0x88 destination   0x90 count
//   0x98 command: bit 0 start (cleared by the device when the transfer is done),
//                 bit 1 direction (0: RAM -> buffer, 1: buffer -> RAM), bit 2 raise an IRQ.
// A write to 0x98 without the start bit is ignored, and while a transfer runs every write
// to 0x80..0x98 is ignored, so the driver waits for the start bit to be clear before it
// programs a transfer. The transfer happens on a 100 ms timer (virtual time); the driver
// polls the start bit every `poll_interval` up to `timeout` (counted as polls, so a fake
// clock in tests is exact) and reports a transfer that never finishes as errc::io_error.
// The device masks RAM addresses with its 28-bit DMA mask (it would silently clamp a
// larger one), and QEMU 7.2's buffer bounds check is off by one (a 4096-byte transfer
// crashes it), so the driver refuses (EINVAL) any transfer of 0 or more than 2048 bytes,
// or whose IOVA range reaches 256 MiB. Device DMA goes through the IOMMU: a read of an
// IOVA that is not mapped readable gives zeros, a write to one not mapped writable is
// dropped (the guest logs a DMAR fault); neither is reported to the driver.
//
// The CPU cannot read or write the device buffer, so moving bytes between the CPU and an
// IOVA takes two transfers through a scratch area: memory the caller has mapped for DMA
// (read and write) at `scratch.at`, whose CPU view is `scratch.cpu`:
//   read_from_iova(src, out):   RAM(src) -> buffer; buffer -> RAM(scratch); copy to out.
//   write_to_iova(dst, bytes):  copy into scratch; RAM(scratch) -> buffer; buffer -> RAM(dst).
// Both go in chunks of at most 2048 bytes (each chunk two transfers, ~200 ms under TCG),
// through buffer offset 0; scratch needs min(len, 2048) bytes and an IOVA below 256 MiB.
// (The scenario format reserves IOVA 0x0ffff000 for such a page, mapped for the duration
// of one operation.) Memory fences order CPU accesses to scratch against the transfers.
//
// The driver borrows nothing: it owns the BAR0 mapping (a bar_region); the device (and
// its group in a container) must outlive it. Not thread safe: one transfer at a time.
#ifndef VFIOPIN_REAL_EDU_HPP
#define VFIOPIN_REAL_EDU_HPP

#include <vfiopin/error.hpp>
#include <vfiopin/real/bar_region.hpp>
#include <vfiopin/real/device.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/address.hpp>
#include <vfiopin/types/count.hpp>
#include <vfiopin/types/interval.hpp>

#include <linux/vfio.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <thread>
#include <utility>

namespace vfiopin::real {

/// The edu device's registers and limits (see the header comment).
namespace edu_regs {
inline constexpr byte_count dma_src{0x80};
inline constexpr byte_count dma_dst{0x88};
inline constexpr byte_count dma_count{0x90};
inline constexpr byte_count dma_cmd{0x98};
inline constexpr std::uint64_t cmd_start = 0x1;
inline constexpr std::uint64_t cmd_to_ram = 0x2;  ///< direction: buffer -> RAM
inline constexpr std::uint64_t buffer_addr = 0x40000;
inline constexpr byte_count bar0_size{1024 * 1024};
}  // namespace edu_regs

/// The largest transfer the driver makes, and the first IOVA the device cannot reach.
inline constexpr byte_count edu_max_transfer{2048};
inline constexpr std::uint64_t edu_dma_limit = std::uint64_t{1} << 28;

/// Memory mapped for DMA (read and write) at `at`, seen by the CPU as `cpu`.
struct dma_scratch {
  iova at{};
  std::span<std::byte> cpu{};
};

/// How the driver waits for a transfer.
struct edu_timing {
  std::chrono::microseconds timeout{std::chrono::seconds(10)};
  std::chrono::microseconds poll_interval{std::chrono::milliseconds(1)};
  /// Waits one poll interval; empty: std::this_thread::sleep_for.
  std::function<void(std::chrono::microseconds)> pause{};
};

/// A driver for one edu device (see the header comment).
class edu {
 public:
  /// Enables bus mastering on `dev` and maps its BAR0.
  [[nodiscard]] static result<edu> open(const device& dev, edu_timing timing = {}) {
    if (auto r = dev.enable_bus_master(); !r) return unexpected(r.error());
    auto bar = dev.map_bar(VFIO_PCI_BAR0_REGION_INDEX, edu_regs::bar0_size);
    if (!bar) return unexpected(bar.error());
    return edu(std::move(*bar), std::move(timing));
  }
  /// Drives the device behind an already mapped BAR0 (at least 4 KiB of it).
  explicit edu(bar_region bar0, edu_timing timing = {}) noexcept
      : bar_(std::move(bar0)), timing_(std::move(timing)) {}

  [[nodiscard]] const bar_region& bar() const noexcept { return bar_; }

  /// One transfer RAM(src) -> buffer[0, len).
  [[nodiscard]] result<void> to_device(iova src, byte_count len) {
    return transfer(src.value(), edu_regs::buffer_addr, len, 0);
  }
  /// One transfer buffer[0, len) -> RAM(dst).
  [[nodiscard]] result<void> from_device(iova dst, byte_count len) {
    return transfer(edu_regs::buffer_addr, dst.value(), len, edu_regs::cmd_to_ram);
  }

  /// out.size() bytes at IOVA `src`, read by the device, through `scratch`.
  [[nodiscard]] result<void> read_from_iova(iova src, std::span<std::byte> out,
                                            const dma_scratch& scratch) {
    if (auto r = check(src, byte_count{out.size()}, scratch); !r) return r;
    for (std::size_t done = 0; done < out.size();) {
      const std::size_t n = std::min<std::size_t>(out.size() - done, edu_max_transfer.value());
      if (auto r = to_device(src + byte_count{done}, byte_count{n}); !r) return r;
      if (auto r = from_device(scratch.at, byte_count{n}); !r) return r;
      std::atomic_thread_fence(std::memory_order_seq_cst);
      std::memcpy(out.data() + done, scratch.cpu.data(), n);
      done += n;
    }
    return {};
  }

  /// Writes `bytes` at IOVA `dst` by device DMA, through `scratch`.
  [[nodiscard]] result<void> write_to_iova(iova dst, std::span<const std::byte> bytes,
                                           const dma_scratch& scratch) {
    if (auto r = check(dst, byte_count{bytes.size()}, scratch); !r) return r;
    for (std::size_t done = 0; done < bytes.size();) {
      const std::size_t n = std::min<std::size_t>(bytes.size() - done, edu_max_transfer.value());
      std::memcpy(scratch.cpu.data(), bytes.data() + done, n);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (auto r = to_device(scratch.at, byte_count{n}); !r) return r;
      if (auto r = from_device(dst + byte_count{done}, byte_count{n}); !r) return r;
      done += n;
    }
    return {};
  }

 private:
  /// [at, at + len) is a non-empty range the device can reach.
  [[nodiscard]] static bool reachable(std::uint64_t at, std::uint64_t len) noexcept {
    return len != 0 && at < edu_dma_limit && len <= edu_dma_limit - at;
  }
  /// A whole read or write: the target range and the scratch area.
  [[nodiscard]] static result<void> check(iova at, byte_count len, const dma_scratch& scratch) {
    const std::uint64_t chunk = std::min(len.value(), edu_max_transfer.value());
    if (!reachable(at.value(), len.value()) || !reachable(scratch.at.value(), chunk) ||
        scratch.cpu.size() < chunk) {
      return unexpected(errc::invalid_argument);
    }
    return {};
  }

  /// Waits until the start bit is clear; io_error after the timeout.
  [[nodiscard]] result<void> wait_idle() {
    const auto interval = std::max(timing_.poll_interval, std::chrono::microseconds(1));
    const auto polls = timing_.timeout / interval;
    for (std::int64_t k = 0;; ++k) {
      if ((bar_.read64(edu_regs::dma_cmd) & edu_regs::cmd_start) == 0) return {};
      if (k >= polls) return unexpected(errc::io_error);
      if (timing_.pause) {
        timing_.pause(interval);
      } else {
        std::this_thread::sleep_for(interval);
      }
    }
  }

  [[nodiscard]] result<void> transfer(std::uint64_t src, std::uint64_t dst, byte_count len,
                                      std::uint64_t direction) {
    const std::uint64_t ram = direction == edu_regs::cmd_to_ram ? dst : src;
    if (len > edu_max_transfer || !reachable(ram, len.value())) {
      return unexpected(errc::invalid_argument);
    }
    if (auto r = wait_idle(); !r) return r;  // writes while running are ignored
    bar_.write64(edu_regs::dma_src, src);
    bar_.write64(edu_regs::dma_dst, dst);
    bar_.write64(edu_regs::dma_count, len.value());
    std::atomic_thread_fence(std::memory_order_seq_cst);
    bar_.write64(edu_regs::dma_cmd, edu_regs::cmd_start | direction);
    auto r = wait_idle();
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return r;
  }

  bar_region bar_;
  edu_timing timing_;
};

}  // namespace vfiopin::real

#endif  // VFIOPIN_REAL_EDU_HPP
