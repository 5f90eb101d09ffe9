// SPDX-License-Identifier: Apache-2.0
//
// The mock process's regions and CPU access (include/vfiopin/mock/process.hpp): placement
// (scenario-format.md "Region layout"), mmap(2) size rules, munmap, loads and stores
// (handle_mm_fault: do_anonymous_page with the zero page, shmem and hugetlb faults) and
// the device BAR's MMIO bytes.
#include "tests/support/catch.hpp"

#include <vfiopin/mock/memory.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

using namespace vfiopin;
using namespace vfiopin::literals;
using vfiopin::mock::process;
using vfiopin::mock::region_kind;

namespace {
constexpr std::array all_kinds{region_kind::anon, region_kind::memfd, region_kind::hugetlb,
                               region_kind::bar, region_kind::hole};

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = std::byte((i * 31 + seed) % 251 + 1);
  return out;
}
}  // namespace

TEST_CASE("mmap placement: 2 MiB aligned, 2 MiB unmapped after each region, never reused",
          "[mock][memory][region]") {
  process p;
  std::vector<vaddr> starts;
  for (const auto k : all_kinds) {
    const auto va = p.map_region(k, 12_KiB, false);
    REQUIRE(va.has_value());
    CHECK(is_aligned(*va, huge_page_size.value()));
    const auto info = p.region_at(*va + 4_KiB);
    REQUIRE(info.has_value());
    CHECK(info->start == *va);
    CHECK(info->kind == k);
    // The 2 MiB after the region's (rounded) end are unmapped.
    const vaddr end = *va + info->size;
    CHECK_FALSE(p.region_at(end).has_value());
    CHECK_FALSE(p.region_at(end + huge_page_size - 1_B).has_value());
    if (!starts.empty()) CHECK(*va >= starts.back() + 2_MiB + 2_MiB);
    starts.push_back(*va);
  }
  CHECK(p.regions().size() == all_kinds.size());
  // munmap: the range stays unmapped; a new region goes elsewhere.
  p.unmap_region(starts[0]);
  CHECK_FALSE(p.region_at(starts[0]).has_value());
  const auto again = p.map_region(region_kind::anon, 12_KiB, false);
  REQUIRE(again.has_value());
  CHECK(*again > starts.back());
  // Anything but a region's start is a no-op, as munmap of unmapped space is.
  p.unmap_region(starts[1] + 4_KiB);
  p.unmap_region(vaddr(0x1000));
  CHECK(p.region_at(starts[1]).has_value());
  CHECK(p.regions().size() == all_kinds.size());
}

TEST_CASE("mmap sizes: 0 is EINVAL, hugetlb rounds to 2 MiB, others to 4 KiB",
          "[mock][memory][region]") {
  process p;
  for (const auto k : all_kinds) {
    CHECK(p.map_region(k, 0_B, false) == fail(errc::invalid_argument));
  }
  const auto h = p.map_region(region_kind::hugetlb, 4_KiB, false);
  REQUIRE(h.has_value());
  CHECK(p.region_at(*h)->size == 2_MiB);
  const auto h3 = p.map_region(region_kind::hugetlb, 4_MiB + 1_B, false);
  REQUIRE(h3.has_value());
  CHECK(p.region_at(*h3)->size == 6_MiB);
  const auto a = p.map_region(region_kind::anon, 5_KiB, true);
  REQUIRE(a.has_value());
  CHECK(p.region_at(*a)->size == 8_KiB);
  CHECK(p.region_at(*a)->read_only);
  CHECK(p.region_at(*a)->pages() == 2_pages);
  // A size that cannot be rounded, or more than the mock allows: ENOMEM, like mmap.
  CHECK(p.map_region(region_kind::anon, byte_count::max(), false) == fail(errc::out_of_memory));
  CHECK(p.map_region(region_kind::memfd, process::max_region_size + 4_KiB, false) ==
        fail(errc::out_of_memory));
  CHECK(p.map_region(static_cast<region_kind>(9), 4_KiB, false) == fail(errc::invalid_argument));
}

