// SPDX-License-Identifier: Apache-2.0
//
// GUP on the mock process (include/vfiopin/mock/process.hpp) against spec §2.2, §4.3 and
// §4.6 (linux-type1-semantics.md): vaddr_get_pfns (pin_user_pages_remote with
// FOLL_LONGTERM [| FOLL_WRITE], follow_fault_pfn for VM_PFNMAP), vfio's chunking into
// physically contiguous runs of one rsvd-ness, unpin_user_pages_dirty_lock, the checked
// pfn_to_page() of 6.4+, pinned pages outliving munmap, and the allocation-order knob.
#include "tests/support/catch.hpp"

#include <vfiopin/mock/memory.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <thread>
#include <unordered_set>
#include <vector>

using namespace vfiopin;
using namespace vfiopin::literals;
using vfiopin::mock::process;
using vfiopin::mock::region_kind;

static_assert(memory_backend<process>);
static_assert(page_capable_memory<process> && backing_of<process> == backing_kind::mixed);

namespace {
vaddr must_map(process& p, region_kind k, byte_count size, bool ro = false) {
  const auto va = p.map_region(k, size, ro);
  REQUIRE(va.has_value());
  return *va;
}
pfn_run must_pin(process& p, vaddr va, page_count max, prot access) {
  const auto run = p.pin_frames(va, max, access);
  REQUIRE(run.has_value());
  return *run;
}
}  // namespace

TEST_CASE("vaddr_get_pfns: EFAULT for a hole, unmapped space and a write to a ro mapping",
          "[mock][memory][gup]") {
  process p;
  const vaddr hole = must_map(p, region_kind::hole, 8_KiB);
  const vaddr ro = must_map(p, region_kind::anon, 8_KiB, true);
  const vaddr ro_memfd = must_map(p, region_kind::memfd, 8_KiB, true);
  CHECK(p.pin_frames(hole, 1_pages, prot::read) == fail(errc::bad_address));
  CHECK(p.pin_frames(vaddr(0x1000), 1_pages, prot::read) == fail(errc::bad_address));
  CHECK(p.pin_frames(ro + 8_KiB, 1_pages, prot::read) == fail(errc::bad_address));  // the gap
  CHECK(p.pin_frames(ro, 1_pages, prot::write) == fail(errc::bad_address));
  CHECK(p.pin_frames(ro_memfd, 2_pages, prot::read_write) == fail(errc::bad_address));
  CHECK(p.quiescent());
  CHECK(p.live_frames() == 0_pages);  // a refused FOLL_WRITE faulted nothing in
}

TEST_CASE("vaddr_get_pfns: an untouched anon page read-pinned is the zero page: rsvd, no pin",
          "[mock][memory][gup][zero-page]") {
  process p;
  const vaddr va = must_map(p, region_kind::anon, 16_KiB, true);  // `anon ro`: never written
  const pfn_run run = must_pin(p, va, 4_pages, prot::read);
  // is_invalid_reserved_pfn(): PageReserved; never refcounted, never charged; the zero page
  // repeats, so it is never physically contiguous with itself: a run of one.
  CHECK(run == pfn_run{pfn(mock::physmem::zero_frame), 1_pages, frame_kind::reserved_page});
  CHECK(p.pincount(run.first) == 0);
  CHECK(p.refcount(run.first) == 0);
  CHECK(p.total_pins() == 0);
  CHECK(p.locked_vm() == 0_pages);
  const pfn_run next = must_pin(p, va + 4_KiB, 3_pages, prot::read);
  CHECK(next.first == run.first);
  CHECK(next.count == 1_pages);
  p.unpin_frames(run, prot::read);  // a no-op, as put_pfn is for rsvd pfns
  CHECK(p.quiescent());
  // Linux 6.4+ returns reserved but valid pages to vfio_pin_pages callers.
  const auto h = p.page_of(run.first);
  REQUIRE(h.has_value());
  CHECK(h->bytes()[0] == std::byte{0});
}

