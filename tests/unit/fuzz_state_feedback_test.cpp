// SPDX-License-Identifier: Apache-2.0
// fuzz/state_feedback.hpp: the coarse state summary saturates, distinct states land in
// distinct slots (up to hash collisions), note_state marks the slot with 1, and the
// container's summary counts what the test did to a mock container.
#include "fuzz/state_feedback.hpp"

#include "tests/support/catch.hpp"
#include "tests/unit/mock_type1_fixture.hpp"

#include <cstddef>
#include <cstdint>
#include <set>

using vfiopin::fuzz::state_feedback_slot;
using vfiopin::fuzz::state_summary;

TEST_CASE("state feedback: counts saturate, so repeating a step brings no new slot") {
  state_summary a{.dmas = 3, .invalid_vaddrs = 2, .groups = 2, .devices = 2};
  state_summary b{.dmas = 40, .invalid_vaddrs = 17, .groups = 3, .devices = 9};
  CHECK(state_feedback_slot(6, false, 0, a) == state_feedback_slot(6, false, 0, b));
  CHECK(state_feedback_slot(6, false, 4, a) == state_feedback_slot(6, false, 200, a));
  // below the caps every count is its own state
  state_summary c = a;
  c.dmas = 2;
  CHECK(state_feedback_slot(6, false, 0, a) != state_feedback_slot(6, false, 0, c));
}

TEST_CASE("state feedback: every coarse state of one operation has a slot of its own, nearly") {
  std::set<std::size_t> slots;
  std::size_t states = 0;
  for (unsigned dmas = 0; dmas < 4; ++dmas)
    for (unsigned inv = 0; inv < 3; ++inv)
      for (unsigned groups = 0; groups < 3; ++groups)
        for (unsigned devices = 0; devices < 3; ++devices)
          for (int dirty = 0; dirty < 2; ++dirty)
            for (int pins = 0; pins < 2; ++pins) {
              const state_summary s{dmas, inv, groups, devices, dirty == 1, pins == 1};
              slots.insert(state_feedback_slot(12, true, 2, s));
              ++states;
            }
  REQUIRE(states == 432);
  // 432 keys hashed into 16,384 slots collide about 6 times; a weak mix collides far more.
  CHECK(slots.size() >= 415);
}

TEST_CASE("state feedback: the outcome, the armed step and the operation are part of the slot") {
  const state_summary s{.dmas = 2, .devices = 1, .consumer_pins = true};
  const std::size_t base = state_feedback_slot(12, true, 2, s);
  CHECK(base != state_feedback_slot(12, false, 2, s));
  CHECK(base != state_feedback_slot(12, true, 1, s));
  CHECK(base != state_feedback_slot(13, true, 2, s));
}

TEST_CASE("state feedback: note_state marks its slot with 1") {
  const state_summary s{.dmas = 1, .groups = 1};
  std::uint8_t* slots = vfiopin::fuzz::detail::state_feedback_slots_base();
  const std::size_t at = state_feedback_slot(21, false, 0, s);
  slots[at] = 0;
  vfiopin::fuzz::note_state(21, false, 0, s);
  CHECK(slots[at] == 1);
  vfiopin::fuzz::note_state(21, false, 0, s);
  CHECK(slots[at] == 1);  // set, not counted up
}

TEST_CASE("state feedback: the container summary counts what was done to the container") {
  using namespace vfiopin::mock::testing;
  fixture f;
  auto at = [&] { return vfiopin::fuzz::container_summary(f.t); };
  CHECK(at().dmas == 0);
  CHECK(at().groups == 0);
  REQUIRE(f.t.attach_group(vfiopin::group_id{0}));
  REQUIRE(f.t.attach_group(vfiopin::group_id{1}));
  const vfiopin::vaddr va = f.filled(128 * KiB);
  REQUIRE(f.map(0x100000, va, 64 * KiB));
  REQUIRE(f.map(0x200000, vfiopin::vaddr(va.value() + 64 * KiB), 64 * KiB));
  CHECK(at().dmas == 2);
  CHECK(at().invalid_vaddrs == 0);
  REQUIRE(f.unmap_vaddr(0x100000, 64 * KiB));
  CHECK(at().invalid_vaddrs == 1);
  CHECK(at().dmas == 2);  // an invalidated vaddr keeps its dma
  REQUIRE(f.map_vaddr(0x100000, va, 64 * KiB));
  CHECK(at().invalid_vaddrs == 0);
  fake_device dev(f.t);
  REQUIRE(dev.attach());  // an emulated device brings its own emulated group
  CHECK(at().groups == 3);
  CHECK_FALSE(at().dirty_tracking);
  REQUIRE(f.t.dirty_start());
  CHECK(at().dirty_tracking);
  REQUIRE(f.unmap(0x200000, 64 * KiB));
  CHECK(at().dmas == 1);
  dev.detach();
  f.ok();
}
