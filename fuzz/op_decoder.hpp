// SPDX-License-Identifier: Apache-2.0
//
// op_decoder: fuzz input bytes -> a run configuration and a stream of container operations.
//
// Theory of operation. The op-sequence fuzzers (fuzz_ops, and the differential targets that
// replay the same stream on another model) read their input as
//   [config byte] [op] [op] ... (at most max_ops)
// decode_config() takes the kernel profile, the IOMMU type, the IOMMU geometry variant and
// physical-memory scatter from the first byte; decode_op() takes one operation: an opcode
// byte (a weighted table, so common operations are common) and then only the operands
// that operation uses, so a mutation of one operation rarely shifts the next.
//
// Operands are symbolic, the way syzkaller addresses resources: an address is "the start
// (or the end) of the nth live extent, plus a page offset and a sub-page offset", or an
// entry of a fixed table of interesting addresses (the MSI window, the aperture top,
// 2^64 - 4 KiB ...), or a wild 64-bit value (draw_edgy: near 0, near 2^64, around powers
// of two). A length is a page count, the size of the nth extent, "the rest of the extent
// the address fell in", or wild; the ranges of UNMAP, UNMAP(VADDR), UNMAP with
// GET_DIRTY_BITMAP and DIRTY_PAGES GET_BITMAP may also span "from the address to the end
// of the nth extent at or after it", so one request covers several mappings (the paths
// that walk more than one dma: a VADDR rollback, a partial dirty copy). resolve() turns an operand into a value against the
// caller's lists of live extents (mappings for IOVAs, process regions for vaddrs), so
// most operations hit live state whatever state the model is in, and the same bytes
// mean the same operations to every model given the same lists. Nothing here knows a
// model: the executor decides what an operation does.
#ifndef VFIOPIN_FUZZ_OP_DECODER_HPP
#define VFIOPIN_FUZZ_OP_DECODER_HPP

#include "fuzz_input.hpp"

#include <vfiopin/types/page.hpp>
#include <vfiopin/types/prot.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace vfiopin::fuzz::ops {

/// Operations per input (the rest of a longer input is ignored).
inline constexpr std::size_t max_ops = 64;

/// The run's fixed parameters, from the first byte.
struct run_config {
  std::uint8_t profile = 0;    ///< index into the executor's list of kernel profiles (0..3)
  std::uint8_t type = 0;       ///< 0: type1v2, 1: type1, 2: an invalid VFIO_SET_IOMMU type
  std::uint8_t geometry = 0;   ///< IOMMU geometry variant (0..3)
  bool scatter = false;        ///< physical frames allocated non-contiguously
};

/// Byte: bits 0-1 profile, 2-4 type (0-4 v2, 5-6 v1, 7 invalid), 5-6 geometry, 7 scatter.
[[nodiscard]] inline run_config decode_config(fuzz_input& in) noexcept {
  const auto b = in.draw<std::uint8_t>();
  const unsigned t = (b >> 2U) & 7U;
  return run_config{static_cast<std::uint8_t>(b & 3U),
                    static_cast<std::uint8_t>(t <= 4 ? 0 : t <= 6 ? 1 : 2),
                    static_cast<std::uint8_t>((b >> 5U) & 3U), (b & 0x80U) != 0};
}