TEST_CASE("vaddr_get_pfns: FOLL_WRITE allocates, pages faulted in order are one contiguous run",
          "[mock][memory][gup]") {
  process p;
  const vaddr va = must_map(p, region_kind::anon, 64_KiB);
  const pfn_run run = must_pin(p, va, 16_pages, prot::read_write);
  CHECK(run.kind == frame_kind::page);
  CHECK(run.count == 16_pages);
  for (std::uint64_t i = 0; i < 16; ++i) {
    const pfn f = run.first + page_count(i);
    CHECK(p.frame_of(va + bytes_in(page_count(i))) == f);
    CHECK(p.pincount(f) == 1);
    CHECK(p.refcount(f) == 2);  // its anon mapping + the pin
  }
  CHECK(p.pinned_frames() == 16_pages);
  CHECK(p.total_pins() == 16);
  // Pinning again takes a second pin on the same frames.
  const pfn_run again = must_pin(p, va, 16_pages, prot::read);
  CHECK(again == run);
  CHECK(p.pincount(run.first) == 2);
  CHECK(p.pinned_frames() == 16_pages);
  p.unpin_frames(again, prot::read);
  p.unpin_frames(run, prot::read_write);
  CHECK(p.quiescent());
  CHECK(p.pinned_frames() == 0_pages);
  CHECK(p.refcount(run.first) == 1);
}

TEST_CASE("vaddr_get_pfns: a FOLL_WRITE pin COWs a zero-page mapping", "[mock][memory][gup]") {
  process p;
  const vaddr va = must_map(p, region_kind::anon, 8_KiB);
  const pfn_run ro_run = must_pin(p, va, 1_pages, prot::read);
  CHECK(ro_run.kind == frame_kind::reserved_page);
  const pfn_run rw_run = must_pin(p, va, 1_pages, prot::write);
  CHECK(rw_run.kind == frame_kind::page);
  CHECK(rw_run.first != ro_run.first);
  CHECK(p.frame_of(va) == rw_run.first);
  p.unpin_frames(rw_run, prot::write);
  CHECK(p.quiescent());
}

TEST_CASE("vfio_pin_pages_remote chunking: a run stops at max, at the region end, at a "
          "discontinuity and at a change of rsvd-ness",
          "[mock][memory][gup]") {
  process p;
  const vaddr a = must_map(p, region_kind::anon, 40_KiB);
  // Touch pages 2 and 5 first: they get frames F and F+1, out of address order.
  REQUIRE(p.write(a + 8_KiB, std::vector<std::byte>(1)).has_value());
  REQUIRE(p.write(a + 20_KiB, std::vector<std::byte>(1)).has_value());
  const pfn_run r0 = must_pin(p, a, 8_pages, prot::write);  // pages 0,1 new; page 2 is F
  CHECK(r0.count == 2_pages);
  const pfn_run r1 = must_pin(p, a + 8_KiB, 1_pages, prot::write);  // max
  CHECK(r1.count == 1_pages);
  const pfn_run r2 = must_pin(p, a + 32_KiB, 100_pages, prot::write);  // region end
  CHECK(r2.count == 2_pages);
  // A present page followed by an untouched one, read: that one would be the zero page,
  // so the run ends, and the untouched page is not faulted in.
  const pfn_run r3 = must_pin(p, a + 20_KiB, 2_pages, prot::read);
  CHECK(r3.count == 1_pages);
  CHECK(r3.kind == frame_kind::page);
  CHECK_FALSE(p.frame_of(a + 24_KiB).has_value());
  for (const auto& r : {r0, r1, r2, r3}) p.unpin_frames(r, prot::read);
  CHECK(p.quiescent());
}

TEST_CASE("follow_fault_pfn: a bar pin gives no_page frames, takes no reference, page_of "
          "refuses them (vfio_iommu_type1_pin_pages 6.4+: !pfn_valid)",
          "[mock][memory][gup][bar]") {
  process p;
  const vaddr b = must_map(p, region_kind::bar, 64_KiB);
  const vaddr bro = must_map(p, region_kind::bar, 64_KiB, true);
  const pfn_run run = must_pin(p, b + 4_KiB, 8_pages, prot::read_write);
  CHECK(run == pfn_run{pfn(mock::physmem::mmio_first_frame + 1), 8_pages, frame_kind::no_page});
  CHECK(p.total_pins() == 0);
  CHECK(p.frame_at(run.first) == mock::frame_info{frame_kind::no_page, 0, 0, false, false});
  CHECK(p.page_of(run.first) == fail(errc::not_page_backed));
  const pfn_run tail = must_pin(p, b + 60_KiB, 8_pages, prot::read);
  CHECK(tail.count == 1_pages);  // never past the mapping
  // Write requested on a read-only PFNMAP PTE: EFAULT.
  CHECK(p.pin_frames(bro, 1_pages, prot::write) == fail(errc::bad_address));
  CHECK(p.pin_frames(bro, 1_pages, prot::read).has_value());
  p.unpin_frames(run, prot::read_write);  // no-op
  CHECK(p.quiescent());
  CHECK(p.frame_bytes(run.first).size() == page_bytes);  // devices reach MMIO by pfn
}

