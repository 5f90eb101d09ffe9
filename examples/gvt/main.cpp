// SPDX-License-Identifier: Apache-2.0
//
// examples/gvt: a GVT-g style shadow GTT (vfiopin/consumers/gvt.hpp) over guest RAM.
//
// A VMM maps guest RAM (memfd, and a 2 MiB huge page where there is one) into a container
// at IOVA = guest physical address; a virtual GPU shadows the guest's GTT. The example
// checks, from outside the consumer:
//   - a 4 KiB entry's shadow shows what the guest's CPU wrote and what a device wrote by
//     DMA at that IOVA, and the GPU's writes through the shadow are what the device then
//     reads back (on the test bed: edu DMA through VT-d);
//   - a 2 MiB entry succeeds exactly when the 512 frames are physically contiguous (told
//     by an oracle: the mock's frame table, or /proc/self/pagemap), and when it fails
//     nothing stays pinned; GVT-g then splits it into 4 KiB entries;
//   - unmapping guest RAM makes the GPU drop every entry in it before the unmap returns.
// Run: vfiopin_example_gvt [--backend mock|vfio] [--require-hugetlb]
// Exit status 0 when every expectation holds.

#include "support/platform.hpp"

#include <vfiopin/consumers/gvt.hpp>

#include <cstdio>
#include <cstring>
#include <string_view>
#include <vector>

namespace {

using namespace vfiopin;
using example::checker;
using example::ram_kind;

constexpr std::uint64_t ram_iova = 0x01000000;   // guest RAM at 16 MiB
constexpr std::uint64_t huge_iova = 0x02000000;  // the huge page at 32 MiB
constexpr std::uint64_t ram_size = 4 << 20;
bool require_hugetlb = false;

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<unsigned char>(seed + i * 13));
  return v;
}

/// view begins with want.
bool starts_with(std::span<const std::byte> view, const std::vector<std::byte>& want) {
  return view.size() >= want.size() && std::memcmp(view.data(), want.data(), want.size()) == 0;
}

/// The oracle: are the 512 pages from va physically contiguous, by the platform's frames?
template <class P>
bool contiguous(P& p, vaddr va) {
  const auto f0 = p.frame_of(va);
  if (!f0) return false;
  for (std::uint64_t k = 1; k < 512; ++k) {
    const auto f = p.frame_of(va + byte_count(k * page_bytes));
    if (!f || *f != *f0 + k) return false;
  }
  return true;
}