enum class op_kind : std::uint8_t {
  attach,          ///< attach real group `group` (0..2; 3: the first emulated group's id)
  detach,          ///< detach group `group`
  mmap,            ///< process: map a region of kind `region`, size `size`, `read_only`
  munmap,          ///< process: unmap the region `from.index`
  touch,           ///< process: store (flag) or load at `from` for `size` bytes
  alias,           ///< process: map the memfd/hugetlb region `from.index` again (`read_only`)
  map,             ///< MAP_DMA at, from, size, access
  map_vaddr,       ///< MAP_DMA with VADDR: at, from, size (flag: with READ|WRITE)
  unmap,           ///< UNMAP_DMA at, size
  unmap_all,       ///< UNMAP_DMA ALL (flag: a malformed one, iova/size not 0)
  unmap_vaddr,     ///< UNMAP_DMA VADDR at, size
  unmap_dirty,     ///< UNMAP_DMA GET_DIRTY_BITMAP at, size, bitmap page size `value`
  dirty_start,     ///< DIRTY_PAGES START
  dirty_stop,      ///< DIRTY_PAGES STOP
  dirty_get,       ///< DIRTY_PAGES GET_BITMAP at, size, bitmap page size `value`
  entry_limit,     ///< dma_entry_limit = value
  memlock,         ///< RLIMIT_MEMLOCK = value pages (flag: infinity), CAP_IPC_LOCK dropped
  cap_restore,     ///< CAP_IPC_LOCK back (flag: and RLIMIT_MEMLOCK infinity)
  add_emulated,    ///< add_device(callback): a new emulated device (`stubborn`)
  add_real,        ///< add_device(group, callback): a device of real group `group`
  remove_device,   ///< remove device `device`
  pin,             ///< vfio_pin_pages(device, at, value pages, access)
  unpin,           ///< vfio_unpin_pages(device, at, value pages); flag: a pin it holds
  info,            ///< GET_INFO
};

/// Where an address operand is anchored.
enum class anchor : std::uint8_t { start, end, fixed, wild };

struct address_operand {
  anchor base = anchor::start;
  std::uint8_t index = 0;   ///< the nth live extent (mod count), or the nth fixed address
  std::int32_t pages = 0;   ///< page offset from the anchor (may be negative)
  std::uint16_t byte = 0;   ///< sub-page offset, 0..4095
  std::uint64_t wild = 0;   ///< anchor::wild: the value itself
};

/// pages: a page count; extent: the size of the nth extent; rest: to the end of the extent
/// the address is in; span: to the end of the nth extent that ends at or after the address.
enum class length_kind : std::uint8_t { pages, extent, rest, wild, span };

struct length_operand {
  length_kind how = length_kind::pages;
  std::uint8_t index = 0;   ///< length_kind::extent, span: the nth live extent
  std::int32_t pages = 1;   ///< pages: the count; extent, rest: a page delta
  std::uint64_t wild = 0;
};

/// One decoded operation; each kind uses only the fields its comment in op_kind names.
struct op {
  op_kind kind = op_kind::info;
  std::uint8_t group = 0;
  std::uint8_t region = 0;  ///< mock::region_kind order: anon, memfd, hugetlb, bar, hole
  bool read_only = false;
  bool stubborn = false;
  bool flag = false;
  prot access = prot::read_write;
  std::uint8_t device = 0;  ///< the nth live device; an index past the live ones: unknown
  address_operand at{};     ///< an IOVA
  address_operand from{};   ///< a vaddr (or a region index)
  length_operand size{};
  std::uint64_t value = 0;
};

/// A closed range [first, last] of live state (a mapping, a region).
struct extent {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};

/// Interesting IOVAs: the test bed's MSI window and 39-bit aperture top, a 48-bit top,
/// and the top of the 64-bit space.
inline constexpr std::array<std::uint64_t, 10> fixed_iovas{
    0x0,          0x100000,           0x200000,           0xfee00000,
    0xfef00000,   0x7fffe00000,       0x8000000000,       0xffffffe00000,
    0xffffffffffe00000, 0xfffffffffffff000};

/// Interesting vaddrs when no region is live (or by choice): null, low, and the top.
inline constexpr std::array<std::uint64_t, 4> fixed_vaddrs{0x0, 0x1000, 0x7ffffffff000,
                                                           0xfffffffffffff000};