TEST_CASE("pfn_to_page (checked): RAM page handles show the page's bytes and identity",
          "[mock][memory][gup][page_of]") {
  process p;
  const vaddr va = must_map(p, region_kind::memfd, 8_KiB);
  const std::vector<std::byte> data{std::byte{1}, std::byte{2}, std::byte{3}};
  REQUIRE(p.write(va + 4_KiB - 1_B, data).has_value());  // faults page 0, then page 1
  const pfn_run run = must_pin(p, va, 2_pages, prot::read);
  REQUIRE(run.count == 2_pages);
  const auto h0 = p.page_of(run.first);
  const auto h1 = p.page_of(run.first + 1_pages);
  REQUIRE((h0 && h1));
  CHECK(h0->bytes()[page_bytes - 1] == std::byte{1});
  CHECK(h1->bytes()[1] == std::byte{3});
  CHECK(h1->frame() == page_frame(run.first.value() + 1));
  CHECK(h0->issuer() == &p);
  CHECK(h0->page_id() != h1->page_id());
  CHECK(*p.page_of(run.first) == *h0);
  // Consumers write through the handle; the process sees it.
  h0->bytes()[0] = std::byte{0x5a};
  std::vector<std::byte> back(1);
  REQUIRE(p.read(va, back).has_value());
  CHECK(back[0] == std::byte{0x5a});
  // Frame numbers with nothing behind them.
  CHECK(p.page_of(pfn(0)) == fail(errc::not_page_backed));
  CHECK(p.page_of(run.first + 1000_pages) == fail(errc::not_page_backed));
  CHECK(p.frame_bytes(pfn(0)).empty());
  p.unpin_frames(run, prot::read);
}

TEST_CASE("unpin_user_pages_dirty_lock: an unpin with write dirties, a read unpin does not",
          "[mock][memory][gup]") {
  process p;
  const vaddr va = must_map(p, region_kind::anon, 8_KiB);
  const pfn_run run = must_pin(p, va, 2_pages, prot::read_write);
  const pfn_run r2 = must_pin(p, va, 1_pages, prot::read_write);
  p.unpin_frames(r2, prot::read);
  CHECK_FALSE(p.frame_at(run.first)->dirty);
  p.unpin_frames(pfn_run{run.first, 1_pages, frame_kind::page}, prot::write);  // part of a run
  p.unpin_frames(pfn_run{run.first + 1_pages, 1_pages, frame_kind::page}, prot::read);
  CHECK(p.frame_at(run.first)->dirty);
  CHECK_FALSE(p.frame_at(run.first + 1_pages)->dirty);
  CHECK(p.quiescent());
}

TEST_CASE("a memfd page pinned through two mappings holds two pins on one frame",
          "[mock][memory][gup][memfd]") {
  process p;
  const vaddr m = must_map(p, region_kind::memfd, 8_KiB);
  const auto alias = p.map_alias(m, false);
  REQUIRE(alias.has_value());
  const pfn_run r1 = must_pin(p, m, 1_pages, prot::read);  // shmem: a read fault allocates
  const pfn_run r2 = must_pin(p, *alias, 1_pages, prot::write);
  CHECK(r1.kind == frame_kind::page);
  CHECK(r1.first == r2.first);
  CHECK(p.pincount(r1.first) == 2);
  CHECK(p.pinned_frames() == 1_pages);
  p.unpin_frames(r1, prot::read);
  p.unpin_frames(r2, prot::write);
  CHECK(p.quiescent());
}

