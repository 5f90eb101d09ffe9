// SPDX-License-Identifier: Apache-2.0
//
// scenario_ops: fuzz input bytes -> a scenario script (scenario-format.md) that every
// backend can run.
//
// Theory of operation. The real-kernel differential fuzzer (fuzz_diff_kernel.cpp) works in
// scenario space: its input decodes to the text of a script, which the project's own parser
// turns into statements, and both backends of tools/replay run those. A crash input is
// therefore already a reproducer: the script is the .vfs, with nothing to translate.
//
// Layout: [config byte] [op] [op] ... (at most max_ops). The config byte picks the
// container type (bits 0-2: type1 when all zero, else type1v2) and whether `attach 0`
// follows (bits 3-5 not all zero). The script always opens with that `container` line.
// Each later op is an opcode byte (a weighted table) and then only the
// operands that operation uses, so one mutated operand rarely shifts the next operation.
// Operands are symbolic, syzkaller style (op_decoder.hpp's address/length operands and
// resolve()): an IOVA is the start or end of the nth earlier `map` range plus a page (or
// sub-page) offset, an entry of a table of interesting IOVAs, or a wild value; a region is
// the nth `mem` declared so far; a length is a page count, "the rest of the region", the
// region's size, or wild. Decoding is a pure function of the bytes: it looks only at the
// operations decoded before, never at results, so the same bytes give the same script on
// every backend and for the converter (fuzz/to-vfs).
//
// Every line is valid syntax, and more: it never asks a backend for what the format leaves
// undefined or what would fault the tool itself. So: at most max_regions regions (names
// m0..m7); `fill` only on anon/memfd/hugetlb regions that are writable and not of size 0,
// and rarely on one over max_small_fill (fill writes every byte: big fills cost most of an
// input's time); `check` and `dma-read` compare inside a page-backed region only; at most
// max_dma DMA operations per input (edu DMA is slow under TCG), and none after a
// `memlock` or `entry-limit` line (the vfio backend's DMA scratch mapping is charged to
// both: it would fail there, a tool failure, not a kernel answer) or once a `bar` region
// exists (a device read through a BAR mapping returns the edu registers, which the mock
// does not model); `emulated E` only for an E not registered in this container yet (a
// second `emulated E` is not defined by the format, and the two backends differ: see
// fuzz/README.md); no `mem NAME hole 0` (likewise undefined); DMA LEN 1..2048 below 0x0ff00000, and
// no `map` of at most 256 MiB overlaps 0x0ff00000-0x0fffffff (the backend's DMA scratch);
// dirty bitmaps cover at most max_bitmap_bytes of IOVA; hugetlb regions total at most
// max_hugetlb_bytes (the guest reserves that many huge pages); entry limits <= 65535.
//
// Known differences between the mock and the kernel, found by this fuzzer and reported
// (fuzz/README.md), are left out until they are resolved, so that a run finds new ones:
//   1. no `map` whose range ends at 2^64 - 1: the kernel (6.1 and 6.12) accepts a second
//      map of such a range (vfio_find_dma's iova + size wraps), the mock answers EEXIST;
//   2. no unaligned `pin`: two kernel bugs (docs/fuzzing.md, K1 and K2) take the guest
//      down when an unaligned pin's page [iova, iova + 4 KiB) reaches past a dma's edge,
//      and which dma vfio_find_dma then answers depends on the rb-tree's shape, which the
//      mock does not model. An aligned page lies in at most one dma. (Unpins stay
//      unaligned: with only aligned records they release nothing.)
#ifndef VFIOPIN_FUZZ_SCENARIO_OPS_HPP
#define VFIOPIN_FUZZ_SCENARIO_OPS_HPP

#include "fuzz_input.hpp"
#include "op_decoder.hpp"

