// SPDX-License-Identifier: Apache-2.0
//
// fuzz_ccw: the s390 vfio-ccw channel-program translator
// (include/vfiopin/consumers/s390_ccw.hpp) on hostile guest memory.
//
// Theory of operation. One mock process and one mock type1 container live for the whole
// run (creating them costs more than a translation): guest RAM A is IOVA [0, 0x8000)
// read-write, a hole follows, then B, IOVA [0x9000, 0xa000), mapped read-only; everything
// else is outside guest memory. An input is
//   byte 0      bit 0 format-0 CCWs, bit 1 2K IDAW blocks, bit 2 a program address above
//               guest memory
//   2 bytes     the program address (its low 16 bits; any alignment)
//   3 + 2 bytes an unmap notification to deliver after the translation: its first byte
//               (in [0, 0x11000)) and its length (1 to 0x8000)
//   the rest    the contents of A (zeros after the input), then of B
// so the mutator edits CCWs and IDAWs in place. The translator runs with small limits
// (64 CCWs, 256 IDAWs) so the bounds are reached.
// Properties (a violation prints what happened and traps):
//   - a refused program is a ccw_errc, or the backend's EINVAL (outside guest memory) or
//     EPERM (a read command into B); it leaves no program and no pin;
//   - a translated program is within the limits; each TIC designates a CCW that is not a
//     TIC; each data CCW's blocks add up to its count, start on block boundaries after the
//     first and never cross one; each block lies in a pinned page range, and its page
//     handle is the frame behind that guest address in the process, its bytes and its
//     IDAW word are that frame's plus the offset;
//   - the notification releases the program exactly when its range overlaps a pinned
//     page range, and a release leaves no pin;
//   - complete() leaves no pin, no locked memory, and the mock logged no kernel WARN.
// VFIOPIN_FUZZ_CCW_TRACE=1 prints each input's outcome.
#include <vfiopin/consumers/s390_ccw.hpp>
#include <vfiopin/container.hpp>
#include <vfiopin/mock/memory.hpp>
#include <vfiopin/mock/type1.hpp>

#include "fuzz_input.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

namespace {

using namespace vfiopin;
using namespace vfiopin::s390;
using backend = mock::type1<>;

constexpr std::uint64_t a_size = 0x8000;
constexpr std::uint64_t b_first = 0x9000;
constexpr std::uint64_t b_size = 0x1000;
constexpr ccw_limits limits{.max_ccws = 64, .max_idaws = 256};

[[noreturn]] void die(const char* what, std::uint64_t v = 0) {
  std::fprintf(stderr, "fuzz_ccw: property violated: %s (0x%llx)\n", what,
               static_cast<unsigned long long>(v));
  std::fflush(stderr);
  __builtin_trap();
}
void check(bool ok, const char* what, std::uint64_t v = 0) {
  if (!ok) die(what, v);
}

vaddr must(result<vaddr> r) {
  if (!r) die("setup: map_region");
  return *r;
}

struct world {
  mock::process proc;
  container<backend> c{std::in_place, proc};
  ccw_translator<backend> t{c, limits};
  vaddr a{};
  vaddr b{};
  mapping<backend> ma{};
  mapping<backend> mb{};
  std::size_t a_dirty = a_size;  // bytes of A that may be non-zero
  std::size_t b_dirty = b_size;

  world() {
    check(t.attach().has_value(), "setup: attach");
    a = must(proc.map_region(mock::region_kind::anon, byte_count(a_size), false));
    b = must(proc.map_region(mock::region_kind::anon, byte_count(b_size), false));
    auto x = c.map(iova(0), a, byte_count(a_size), prot::read_write);
    auto y = c.map(iova(b_first), b, byte_count(b_size), prot::read);
    check(x.has_value() && y.has_value(), "setup: map");
    ma = std::move(*x);
    mb = std::move(*y);
  }

  /// Writes `image` at the start of the region and zeros over what the last input left.
  void load(vaddr base, std::span<const std::uint8_t> image, std::size_t& dirty) {
    static const std::vector<std::byte> zeros(a_size);
    const auto bytes = std::as_bytes(image);
    check(proc.write(base, bytes).has_value(), "setup: write");
    if (dirty > bytes.size())
      check(proc.write(base + byte_count(bytes.size()),
                       std::span(zeros).first(dirty - bytes.size())).has_value(), "setup: zero");
    dirty = bytes.size();
  }