TEST_CASE("munmap of pinned memory: the pages outlive the VMA until the last unpin",
          "[mock][memory][gup][munmap]") {
  for (const auto k : {region_kind::anon, region_kind::memfd, region_kind::hugetlb}) {
    process p;
    const vaddr va = must_map(p, k, 2_MiB);
    const std::vector<std::byte> data{std::byte{0x42}};
    REQUIRE(p.write(va + 4_KiB, data).has_value());
    const pfn_run run = must_pin(p, va + 4_KiB, 1_pages, prot::read);
    const auto h = p.page_of(run.first);
    REQUIRE(h.has_value());
    p.unmap_region(va);
    CHECK_FALSE(p.region_at(va).has_value());
    CHECK(p.pin_frames(va + 4_KiB, 1_pages, prot::read) == fail(errc::bad_address));
    // Only the pinned frame is left, orphaned; its bytes are intact and still reachable.
    CHECK(p.live_frames() == 1_pages);
    CHECK(p.frame_at(run.first) == mock::frame_info{frame_kind::page, 1, 1, false, true});
    CHECK(h->bytes()[0] == std::byte{0x42});
    CHECK(p.page_of(run.first).has_value());
    p.unpin_frames(run, prot::read);
    CHECK(p.live_frames() == 0_pages);
    CHECK_FALSE(p.frame_at(run.first).has_value());
    CHECK(p.page_of(run.first) == fail(errc::not_page_backed));  // freed: no page any more
    CHECK(p.quiescent());
  }
}

TEST_CASE("physmem allocation order: sequential faults are contiguous, scatter breaks every "
          "run (GVT-g's 512-page 2 MiB check)",
          "[mock][memory][gup][scatter]") {
  process p;
  const vaddr a = must_map(p, region_kind::anon, 4_MiB);
  const pfn_run run = must_pin(p, a, 512_pages, prot::write);
  CHECK(run.count == 512_pages);
  p.unpin_frames(run, prot::write);
  p.set_scatter(true);
  CHECK(p.physical_memory().scatter());
  const vaddr b = a + 2_MiB;
  std::unordered_set<std::uint64_t> frames;
  for (std::uint64_t i = 0; i < 512; ++i) {
    const vaddr at = b + bytes_in(page_count(i));
    const pfn_run r = must_pin(p, at, 512_pages - page_count(i), prot::write);
    CHECK(r.count == 1_pages);
    frames.insert(r.first.value());
    p.unpin_frames(r, prot::write);
  }
  CHECK(frames.size() == 512);
  CHECK(p.quiescent());
}

TEST_CASE("hugetlb: 2 MiB aligned blocks of 512 frames, consecutive huge pages are contiguous "
          "unless scattered",
          "[mock][memory][gup][hugetlb]") {
  process p;
  const vaddr h = must_map(p, region_kind::hugetlb, 4_MiB);
  const pfn_run run = must_pin(p, h, 1024_pages, prot::read);  // hugetlb read faults allocate
  CHECK(run.kind == frame_kind::page);
  CHECK(run.first.value() % 512 == 0);
  CHECK(run.count == 1024_pages);
  p.unpin_frames(run, prot::read);
  p.set_scatter(true);
  const vaddr s = must_map(p, region_kind::hugetlb, 4_MiB);
  const pfn_run r1 = must_pin(p, s + 4_KiB, 1024_pages, prot::write);
  CHECK(r1.count == 511_pages);  // to the end of the first huge page
  const pfn_run r2 = must_pin(p, s + 2_MiB, 512_pages, prot::write);
  CHECK(r2.count == 512_pages);
  CHECK(r2.first.value() % 512 == 0);
  CHECK(r2.first != r1.first + 511_pages);
  p.unpin_frames(r1, prot::write);
  p.unpin_frames(r2, prot::write);
  CHECK(p.quiescent());
}

TEST_CASE("a 1 GiB region costs nothing until touched", "[mock][memory][region]") {
  process p;
  const vaddr va = must_map(p, region_kind::anon, 1_GiB);
  const vaddr last = va + 1_GiB - 4_KiB;
  const pfn_run run = must_pin(p, last, 1_pages, prot::write);
  CHECK(p.live_frames() == 1_pages);
  p.unpin_frames(run, prot::write);
  p.unmap_region(va);
  CHECK(p.live_frames() == 0_pages);
}

TEST_CASE("a consumer thread uses pinned page bytes while the owner keeps faulting and "
          "pinning (the bytes never move)",
          "[mock][memory][threads]") {
  process p;
  const vaddr va = must_map(p, region_kind::memfd, 4_KiB);
  const pfn_run run = must_pin(p, va, 1_pages, prot::read_write);
  const auto h = p.page_of(run.first);
  REQUIRE(h.has_value());
  const page_handle handle = *h;
  std::thread consumer([handle] {
    for (std::size_t i = 0; i < page_bytes; ++i) handle.bytes()[i] = std::byte(i % 256);
  });
  // Meanwhile (the type1 lock would be held here): grow the frame table and object table.
  for (int i = 0; i < 64; ++i) {
    const vaddr m = must_map(p, region_kind::anon, 256_KiB);
    const pfn_run r = must_pin(p, m, 64_pages, prot::write);
    p.unpin_frames(r, prot::write);
    p.unmap_region(m);
  }
  consumer.join();
  std::vector<std::byte> back(page_bytes);
  REQUIRE(p.read(va, back).has_value());
  CHECK(back[255] == std::byte{255});
  CHECK(back[256] == std::byte{0});
  p.unpin_frames(run, prot::read_write);
  CHECK(p.quiescent());
}

