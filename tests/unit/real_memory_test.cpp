// SPDX-License-Identifier: Apache-2.0
//
// The real memory regions (include/vfiopin/real/memory.hpp, mapping.hpp), pagemap
// (pagemap.hpp) and VMA classification (vma.hpp), on the host's real kernel. Expectations
// come from the kernel's documented behaviour: mmap(2), proc(5) (/proc/PID/maps, smaps
// VmFlags), Documentation/admin-guide/mm/pagemap.rst (present bit 63, PFN bits 0-54,
// hidden without CAP_SYS_ADMIN), do_anonymous_page (a read fault of private anonymous
// memory maps the shared zero page), and scenario-format.md "Region layout". The test
// reads /proc/self/maps and smaps itself, with its own parsing, to check the regions.
#include "tests/support/catch.hpp"

#include <vfiopin/real/memory.hpp>
#include <vfiopin/real/pagemap.hpp>
#include <vfiopin/real/vma.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

using namespace vfiopin;
using namespace vfiopin::literals;
using vfiopin::real::page_region;
using vfiopin::real::range_backing;

namespace {

constexpr std::uint64_t two_mib = 2 * 1024 * 1024;

// The /proc/self/maps line of the VMA that starts at `start` ("" if none).
std::string maps_line(std::uint64_t start) {
  std::ifstream in("/proc/self/maps");
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "%llx-", static_cast<unsigned long long>(start));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) return line;
  }
  return "";
}

// The VmFlags of the smaps entry that starts at `start` ("" if none).
std::string vm_flags(std::uint64_t start) {
  std::ifstream in("/proc/self/smaps");
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "%llx-", static_cast<unsigned long long>(start));
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) inside = true;
    if (inside && line.rfind("VmFlags:", 0) == 0) return line.substr(8) + " ";
  }
  return "";
}

std::uint64_t meminfo(const std::string& key) {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1));
  }
  return 0;
}

interval<vaddr> range_of(vaddr first, byte_count n) { return *interval<vaddr>::from(first, n); }

}  // namespace

TEST_CASE("real anon region: placed on 2 MiB with an inaccessible guard after it", "[real][memory]") {
  auto r = page_region::anon(1_MiB);
  REQUIRE(r.has_value());
  CHECK(r->kind() == real::page_region_kind::anon);
  CHECK(r->size() == 1_MiB);
  CHECK(r->base().value() % two_mib == 0);
  // A private, writable VMA exactly where the region is.
  const std::string line = maps_line(r->base().value());
  REQUIRE(!line.empty());
  CHECK(line.find(" rw-p ") != std::string::npos);
  CHECK(vm_flags(r->base().value()).find(" nh ") != std::string::npos);  // MADV_NOHUGEPAGE
  // The 2 MiB after it are not accessible: a PROT_NONE ("---p") reservation.
  const std::string guard = maps_line(r->base().value() + (1_MiB).value());
  REQUIRE(!guard.empty());
  CHECK(guard.find(" ---p ") != std::string::npos);
  r->bytes()[0] = std::byte{1};
  r->bytes()[r->size().value() - 1] = std::byte{2};
  CHECK(r->bytes()[0] == std::byte{1});
}

TEST_CASE("real regions: sizes round up to the page size, size 0 is EINVAL", "[real][memory]") {
  auto a = page_region::anon(byte_count{5000});
  REQUIRE(a.has_value());
  CHECK(a->size() == byte_count{8192});
  CHECK(page_region::anon(byte_count{0}).error() == errc::invalid_argument);
  CHECK(page_region::memfd(byte_count{0}).error() == errc::invalid_argument);
  CHECK(page_region::hugetlb(byte_count{0}).error() == errc::invalid_argument);
}

TEST_CASE("real region destruction unmaps the region and its guard", "[real][memory]") {
  std::uint64_t base = 0;
  {
    auto r = page_region::anon(64_KiB);
    REQUIRE(r.has_value());
    base = r->base().value();
    page_region moved = std::move(*r);
    CHECK(moved.base().value() == base);
    CHECK(!maps_line(base).empty());
  }
  CHECK(maps_line(base).empty());
}

TEST_CASE("real read-only regions are mapped PROT_READ", "[real][memory]") {
  auto a = page_region::anon(64_KiB, {.read_only = true});
  REQUIRE(a.has_value());
  CHECK(a->read_only());
  CHECK(maps_line(a->base().value()).find(" r--p ") != std::string::npos);
  auto m = page_region::memfd(64_KiB, {.read_only = true});
  REQUIRE(m.has_value());
  CHECK(maps_line(m->base().value()).find(" r--s ") != std::string::npos);
}