  /// The vaddr behind a guest address, if it is guest memory.
  [[nodiscard]] std::optional<vaddr> host_of(std::uint64_t g) const {
    if (g < a_size) return a + byte_count(g);
    if (g >= b_first && g < b_first + b_size) return b + byte_count(g - b_first);
    return std::nullopt;
  }

  void check_program(idaw_block block) {
    const host_program& p = t.program();
    const auto ranges = t.pinned_ranges();
    check(p.ccws().size() <= limits.max_ccws, "CCW limit exceeded", p.ccws().size());
    check(p.idaws().size() <= limits.max_idaws, "IDAW limit exceeded", p.idaws().size());
    check(p.block() == block, "block size");
    const std::uint64_t bs = block_bytes(block);
    for (const host_ccw& h : p.ccws()) {
      if (h.is_tic()) {
        check(h.tic_target < p.ccws().size(), "TIC target out of range", h.tic_target);
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
        const auto f = proc.frame_of(*va);
        check(f.has_value() && !w.page.empty() && w.page.frame() &&
                  w.page.frame()->number() == f->value(),
              "page handle is not the guest page's frame", g);
        check(w.bytes().data() == proc.frame_bytes(*f).data() + w.offset, "bytes()", g);
        check(w.word() == f->value() * page_bytes + w.offset, "IDAW word", g);
      }
      check(idal.empty() || sum == h.count, "blocks do not add up to the count", h.guest.value());
    }
  }

  void run(fuzz::fuzz_input& in, std::span<const std::uint8_t> image) {
    const auto mode = in.draw<std::uint8_t>();
    std::uint64_t cpa = in.draw<std::uint16_t>();
    if ((mode & 4) != 0) cpa |= 0x7fff0000;
    const std::uint64_t probe_first = in.draw_in_range<std::uint32_t>(0, 0x10fff);
    const std::uint64_t probe_len = in.draw_in_range<std::uint32_t>(1, 0x8000);
    load(a, image.first(std::min<std::size_t>(image.size(), a_size)), a_dirty);
    load(b, image.size() > a_size
                ? image.subspan(a_size, std::min<std::size_t>(image.size() - a_size, b_size))
                : std::span<const std::uint8_t>(), b_dirty);

    const ccw_format fmt = (mode & 1) != 0 ? ccw_format::format0 : ccw_format::format1;
    const idaw_block block = (mode & 2) != 0 ? idaw_block::k2 : idaw_block::k4;
    auto r = t.translate(ccw_start{iova(cpa), fmt, block});
    static const bool trace = std::getenv("VFIOPIN_FUZZ_CCW_TRACE") != nullptr;
    if (trace) {
      if (r) {
        std::fprintf(stderr, "cpa 0x%llx: %zu CCWs, %zu IDAWs, %llu pins\n",
                     static_cast<unsigned long long>(cpa), t.program().ccws().size(),
                     t.program().idaws().size(), static_cast<unsigned long long>(proc.total_pins()));
      } else {
        std::fprintf(stderr, "cpa 0x%llx: %s\n", static_cast<unsigned long long>(cpa),
                     r.error().message().c_str());
      }
    }
    if (!r) {
      const std::error_code e = r.error();
      check(e.category() == ccw_category() || e == make_error_code(errc::invalid_argument) ||
                e == make_error_code(errc::not_permitted),
            "unexpected error", static_cast<std::uint64_t>(e.value()));
      check(!t.active() && t.program().empty(), "a refused program stays");
      check(proc.total_pins() == 0, "a refused program left pins", proc.total_pins());
    } else {
      check(t.active(), "translated but not active");
      check_program(block);
      const auto ranges = t.pinned_ranges();
      const auto probe = *interval<iova>::from(iova(probe_first), byte_count(probe_len));
      const bool hit = std::any_of(ranges.begin(), ranges.end(),
                                   [&](const interval<iova>& x) { return x.overlaps(probe); });
      t.on_dma_unmap(probe);
      check(t.active() != hit, "notification coverage", probe_first);
      if (hit) check(proc.total_pins() == 0, "a notification left pins", proc.total_pins());
    }
    t.complete();
    check(proc.total_pins() == 0, "complete() left pins", proc.total_pins());
    check(proc.locked_vm().value() == 0, "locked_vm after complete", proc.locked_vm().value());
    check(c.backend().warnings().empty(), "the mock logged a kernel WARN");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static world w;
  constexpr std::size_t header = 1 + 2 + 3 + 2;  // the draws of world::run
  fuzz::fuzz_input in(data, std::min(size, header));
  w.run(in, size > header ? std::span<const std::uint8_t>(data + header, size - header)
                          : std::span<const std::uint8_t>());
  return 0;
}
