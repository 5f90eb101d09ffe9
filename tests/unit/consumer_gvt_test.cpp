// SPDX-License-Identifier: Apache-2.0
//
// consumer_gvt_test: the GVT-g style shadow GTT (include/vfiopin/consumers/gvt.hpp) on the
// mock. Expectations come from kvmgt.c as spec §8.1 and §10 item 13 describe it:
// gvt_pin_guest_page pins one page per call; page k of a 2 MiB entry must be frame(0) + k;
// on failure it unpins npage pages in one call (npage counts the non-contiguous page
// itself, and is 0, with no call, when the first pin fails); intel_vgpu_dma_unmap drops
// every gfn of the notified range.

#include "tests/support/catch.hpp"
#include "tests/unit/consumer_fixture.hpp"

#include <vfiopin/consumers/gvt.hpp>

#include <array>
#include <cstring>
#include <vector>

using namespace vfiopin;
using namespace vfiopin::literals;
using vfiopin::test::pin_call;
using vfiopin::test::recording_backend;
using gpu = consumers::gvt<recording_backend, mock::process>;

static_assert(consumer<gpu>);
static_assert(!std::is_copy_constructible_v<gpu> && !std::is_move_constructible_v<gpu>);
static_assert(consumers::pages_of(consumers::gtt_page::size_2m) == page_count(512));

namespace {

constexpr std::uint64_t MiB = 1 << 20;

struct bed {
  mock::process proc;
  container<recording_backend> c{std::in_place, proc};
  std::unique_ptr<gpu> g;
  recording_backend& b = c.backend();

