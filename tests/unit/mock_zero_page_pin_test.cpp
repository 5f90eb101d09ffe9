// SPDX-License-Identifier: Apache-2.0
//
// Pins on the shared zero page (spec §2.2 "Zero page", §10 item 4; kernel: "vfio/type1:
// Unpin zero pages", 873aefb376bb). Before Linux 6.9 pin_user_pages_remote() takes a pin
// on the zero page like on any page, while type1 treats the zero page as rsvd
// (is_invalid_reserved_pfn), so put_pfn() never releases it: 6.0-6.8 unpin it in
// vaddr_get_pfns() at once, and before 6.0 each read-only map of untouched memory leaked
// one. The mock must count that pin (total_pins, quiescent, invariant 13), per process.
// (That 6.0-6.8 maps leave no zero-page pin: mock_type1_map_test.cpp, "read-only untouched
// anon memory maps the zero page", whose total_pins() now counts zero-page pins.)
#include "tests/unit/mock_type1_fixture.hpp"

#include <vfiopin/mock/invariants.hpp>

#include <string>

using namespace vfiopin;
using namespace vfiopin::literals;
using namespace vfiopin::mock;
using namespace vfiopin::mock::testing;

namespace {
constexpr gup_options pre_6_9{.unshare_zero_page = false, .pin_zero_page = true};
}  // namespace

TEST_CASE("pin_user_pages before 6.9: a zero-page pin is held until unpinned, put_pfn keeps it",
          "[mock][memory][gup][zero-page]") {
  process p;
  const auto va = p.map_region(region_kind::anon, 16_KiB, true);  // never written
  REQUIRE(va.has_value());
  const auto run = p.pin_frames(*va, 4_pages, prot::read, pre_6_9);
  REQUIRE(run.has_value());
  REQUIRE(run->kind == frame_kind::reserved_page);
  REQUIRE(run->first == pfn(physmem::zero_frame));
  // One pin taken: the process is not quiescent.
  CHECK(p.total_pins() == 1);
  CHECK(p.pincount(run->first) == 1);
  CHECK_FALSE(p.quiescent());
  // A second read pin of another untouched page is the zero page again: a second pin.
  const auto again = p.pin_frames(*va + 4_KiB, 1_pages, prot::read, pre_6_9);
  REQUIRE(again.has_value());
  CHECK(again->first == run->first);
  CHECK(p.total_pins() == 2);
  // put_pfn() of an rsvd pfn releases nothing: the leak "vfio/type1: Unpin zero pages" fixed.
  p.unpin_frames(*run, prot::read);
  CHECK(p.total_pins() == 2);
  // unpin_user_page() of the zero page releases it.
  p.unpin_zero_page();
  p.unpin_zero_page();
  CHECK(p.total_pins() == 0);
  CHECK(p.pincount(run->first) == 0);
  CHECK(p.quiescent());
  // No charge for the zero page, ever.
  CHECK(p.locked_vm() == 0_pages);
}

TEST_CASE("pin_user_pages 6.9+: FOLL_LONGTERM takes no pin on the zero page",
          "[mock][memory][gup][zero-page]") {
  process p;
  const auto va = p.map_region(region_kind::anon, 16_KiB, true);
  REQUIRE(va.has_value());
  const auto run = p.pin_frames(*va, 4_pages, prot::read, gup_options{});
  REQUIRE(run.has_value());
  CHECK(run->kind == frame_kind::reserved_page);
  CHECK(p.total_pins() == 0);
  CHECK(p.quiescent());
}

TEST_CASE("zero-page pins are counted per process (one mm's pins), not program-wide",
          "[mock][memory][gup][zero-page]") {
  process a;
  process b;
  const auto va = a.map_region(region_kind::anon, 4_KiB, true);
  REQUIRE(va.has_value());
  REQUIRE(a.pin_frames(*va, 1_pages, prot::read, pre_6_9).has_value());
  CHECK(a.total_pins() == 1);
  CHECK(b.total_pins() == 0);
  CHECK(b.quiescent());
  CHECK(b.pincount(pfn(physmem::zero_frame)) == 0);
  a.unpin_zero_page();
  CHECK(a.quiescent());
}

TEST_CASE("invariant 13 sees a zero-page pin the container does not account for",
          "[mock][type1][invariants][zero-page]") {
  fixture f(iommu_type::type1v2, debian_6_1);
  REQUIRE(f.t.attach_group(group_id{0}));
  const vaddr ro = f.mem(region_kind::anon, 16 * KiB, true);
  REQUIRE(f.map(0x100000, ro, 16 * KiB, prot::read));
  CHECK(check_exclusive_process(f.t).empty());
  // A GUP of the zero page whose pin nobody drops: what a pre-6.0 kernel's map left behind.
  REQUIRE(f.proc.pin_frames(ro, 1_pages, prot::read, pre_6_9).has_value());
  const auto lines = check_exclusive_process(f.t);
  REQUIRE(lines.size() == 1);
  CHECK(lines.front().rfind("13: process pins 1 != container pins 0", 0) == 0);
  f.proc.unpin_zero_page();
  f.ok();
}
