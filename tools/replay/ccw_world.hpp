// SPDX-License-Identifier: Apache-2.0
//
// tools/replay/ccw_world.hpp: fuzz_ccw's world and properties, shared with vfiopin-replay.
//
// Theory of operation. fuzz_ccw (fuzz/fuzz_ccw.cpp) and the replay's ccw-* lines (the
// mock-only extensions of docs/fuzzing.md, "Reproducers") run the same world, so a fuzz_ccw
// input written as a scenario script replays exactly:
//   - one mock process and one container (mock::type1, its defaults: type1v2, the default
//     kernel profile) with an s390 ccw_translator attached as its emulated consumer, with
//     small limits (64 CCWs, 256 IDAWs) so that a fuzzer reaches them;
//   - guest RAM A: IOVA [0, 0x8000), mapped read-write; a hole; B: IOVA [0x9000, 0xa000),
//     mapped read-only; every other guest address is outside guest memory. Every page of
//     A and B is written (zeros) at setup, so each has a frame of its own: a fresh world
//     pins the frames a world reused for many inputs pins (never the zero page).
// The steps are CPU stores into guest memory (write, or load for fuzz_ccw's whole image),
// translate, notify (an unmap notification of a range) and complete. Each step appends
// the fuzz_ccw properties it breaks to violations(), one line each:
//   - a refused program is a ccw_errc, or the backend's EINVAL (outside guest memory) or
//     EPERM (a read command into B); it leaves no program and no pin, except a refusal for
//     busy (a program is active), which leaves that program and its pins as they were;
//   - a translated program is within the limits; each TIC designates a CCW that is not a
//     TIC; each data CCW's blocks add up to its count, start on block boundaries after the
//     first and never cross one; each block lies in a pinned page range, and its page
//     handle is the frame behind that guest address in the process, its bytes and its
//     IDAW word are that frame's plus the offset;
//   - the notification releases the program exactly when its range overlaps a pinned
//     page range, and a release leaves no pin;
//   - complete() leaves no pin, no locked memory, and the mock logged no kernel WARN.
// fuzz_ccw traps on the first line; the replay reports them all with --invariants.
//
// ccw_lines runs the scenario lines over one world (mock_target delegates to it), and
// translate_outcome / notify_outcome make their result lines, which fuzz_ccw's reproducer
// writer uses too, so a converted input's `=> ...` is what the replay prints:
//   ccw-setup                     a fresh world; ok
//   ccw-write GUEST HEXBYTES      CPU stores; err EFAULT unless all in one guest region
//   ccw-translate CPA FMT BLOCK   ok ccws=N idaws=N pins=N, or err ERRNO, or err ccw-NAME
//   ccw-notify IOVA LEN           ok active=0|1 pins=N
//   ccw-complete                  ok
// Any line but ccw-setup before the first ccw-setup answers err ENODEV.
#ifndef VFIOPIN_TOOLS_REPLAY_CCW_WORLD_HPP
#define VFIOPIN_TOOLS_REPLAY_CCW_WORLD_HPP

#include <vfiopin/consumers/s390_ccw.hpp>
#include <vfiopin/container.hpp>
#include <vfiopin/mock/memory.hpp>
#include <vfiopin/mock/type1.hpp>
#include <vfiopin/scenario/ast.hpp>
#include <vfiopin/scenario/outcome.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vfiopin::replay {

/// The kebab-case name of a ccw_errc (`ccw-` prefixed in scenario results).
[[nodiscard]] constexpr std::string_view ccw_errc_name(s390::ccw_errc e) noexcept {
  using enum s390::ccw_errc;
  switch (e) {
    case misaligned_ccw: return "misaligned-ccw";
    case address_range: return "address-range";
    case invalid_command: return "invalid-command";
    case invalid_tic: return "invalid-tic";
    case tic_to_tic: return "tic-to-tic";
    case unsupported_flag: return "unsupported-flag";
    case misaligned_idal: return "misaligned-idal";
    case misaligned_idaw: return "misaligned-idaw";
    case chain_too_long: return "chain-too-long";
    case too_many_idaws: return "too-many-idaws";
    case busy: return "busy";
    case not_attached: return "not-attached";
  }
  return "unknown";
}