  explicit bed(std::size_t entries = 8) {
    auto r = gpu::open(c, entries);
    REQUIRE(r);
    g = std::move(*r);
  }
  /// A region of `kind`, its pages written in the given order (page index list), mapped at `at`.
  vaddr region(mock::region_kind kind, std::uint64_t size, const std::vector<std::uint64_t>& touch) {
    auto va = proc.map_region(kind, byte_count(size), false);
    REQUIRE(va);
    for (const std::uint64_t p : touch) {
      const std::array<std::byte, 1> b1{std::byte(static_cast<unsigned char>(p))};
      REQUIRE(proc.write(*va + byte_count(p * page_bytes), b1));
    }
    return *va;
  }
  mapping<recording_backend> map(std::uint64_t at, vaddr va, std::uint64_t size) {
    auto m = c.map(iova(at), va, byte_count(size), prot::read_write);
    REQUIRE(m);
    return std::move(*m);
  }
};

std::vector<std::uint64_t> in_order(std::uint64_t n) {
  std::vector<std::uint64_t> v(n);
  for (std::uint64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

}  // namespace

TEST_CASE("gvt: a 4 KiB entry pins its page and the GPU sees the guest's bytes", "[consumer][gvt]") {
  bed t;
  const vaddr va = t.region(mock::region_kind::memfd, 64 * 1024, {});
  const std::array<std::byte, 3> hi{std::byte{'g'}, std::byte{'p'}, std::byte{'u'}};
  REQUIRE(t.proc.write(va + 0x3010_B, hi));
  auto m = t.map(0x100000, va, 64 * 1024);
  REQUIRE(t.g->write_entry(2, {0x103, consumers::gtt_page::size_4k}));
  CHECK(t.b.pins == std::vector<pin_call>{{0x103000, 1, true}});
  CHECK(t.proc.total_pins() == 1);
  CHECK(t.g->pinned_pages() == page_count(1));
  const auto view = t.g->gpu_view(2, 0x10_B);
  REQUIRE(view.size() == page_bytes - 0x10);
  CHECK(std::memcmp(view.data(), hi.data(), hi.size()) == 0);
  view[3] = std::byte{'!'};  // the GPU writes through the shadow entry
  std::array<std::byte, 1> back{};
  REQUIRE(t.proc.read(va + 0x3013_B, back));
  CHECK(back[0] == std::byte{'!'});
  const auto s = t.g->shadow(2);
  REQUIRE(s);
  CHECK(s->range == interval<iova>::from(iova(0x103000), 4_KiB));
  CHECK(t.g->gpu_view(2, 4_KiB).empty());  // past the entry
  CHECK(t.g->gpu_view(3, 0_B).empty());    // an invalid entry
  t.g->invalidate(2);
  CHECK(t.b.unpins == std::vector<pin_call>{{0x103000, 1, true}});
  CHECK(!t.g->shadow(2));
  CHECK(t.proc.quiescent());
}

TEST_CASE("gvt: a 2 MiB entry over contiguous memory pins 512 pages, one call each",
          "[consumer][gvt]") {
  bed t;
  const vaddr va = t.region(mock::region_kind::hugetlb, 2 * MiB, {0, 511});
  auto m = t.map(0x200000, va, 2 * MiB);
  REQUIRE(t.g->write_entry(0, {0x200, consumers::gtt_page::size_2m}));
  REQUIRE(t.b.pins.size() == 512);
  for (std::uint64_t k = 0; k < 512; ++k) CHECK(t.b.pins[k] == pin_call{0x200000 + k * page_bytes, 1, true});
  CHECK(t.proc.total_pins() == 512);
  CHECK(t.g->pinned_pages() == page_count(512));
  const auto s = t.g->shadow(0);
  REQUIRE(s);
  CHECK(s->range == interval<iova>::from(iova(0x200000), 2_MiB));
  REQUIRE(s->first.frame());
  // The first page's frame is what the process maps at the region's start.
  CHECK(s->first.frame()->number() == t.proc.frame_of(va)->value());
  std::array<std::byte, 1> last{};
  REQUIRE(t.proc.read(va + byte_count(511 * page_bytes), last));
  CHECK(t.g->gpu_view(0, byte_count(511 * page_bytes))[0] == last[0]);
  t.b.forget();
  t.g->invalidate(0);
  CHECK(t.b.unpins == std::vector<pin_call>{{0x200000, 512, true}});  // one call
  CHECK(t.proc.quiescent());
  CHECK(t.proc.locked_vm() == page_count(0));
}

TEST_CASE("gvt: a 2 MiB entry that is not contiguous at page k unpins exactly k + 1 pages",
          "[consumer][gvt]") {
  for (const std::uint64_t k : {1ULL, 7ULL, 256ULL, 511ULL}) {
    bed t;
    // Page k is faulted first, so it gets a frame below page 0's: pages 0..k-1 are
    // contiguous, page k is not.
    std::vector<std::uint64_t> order{k};
    for (std::uint64_t i = 0; i < 512; ++i)
      if (i != k) order.push_back(i);
    const vaddr va = t.region(mock::region_kind::anon, 2 * MiB, order);
    auto m = t.map(0x400000, va, 2 * MiB);
    const auto r = t.g->write_entry(1, {0x400, consumers::gtt_page::size_2m});
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::invalid_argument);
    CHECK(t.b.pins.size() == k + 1);
    CHECK(t.b.unpins == std::vector<pin_call>{{0x400000, k + 1, true}});
    CHECK(t.proc.quiescent());
    CHECK(t.proc.locked_vm() == page_count(0));
    CHECK(!t.g->shadow(1));
    CHECK(t.b.inner().warnings().empty());
  }
}

TEST_CASE("gvt: scattered memory fails a 2 MiB entry at its second page, a 4 KiB entry works",
          "[consumer][gvt]") {
  bed t;
  t.proc.set_scatter(true);
  const vaddr va = t.region(mock::region_kind::anon, 2 * MiB, in_order(512));
  auto m = t.map(0x400000, va, 2 * MiB);
  CHECK(t.g->write_entry(0, {0x400, consumers::gtt_page::size_2m}).error() == errc::invalid_argument);
  CHECK(t.b.unpins == std::vector<pin_call>{{0x400000, 2, true}});
  CHECK(t.proc.quiescent());
  // GVT-g's fallback: split into 4 KiB entries.
  for (std::size_t i = 0; i < 4; ++i)
    REQUIRE(t.g->write_entry(i, {0x400 + i, consumers::gtt_page::size_4k}));
  CHECK(t.proc.total_pins() == 4);
}

TEST_CASE("gvt: a pin that fails at the first page unpins nothing, at page k the k before it",
          "[consumer][gvt]") {
  bed t;
  SECTION("nothing mapped: the first pin fails, no unpin call at all") {
    const auto r = t.g->write_entry(0, {0x800, consumers::gtt_page::size_2m});
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::invalid_argument);  // vfio_find_dma finds nothing: EINVAL
    CHECK(t.b.pins == std::vector<pin_call>{{0x800000, 1, false}});
    CHECK(t.b.unpins.empty());
    CHECK(t.b.inner().warnings().empty());  // no WARN for an empty unpin
  }
  SECTION("a mapping of 3 pages: the 4th pin fails, 3 pages are unpinned in one call") {
    const vaddr va = t.region(mock::region_kind::anon, 2 * MiB, in_order(4));
    auto m = t.map(0x800000, va, 3 * page_bytes);
    CHECK(t.g->write_entry(0, {0x800, consumers::gtt_page::size_2m}).error() == errc::invalid_argument);
    CHECK(t.b.pins.size() == 4);
    CHECK(!t.b.pins.back().ok);
    CHECK(t.b.unpins == std::vector<pin_call>{{0x800000, 3, true}});
    CHECK(t.proc.quiescent());
  }
  SECTION("a read-only mapping: GVT-g pins read and write, EPERM, nothing unpinned") {
    const vaddr va = t.region(mock::region_kind::anon, 64 * 1024, in_order(1));
    auto m = t.c.map(iova(0x800000), va, 64_KiB, prot::read);
    REQUIRE(m);
    CHECK(t.g->write_entry(0, {0x800, consumers::gtt_page::size_4k}).error() == errc::not_permitted);
    CHECK(t.b.unpins.empty());
  }
}