namespace detail {

inline address_operand decode_address(fuzz_input& in) noexcept {
  address_operand a;
  const auto sel = in.draw_in_range<std::uint8_t>(0, 9);
  if (sel == 9) {
    a.base = anchor::wild;
    a.wild = in.draw_edgy<std::uint64_t>();
    return a;
  }
  a.base = sel <= 5 ? anchor::start : sel <= 7 ? anchor::end : anchor::fixed;
  a.index = in.draw<std::uint8_t>();
  a.pages = a.base == anchor::end ? in.draw_in_range<std::int32_t>(-8, 7)
                                  : in.draw_in_range<std::int32_t>(0, 15);
  if (sel == 5) {  // an unaligned address inside the extent
    static constexpr std::array<std::uint16_t, 4> bytes{0x800, 0x1, 0xfff, 0x400};
    a.byte = bytes[in.draw_in_range<std::uint8_t>(0, 3)];
  }
  return a;
}

inline length_operand decode_length(fuzz_input& in) noexcept {
  length_operand l;
  switch (in.draw_in_range<std::uint8_t>(0, 7)) {
    case 0: case 1: case 2:
      l.how = length_kind::pages;
      l.pages = in.draw_in_range<std::int32_t>(1, 16);
      break;
    case 3:
      l.how = length_kind::pages;  // up to a 2 MiB huge page and a little past; 0 pages too
      l.pages = in.draw_in_range<std::int32_t>(0, 520);
      break;
    case 4:
      l.how = length_kind::extent;
      l.index = in.draw<std::uint8_t>();
      l.pages = in.draw_in_range<std::int32_t>(-2, 2);
      break;
    case 5: case 6:
      l.how = length_kind::rest;
      l.pages = in.draw_in_range<std::int32_t>(-2, 2);
      break;
    default:
      l.how = length_kind::wild;
      l.wild = in.draw_edgy<std::uint64_t>();
      break;
  }
  return l;
}

/// The length of a request range (UNMAP, UNMAP VADDR, the dirty bitmaps): decode_length's
/// selector, but its second `rest` slot spans several extents (length_kind::span).
inline length_operand decode_range_length(fuzz_input& in) noexcept {
  fuzz_input probe = in;
  if (probe.draw_in_range<std::uint8_t>(0, 7) != 6) return decode_length(in);
  in = probe;
  length_operand l;
  l.how = length_kind::span;
  l.index = in.draw<std::uint8_t>();
  return l;
}

inline prot decode_prot(fuzz_input& in) noexcept {
  static constexpr std::array<prot, 6> table{prot::read_write, prot::read_write, prot::read,
                                             prot::write,      prot::read_write, prot::none};
  return table[in.draw_in_range<std::uint8_t>(0, 5)];
}

/// The opcode table: an entry per weight unit.
inline constexpr std::array<op_kind, 40> opcodes{
    op_kind::attach,      op_kind::attach,        op_kind::attach,       op_kind::detach,
    op_kind::mmap,        op_kind::mmap,          op_kind::mmap,         op_kind::munmap,
    op_kind::touch,       op_kind::touch,         op_kind::alias,        op_kind::map,
    op_kind::map,         op_kind::map,           op_kind::map,          op_kind::map,
    op_kind::map_vaddr,   op_kind::unmap,         op_kind::unmap,        op_kind::unmap,
    op_kind::unmap_all,   op_kind::unmap_vaddr,   op_kind::unmap_dirty,  op_kind::dirty_start,
    op_kind::dirty_stop,  op_kind::dirty_get,     op_kind::entry_limit,  op_kind::memlock,
    op_kind::cap_restore, op_kind::add_emulated,  op_kind::add_emulated, op_kind::add_real,
    op_kind::remove_device, op_kind::pin,         op_kind::pin,          op_kind::pin,
    op_kind::pin,         op_kind::unpin,         op_kind::unpin,        op_kind::info};

/// A bitmap page size: mostly 4 KiB, sometimes another power of two, 0 or wild.
inline std::uint64_t decode_pgsize(fuzz_input& in) noexcept {
  switch (in.draw_in_range<std::uint8_t>(0, 7)) {
    case 5: return std::uint64_t{1} << in.draw_in_range<unsigned>(0, 63);
    case 6: return 0;
    case 7: return in.draw_edgy<std::uint64_t>();
    default: return page_bytes;
  }
}

/// A page count for pin/unpin: mostly 1..16, sometimes up to the 512 limit and past it.
inline std::uint64_t decode_npages(fuzz_input& in) noexcept {
  switch (in.draw_in_range<std::uint8_t>(0, 7)) {
    case 6: return in.draw_in_range<std::uint64_t>(0, 520);
    case 7: return in.draw_edgy<std::uint64_t>();
    default: return in.draw_in_range<std::uint64_t>(1, 16);
  }
}

}  // namespace detail