/// fuzz_ccw's world (see the header comment).
class ccw_world {
 public:
  using backend = mock::type1<>;
  static constexpr std::uint64_t a_size = 0x8000;
  static constexpr std::uint64_t b_first = 0x9000;
  static constexpr std::uint64_t b_size = 0x1000;
  static constexpr s390::ccw_limits limits{.max_ccws = 64, .max_idaws = 256};

  ccw_world() {
    check(t_.attach().has_value(), "setup: attach");
    a_ = must(proc_.map_region(mock::region_kind::anon, byte_count(a_size), false));
    b_ = must(proc_.map_region(mock::region_kind::anon, byte_count(b_size), false));
    auto x = c_.map(iova(0), a_, byte_count(a_size), prot::read_write);
    auto y = c_.map(iova(b_first), b_, byte_count(b_size), prot::read);
    check(x.has_value() && y.has_value(), "setup: map");
    if (x) ma_ = std::move(*x);
    if (y) mb_ = std::move(*y);
    // Every guest page written once (zeros): each has its own frame from the start, as in a
    // world that has run inputs before, so a fresh world pins what a reused one pins.
    load_region(a_, {}, a_dirty_);
    load_region(b_, {}, b_dirty_);
  }
  ccw_world(const ccw_world&) = delete;
  ccw_world& operator=(const ccw_world&) = delete;

  /// The properties broken so far (empty: all held), oldest first.
  [[nodiscard]] const std::vector<std::string>& violations() const noexcept { return bad_; }
  [[nodiscard]] std::vector<std::string> take_violations() { return std::exchange(bad_, {}); }

  /// The vaddr behind a guest address, if it is guest memory.
  [[nodiscard]] std::optional<vaddr> host_of(std::uint64_t g) const {
    if (g < a_size) return a_ + byte_count(g);
    if (g >= b_first && g < b_first + b_size) return b_ + byte_count(g - b_first);
    return std::nullopt;
  }

  /// CPU stores of `bytes` at guest address g; false (nothing written) unless all of
  /// [g, g + size) is guest memory of one region.
  bool write(std::uint64_t g, std::span<const std::byte> bytes) {
    if (bytes.empty()) return true;
    const auto first = host_of(g);
    const auto last = host_of(g + bytes.size() - 1);
    if (!first || !last || last->value() - first->value() != bytes.size() - 1) return false;
    return proc_.write(*first, bytes).has_value();
  }

  /// fuzz_ccw's guest image: A's bytes then B's, zeros after (over what the last image
  /// left, so a world reused for many inputs starts each one as a fresh world would).
  void load(std::span<const std::uint8_t> image) {
    const auto a = image.first(std::min<std::size_t>(image.size(), a_size));
    const auto b = image.size() > a_size
                       ? image.subspan(a_size, std::min<std::size_t>(image.size() - a_size, b_size))
                       : std::span<const std::uint8_t>();
    load_region(a_, a, a_dirty_);
    load_region(b_, b, b_dirty_);
  }

  /// translate(start), then the properties of a refused or a translated program.
  result<void> translate(const s390::ccw_start& start) {
    const bool was_active = t_.active();
    const std::uint64_t pins_before = proc_.total_pins();
    auto r = t_.translate(start);
    if (!r && r.error() == make_error_code(s390::ccw_errc::busy)) {
      // The program in progress is not touched.
      check(was_active && t_.active(), "busy without an active program");
      check(proc_.total_pins() == pins_before, "a busy refusal changed the pins", proc_.total_pins());
    } else if (!r) {
      const std::error_code e = r.error();
      check(e.category() == s390::ccw_category() || e == make_error_code(errc::invalid_argument) ||
                e == make_error_code(errc::not_permitted),
            "unexpected error", static_cast<std::uint64_t>(e.value()));
      check(!t_.active() && t_.program().empty(), "a refused program stays");
      check(proc_.total_pins() == 0, "a refused program left pins", proc_.total_pins());
    } else {
      check(t_.active(), "translated but not active");
      check_program(start.block);
    }
    return r;
  }