TEST_CASE("gvt: a BAR page in a mixed address space never becomes a shadow entry",
          "[consumer][gvt]") {
  bed t;
  const auto bar = t.proc.map_region(mock::region_kind::bar, 64_KiB, false);
  REQUIRE(bar);
  auto m = t.map(0xfe000000, *bar, 64 * 1024);  // DMA mapping of a BAR works (peer to peer)
  const auto r = t.g->write_entry(0, {0xfe000, consumers::gtt_page::size_4k});
  REQUIRE_FALSE(r);
  // The kernel model (debian-6.1, with the 6.4 fix backported) refuses with EINVAL.
  CHECK(r.error() == errc::invalid_argument);
  CHECK(t.b.unpins.empty());
  CHECK(!t.g->shadow(0));
}

TEST_CASE("gvt: the unmap notification drops every entry overlapping the whole mapping",
          "[consumer][gvt]") {
  bed t;
  const vaddr va = t.region(mock::region_kind::anon, 4 * MiB, in_order(1024));
  std::vector<mapping<recording_backend>> m;  // a, b, c, d: 1 MiB each from 0x400000
  for (std::uint64_t i = 0; i < 4; ++i) m.push_back(t.map(0x400000 + i * MiB, va + byte_count(i * MiB), MiB));
  REQUIRE(t.g->write_entry(0, {0x400, consumers::gtt_page::size_2m}));  // half in a, half in b
  REQUIRE(t.g->write_entry(1, {0x600, consumers::gtt_page::size_4k}));  // first page of c
  REQUIRE(t.g->write_entry(2, {0x6ff, consumers::gtt_page::size_4k}));  // last page of c
  REQUIRE(t.g->write_entry(3, {0x700, consumers::gtt_page::size_4k}));  // first page of d
  REQUIRE(t.proc.total_pins() == 515);
  t.b.forget();
  REQUIRE(m[2].unmap());  // c: the entries in it go, the neighbours on both sides stay
  CHECK(t.g->notifications() >= 1);
  CHECK(t.g->shadow(0));
  CHECK(!t.g->shadow(1));
  CHECK(!t.g->shadow(2));
  CHECK(t.g->shadow(3));
  CHECK(t.b.unpins == std::vector<pin_call>{{0x600000, 1, true}, {0x6ff000, 1, true}});
  CHECK(t.proc.total_pins() == 513);
  SECTION("unmapping b, which holds only the second half of the 2 MiB entry, drops all of it") {
    t.b.forget();
    REQUIRE(m[1].unmap());
    CHECK(!t.g->shadow(0));
    CHECK(t.b.unpins == std::vector<pin_call>{{0x400000, 512, true}});
    CHECK(t.proc.total_pins() == 1);
  }
  SECTION("a notified range of one byte inside an entry drops the entry") {
    t.g->on_dma_unmap(*interval<iova>::from(iova(0x700abc), 1_B));
    CHECK(!t.g->shadow(3));
    CHECK(t.g->shadow(0));
    CHECK(t.proc.total_pins() == 512);
  }
  SECTION("a range that ends just before an entry, or starts just after it, leaves it") {
    t.g->on_dma_unmap(*interval<iova>::from_bounds(iova(0), iova(0x3fffff)));
    t.g->on_dma_unmap(*interval<iova>::from_bounds(iova(0x701000), iova(0x7fffff)));
    CHECK(t.g->shadow(0));
    CHECK(t.g->shadow(3));
    CHECK(t.proc.total_pins() == 513);
  }
}

