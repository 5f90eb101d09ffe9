// SPDX-License-Identifier: Apache-2.0
//
// fuzz_ccw: the s390 vfio-ccw channel-program translator
// (include/vfiopin/consumers/s390_ccw.hpp) on hostile guest memory.
//
// Theory of operation. One world (tools/replay/ccw_world.hpp, shared with vfiopin-replay's
// ccw-* lines) lives for the whole run (creating it costs more than a translation): a mock
// process and a mock type1 container with the translator attached, guest RAM A at IOVA
// [0, 0x8000) read-write, a hole, then B, IOVA [0x9000, 0xa000), mapped read-only;
// everything else is outside guest memory. An input is
//   byte 0      bit 0 format-0 CCWs, bit 1 2K IDAW blocks, bit 2 a program address above
//               guest memory
//   2 bytes     the program address (its low 16 bits; any alignment)
//   3 + 2 bytes an unmap notification to deliver after the translation: its first byte
//               (in [0, 0x11000)) and its length (1 to 0x8000)
//   the rest    the contents of A (zeros after the input), then of B
// so the mutator edits CCWs and IDAWs in place. The translator runs with small limits
// (64 CCWs, 256 IDAWs) so the bounds are reached.
// Properties: those of tools/replay/ccw_world.hpp's header (a refused program leaves
// nothing; a translated one is well formed over the guest's own frames; a notification
// releases it exactly when it overlaps a pinned page; complete() leaves no pin, no locked
// memory and no kernel WARN). A violation prints what happened and traps.
// VFIOPIN_FUZZ_CCW_TRACE=1 prints each input's outcome. VFIOPIN_TO_VFS=FILE writes the run
// as a scenario script to FILE instead of trapping (fuzz/to-vfs): ccw-setup, a ccw-write per
// non-zero 32-byte chunk of the guest image, ccw-translate, ccw-notify (when a program was
// translated) and ccw-complete, each with the outcome the run saw, and the property that
// failed in the header; `vfiopin-replay --check --invariants FILE` runs it again.
#include "../tools/replay/ccw_world.hpp"
#include "fuzz_input.hpp"
#include "ops_vfs.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <span>
#include <string>
#include <vector>

namespace {

using namespace vfiopin;
using namespace vfiopin::s390;
using replay::ccw_world;
using fuzz::ops_vfs::hex;

/// The run as a scenario script (VFIOPIN_TO_VFS; see the header comment).
class vfs_writer {
 public:
  explicit vfs_writer(const char* path) : path_(path) {}

  void line(const std::string& text, const scenario::outcome& o) {
    lines_ += text + " => " + scenario::to_string(o) + "\n";
  }
  /// One ccw-write per 32-byte chunk of the image that is not all zero.
  void image(std::span<const std::uint8_t> image) {
    constexpr std::size_t chunk = 32;
    for (std::size_t at = 0; at < image.size(); at += chunk) {
      const auto part = image.subspan(at, std::min(chunk, image.size() - at));
      if (std::all_of(part.begin(), part.end(), [](std::uint8_t b) { return b == 0; })) continue;
      const std::uint64_t guest = at < ccw_world::a_size ? at : ccw_world::b_first + (at - ccw_world::a_size);
      std::string digits;
      for (const std::uint8_t b : part) {
        static constexpr char d[] = "0123456789abcdef";
        digits += d[b >> 4];
        digits += d[b & 15];
      }
      line("ccw-write " + hex(guest) + " " + digits, scenario::outcome::ok());
    }
  }
  void finish(const std::string& property) const {
    std::ofstream out(path_);
    fuzz::ops_vfs::write_title(out, "fuzz_ccw", property);
    out << "#\n# Every `=> ...` is the outcome the fuzz run saw. Replay on the mock, with fuzz_ccw's\n"
           "# properties checked after each line (mock-only extensions: docs/fuzzing.md,\n"
           "# Reproducers):\n#   vfiopin-replay --check --invariants FILE\n#\n"
        << "ccw-setup => ok\n" << lines_;
  }

 private:
  std::string path_;
  std::string lines_;
};

vfs_writer* to_vfs() {
  static vfs_writer* const w = [] {
    const char* path = std::getenv("VFIOPIN_TO_VFS");
    return path != nullptr && *path != 0 ? new vfs_writer(path) : nullptr;  // NOLINT: lives as long as the process
  }();
  return w;
}

/// Traps on the first broken property (or, writing a reproducer, ends it there).
void check(ccw_world& w) {
  if (w.violations().empty()) return;
  const std::string what = w.violations().front();
  if (auto* v = to_vfs()) {
    v->finish(what);
    std::_Exit(0);
  }
  std::fprintf(stderr, "fuzz_ccw: property violated: %s\n", what.c_str());
  std::fflush(stderr);
  __builtin_trap();
}

void run(ccw_world& w, fuzz::fuzz_input& in, std::span<const std::uint8_t> image) {
  auto* v = to_vfs();
  const auto mode = in.draw<std::uint8_t>();
  std::uint64_t cpa = in.draw<std::uint16_t>();
  if ((mode & 4) != 0) cpa |= 0x7fff0000;
  const std::uint64_t probe_first = in.draw_in_range<std::uint32_t>(0, 0x10fff);
  const std::uint64_t probe_len = in.draw_in_range<std::uint32_t>(1, 0x8000);
  const auto guest = image.first(std::min<std::size_t>(image.size(), ccw_world::a_size + ccw_world::b_size));
  w.load(guest);
  check(w);
  if (v) v->image(guest);

  const bool format0 = (mode & 1) != 0;
  const bool k2 = (mode & 2) != 0;
  const auto r = w.translate(ccw_start{iova(cpa), format0 ? ccw_format::format0 : ccw_format::format1,
                                       k2 ? idaw_block::k2 : idaw_block::k4});
  if (v) {
    v->line("ccw-translate " + hex(cpa) + (format0 ? " format0" : " format1") + (k2 ? " 2k" : " 4k"),
            replay::translate_outcome(w, r));
  }
  static const bool trace = std::getenv("VFIOPIN_FUZZ_CCW_TRACE") != nullptr;
  if (trace) {
    std::fprintf(stderr, "cpa 0x%llx: %s\n", static_cast<unsigned long long>(cpa),
                 scenario::to_string(replay::translate_outcome(w, r)).c_str());
  }
  check(w);
  if (r) {
    const bool active = w.notify(*interval<iova>::from(iova(probe_first), byte_count(probe_len)));
    if (v) v->line("ccw-notify " + hex(probe_first) + " " + hex(probe_len), replay::notify_outcome(w, active));
    check(w);
  }
  w.complete();
  if (v) v->line("ccw-complete", scenario::outcome::ok());
  check(w);
  if (v) {
    v->finish("");
    std::_Exit(0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static ccw_world w;
  check(w);  // the setup's
  constexpr std::size_t header = 1 + 2 + 3 + 2;  // the draws of run()
  fuzz::fuzz_input in(data, std::min(size, header));
  run(w, in, size > header ? std::span<const std::uint8_t>(data + header, size - header)
                           : std::span<const std::uint8_t>());
  return 0;
}