  /// An unmap notification of `range` (on_dma_unmap); whether a program is active after.
  bool notify(interval<iova> range) {
    const auto ranges = t_.pinned_ranges();
    const bool hit = std::any_of(ranges.begin(), ranges.end(),
                                 [&](const interval<iova>& x) { return x.overlaps(range); });
    const bool was_active = t_.active();
    t_.on_dma_unmap(range);
    if (was_active) {
      check(t_.active() != hit, "notification coverage", range.first().value());
      if (hit) check(proc_.total_pins() == 0, "a notification left pins", proc_.total_pins());
    }
    return t_.active();
  }

  /// complete(), and nothing may be left.
  void complete() {
    t_.complete();
    check(proc_.total_pins() == 0, "complete() left pins", proc_.total_pins());
    check(proc_.locked_vm().value() == 0, "locked_vm after complete", proc_.locked_vm().value());
    check(c_.backend().warnings().empty(), "the mock logged a kernel WARN");
  }

  [[nodiscard]] const s390::ccw_translator<backend>& translator() const noexcept { return t_; }
  [[nodiscard]] const mock::process& process() const noexcept { return proc_; }

 private:
  void check(bool ok, const char* what, std::uint64_t v = 0) {
    if (ok) return;
    char buf[32];
    std::snprintf(buf, sizeof buf, " (0x%llx)", static_cast<unsigned long long>(v));
    bad_.push_back(std::string(what) + buf);
  }
  vaddr must(result<vaddr> r) {
    check(r.has_value(), "setup: map_region");
    return r ? *r : vaddr{};
  }

  void load_region(vaddr base, std::span<const std::uint8_t> image, std::size_t& dirty) {
    static const std::vector<std::byte> zeros(a_size);
    const auto bytes = std::as_bytes(image);
    check(proc_.write(base, bytes).has_value(), "setup: write");
    if (dirty > bytes.size())
      check(proc_.write(base + byte_count(bytes.size()),
                        std::span(zeros).first(dirty - bytes.size())).has_value(), "setup: zero");
    dirty = bytes.size();
  }

  void check_program(s390::idaw_block block) {
    using namespace s390;
    const host_program& p = t_.program();
    const auto ranges = t_.pinned_ranges();
    check(p.ccws().size() <= limits.max_ccws, "CCW limit exceeded", p.ccws().size());
    check(p.idaws().size() <= limits.max_idaws, "IDAW limit exceeded", p.idaws().size());
    check(p.block() == block, "block size");
    const std::uint64_t bs = block_bytes(block);
    for (const host_ccw& h : p.ccws()) {
      if (h.is_tic()) {
        check(h.tic_target < p.ccws().size(), "TIC target out of range", h.tic_target);
        if (h.tic_target < p.ccws().size())
          check(!p.ccws()[h.tic_target].is_tic(), "TIC to TIC translated", h.guest.value());
        continue;
      }
      const auto idal = p.idal(h);
      check(idal.empty() == ((h.flags & ccw_flag::ida) == 0), "IDA flag vs IDAL", h.guest.value());
      std::uint64_t sum = 0;
      for (std::size_t k = 0; k < idal.size(); ++k) {
        const host_idaw& w = idal[k];
        const std::uint64_t g = w.guest.value();
        sum += w.length;
        check(w.length > 0 && g % bs + w.length <= bs, "block crosses a boundary", g);
        check(k == 0 || g % bs == 0, "later IDAW off a block boundary", g);
        check(w.offset == g % page_bytes, "offset", g);
        check(std::any_of(ranges.begin(), ranges.end(),
                          [&](const interval<iova>& r) { return r.contains(w.guest); }),
              "block outside every pinned range", g);
        const auto va = host_of(g);
        check(va.has_value(), "pinned a page outside guest memory", g);
        if (!va) continue;
        const auto f = proc_.frame_of(*va);
        const bool same_frame = f.has_value() && !w.page.empty() && w.page.frame() &&
                                w.page.frame()->number() == f->value();
        check(same_frame, "page handle is not the guest page's frame", g);
        if (!same_frame) continue;
        check(w.bytes().data() == proc_.frame_bytes(*f).data() + w.offset, "bytes()", g);
        check(w.word() == f->value() * page_bytes + w.offset, "IDAW word", g);
      }
      check(idal.empty() || sum == h.count, "blocks do not add up to the count", h.guest.value());
    }
  }