TEST_CASE("vaddr_get_pfns: with the 6.2+ unshare a read pin of an untouched anon page gets a page",
          "[mock][memory][gup][zero-page]") {
  // Linux 6.2+ ("mm/gup: reliable R/O long-term pinning in COW mappings"): FOLL_LONGTERM read
  // pins of a private page mapped to the zero page unshare it. Seen on the test bed: Debian
  // 6.12 charges read-only maps of never-written anonymous memory (zero_page_6_12.vfs).
  process p;
  const vaddr va = must_map(p, region_kind::anon, 16_KiB, true);
  auto run = p.pin_frames(va, 4_pages, prot::read, gup_options{.unshare_zero_page = true});
  REQUIRE(run.has_value());
  CHECK(run->kind == frame_kind::page);
  CHECK(run->first != pfn(mock::physmem::zero_frame));
  CHECK(p.total_pins() == run->count.value());
  // The new page now backs the vaddr: a later plain read pin finds it, not the zero page.
  auto again = p.pin_frames(va, 1_pages, prot::read);
  REQUIRE(again.has_value());
  CHECK(again->first == run->first);
  CHECK(again->kind == frame_kind::page);
  const auto h = p.page_of(run->first);
  REQUIRE(h.has_value());
  CHECK(h->bytes()[0] == std::byte{0});  // zero-filled, like the page it replaced
  p.unpin_frames(*again, prot::read);
  p.unpin_frames(*run, prot::read);
  CHECK(p.total_pins() == 0);
}

TEST_CASE("page bytes come at the first access: pages faulted in only for pins read zero, "
          "orphans too, whatever the heap held before",
          "[mock][memory][gup][page_of]") {
  const auto all_zero = [](std::span<const std::byte> b) {
    return std::all_of(b.begin(), b.end(), [](std::byte x) { return x == std::byte{0}; });
  };
  process p;
  // Leave non-zero bytes behind in memory the next objects may reuse. Under ASan (the
  // asan preset runs this too) every fresh heap block starts with 4 KiB of 0xbe, so a
  // page 0 that nobody zeroed fails there whatever the heap reuses.
  for (int i = 0; i < 4; ++i) {
    const vaddr dirty = must_map(p, region_kind::memfd, 16_KiB);
    REQUIRE(p.write(dirty, std::vector<std::byte>(16 * 1024, std::byte{0xa5})).has_value());
    p.unmap_region(dirty);
  }
  for (const auto k : {region_kind::anon, region_kind::memfd}) {
    const vaddr va = must_map(p, k, 16_KiB);
    // A write pin faults every page in; nothing has asked for the bytes yet.
    const pfn_run run = must_pin(p, va, 4_pages, prot::read_write);
    REQUIRE(run.count == 4_pages);
    for (std::uint64_t i = 0; i < 4; ++i) {
      const auto h = p.page_of(run.first + page_count(i));
      REQUIRE(h.has_value());
      CHECK(all_zero(h->bytes()));
    }
    // From now on the bytes are the object's: a CPU store shows through the handle.
    const std::vector<std::byte> data{std::byte{7}};
    REQUIRE(p.write(va + 8_KiB, data).has_value());
    CHECK(p.page_of(run.first + 2_pages)->bytes()[0] == std::byte{7});
    p.unpin_frames(run, prot::read_write);
    p.unmap_region(va);
    // An orphan whose object never had bytes: the first ask after munmap reads zero.
    const vaddr vb = must_map(p, k, 16_KiB);
    const pfn_run one = must_pin(p, vb, 1_pages, prot::read_write);
    p.unmap_region(vb);
    CHECK(all_zero(p.frame_bytes(one.first)));
    const auto h = p.page_of(one.first);
    REQUIRE(h.has_value());
    CHECK(all_zero(h->bytes()));
    p.unpin_frames(one, prot::read_write);
  }
  CHECK(p.quiescent());
}