TEST_CASE("bar mmap (vfio-pci BAR0, VM_PFNMAP): at most 1 MiB", "[mock][memory][region][bar]") {
  process p;
  CHECK(p.map_region(region_kind::bar, 1_MiB + 4_KiB, false) == fail(errc::invalid_argument));
  CHECK(p.map_region(region_kind::bar, 1_MiB + 1_B, false) == fail(errc::invalid_argument));
  const auto b = p.map_region(region_kind::bar, 1_MiB, false);
  REQUIRE(b.has_value());
  CHECK(p.region_at(*b)->kind == region_kind::bar);
}

TEST_CASE("CPU stores and loads round-trip across pages of anon, memfd and hugetlb",
          "[mock][memory][cpu]") {
  process p;
  for (const auto k : {region_kind::anon, region_kind::memfd, region_kind::hugetlb}) {
    const auto va = p.map_region(k, 4_MiB, false);
    REQUIRE(va.has_value());
    const auto data = pattern(3 * page_bytes + 100, 7);
    const vaddr at = *va + 2_MiB - 1_KiB;  // crosses a huge page boundary for hugetlb
    REQUIRE(p.write(at, data).has_value());
    std::vector<std::byte> back(data.size());
    REQUIRE(p.read(at, back).has_value());
    CHECK(back == data);
    // Every touched page is materialised: a page, not the zero page.
    const auto f = p.frame_of(at);
    REQUIRE(f.has_value());
    CHECK(p.kind_of(*f) == frame_kind::page);
    // An empty access touches nothing and succeeds, even in a hole.
    CHECK(p.write(vaddr(0), {}).has_value());
  }
}

TEST_CASE("CPU access faults: store to ro, hole, unmapped, past the end, all or nothing",
          "[mock][memory][cpu]") {
  process p;
  const auto ro = p.map_region(region_kind::memfd, 8_KiB, true);
  const auto hole = p.map_region(region_kind::hole, 8_KiB, false);
  const auto rw = p.map_region(region_kind::anon, 8_KiB, false);
  REQUIRE((ro && hole && rw));
  const auto data = pattern(16, 1);
  std::vector<std::byte> buf(16);
  CHECK(p.write(*ro, data) == fail(errc::bad_address));
  CHECK(p.read(*ro, buf).has_value());  // reading a read-only mapping is fine
  CHECK(p.write(*hole, data) == fail(errc::bad_address));
  CHECK(p.read(*hole, buf) == fail(errc::bad_address));
  CHECK(p.read(vaddr(0x1000), buf) == fail(errc::bad_address));
  // A store running past the end faults, and writes nothing at all.
  const auto live_before = p.live_frames();
  CHECK(p.write(*rw + 8_KiB - 8_B, data) == fail(errc::bad_address));
  CHECK(p.live_frames() == live_before);
  CHECK_FALSE(p.frame_of(*rw + 4_KiB).has_value());
  CHECK(p.read(vaddr::max(), buf) == fail(errc::bad_address));
}

TEST_CASE("do_anonymous_page: an untouched anon load maps the zero page, a store COWs it",
          "[mock][memory][cpu][zero-page]") {
  process p;
  const auto va = p.map_region(region_kind::anon, 16_KiB, false);
  REQUIRE(va.has_value());
  std::vector<std::byte> buf(8, std::byte{0xaa});
  REQUIRE(p.read(*va, buf).has_value());
  CHECK(buf == std::vector<std::byte>(8, std::byte{0}));
  const auto z = p.frame_of(*va);
  REQUIRE(z.has_value());
  CHECK(z->value() == mock::physmem::zero_frame);
  CHECK(p.kind_of(*z) == frame_kind::reserved_page);
  CHECK(p.live_frames() == 0_pages);  // the zero page is not RAM of the process
  REQUIRE(p.write(*va + 1_B, pattern(1, 3)).has_value());
  const auto f = p.frame_of(*va);
  REQUIRE(f.has_value());
  CHECK(p.kind_of(*f) == frame_kind::page);
  CHECK(p.live_frames() == 1_pages);
  REQUIRE(p.read(*va, buf).has_value());
  CHECK(buf[0] == std::byte{0});
  CHECK(buf[1] == pattern(1, 3)[0]);
  CHECK(p.zero_page_intact());
  // `anon ro` memory has never been written: every load sees zeros from the zero page.
  const auto ro = p.map_region(region_kind::anon, 8_KiB, true);
  REQUIRE(ro.has_value());
  REQUIRE(p.read(*ro + 4_KiB, buf).has_value());
  CHECK(buf == std::vector<std::byte>(8, std::byte{0}));
  CHECK(p.frame_of(*ro + 4_KiB)->value() == mock::physmem::zero_frame);
}