  mock::process proc_;
  container<backend> c_{std::in_place, proc_};
  s390::ccw_translator<backend> t_{c_, limits};
  vaddr a_{};
  vaddr b_{};
  mapping<backend> ma_{};
  mapping<backend> mb_{};
  std::size_t a_dirty_ = a_size;  // bytes of A that may be non-zero
  std::size_t b_dirty_ = b_size;
  std::vector<std::string> bad_;
};

/// ccw-translate's result line: `ok ccws= idaws= pins=`, the backend's errno, or
/// `err ccw-NAME` for a ccw_errc.
[[nodiscard]] inline scenario::outcome translate_outcome(const ccw_world& w, const result<void>& r) {
  using scenario::field, scenario::field_key;
  if (!r) {
    if (r.error().category() == s390::ccw_category())
      return scenario::outcome::err_condition(
          "ccw-" + std::string(ccw_errc_name(static_cast<s390::ccw_errc>(r.error().value()))));
    return scenario::outcome::err(r.error());
  }
  const auto& p = w.translator().program();
  return scenario::outcome::ok()
      .with(field::count(field_key::ccws, p.ccws().size()))
      .with(field::count(field_key::idaws, p.idaws().size()))
      .with(field::count(field_key::pins, w.process().total_pins()));
}

/// ccw-notify's result line: `ok active=0|1 pins=N`.
[[nodiscard]] inline scenario::outcome notify_outcome(const ccw_world& w, bool active) {
  using scenario::field, scenario::field_key;
  return scenario::outcome::ok()
      .with(field::count(field_key::active, active ? 1 : 0))
      .with(field::count(field_key::pins, w.process().total_pins()));
}

/// The ccw-* lines of a scenario over one world (see the header comment).
class ccw_lines {
 public:
  scenario::outcome setup() {
    w_.reset();  // the old translator completes and its container goes first
    w_ = std::make_unique<ccw_world>();
    return scenario::outcome::ok();
  }
  scenario::outcome write(const scenario::op_ccw_write& op) {
    if (!w_) return scenario::outcome::err(ENODEV);
    return w_->write(op.guest, std::as_bytes(std::span(op.bytes))) ? scenario::outcome::ok()
                                                                    : scenario::outcome::err(EFAULT);
  }
  scenario::outcome translate(const scenario::op_ccw_translate& op) {
    if (!w_) return scenario::outcome::err(ENODEV);
    const s390::ccw_start start{iova(op.cpa),
                                op.format0 ? s390::ccw_format::format0 : s390::ccw_format::format1,
                                op.block2k ? s390::idaw_block::k2 : s390::idaw_block::k4};
    return translate_outcome(*w_, w_->translate(start));
  }
  scenario::outcome notify(const scenario::op_ccw_notify& op) {
    if (!w_) return scenario::outcome::err(ENODEV);
    const auto range = interval<iova>::from(iova(op.iova), byte_count(op.length));
    if (!range) return scenario::outcome::err(EINVAL);  // the parser refuses these
    return notify_outcome(*w_, w_->notify(*range));
  }
  scenario::outcome complete() {
    if (!w_) return scenario::outcome::err(ENODEV);
    w_->complete();
    return scenario::outcome::ok();
  }
  /// The world's broken properties since the last call.
  [[nodiscard]] std::vector<std::string> take_violations() {
    return w_ ? w_->take_violations() : std::vector<std::string>{};
  }

 private:
  std::unique_ptr<ccw_world> w_;
};

}  // namespace vfiopin::replay

#endif  // VFIOPIN_TOOLS_REPLAY_CCW_WORLD_HPP