TEST_CASE("real memfd region: a shared mapping of a memfd", "[real][memory]") {
  auto r = page_region::memfd(256_KiB);
  REQUIRE(r.has_value());
  CHECK(r->base().value() % two_mib == 0);
  const std::string line = maps_line(r->base().value());
  CHECK(line.find(" rw-s ") != std::string::npos);
  CHECK(line.find("/memfd:vfiopin") != std::string::npos);
  CHECK(vm_flags(r->base().value()).find(" nh ") != std::string::npos);
  r->bytes()[4096] = std::byte{7};
  CHECK(r->bytes()[4096] == std::byte{7});
}

TEST_CASE("real hugetlb region: 2 MiB pages, or ENOMEM with an empty pool", "[real][memory]") {
  const bool pool_has_pages = meminfo("HugePages_Free") > 0;
  auto r = page_region::hugetlb(byte_count{1});
  if (!pool_has_pages) {
    REQUIRE(!r.has_value());
    CHECK(r.error() == errc::out_of_memory);
    return;
  }
  REQUIRE(r.has_value());
  CHECK(r->size() == byte_count{two_mib});
  CHECK(r->base().value() % two_mib == 0);
  CHECK(vm_flags(r->base().value()).find(" ht ") != std::string::npos);
}

TEST_CASE("real region page_at: CPU page, page id, issuer, frame where present", "[real][memory]") {
  auto r = page_region::anon(64_KiB);
  REQUIRE(r.has_value());
  r->bytes()[3 * 4096 + 5] = std::byte{0x5a};
  auto h = r->page_at(byte_count{3 * 4096 + 5});
  REQUIRE(h.has_value());
  CHECK(h->bytes().data() == r->bytes().data() + 3 * 4096);
  CHECK(h->bytes()[5] == std::byte{0x5a});
  CHECK(h->page_id() == 3);
  CHECK(h->issuer() == static_cast<const void*>(r->bytes().data()));
  CHECK(*h == *r->page_at(byte_count{3 * 4096}));
  CHECK(!(*h == *r->page_at(byte_count{4 * 4096})));
  // The generic, rule-checked accessor gives the same handle.
  CHECK(*real::page_at(*r, byte_count{3 * 4096}) == *h);
  // Never touched: not present, so no frame.
  CHECK(!r->page_at(byte_count{9 * 4096})->frame().has_value());
  if (geteuid() == 0) CHECK(h->frame().has_value());  // root reads PFNs
  CHECK(r->page_at(64_KiB).error() == errc::invalid_argument);
}

TEST_CASE("real region map_request: checked against the region's bounds", "[real][memory]") {
  auto r = page_region::anon(64_KiB);
  REQUIRE(r.has_value());
  auto req = r->map_request(iova{0x100000}, 4_KiB, 8_KiB, prot::read);
  REQUIRE(req.has_value());
  CHECK(req->at == iova{0x100000});
  CHECK(req->from == r->base() + 4_KiB);
  CHECK(req->size == 8_KiB);
  CHECK(req->access == prot::read);
  CHECK(!req->vaddr_update);
  CHECK(r->map_request(iova{0}, 0_KiB, 64_KiB, prot::read_write).has_value());
  CHECK(r->map_request(iova{0}, 4_KiB, 64_KiB, prot::read_write).error() == errc::invalid_argument);
  CHECK(r->map_request(iova{0}, 0_KiB, 0_KiB, prot::read).error() == errc::invalid_argument);
  CHECK(r->map_request(iova{0}, byte_count::max(), 4_KiB, prot::read).error() ==
        errc::invalid_argument);
}

TEST_CASE("pagemap entries decode: present bit 63, PFN bits 0-54, PFN 0 hidden", "[real][pagemap]") {
  const std::uint64_t present = std::uint64_t{1} << 63;
  CHECK(real::decode_pagemap(present | 0x1234) == page_frame(0x1234));
  CHECK(!real::decode_pagemap(0x1234).has_value());               // not present
  CHECK(!real::decode_pagemap(present).has_value());              // PFN hidden
  CHECK(real::decode_pagemap(present | (std::uint64_t{0xff} << 55) | 7) == page_frame(7));
  CHECK(real::decode_pagemap(present | ((std::uint64_t{1} << 55) - 1)) ==
        page_frame((std::uint64_t{1} << 55) - 1));
}

TEST_CASE("pagemap on the host: written pages have frames, read faults share the zero page",
          "[real][pagemap]") {
  auto r = page_region::anon(64_KiB);
  REQUIRE(r.has_value());
  auto bytes = r->bytes();
  bytes[0] = std::byte{1};
  bytes[4096] = std::byte{2};
  volatile std::byte sink{};
  sink = bytes[2 * 4096];  // read faults: the zero page
  sink = bytes[3 * 4096];
  (void)sink;
  std::vector<std::optional<page_frame>> frames(5);
  REQUIRE(real::read_frames(real::linux_syscalls(), r->base(), page_count{5}, frames).has_value());
  CHECK(!frames[4].has_value());  // untouched
  if (geteuid() == 0) {
    REQUIRE(frames[0].has_value());
    REQUIRE(frames[1].has_value());
    CHECK(*frames[0] != *frames[1]);
    REQUIRE(frames[2].has_value());
    CHECK(frames[2] == frames[3]);  // both the zero page
    CHECK(*frames[0] != *frames[2]);
  }
  CHECK(*real::all_present(real::linux_syscalls(), range_of(r->base(), 16_KiB)));
  CHECK(!*real::all_present(real::linux_syscalls(), range_of(r->base(), 20_KiB)));
  CHECK(*real::all_present(real::linux_syscalls(), range_of(r->base() + 4095_B, 2_B)));
  // A too-short output span is refused.
  CHECK(real::read_frames(real::linux_syscalls(), r->base(), page_count{6}, frames).error() ==
        errc::invalid_argument);
}

