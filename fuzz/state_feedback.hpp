// SPDX-License-Identifier: Apache-2.0
//
// state_feedback: the abstract state an operation left, as extra coverage for libFuzzer.
//
// Theory of operation. Code coverage rewards an input for reaching a new edge, not for
// building a new state: attach, two MAPs, a device and a pin run the same edges as attach,
// one MAP, a device and a pin, so libFuzzer keeps only the shorter one, and a bug that needs
// the longer state (a DIRTY_PAGES START that fails at the second dma's bitmap while the
// first holds a consumer pin) waits for all of its operations to appear at once. Stateful
// fuzzers answer this with state feedback (AFLNet keeps inputs for new server response
// codes): here, after every operation, the harness hashes the
// operation's kind, whether it failed, the fail-nth step it was armed with, and a coarse
// summary of the state it left (how many dmas, invalidated vaddrs, groups and devices;
// dirty tracking on or off; whether a consumer holds pins) into one byte of an array in
// the section `__libfuzzer_extra_counters`. libFuzzer clears that section before each input
// and reads every non-zero byte as a feature after it, exactly like its own edge counters,
// so an input that reaches a new (operation, outcome, state) triple is kept even when it
// runs no new edge. The bytes are set to 1, never counted up, so repeating an operation
// brings no feature of its own.
//
// Other engines, and the standalone replay main, do not read the section: the array is
// written and ignored, at the cost of a hash per operation. The summary is deliberately
// coarse (every count saturates at 2 or 3, 432 states): a fine one would keep an input per
// count and swamp the corpus.
#ifndef VFIOPIN_FUZZ_STATE_FEEDBACK_HPP
#define VFIOPIN_FUZZ_STATE_FEEDBACK_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace vfiopin::fuzz {

/// What the harness reports after an operation.
struct state_summary {
  std::uint64_t dmas = 0;           ///< live mappings
  std::uint64_t invalid_vaddrs = 0; ///< dmas whose vaddr is invalidated
  std::uint64_t groups = 0;         ///< real and emulated groups attached
  std::uint64_t devices = 0;        ///< emulated devices (consumers) registered
  bool dirty_tracking = false;
  bool consumer_pins = false;       ///< some device holds a pin
};

namespace detail {
inline constexpr std::size_t state_feedback_slots = 16384;  // a power of two
#if defined(__clang__) && defined(__ELF__)
// The section name is a C identifier, so the linker defines __start_/__stop_ symbols for
// it, which is how libFuzzer finds the array (one per translation unit that uses it; each
// fuzzer has one). No ASan redzone inside the section.
[[gnu::used, gnu::section("__libfuzzer_extra_counters")]] __attribute__((no_sanitize("address")))
static std::uint8_t state_feedback_array[state_feedback_slots];
inline std::uint8_t* state_feedback_slots_base() noexcept { return state_feedback_array; }
#else
inline std::uint8_t* state_feedback_slots_base() noexcept {
  static std::uint8_t slots[state_feedback_slots];
  return slots;
}
#endif
}  // namespace detail

/// The container's part of the summary, from a mock::type1's state (under its lock); the
/// harness adds its devices.
template <class State>
[[nodiscard]] state_summary container_summary_of(const State& s) {
  state_summary r;
  r.dmas = s.dmas.size();
  r.invalid_vaddrs = s.vaddr_invalid_count;
  r.groups = s.group_count();
  r.dirty_tracking = s.dirty_tracking;
  return r;
}

/// The same, taking the container's lock (a mock::type1).
template <class Type1>
[[nodiscard]] state_summary container_summary(const Type1& t) {
  return t.with_state([](const auto& s) { return container_summary_of(s); });
}

/// The slot of (operation kind, failed, armed step, state): a mixed-radix code, then a
/// 64-bit mix (splitmix64's finaliser) folded into the array.
[[nodiscard]] constexpr std::size_t state_feedback_slot(unsigned kind, bool failed,
                                                        std::uint64_t armed_step,
                                                        const state_summary& s) noexcept {
  std::uint64_t code = std::min<std::uint64_t>(s.dmas, 3);
  code = code * 3 + std::min<std::uint64_t>(s.invalid_vaddrs, 2);
  code = code * 3 + std::min<std::uint64_t>(s.groups, 2);
  code = code * 3 + std::min<std::uint64_t>(s.devices, 2);
  code = code * 2 + (s.dirty_tracking ? 1 : 0);
  code = code * 2 + (s.consumer_pins ? 1 : 0);
  code = code * 2 + (failed ? 1 : 0);
  code = code * 5 + std::min<std::uint64_t>(armed_step, 4);
  code = code * 64 + (kind & 63U);
  code += 0x9e3779b97f4a7c15ULL;
  code = (code ^ (code >> 30)) * 0xbf58476d1ce4e5b9ULL;
  code = (code ^ (code >> 27)) * 0x94d049bb133111ebULL;
  code ^= code >> 31;
  return static_cast<std::size_t>(code & (detail::state_feedback_slots - 1));
}

/// Marks the slot of this operation's outcome (see the header comment).
inline void note_state(unsigned kind, bool failed, std::uint64_t armed_step,
                       const state_summary& s) noexcept {
  detail::state_feedback_slots_base()[state_feedback_slot(kind, failed, armed_step, s)] = 1;
}

/// What a harness calls after an operation: the container's summary (container_summary,
/// or one the harness took under a lock it already held) with the harness's own devices,
/// marked for this operation's outcome.
inline void note_state(state_summary s, unsigned kind, bool failed, std::uint64_t armed_step,
                       std::size_t devices, bool consumer_pins) noexcept {
  s.devices = devices;
  s.consumer_pins = consumer_pins;
  note_state(kind, failed, armed_step, s);
}
template <class Type1>
void note_state(const Type1& t, unsigned kind, bool failed, std::uint64_t armed_step,
                std::size_t devices, bool consumer_pins) {
  note_state(container_summary(t), kind, failed, armed_step, devices, consumer_pins);
}

}  // namespace vfiopin::fuzz

#endif  // VFIOPIN_FUZZ_STATE_FEEDBACK_HPP