/// The next operation (when the input is exhausted: info with zero operands).
[[nodiscard]] inline op decode_op(fuzz_input& in) noexcept {
  op o;
  o.kind = detail::opcodes[in.draw_in_range<std::size_t>(0, detail::opcodes.size() - 1)];
  switch (o.kind) {
    case op_kind::attach:
    case op_kind::detach:
      o.group = in.draw_in_range<std::uint8_t>(0, 3);
      break;
    case op_kind::mmap: {
      // Mostly anonymous memory; a hugetlb region is 512 pages, so it is rarer.
      static constexpr std::array<std::uint8_t, 8> kinds{0, 0, 0, 1, 1, 2, 3, 4};
      o.region = kinds[in.draw_in_range<std::uint8_t>(0, 7)];
      o.read_only = in.draw_in_range<std::uint8_t>(0, 3) == 0;
      o.size = detail::decode_length(in);
      break;
    }
    case op_kind::munmap:
    case op_kind::alias:
      o.from.index = in.draw<std::uint8_t>();
      o.read_only = in.draw_bool();
      break;
    case op_kind::touch:
      o.flag = in.draw_in_range<std::uint8_t>(0, 3) != 0;  // mostly stores
      o.from = detail::decode_address(in);
      o.size = detail::decode_length(in);
      break;
    case op_kind::map:
      o.at = detail::decode_address(in);
      o.from = detail::decode_address(in);
      o.size = detail::decode_length(in);
      o.access = detail::decode_prot(in);
      break;
    case op_kind::map_vaddr:
      o.at = detail::decode_address(in);
      o.from = detail::decode_address(in);
      o.size = detail::decode_length(in);
      o.flag = in.draw_in_range<std::uint8_t>(0, 7) == 0;  // with a prot: malformed
      break;
    case op_kind::unmap:
    case op_kind::unmap_vaddr:
      o.at = detail::decode_address(in);
      o.size = detail::decode_range_length(in);
      break;
    case op_kind::unmap_dirty:
    case op_kind::dirty_get:
      o.at = detail::decode_address(in);
      o.size = detail::decode_range_length(in);
      o.value = detail::decode_pgsize(in);
      o.flag = in.draw_in_range<std::uint8_t>(0, 7) == 0;  // a bitmap one word short
      break;
    case op_kind::unmap_all:
      o.flag = in.draw_in_range<std::uint8_t>(0, 7) == 0;
      break;
    case op_kind::entry_limit:
      o.value = in.draw_bool() ? in.draw_in_range<std::uint64_t>(0, 8)
                               : in.draw_edgy<std::uint32_t>();
      break;
    case op_kind::memlock:
      o.flag = in.draw_in_range<std::uint8_t>(0, 7) == 0;
      o.value = in.draw_in_range<std::uint64_t>(0, 300);
      break;
    case op_kind::cap_restore:
      o.flag = in.draw_bool();
      break;
    case op_kind::add_emulated:
      o.stubborn = in.draw_in_range<std::uint8_t>(0, 7) == 0;
      break;
    case op_kind::add_real:
      o.group = in.draw_in_range<std::uint8_t>(0, 3);
      break;
    case op_kind::remove_device:
      o.device = in.draw<std::uint8_t>();
      break;
    case op_kind::pin:
      o.device = in.draw<std::uint8_t>();
      o.at = detail::decode_address(in);
      o.value = detail::decode_npages(in);
      o.access = detail::decode_prot(in);
      break;
    case op_kind::unpin:
      o.device = in.draw<std::uint8_t>();
      o.flag = in.draw_in_range<std::uint8_t>(0, 3) != 0;  // mostly a pin it holds
      if (o.flag) {
        o.from.index = in.draw<std::uint8_t>();  // the nth key it holds
      } else {
        o.at = detail::decode_address(in);
      }
      o.value = detail::decode_npages(in);
      break;
    case op_kind::dirty_start:
    case op_kind::dirty_stop:
    case op_kind::info:
      break;
  }
  return o;
}

