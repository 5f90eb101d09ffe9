// SPDX-License-Identifier: Apache-2.0
//
// examples/vmm: a QEMU-style VMM maps guest RAM (memfd) and a device BAR (VM_PFNMAP) into
// one container, and an in-process device emulator translates guest IOVAs to pages
// (dma_translator.hpp). The example checks, from outside the emulator:
//   - DMA mapping of the BAR works (MAP_DMA accepts PFNMAP memory, for peer to peer);
//   - a consumer pin on the BAR: does not compile where the type is known (pinnable<> and
//     the compile-fail tests), and fails at run time with errc::not_page_backed where the
//     address space is mixed; the backend's own pin answers what its contract says (the
//     kernel model: EINVAL, as Linux 6.4+; the real backend: not_page_backed);
//   - the translation reads what a device wrote by DMA at an IOVA, and what the emulator
//     writes through it, across a page boundary, is what the device reads back (on the
//     test bed: edu DMA through VT-d);
//   - unmapping guest RAM makes the emulator drop its ring before the unmap returns.
// Run: vfiopin_example_vmm [--backend mock|vfio]; exit status 0 when every expectation holds.

#include "support/platform.hpp"
#include "vmm/dma_translator.hpp"

#include <cstdio>
#include <cstring>
#include <vector>

namespace {

using namespace vfiopin;
using example::checker;

constexpr std::uint64_t ram_iova = 0x0;          // guest RAM at guest physical 0
constexpr std::uint64_t ram_size = 1 << 20;
constexpr std::uint64_t bar_iova = 0x08000000;   // the BAR at 128 MiB, as a guest's PCI hole

// The rule where the type is known: RAM types are pinnable, BAR types are not.
static_assert(example::pinnable<example::mock_platform::memory>);
static_assert(example::pinnable<example::vfio_platform::memory>);
static_assert(!example::pinnable<example::mock_platform::bar_memory>);
static_assert(!example::pinnable<example::vfio_platform::bar_memory>);
static_assert(real::pfn_only_dma_memory<real::bar_region>);  // no page_at(): see compile-fail

/// A consumer that only asks the backend for a page.
struct probe {
  using consumer_tag = vfiopin::consumer_tag;
  static constexpr bool needs_pages = true;
  void on_dma_unmap(interval<iova>) noexcept {}
};

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<unsigned char>(seed ^ (i * 29)));
  return v;
}

template <class P>
void run(P& p, checker& check) {
  using backend = typename P::backend;
  std::printf("vmm example on %.*s\n", static_cast<int>(P::name.size()), P::name.data());
  auto ram = p.ram(example::ram_kind::memfd, byte_count(ram_size));
  if (!check(ram.has_value(), "guest RAM from a memfd")) return;
  auto bar = p.bar();
  if (!check(bar.has_value(), "the device BAR is mmapped")) return;
  const auto ram_range = *interval<iova>::from(iova(ram_iova), byte_count(ram_size));
  const auto bar_size = byte_count(bar->span().value() + 1);
  const auto bar_range = *interval<iova>::from(iova(bar_iova), bar_size);

  // The VMM's memory listener: both regions go into the container and into its map.
  auto ram_map = p.c().map(ram_range.first(), *ram, byte_count(ram_size), prot::read_write);
  check(ram_map.has_value(), "guest RAM mapped for DMA");
  auto bar_map = p.c().map(bar_range.first(), bar->first(), bar_size, prot::read_write);
  check(bar_map.has_value(), "the BAR (VM_PFNMAP) mapped for DMA: peer to peer works");
  if (!ram_map || !bar_map) return;
  example::guest_memory_map gmap;
  gmap.add<typename P::memory>(ram_range, *ram);
  gmap.add<typename P::bar_memory>(bar_range, bar->first());

  auto opened = example::dma_translator<backend>::open(p.c(), gmap);
  if (!check(opened.has_value(), "device emulator registered")) return;
  auto& emu = **opened;

  // 1. The IOVA-to-page translation: a device's DMA write is what the emulator reads.
  const auto desc = pattern(512, 0x5a);
  check(p.dma_write(iova(0x3f00), desc).has_value(), "device DMA wrote a descriptor across 0x4000");
  {
    auto v = emu.map(iova(0x3f00), desc.size(), prot::read);
    if (check(v.has_value(), "translation of [0x3f00, 0x40ff]")) {
      check(v->pages().size() == 2, "it spans two pages");
      std::vector<std::byte> got(desc.size());
      v->copy_out(got);
      check(got == desc, "the emulator reads the device's bytes through the translation");
    }
  }
  // 2. The emulator writes a completion; the device reads it by DMA.
  const auto completion = pattern(300, 0xc3);
  {
    auto v = emu.map(iova(0x7f80), completion.size(), prot::read_write);
    if (check(v.has_value(), "translation of [0x7f80, 0x80ab]")) v->copy_in(completion);
  }
  std::vector<std::byte> seen(completion.size());
  check(p.dma_read(iova(0x7f80), seen).has_value() && seen == completion,
        "the device reads by DMA what the emulator wrote through the translation");
  std::vector<std::byte> cpu(completion.size());
  check(p.cpu_read(*ram + byte_count(0x7f80), cpu).has_value() && cpu == completion,
        "and the VMM's CPU view of guest RAM agrees");

  // 3. The BAR in the mixed address space: a clear run-time error, nothing pinned.
  auto on_bar = emu.map(iova(bar_iova + 0x80), 8, prot::read);
  check(!on_bar && on_bar.error() == errc::not_page_backed,
        "translation of a BAR address: errc::not_page_backed");
  if (!on_bar) std::printf("      (%s)\n", on_bar.error().message().c_str());
  {
    // The backend's own pin, without the VMM's map: its contract's answer.
    probe dev;
    auto reg = p.c().add_consumer(dev);
    if (check(reg.has_value(), "a second emulated device registered")) {
      page_handle h[1];
      auto pin = reg->pin(iova(bar_iova), page_count(1), prot::read, h);
      check(!pin && pin.error() == P::bar_pin_error && h[0].empty(),
            "the backend refuses a consumer pin of a BAR page as its contract says");
    }
  }
  check(!emu.map(iova(0x200000), 8, prot::read) && emu.map(iova(0x200000), 8, prot::read).error() == errc::bad_address,
        "a hole in the guest's memory map: EFAULT");

  // 4. A ring held for the device's lifetime; unmapping guest RAM drops it first.
  check(emu.map_ring(iova(0x10000), 4096 * 3).has_value(), "virtqueue ring mapped (3 pages pinned)");
  auto r = ram_map->unmap();
  check(r.has_value(), "guest RAM unmapped while the emulator held its ring");
  check(emu.notifications() >= 1 && !emu.ring(), "the notification made the emulator drop the ring");
  gmap.remove(ram_range);
  check(!emu.map(iova(0x10000), 8, prot::read), "after the unmap the address no longer translates");
  check(bar_map->unmap().has_value(), "the BAR unmapped");
}

}  // namespace

int main(int argc, char** argv) {
  return example::run(argc, argv, [](auto& p, checker& c) { run(p, c); });
}