#include <vfiopin/scenario/ast.hpp>

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace vfiopin::fuzz::scenario_ops {

namespace sc = vfiopin::scenario;

inline constexpr std::size_t max_ops = 48;
inline constexpr std::size_t max_regions = 8;
inline constexpr std::size_t max_dma = 2;
inline constexpr std::uint64_t max_bitmap_bytes = std::uint64_t{64} << 20;
inline constexpr std::uint64_t max_hugetlb_bytes = std::uint64_t{8} << 20;
inline constexpr std::uint64_t huge_bytes = std::uint64_t{2} << 20;
inline constexpr std::uint64_t max_small_fill = std::uint64_t{256} << 10;
inline constexpr std::uint64_t scratch_first = 0x0ff00000;  ///< the backend's DMA scratch window
inline constexpr std::uint64_t scratch_end = sc::dma_limit;

/// Interesting IOVAs: low ones, the test bed's MSI window, the 39-bit aperture top, a
/// 48-bit top, the top of the 64-bit space.
inline constexpr std::array<std::uint64_t, 10> fixed_iovas{
    0x100000,   0x200000,     0x400000,     0x1000000,          0x0,
    0xfee00000, 0x7fffe00000, 0x8000000000, 0xffffffffffe00000, 0xfffffffffffff000};

enum class kind : std::uint8_t {
  container, mem, fill, map, map_vaddr, unmap, unmap_all, unmap_vaddr, unmap_dirty,
  dirty_start, dirty_stop, dirty_get, info, locked, entry_limit, memlock, attach, detach,
  emulated, pin, unpin, dma_read, dma_write, check,
};

/// The opcode table: an entry per weight unit.
inline constexpr std::array<kind, 48> opcodes{
    kind::mem,         kind::mem,         kind::mem,        kind::mem,         kind::fill,
    kind::fill,        kind::map,         kind::map,        kind::map,         kind::map,
    kind::map,         kind::map,         kind::map,        kind::map_vaddr,   kind::unmap,
    kind::unmap,       kind::unmap,       kind::unmap_all,  kind::unmap_vaddr, kind::unmap_dirty,
    kind::dirty_start, kind::dirty_stop,  kind::dirty_get,  kind::info,        kind::locked,
    kind::locked,      kind::entry_limit, kind::memlock,    kind::attach,      kind::attach,
    kind::attach,      kind::detach,      kind::emulated,   kind::emulated,    kind::pin,
    kind::pin,         kind::pin,         kind::pin,        kind::unpin,       kind::unpin,
    kind::dma_read,    kind::dma_write,   kind::check,      kind::container,   kind::map,
    kind::mem,         kind::pin,         kind::locked};

/// Decodes one input into script text (see the header comment).
class decoder {
 public:
  explicit decoder(fuzz_input& in) : in_(in) {}

  /// The whole script: one operation per line.
  [[nodiscard]] std::string script() {
    const auto config = in_.draw<std::uint8_t>();
    line("container %s", (config & 7U) == 0 ? "type1" : "type1v2");
    if ((config & 0x38U) != 0) line("attach 0");  // most inputs start with a real domain
    for (std::size_t i = 0; i < max_ops && !in_.empty(); ++i) op(opcodes[in_.draw_in_range<std::size_t>(0, opcodes.size() - 1)]);
    return std::move(text_);
  }

 private:
  struct region {
    sc::mem_kind kind;
    std::uint64_t size;
    bool read_only;
    [[nodiscard]] bool page_backed() const noexcept {
      return size != 0 && (kind == sc::mem_kind::anon || kind == sc::mem_kind::memfd ||
                           kind == sc::mem_kind::hugetlb);
    }
  };

  void op(kind k) {
    switch (k) {
      case kind::container:  // rare: it closes everything
        if (in_.draw_in_range<std::uint8_t>(0, 3) != 0) return line("info");
        line("container %s", in_.draw_bool() ? "type1" : "type1v2");
        devices_.clear();
        pins_.clear();
        break;
      case kind::mem: mem(); break;
      case kind::fill: fill(); break;
      case kind::map: map(); break;
      case kind::map_vaddr: map_vaddr(); break;
      case kind::unmap: case kind::unmap_vaddr: case kind::unmap_dirty: case kind::dirty_get: {
        const bool bitmap = k == kind::unmap_dirty || k == kind::dirty_get;
        const char* name = k == kind::unmap         ? "unmap"
                           : k == kind::unmap_vaddr ? "unmap-vaddr"
                           : k == kind::unmap_dirty ? "unmap-dirty"
                                                    : "dirty get";
        const std::uint64_t at = iova();
        const std::uint64_t size = length(at);
        line("%s 0x%" PRIx64 " 0x%" PRIx64, name, at, bitmap ? size % (max_bitmap_bytes + 1) : size);
        break;
      }
      case kind::unmap_all: line("unmap-all"); break;
      case kind::dirty_start: line("dirty start"); break;
      case kind::dirty_stop: line("dirty stop"); break;
      case kind::info: line("info"); break;
      case kind::locked: line("locked"); break;
      case kind::entry_limit: {
        no_dma_ = true;
        const std::uint64_t n = in_.draw_bool() ? in_.draw_in_range<std::uint64_t>(0, 8)
                                                : in_.draw_in_range<std::uint64_t>(0, 65535);
        line("entry-limit %" PRIu64, n);
        break;
      }
      case kind::memlock: {
        no_dma_ = true;
        const std::uint64_t pages = in_.draw_in_range<std::uint64_t>(0, 300);
        line("memlock %" PRIu64, in_.draw_in_range<std::uint8_t>(0, 7) == 0 ? pages * 100 : pages * page_bytes);
        break;
      }
      case kind::attach: line("attach %u", unsigned{in_.draw_bool()}); break;
      case kind::detach: line("detach %u", unsigned{in_.draw_bool()}); break;
      case kind::emulated: {  // a device E not registered yet in this container
        unsigned e = in_.draw_in_range<std::uint8_t>(0, 3);
        for (unsigned tries = 0; tries < 4 && std::find(devices_.begin(), devices_.end(), e) != devices_.end(); ++tries)
          e = (e + 1) % 4;
        if (devices_.size() == 4) return line("info");
        devices_.push_back(e);
        line("emulated %u", e);
        break;
      }
      case kind::pin: case kind::unpin: pin(k == kind::pin); break;
      case kind::dma_read: case kind::dma_write: dma(k == kind::dma_read); break;
      case kind::check: check(); break;
    }
  }

  void mem() {
    if (regions_.size() == max_regions) return line("locked");
    static constexpr std::array<sc::mem_kind, 9> kinds{
        sc::mem_kind::anon, sc::mem_kind::anon,    sc::mem_kind::anon, sc::mem_kind::anon,
        sc::mem_kind::memfd, sc::mem_kind::memfd, sc::mem_kind::hugetlb, sc::mem_kind::bar,
        sc::mem_kind::hole};
    region r{kinds[in_.draw_in_range<std::uint8_t>(0, kinds.size() - 1)], 0,
             in_.draw_in_range<std::uint8_t>(0, 3) == 0};
    // Mostly small: `fill` writes every byte, and a big fill dominates an input's time.
    switch (in_.draw_in_range<std::uint8_t>(0, 15)) {
      case 0: r.size = 0; break;
      case 1: r.size = huge_bytes; break;
      case 2: r.size = page_bytes * in_.draw_in_range<std::uint64_t>(1, 512); break;
      default: r.size = page_bytes * in_.draw_in_range<std::uint64_t>(1, 32); break;
    }
    // A hole of size 0 is left out: the format does not say what it is (the two backends
    // differ: the vfio one prints ok, the mock EINVAL).
    if (r.kind == sc::mem_kind::hole && r.size == 0) r.size = page_bytes;
    no_dma_ |= r.kind == sc::mem_kind::bar;
    if (r.kind == sc::mem_kind::hugetlb && r.size != 0) {
      r.size = (r.size + huge_bytes - 1) / huge_bytes * huge_bytes;
      if (hugetlb_bytes_ + r.size > max_hugetlb_bytes) r.kind = sc::mem_kind::anon;
      else hugetlb_bytes_ += r.size;
    }
    line("mem m%zu %s 0x%" PRIx64 "%s", regions_.size(), std::string(sc::to_string(r.kind)).c_str(),
         r.size, r.read_only ? " ro" : "");
    regions_.push_back(r);
  }

  void fill() {
    const bool big = in_.draw_in_range<std::uint8_t>(0, 7) == 0;  // rarely a region over 256 KiB
    const auto n = nth_region([big](const region& r) {
      return r.page_backed() && !r.read_only && (big || r.size <= max_small_fill);
    });
    if (!n) return mem();
    line("fill m%zu %u", *n, unsigned{in_.draw_in_range<std::uint8_t>(0, 250)});
  }

  void map() {
    if (regions_.empty()) return mem();
    std::uint64_t at = iova();
    const std::size_t n = in_.draw<std::uint8_t>() % regions_.size();
    const std::uint64_t off = offset(regions_[n]);
    std::uint64_t size = region_length(regions_[n], off);
    if (size <= (std::uint64_t{256} << 20) && at < scratch_end && at + size > scratch_first) at -= 0x1000000;
    if (size != 0 && at + size == 0) at -= page_bytes;  // known difference 1 (header comment)
    static constexpr std::array<sc::prot, 6> prots{sc::prot::rw, sc::prot::rw, sc::prot::rw,
                                                   sc::prot::r,  sc::prot::w,  sc::prot::none};
    const auto p = prots[in_.draw_in_range<std::uint8_t>(0, 5)];
    line("map 0x%" PRIx64 " m%zu 0x%" PRIx64 " 0x%" PRIx64 " %s", at, n, off, size,
         std::string(sc::to_string(p)).c_str());
    maps_.push_back({at, size == 0 ? at : at + size - 1});
  }

  void map_vaddr() {
    if (regions_.empty()) return mem();
    const std::uint64_t at = iova();
    const std::size_t n = in_.draw<std::uint8_t>() % regions_.size();
    const std::uint64_t off = offset(regions_[n]);
    line("map-vaddr 0x%" PRIx64 " m%zu 0x%" PRIx64 " 0x%" PRIx64, at, n, off, length(at));
  }

  void pin(bool is_pin) {
    if (devices_.empty() && in_.draw_bool()) return op(kind::emulated);  // a device first
    // Mostly a device declared by an earlier `emulated` line; sometimes any of 0..3.
    const auto pick = in_.draw<std::uint8_t>();
    unsigned dev = devices_.empty() || pick >= 224 ? pick % 4U : devices_[pick % devices_.size()];
    // Mostly a page inside an earlier map (a pin), or an earlier pin (an unpin).
    std::uint64_t at = 0;
    const bool anchored = in_.draw_in_range<std::uint8_t>(0, 3) != 0;
    if (anchored && !is_pin && !pins_.empty()) {
      const pinned& p = pins_[in_.draw<std::uint8_t>() % pins_.size()];
      dev = p.device;
      at = p.iova;
    } else if (anchored && !maps_.empty()) {
      const ops::extent& m = maps_[in_.draw<std::uint8_t>() % maps_.size()];
      at = m.first + in_.draw_in_range<std::uint64_t>(0, std::min<std::uint64_t>((m.last - m.first) / page_bytes, 512)) * page_bytes;
    } else {
      at = iova();
    }
    std::uint64_t npages = 0;
    switch (in_.draw_in_range<std::uint8_t>(0, 7)) {
      case 6: npages = in_.draw_in_range<std::uint64_t>(0, 520); break;
      case 7: npages = std::array<std::uint64_t, 4>{0, 511, 512, 513}[in_.draw_in_range<std::uint8_t>(0, 3)]; break;
      default: npages = in_.draw_in_range<std::uint64_t>(1, 16); break;
    }
    if (is_pin) at -= at % page_bytes;  // known difference 2
    if (is_pin) pins_.push_back({dev, at});
    if (is_pin) {
      static constexpr std::array<const char*, 4> prots{"rw", "r", "w", "none"};
      const auto p = in_.draw_in_range<std::uint8_t>(0, 5);
      line("pin %u 0x%" PRIx64 " %" PRIu64 " %s", dev, at, npages, prots[p < 3 ? p : p - 2]);
    } else {
      line("unpin %u 0x%" PRIx64 " %" PRIu64, dev, at, npages);
    }
  }

  void dma(bool read) {
    if (dma_ops_ == max_dma || no_dma_) return line("info");
    const unsigned g = in_.draw_in_range<std::uint8_t>(0, 3) == 0 ? 1 : 0;
    const std::uint64_t len = in_.draw_in_range<std::uint64_t>(1, sc::max_dma_length);
    std::uint64_t at = iova();
    if (at + len > scratch_first || at + len < at) at %= scratch_first - len;
    if (read) {
      const auto n = nth_region([](const region& r) { return r.page_backed(); });
      if (!n) return mem();
      const std::uint64_t off = inside(regions_[*n], len);
      line("dma-read %u 0x%" PRIx64 " %" PRIu64 " m%zu 0x%" PRIx64, g, at, len, *n, off);
    } else {
      line("dma-write %u 0x%" PRIx64 " %" PRIu64 " %u", g, at, len,
           unsigned{in_.draw_in_range<std::uint8_t>(0, 250)});
    }
    ++dma_ops_;
  }

  void check() {
    const auto n = nth_region([](const region& r) { return r.page_backed(); });
    if (!n) return mem();
    const std::uint64_t len = in_.draw_in_range<std::uint64_t>(1, 2 * page_bytes);
    const std::uint64_t off = inside(regions_[*n], len);
    line("check m%zu 0x%" PRIx64 " %" PRIu64 " %u", *n, off, len,
         unsigned{in_.draw_in_range<std::uint8_t>(0, 250)});
  }

  // ---- operands -------------------------------------------------------------------------

  /// An IOVA: op_decoder's address operand against the earlier maps and fixed_iovas.
  std::uint64_t iova() { return ops::resolve(ops::detail::decode_address(in_), maps_, fixed_iovas); }

  /// A length for an IOVA range at `at`: op_decoder's length operand against the maps.
  std::uint64_t length(std::uint64_t at) { return ops::resolve(ops::detail::decode_length(in_), at, maps_); }

  /// An offset into region r: mostly a page inside, sometimes unaligned or past its end.
  std::uint64_t offset(const region& r) {
    const std::uint64_t pages = r.size / page_bytes;
    switch (in_.draw_in_range<std::uint8_t>(0, 7)) {
      case 6: return in_.draw_in_range<std::uint64_t>(0, pages) * page_bytes + (in_.draw_bool() ? 0x800 : 1);
      case 7: return r.size + in_.draw_in_range<std::uint64_t>(0, 4) * page_bytes;
      default: return pages == 0 ? 0 : in_.draw_in_range<std::uint64_t>(0, pages - 1) * page_bytes;
    }
  }

  /// A map size from offset `off` of r: mostly the rest of it or a few pages; sometimes
  /// past its end, zero, or wild.
  std::uint64_t region_length(const region& r, std::uint64_t off) {
    const std::uint64_t rest = off < r.size ? r.size - off : page_bytes;
    switch (in_.draw_in_range<std::uint8_t>(0, 7)) {
      case 0: case 1: case 2: return rest;
      case 3: return rest + page_bytes * in_.draw_in_range<std::uint64_t>(1, 4);
      case 4: return 0;
      case 5: return in_.draw_edgy<std::uint64_t>();
      default: return page_bytes * in_.draw_in_range<std::uint64_t>(1, 16);
    }
  }

  /// An offset of r at which len bytes fit (r.size >= 1 page).
  std::uint64_t inside(const region& r, std::uint64_t len) {
    return r.size <= len ? 0 : in_.draw_in_range<std::uint64_t>(0, r.size - len);
  }

  /// The nth region (by an operand byte) among those satisfying pred, if any.
  template <class Pred>
  std::optional<std::size_t> nth_region(Pred pred) {
    std::vector<std::size_t> ok;
    for (std::size_t i = 0; i < regions_.size(); ++i)
      if (pred(regions_[i])) ok.push_back(i);
    const auto pick = in_.draw<std::uint8_t>();
    if (ok.empty()) return std::nullopt;
    return ok[pick % ok.size()];
  }

  __attribute__((format(printf, 2, 3))) void line(const char* fmt, ...) {
    char buf[160];
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, args);
    va_end(args);
    text_ += buf;
    text_ += '\n';
  }

  fuzz_input& in_;
  std::string text_;
  std::vector<region> regions_;
  std::vector<ops::extent> maps_;
  std::vector<unsigned> devices_;
  struct pinned {
    unsigned device;
    std::uint64_t iova;
  };
  std::vector<pinned> pins_;  ///< every `pin` decoded (its device and IOVA)
  std::uint64_t hugetlb_bytes_ = 0;
  std::size_t dma_ops_ = 0;
  bool no_dma_ = false;  ///< after memlock, entry-limit or a bar region (see the header comment)
};

/// The script of an input.
[[nodiscard]] inline std::string decode(const std::uint8_t* data, std::size_t size) {
  fuzz_input in(data, size);
  return decoder(in).script();
}

}  // namespace vfiopin::fuzz::scenario_ops

#endif  // VFIOPIN_FUZZ_SCENARIO_OPS_HPP
