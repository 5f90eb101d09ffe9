// SPDX-License-Identifier: Apache-2.0
//
// examples/s390_ap: vfio-ap style adapter interrupts (vfiopin/consumers/s390_ap.hpp) on the
// mock. A guest enables interrupts for two AP queues, naming a notification indicator byte
// (NIB) in its RAM; the driver pins the NIB's page and hands an emulated firmware the host
// PHYSICAL address. The example checks, from outside the consumer:
//   - the firmware's write at that physical address (the mock's frame bytes, found by
//     address, as firmware would) is the byte the guest's CPU reads at its NIB;
//   - the address equals the frame the process maps there (mock frame table) + the offset;
//   - a firmware failure after the pin leaves nothing pinned (spec §10 item 12);
//   - unmapping the guest memory holding one NIB disables that queue only, and the unmap
//     completes (no notification storm); reset disables the other.
// vfio-ap is an s390 driver: there is no AP hardware in the test bed, so this runs on the
// mock only. Exit status 0 when every expectation holds.

#include "support/platform.hpp"

#include <vfiopin/consumers/s390_ap.hpp>

#include <array>
#include <cstdio>
#include <map>
#include <type_traits>

namespace {

using namespace vfiopin;
using example::checker;

constexpr std::uint16_t q1 = 0x0104, q2 = 0x0207;
constexpr std::uint8_t bad_isc = 7;  // the emulated KVM has no gisc 7

void run(example::mock_platform& p, checker& check) {
  using backend = example::mock_platform::backend;
  auto ram = p.ram(example::ram_kind::memfd, byte_count(128 << 10));
  if (!check(ram.has_value(), "guest RAM (memfd)")) return;
  auto lo = p.c().map(iova(0x100000), *ram, byte_count(64 << 10), prot::read_write);
  auto hi = p.c().map(iova(0x110000), *ram + byte_count(64 << 10), byte_count(64 << 10), prot::read_write);
  if (!check(lo.has_value() && hi.has_value(), "two guest RAM mappings")) return;

  std::map<std::uint16_t, std::uint64_t> firmware_nib;  // what the firmware was told
  consumers::ap_firmware fw;
  fw.register_gisc = [](std::uint16_t, std::uint8_t isc) -> result<void> {
    if (isc == bad_isc) return fail(errc::io_error);
    return {};
  };
  fw.enable = [&](std::uint16_t q, std::uint64_t host_nib) -> result<void> {
    firmware_nib[q] = host_nib;
    return {};
  };
  fw.disable = [&](std::uint16_t q) { firmware_nib.erase(q); };
  const std::array<std::uint16_t, 2> queues{q1, q2};
  auto opened = consumers::s390_ap<backend>::open(p.c(), queues, fw);
  if (!check(opened.has_value(), "vfio-ap device registered")) return;
  auto& ap = **opened;
  const std::uint64_t pins_before = p.process().total_pins();

  // 1. Queue 1 enables interrupts with its NIB at guest address 0x100123.
  auto host = ap.enable_irq(q1, iova(0x100123), 3);
  if (!check(host.has_value(), "AQIC enable of queue 1")) return;
  const auto frame = p.frame_of(*ram);
  check(frame && *host == ((*frame << page_shift) | 0x123),
        "the host NIB is the physical address of the guest page + 0x123");
  check(firmware_nib[q1] == *host, "the firmware was given that address");
  // The firmware sets an indicator bit at the physical address it was given.
  const auto phys_page = p.process().frame_bytes(pfn(*host >> page_shift));
  check(!phys_page.empty(), "the firmware finds memory at that physical address");
  if (!phys_page.empty()) phys_page[*host & (page_bytes - 1)] = std::byte{0x80};
  std::array<std::byte, 1> nib{};
  check(p.cpu_read(*ram + byte_count(0x123), nib).has_value() && nib[0] == std::byte{0x80},
        "the guest's CPU sees the indicator at its NIB");

  // 2. Queue 2 asks for an ISC the host cannot register: the pin is undone.
  const auto before = p.process().total_pins();
  auto bad = ap.enable_irq(q2, iova(0x118040), bad_isc);
  check(!bad && bad.error() == errc::io_error, "AQIC enable with a bad ISC fails");
  check(p.process().total_pins() == before && !ap.irq(q2), "and leaves nothing pinned");
  check(!ap.enable_irq(q2, iova(0x300000), 3), "a NIB outside guest memory is refused");

  // 3. Queue 2 with a good ISC in the second mapping; unmapping it disables queue 2 only.
  check(ap.enable_irq(q2, iova(0x118040), 4).has_value(), "AQIC enable of queue 2");
  check(ap.enabled() == 2, "two queues have interrupts");
  check(hi->unmap().has_value(), "the mapping holding queue 2's NIB is unmapped");
  check(!ap.irq(q2) && ap.irq(q1).has_value(), "only queue 2 was disabled by the notification");
  check(!firmware_nib.contains(q2), "the firmware was told to stop writing queue 2's NIB");

  // 4. Reset disables queue 1.
  ap.reset(q1);
  check(ap.enabled() == 0 && firmware_nib.empty(), "reset disabled queue 1");
  // The unmap of the 16-page mapping released its IOMMU pins; no consumer pin is left.
  check(p.process().total_pins() == pins_before - 16, "no consumer pin is left");
}

}  // namespace

int main(int argc, char** argv) {
  return example::run(argc, argv, [](auto& p, checker& c) {
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(p)>, example::mock_platform>) {
      run(p, c);
    } else {
      c(false, "s390_ap runs on the mock only (there is no AP hardware in the test bed)");
    }
  });
}
