// SPDX-License-Identifier: Apache-2.0
//
// The self-check itself (mock/invariants.hpp) must fail when the state is wrong: pins
// taken or dropped behind the container's back are the one corruption a test can make
// from outside (the container's state is private). The expected lines follow from the
// definitions in the header comment: invariant 13 asks every frame for at least the pins
// the model holds there, check_exclusive_process for exactly the container's total (one
// pin per mapped page, whatever the number of domains).
#include "tests/unit/mock_type1_fixture.hpp"

#include <vfiopin/mock/invariants.hpp>

#include <string>
#include <vector>

using namespace vfiopin;
using namespace vfiopin::literals;
using namespace vfiopin::mock;
using namespace vfiopin::mock::testing;

TEST_CASE("the self-check names the frame that lost a pin behind the container",
          "[mock][type1][invariants]") {
  fixture f(iommu_type::type1v2, debian_6_1);
  REQUIRE(f.t.attach_group(group_id{0}));
  const vaddr va = f.filled(16 * KiB);
  REQUIRE(f.map(0x100000, va, 16 * KiB));
  f.ok();
  // A GUP of the third page: its frame, and one pin more than the container holds.
  const auto run = f.proc.pin_frames(va + 8_KiB, 1_pages, prot::read_write);
  REQUIRE(run.has_value());
  REQUIRE(run->kind == frame_kind::page);
  CHECK(check_invariants(f.t).empty());  // at least the model's pins: holds
  CHECK(check_exclusive_process(f.t) ==
        std::vector<std::string>{"13: process pins 5 != container pins 4"});
  // That pin and one of the container's dropped: the frame holds fewer than the model's,
  // and so does the process in total.
  f.proc.unpin_frames(*run, prot::read_write);
  f.proc.unpin_frames(*run, prot::read_write);
  const std::vector<std::string> short_lines{
      "13: frame " + std::to_string(run->first.value()) + " holds fewer pins than the model's",
      "13: the process holds fewer pins than the model"};
  CHECK(check_invariants(f.t) == short_lines);
  auto all = short_lines;
  all.emplace_back("13: process pins 3 != container pins 4");
  CHECK(check_invariants_exclusive(f.t) == all);
  // The pin given back: everything holds again.
  REQUIRE(f.proc.pin_frames(va + 8_KiB, 1_pages, prot::read_write).has_value());
  CHECK(check_invariants_exclusive(f.t).empty());
  f.ok();
}

TEST_CASE("the self-check counts a page once however many domains map it",
          "[mock][type1][invariants]") {
  fixture f(iommu_type::type1v2, debian_6_1, two_iommus());
  REQUIRE(f.t.attach_group(group_id{0}));
  REQUIRE(f.t.attach_group(group_id{1}));  // a second domain: replayed, no second pin
  const vaddr va = f.filled(8 * KiB);
  REQUIRE(f.map(0x200000, va, 8 * KiB));
  CHECK(f.proc.total_pins() == 2);
  CHECK(check_invariants_exclusive(f.t).empty());
  f.ok();
}

TEST_CASE("check_invariants_exclusive(t, then) reads the state it checked, once",
          "[mock][type1][invariants]") {
  fixture f(iommu_type::type1v2, debian_6_1);
  REQUIRE(f.t.attach_group(group_id{0}));
  const vaddr va = f.filled(16 * KiB);
  REQUIRE(f.map(0x100000, va, 8 * KiB));
  REQUIRE(f.map(0x300000, va + 8_KiB, 8 * KiB));
  int calls = 0;
  std::size_t dmas = 0;
  CHECK(check_invariants_exclusive(f.t, [&](const auto& s) {
          ++calls;
          dmas = s.dmas.size();
        }).empty());
  CHECK(calls == 1);
  CHECK(dmas == 2);
  // A broken state: the same lines as without `then`, and `then` still runs once.
  const auto run = f.proc.pin_frames(va, 1_pages, prot::read_write);
  REQUIRE(run.has_value());
  calls = 0;
  CHECK(check_invariants_exclusive(f.t, [&](const auto&) { ++calls; }) ==
        std::vector<std::string>{"13: process pins 5 != container pins 4"});
  CHECK(calls == 1);
  f.proc.unpin_frames(*run, prot::read_write);
  f.ok();
}