TEST_CASE("shmem and hugetlb faults allocate on load (no zero page)", "[mock][memory][cpu]") {
  process p;
  const auto m = p.map_region(region_kind::memfd, 8_KiB, true);
  const auto h = p.map_region(region_kind::hugetlb, 2_MiB, true);
  REQUIRE((m && h));
  std::vector<std::byte> buf(4);
  REQUIRE(p.read(*m, buf).has_value());
  CHECK(p.kind_of(*p.frame_of(*m)) == frame_kind::page);
  CHECK(p.live_frames() == 1_pages);
  REQUIRE(p.read(*h + 8_KiB, buf).has_value());  // the whole 2 MiB page at once
  CHECK(p.live_frames() == 1_pages + 512_pages);
  CHECK(p.frame_of(*h)->value() % 512 == 0);
  CHECK(*p.frame_of(*h + 8_KiB) == *p.frame_of(*h) + 2_pages);
}

TEST_CASE("bar loads and stores reach the device's MMIO bytes, shared by every bar mapping",
          "[mock][memory][cpu][bar]") {
  process p;
  const auto b1 = p.map_region(region_kind::bar, 64_KiB, false);
  const auto b2 = p.map_region(region_kind::bar, 1_MiB, true);
  REQUIRE((b1 && b2));
  const auto data = pattern(32, 9);
  REQUIRE(p.write(*b1 + 4_KiB - 16_B, data).has_value());
  std::vector<std::byte> back(32);
  REQUIRE(p.read(*b2 + 4_KiB - 16_B, back).has_value());
  CHECK(back == data);
  CHECK(p.write(*b2, data) == fail(errc::bad_address));  // a read-only BAR mapping
  CHECK(p.live_frames() == 0_pages);                    // MMIO is not RAM
  const auto f = p.frame_of(*b1 + 4_KiB);
  REQUIRE(f.has_value());
  CHECK(p.kind_of(*f) == frame_kind::no_page);
  CHECK(p.frame_bytes(*f)[0] == data[16]);
}

TEST_CASE("a memfd mapped twice: both mappings share pages and bytes", "[mock][memory][memfd]") {
  process p;
  const auto m = p.map_region(region_kind::memfd, 8_KiB, false);
  REQUIRE(m.has_value());
  const auto alias = p.map_alias(*m, true);
  REQUIRE(alias.has_value());
  CHECK(*alias != *m);
  CHECK(p.region_at(*alias)->read_only);
  const auto data = pattern(10, 4);
  REQUIRE(p.write(*m + 4_KiB, data).has_value());
  std::vector<std::byte> back(10);
  REQUIRE(p.read(*alias + 4_KiB, back).has_value());
  CHECK(back == data);
  CHECK(p.frame_of(*alias + 4_KiB) == p.frame_of(*m + 4_KiB));
  // The pages live while any mapping does.
  p.unmap_region(*m);
  REQUIRE(p.read(*alias + 4_KiB, back).has_value());
  CHECK(back == data);
  p.unmap_region(*alias);
  CHECK(p.live_frames() == 0_pages);
  // Only memfd and hugetlb files can be mapped again, and only by a region's start.
  const auto a = p.map_region(region_kind::anon, 8_KiB, false);
  const auto h = p.map_region(region_kind::hugetlb, 2_MiB, false);
  REQUIRE((a && h));
  CHECK(p.map_alias(*a, false) == fail(errc::invalid_argument));
  CHECK(p.map_alias(*h + 4_KiB, false) == fail(errc::invalid_argument));
  CHECK(p.map_alias(*h, false).has_value());
}