/// Fail-nth (fuzz_fail_nth): the fallible step n to fail, from one byte, small n most often,
/// as most operations have a few steps: the top two bits pick a scale, the low six the
/// step: 1-4, 1-16, 1-64, or 65-254 in steps of 3 (P(n = 1) = 21/256, P(n <= 4) = 84/256).
[[nodiscard]] constexpr std::uint64_t decode_fail_step(std::uint8_t b) noexcept {
  const std::uint64_t low = b & 63U;
  switch (b >> 6U) {
    case 0: return 1 + (low & 3U);
    case 1: return 1 + (low & 15U);
    case 2: return 1 + low;
    default: return 65 + low * 3;
  }
}

/// The value of an address operand against live extents and a fixed table.
[[nodiscard]] inline std::uint64_t resolve(const address_operand& a,
                                           std::span<const extent> live,
                                           std::span<const std::uint64_t> fixed) noexcept {
  if (a.base == anchor::wild) return a.wild;
  std::uint64_t base = 0;
  if ((a.base == anchor::start || a.base == anchor::end) && !live.empty()) {
    const extent& e = live[a.index % live.size()];
    base = a.base == anchor::start ? e.first : e.last + 1;
  } else if (!fixed.empty()) {
    base = fixed[a.index % fixed.size()];
  }
  // Unsigned arithmetic: offsets past 2^64 wrap, as the kernel's do.
  return base + static_cast<std::uint64_t>(static_cast<std::int64_t>(a.pages)) * page_bytes + a.byte;
}

/// The value of a length operand; `at` is the resolved address it goes with, looked up in
/// `live` for length_kind::rest (no extent there: the page delta alone, at least 1 page).
[[nodiscard]] inline std::uint64_t resolve(const length_operand& l, std::uint64_t at,
                                           std::span<const extent> live) noexcept {
  const auto delta = static_cast<std::uint64_t>(static_cast<std::int64_t>(l.pages)) * page_bytes;
  switch (l.how) {
    case length_kind::pages:
      return static_cast<std::uint64_t>(l.pages) * page_bytes;
    case length_kind::extent:
      if (live.empty()) return page_bytes;
      return live[l.index % live.size()].last - live[l.index % live.size()].first + 1 + delta;
    case length_kind::rest:
      for (const extent& e : live)
        if (at >= e.first && at <= e.last) return e.last - at + 1 + delta;
      return l.pages > 0 ? delta : page_bytes;
    case length_kind::span: {
      // The extents ending at or after `at`, in list order (IOVA order for mappings).
      std::size_t count = 0;
      for (const extent& e : live) count += e.last >= at ? 1 : 0;
      if (count == 0) return page_bytes;
      std::size_t n = l.index % count;
      for (const extent& e : live) {
        if (e.last < at) continue;
        if (n-- == 0) return e.last - at + 1;  // 0 (2^64) only for at 0 and an extent at the top
      }
      return page_bytes;
    }
    case length_kind::wild:
      break;
  }
  return l.wild;
}

}  // namespace vfiopin::fuzz::ops

#endif  // VFIOPIN_FUZZ_OP_DECODER_HPP