template <class P>
void run(P& p, checker& check) {
  using gpu_t = consumers::gvt<typename P::backend, typename P::memory>;
  std::printf("gvt example on %.*s\n", static_cast<int>(P::name.size()), P::name.data());
  auto ram = p.ram(ram_kind::memfd, byte_count(ram_size));
  if (!check(ram.has_value(), "guest RAM (memfd) allocated")) return;
  auto map = p.c().map(iova(ram_iova), *ram, byte_count(ram_size), prot::read_write);
  if (!check(map.has_value(), "guest RAM mapped at its guest physical address")) return;
  auto opened = gpu_t::open(p.c(), 16);
  if (!check(opened.has_value(), "vGPU registered as an emulated-IOMMU device")) return;
  gpu_t& gpu = **opened;

  // 1. The guest's CPU writes a texture; GTT entry 0 points at it.
  const auto texture = pattern(256, 7);
  check(p.cpu_write(*ram + byte_count(0x5000 + 0x40), texture).has_value(), "guest CPU wrote a texture");
  check(gpu.write_entry(0, {(ram_iova + 0x5000) >> page_shift, consumers::gtt_page::size_4k}).has_value(),
        "4 KiB entry 0 shadowed");
  check(starts_with(gpu.gpu_view(0, byte_count(0x40)), texture),
        "the GPU sees the guest CPU's bytes through shadow entry 0");

  // 2. A device writes by DMA at an IOVA; GTT entry 1 points there.
  const auto dma_bytes = pattern(300, 91);
  check(p.dma_write(iova(ram_iova + 0x9100), dma_bytes).has_value(), "device DMA write");
  check(gpu.write_entry(1, {(ram_iova + 0x9000) >> page_shift, consumers::gtt_page::size_4k}).has_value(),
        "4 KiB entry 1 shadowed");
  check(starts_with(gpu.gpu_view(1, byte_count(0x100)), dma_bytes),
        "the GPU sees the device's DMA bytes through shadow entry 1");

  // 3. The GPU renders through entry 1; the device reads the result by DMA.
  const auto rendered = pattern(200, 200);
  std::memcpy(gpu.gpu_view(1, byte_count(0x800)).data(), rendered.data(), rendered.size());
  std::vector<std::byte> seen(rendered.size());
  check(p.dma_read(iova(ram_iova + 0x9800), seen).has_value() && seen == rendered,
        "the device reads by DMA what the GPU wrote through the shadow entry");

  // 4. A 2 MiB entry over a huge page: contiguous by construction.
  auto huge = p.ram(ram_kind::hugetlb, huge_page_size);
  mapping<typename P::backend> huge_map;
  if (!huge) {
    std::printf("note  no hugetlb page here (%s)\n", huge.error().message().c_str());
    check(!require_hugetlb, "a hugetlb page is available (--require-hugetlb)");
  } else {
    auto m = p.c().map(iova(huge_iova), *huge, huge_page_size, prot::read_write);
    if (check(m.has_value(), "2 MiB huge page mapped")) {
      huge_map = std::move(*m);
      const bool expect = contiguous(p, *huge);
      check(expect, "oracle: a huge page's 512 frames are contiguous");
      const auto w = gpu.write_entry(2, {huge_iova >> page_shift, consumers::gtt_page::size_2m});
      check(w.has_value() == expect, "2 MiB entry over the huge page succeeds iff contiguous");
      const auto tail = pattern(64, 3);
      check(p.dma_write(iova(huge_iova + 0x1ff000 + 0x10), tail).has_value(), "device DMA into the huge page's last 4 KiB");
      check(!expect || starts_with(gpu.gpu_view(2, byte_count(0x1ff010)), tail),
            "the GPU sees it at offset 0x1ff010 of the 2 MiB entry");
    }
  }

  // 5. A 2 MiB entry over scattered memory: the oracle decides; failure leaves nothing.
  const page_count before = gpu.pinned_pages();
  auto scattered = p.ram(ram_kind::scattered, huge_page_size);
  if (check(scattered.has_value(), "scattered 2 MiB of anonymous memory")) {
    auto sm = p.c().map(iova(huge_iova + (4 << 20)), *scattered, huge_page_size, prot::read_write);
    if (check(sm.has_value(), "scattered memory mapped")) {
      const bool expect = contiguous(p, *scattered);
      std::printf("note  oracle: scattered memory is %scontiguous\n", expect ? "" : "not ");
      const std::uint64_t gfn = (huge_iova + (4 << 20)) >> page_shift;
      const auto w = gpu.write_entry(3, {gfn, consumers::gtt_page::size_2m});
      check(w.has_value() == expect, "2 MiB entry over scattered memory succeeds iff contiguous");
      if (!w) {
        check(w.error() == errc::invalid_argument, "a discontiguous 2 MiB entry is EINVAL");
        check(gpu.pinned_pages() == before, "and leaves nothing pinned");
        bool split = true;  // GVT-g's fallback: 4 KiB entries
        for (std::size_t i = 0; i < 8; ++i)
          split = split && gpu.write_entry(8 + i, {gfn + i, consumers::gtt_page::size_4k}).has_value();
        check(split, "split into 4 KiB entries instead");
      }
      gpu.invalidate(3);
      for (std::size_t i = 8; i < 16; ++i) gpu.invalidate(i);
      check(gpu.pinned_pages() == before, "invalidation unpins the entries");
    }
  }

  // 6. Unmapping guest RAM: entries 0 and 1 go before the unmap returns; entry 2 stays.
  const bool had_huge = gpu.shadow(2).has_value();
  auto r = map->unmap();
  check(r.has_value(), "guest RAM unmapped while the GPU had entries in it");
  check(gpu.notifications() >= 1 && !gpu.shadow(0) && !gpu.shadow(1),
        "the unmap notification dropped entries 0 and 1");
  check(gpu.shadow(2).has_value() == had_huge, "the huge-page entry outside the range stayed");
  check(gpu.pinned_pages() == page_count(had_huge ? 512 : 0), "pins left: only the 2 MiB entry's");
  gpu.invalidate(2);
  check(gpu.pinned_pages() == page_count(0), "nothing pinned at the end");
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--require-hugetlb") require_hugetlb = true;
  return example::run(argc, argv, [](auto& p, checker& c) { run(p, c); });
}