TEST_CASE("gvt: rewriting an entry unpins the old page, and bad input pins nothing", "[consumer][gvt]") {
  bed t(4);
  const vaddr va = t.region(mock::region_kind::anon, 64 * 1024, in_order(16));
  auto m = t.map(0x100000, va, 64 * 1024);
  REQUIRE(t.g->write_entry(0, {0x100, consumers::gtt_page::size_4k}));
  REQUIRE(t.g->write_entry(0, {0x101, consumers::gtt_page::size_4k}));
  CHECK(t.b.unpins == std::vector<pin_call>{{0x100000, 1, true}});
  CHECK(t.proc.total_pins() == 1);
  CHECK(t.g->shadow(0)->guest.gfn == 0x101);
  t.b.forget();
  CHECK(t.g->write_entry(4, {0x100, consumers::gtt_page::size_4k}).error() == errc::invalid_argument);
  CHECK(t.g->write_entry(1, {0x101, consumers::gtt_page::size_2m}).error() == errc::invalid_argument);
  const std::uint64_t last_gfn = ~std::uint64_t{0} >> page_shift;
  CHECK(t.g->write_entry(1, {last_gfn + 1, consumers::gtt_page::size_4k}).error() ==
        errc::invalid_argument);
  CHECK(t.g->write_entry(1, {last_gfn - 255, consumers::gtt_page::size_2m}).error() ==
        errc::invalid_argument);  // its 512 pages would pass 2^64 - 1
  CHECK(t.b.pins.empty());
  t.g->invalidate(99);  // no-op
  CHECK(t.proc.total_pins() == 1);
}

TEST_CASE("gvt: destroying the table unpins every entry and unregisters", "[consumer][gvt]") {
  bed t;
  const vaddr va = t.region(mock::region_kind::hugetlb, 4 * MiB, {});
  auto m = t.map(0x200000, va, 4 * MiB);
  REQUIRE(t.g->write_entry(0, {0x200, consumers::gtt_page::size_2m}));
  REQUIRE(t.g->write_entry(1, {0x400, consumers::gtt_page::size_4k}));
  CHECK(t.proc.total_pins() == 513);
  t.g.reset();
  CHECK(t.proc.quiescent());
  CHECK(t.proc.locked_vm() == page_count(0));
  CHECK(t.b.inner().warnings().empty());
}
