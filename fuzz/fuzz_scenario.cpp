// SPDX-License-Identifier: Apache-2.0
//
// fuzz_scenario: the scenario parser and runner (include/vfiopin/scenario/) on any bytes.
//
// Theory of operation. The input is a scenario file. Properties checked:
//   1. parse() never crashes, hangs or reads out of bounds (ASan/UBSan, -timeout);
//   2. a refusal is a diagnostic whose line lies within the file and whose text has the
//      contract's shape "FILE:LINE: message";
//   3. an accepted script round-trips: printing every statement canonically (its tokens
//      joined by single spaces, then " => expected") and parsing that again gives the same
//      statements, the same canonical text and the same expectations;
//   4. running an accepted script, with --echo and --check, on a target that answers
//      every operation with `ok` never fails and prints one line per statement.
#include <vfiopin/scenario/scenario.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>
#include <string_view>

namespace {

namespace sc = vfiopin::scenario;

void expect(bool ok, const char* what) noexcept {
  if (!ok) {
    std::fprintf(stderr, "fuzz_scenario: property violated: %s\n", what);
    std::fflush(stderr);
    __builtin_trap();
  }
}

/// Answers every operation with `ok`.
class ok_target final : public sc::target {
 public:
  void reset() override {}
  sc::outcome container(const sc::op_container&) override { return sc::outcome::ok(); }
  sc::outcome entry_limit(const sc::op_entry_limit&) override { return sc::outcome::ok(); }
  sc::outcome memlock(const sc::op_memlock&) override { return sc::outcome::ok(); }
  sc::outcome attach(const sc::op_attach&) override { return sc::outcome::ok(); }
  sc::outcome detach(const sc::op_detach&) override { return sc::outcome::ok(); }
  sc::outcome mem(const sc::op_mem&) override { return sc::outcome::ok(); }
  sc::outcome fill(const sc::op_fill&, const sc::region&) override { return sc::outcome::ok(); }
  sc::outcome map(const sc::op_map&, const sc::region&) override { return sc::outcome::ok(); }
  sc::outcome map_vaddr(const sc::op_map_vaddr&, const sc::region&) override {
    return sc::outcome::ok();
  }
  sc::outcome unmap(const sc::op_unmap&) override { return sc::outcome::ok(); }
  sc::outcome unmap_all(const sc::op_unmap_all&) override { return sc::outcome::ok(); }
  sc::outcome unmap_vaddr(const sc::op_unmap_vaddr&) override { return sc::outcome::ok(); }
  sc::outcome unmap_dirty(const sc::op_unmap_dirty&) override { return sc::outcome::ok(); }
  sc::outcome info(const sc::op_info&) override { return sc::outcome::ok(); }
  sc::outcome locked(const sc::op_locked&) override { return sc::outcome::ok(); }
  sc::outcome dirty_start(const sc::op_dirty_start&) override { return sc::outcome::ok(); }
  sc::outcome dirty_stop(const sc::op_dirty_stop&) override { return sc::outcome::ok(); }
  sc::outcome dirty_get(const sc::op_dirty_get&) override { return sc::outcome::ok(); }
  sc::outcome dma_read(const sc::op_dma_read&, const sc::region&) override {
    return sc::outcome::same();
  }
  sc::outcome dma_write(const sc::op_dma_write&) override { return sc::outcome::ok(); }
  sc::outcome check(const sc::op_check&, const sc::region&) override {
    return sc::outcome::same();
  }
  sc::outcome emulated(const sc::op_emulated&) override { return sc::outcome::ok(); }
  sc::outcome pin(const sc::op_pin&) override { return sc::outcome::ok(); }
  sc::outcome unpin(const sc::op_unpin&) override { return sc::outcome::ok(); }
};

std::string canonical(const sc::script& s) {
  std::string out;
  for (const auto& st : s.statements) {
    out += st.text;
    if (st.expected) out += " => " + *st.expected;
    out += '\n';
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = sc::parse(text, "in.vfs");
  if (!parsed) {
    const auto& d = parsed.error();
    std::size_t lines = 1;
    for (const char c : text) lines += c == '\n' ? 1 : 0;
    expect(d.line >= 1 && d.line <= lines, "diagnostic line within the file");
    expect(!d.message.empty(), "diagnostic has a message");
    expect(d.to_string().rfind("in.vfs:" + std::to_string(d.line) + ": ", 0) == 0,
           "diagnostic shape FILE:LINE: message");
    return 0;
  }
  const std::string again_text = canonical(*parsed);
  const auto again = sc::parse(again_text, "again.vfs");
  expect(again.has_value(), "canonical text parses again");
  expect(again->statements.size() == parsed->statements.size(), "same number of statements");
  expect(canonical(*again) == again_text, "canonical text is a fixed point");

  ok_target t;
  std::ostringstream out;
  std::ostringstream diag;
  const auto status = sc::run(*parsed, t, sc::options{.echo = true, .check = true}, out, diag);
  expect(status != sc::run_status::failed, "an all-ok target never fails a run");
  std::size_t printed = 0;
  for (const char c : out.str()) printed += c == '\n' ? 1 : 0;
  expect(printed == parsed->statements.size(), "one output line per statement");
  return 0;
}