TEST_CASE("vma classify on the host: anon pages, guard and gaps unmapped", "[real][vma]") {
  auto& sys = real::linux_syscalls();
  auto r = page_region::anon(1_MiB);
  REQUIRE(r.has_value());
  CHECK(*real::classify(sys, r->range()) == range_backing::pages);
  CHECK(*real::classify(sys, range_of(r->base() + 4_KiB, 4_KiB)) == range_backing::pages);
  // Into the PROT_NONE guard after the region.
  CHECK(*real::classify(sys, range_of(r->base(), 1_MiB + 4_KiB)) == range_backing::unmapped);
  CHECK(*real::classify(sys, range_of(r->base() + 1_MiB, 4_KiB)) == range_backing::unmapped);
  // A hole punched into the region: in no VMA at all.
  REQUIRE(::munmap(r->bytes().data() + 8192, 4096) == 0);
  CHECK(*real::classify(sys, range_of(r->base(), 16_KiB)) == range_backing::unmapped);
  CHECK(*real::classify(sys, range_of(r->base() + 12_KiB, 4_KiB)) == range_backing::pages);
  // A memfd region: shmem pages.
  auto m = page_region::memfd(64_KiB);
  REQUIRE(m.has_value());
  CHECK(*real::classify(sys, m->range()) == range_backing::pages);
}

TEST_CASE("smaps parsing: pf and io VmFlags, mixed ranges, malformed text", "[real][vma]") {
  const std::string text =
      "10000-12000 rw-p 00000000 00:00 0 \n"
      "Size:                  8 kB\n"
      "VmFlags: rd wr mr mw me ac \n"
      "12000-14000 rw-s 00000000 00:05 42   /dev/vfio/devices/x (deleted)\n"
      "Size:                  8 kB\n"
      "VmFlags: rd wr sh mr mw me ms io pf dd \n"
      "14000-15000 r--s 00000000 00:05 42   /dev/mem\n"
      "VmFlags: rd sh mr mw me ms io \n"
      "20000-21000 ---p 00000000 00:00 0 \n"
      "VmFlags: mr mw me \n";
  auto vmas = real::parse_smaps(text);
  REQUIRE(vmas.has_value());
  REQUIRE(vmas->size() == 4);
  CHECK((*vmas)[1].pfn_map);
  CHECK((*vmas)[1].io);
  CHECK(!(*vmas)[2].pfn_map);
  CHECK((*vmas)[2].io);
  CHECK(!(*vmas)[0].pfn_map);
  const std::span<const real::vma_info> v(*vmas);
  auto at = [](std::uint64_t a, std::uint64_t n) { return range_of(vaddr{a}, byte_count{n}); };
  CHECK(real::classify(v, at(0x10000, 0x2000)) == range_backing::pages);
  CHECK(real::classify(v, at(0x12000, 0x3000)) == range_backing::pfn_map);  // pf, then io
  CHECK(real::classify(v, at(0x11000, 0x2000)) == range_backing::mixed);
  CHECK(real::classify(v, at(0x14000, 0x2000)) == range_backing::unmapped);  // runs off the end
  CHECK(real::classify(v, at(0x20000, 0x1000)) == range_backing::unmapped);  // PROT_NONE
  CHECK(real::classify(v, at(0x0, 0x1000)) == range_backing::unmapped);
  CHECK(real::classify(v, at(0x30000, 0x1000)) == range_backing::unmapped);
  CHECK(real::classify(v, interval<vaddr>::whole()) == range_backing::unmapped);

  CHECK(real::parse_smaps("VmFlags: rd\n").error() == errc::protocol_error);
  CHECK(real::parse_smaps("zz-10 rw-p 0 0 0\n").error() == errc::protocol_error);
  CHECK(real::parse_smaps("2000-1000 rw-p 0 0 0\n").error() == errc::protocol_error);
  CHECK(real::parse_smaps("1000-2000 rw\n").error() == errc::protocol_error);
  CHECK(real::parse_smaps("1000-3000 rw-p 0\n2000-4000 rw-p 0\n").error() == errc::protocol_error);
  CHECK(real::parse_smaps("").has_value());
}
