// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/scenario/ast.hpp: the parsed form of a scenario script.
//
// Theory of operation. A scenario (docs: scenario-format.md) is a list of operations on
// one VFIO type1 container. The parser (parser.hpp) turns each non-blank line into one
// `statement`: the operation itself as a plain struct (one struct per row of the format's
// operation table, all held in the `operation` variant), plus what is needed to print and
// check it again:
//   - `line`, the 1-based source line, for diagnostics and --check mismatches;
//   - `text`, the canonical text: the operation's tokens joined by single spaces, without
//     comment or expectation (what --echo prints before " => ");
//   - `expected`, the text after "=>" (tokens joined by single spaces), if the line has one.
// Numbers are kept as std::uint64_t exactly as written (suffixes applied); nothing is
// aligned, rounded or range-checked here beyond what the format refuses at parse time, so
// a backend sees the same values the kernel would be handed. Region names stay strings:
// the runner (runner.hpp) resolves them to the region's declaration and state.
#ifndef VFIOPIN_SCENARIO_AST_HPP
#define VFIOPIN_SCENARIO_AST_HPP

#include <vfiopin/types/prot.hpp>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace vfiopin::scenario {

/// PROT of `map` and `pin`. Values equal VFIO_DMA_MAP_FLAG_READ/WRITE (and vfiopin::prot).
enum class prot : std::uint8_t { none = 0, r = 1, w = 2, rw = 3 };

/// The container type of `container` (VFIO_TYPE1_IOMMU or VFIO_TYPE1v2_IOMMU).
enum class container_type : std::uint8_t { type1v2, type1 };

/// KIND of `mem`.
enum class mem_kind : std::uint8_t {
  anon,     ///< private anonymous memory
  memfd,    ///< shared memfd memory
  hugetlb,  ///< 2 MiB hugetlb pages
  bar,      ///< BAR0 of test device 0 (VM_PFNMAP, no struct pages)
  hole,     ///< an address range with nothing mapped
};

// ---- one struct per operation of the format's table ------------------------------------

struct op_container { container_type type = container_type::type1v2; };
struct op_entry_limit { std::uint64_t limit = 0; };
struct op_memlock { std::uint64_t bytes = 0; };
struct op_attach { std::uint64_t group = 0; };  ///< group is 0 or 1
struct op_detach { std::uint64_t group = 0; };  ///< group is 0 or 1
struct op_mem {
  std::string name;
  mem_kind kind = mem_kind::anon;
  std::uint64_t size = 0;
  bool read_only = false;
};
struct op_fill { std::string name; std::uint64_t seed = 0; };
struct op_map {
  std::uint64_t iova = 0;
  std::string name;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  scenario::prot prot = scenario::prot::rw;
};
struct op_map_vaddr {
  std::uint64_t iova = 0;
  std::string name;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};
struct op_unmap { std::uint64_t iova = 0; std::uint64_t size = 0; };
struct op_unmap_all {};
struct op_unmap_vaddr { std::uint64_t iova = 0; std::uint64_t size = 0; };
struct op_unmap_dirty { std::uint64_t iova = 0; std::uint64_t size = 0; };
struct op_info {};
struct op_locked {};
struct op_dirty_start {};
struct op_dirty_stop {};
struct op_dirty_get { std::uint64_t iova = 0; std::uint64_t size = 0; };
/// LEN is 1..2048 and IOVA+LEN <= dma_limit (checked by the parser).
struct op_dma_read {
  std::uint64_t group = 0;
  std::uint64_t iova = 0;
  std::uint64_t length = 0;
  std::string name;
  std::uint64_t offset = 0;
};
struct op_dma_write {
  std::uint64_t group = 0;
  std::uint64_t iova = 0;
  std::uint64_t length = 0;
  std::uint64_t seed = 0;
};
struct op_check {
  std::string name;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::uint64_t seed = 0;
};
struct op_emulated { std::uint64_t device = 0; };
struct op_pin {
  std::uint64_t device = 0;
  std::uint64_t iova = 0;
  std::uint64_t npages = 0;
  scenario::prot prot = scenario::prot::rw;
};
struct op_unpin {
  std::uint64_t device = 0;
  std::uint64_t iova = 0;
  std::uint64_t npages = 0;
};

// ---- extensions: the mock's model knobs and the fuzz_ops operations (mock only) --------
// docs/fuzzing.md "Reproducers" lists them; a backend that cannot run one prints
// `skip mock-only` (target.hpp's defaults).

struct op_kernel { std::string profile; };                 ///< mock kernel profile by name
struct op_geometry { std::uint64_t variant = 0; };         ///< fuzz/ops_common.hpp geometry 0..3
struct op_scatter {};                                      ///< non-contiguous frames from now on
struct op_container_type { std::uint64_t type = 0; };      ///< raw VFIO_SET_IOMMU type
struct op_attach_group { std::uint64_t group = 0; };       ///< any group id
struct op_detach_group { std::uint64_t group = 0; };
/// mmap exactly (no hole is reserved when it fails).
struct op_mmap { std::string name; mem_kind kind = mem_kind::anon; std::uint64_t size = 0; bool read_only = false; };
struct op_munmap { std::string name; };
struct op_alias { std::string name; std::string source; bool read_only = false; };
struct op_vaddr { std::string name; std::uint64_t address = 0; };  ///< a name for a fixed address
/// CPU access of LEN bytes at NAME+OFFSET: a store of zeros (write) or a load (read).
struct op_touch { std::string name; std::uint64_t offset = 0; std::uint64_t length = 0; bool write = true; };
struct op_memlock_unlimited {};
struct op_cap_restore { bool unlimited = false; };
/// MAP_DMA with VFIO_DMA_MAP_FLAG_VADDR and a PROT (the kernel refuses READ/WRITE with it).
struct op_map_vaddr_prot : op_map {};
struct op_unmap_all_range { std::uint64_t iova = 0; std::uint64_t size = 0; };
/// DIRTY_PAGES GET_BITMAP / UNMAP with GET_DIRTY_BITMAP with any bitmap page size and a
/// user bitmap of WORDS 64-bit words.
struct op_dirty_bitmap { std::uint64_t iova = 0; std::uint64_t size = 0; std::uint64_t pgsize = 0; std::uint64_t words = 0; };
struct op_unmap_dirty_bitmap { std::uint64_t iova = 0; std::uint64_t size = 0; std::uint64_t pgsize = 0; std::uint64_t words = 0; };
/// add_device: an emulated device, or a device of real group `group`; a stubborn one keeps
/// its pins when told of an unmap.
struct op_add_device { std::uint64_t device = 0; std::optional<std::uint64_t> group; bool stubborn = false; };
struct op_remove_device { std::uint64_t device = 0; };
struct op_device_id { std::uint64_t device = 0; std::uint64_t id = 0; };  ///< D is raw id N
struct op_teardown {};
struct op_fail_nth { std::uint64_t step = 0; };  ///< the next operation's step N fails
/// fuzz_ccw's world (tools/replay/ccw_world.hpp): its own process and container, guest RAM
/// A at IOVA [0, 0x8000) rw and B at [0x9000, 0xa000) ro, an s390 ccw_translator attached.
struct op_ccw_setup {};
/// CPU stores of BYTES at guest address GUEST of the ccw world.
struct op_ccw_write { std::uint64_t guest = 0; std::vector<std::uint8_t> bytes; };
/// START SUBCHANNEL: the translation of the channel program at CPA.
struct op_ccw_translate { std::uint64_t cpa = 0; bool format0 = false; bool block2k = false; };
/// An unmap notification of [IOVA, IOVA + LEN - 1] to the translator.
struct op_ccw_notify { std::uint64_t iova = 0; std::uint64_t length = 0; };
struct op_ccw_complete {};  ///< the program's end: everything released

/// Any one operation.
using operation =
    std::variant<op_container, op_entry_limit, op_memlock, op_attach, op_detach, op_mem,
                 op_fill, op_map, op_map_vaddr, op_unmap, op_unmap_all, op_unmap_vaddr,
                 op_unmap_dirty, op_info, op_locked, op_dirty_start, op_dirty_stop,
                 op_dirty_get, op_dma_read, op_dma_write, op_check, op_emulated, op_pin,
                 op_unpin,
                 // extensions
                 op_kernel, op_geometry, op_scatter, op_container_type, op_attach_group,
                 op_detach_group, op_mmap, op_munmap, op_alias, op_vaddr, op_touch,
                 op_memlock_unlimited, op_cap_restore, op_unmap_all_range, op_dirty_bitmap,
                 op_unmap_dirty_bitmap, op_add_device, op_remove_device, op_device_id,
                 op_teardown, op_fail_nth, op_map_vaddr_prot, op_ccw_setup, op_ccw_write,
                 op_ccw_translate, op_ccw_notify, op_ccw_complete>;

/// One operation line of a script.
struct statement {
  std::size_t line = 0;                 ///< 1-based line number in the file
  std::string text;                     ///< canonical text (tokens joined by one space)
  std::optional<std::string> expected;  ///< text after "=>", tokens joined by one space
  scenario::operation op;
};

/// A parsed script: the statements of one file, in order.
struct script {
  std::string file_name;
  std::vector<statement> statements;
};

// ---- limits the format fixes ------------------------------------------------------------

inline constexpr std::uint64_t max_group = 1;             ///< test groups are 0 and 1
inline constexpr std::uint64_t max_dma_length = 2048;     ///< DMA LEN is 1..2048
inline constexpr std::uint64_t dma_limit = 0x10000000;    ///< edu: 28-bit DMA mask
inline constexpr std::uint64_t fill_modulus = 251;        ///< fill pattern period
inline constexpr std::uint64_t bitmap_page_size = 4096;   ///< dirty bitmap granule
inline constexpr std::uint64_t max_touch_length = 0x100000;  ///< touch LEN at most 1 MiB
inline constexpr std::uint64_t max_bitmap_words = 0x10000;   ///< *-bitmap WORDS at most 64 Ki
inline constexpr std::size_t max_ccw_write_bytes = 64;       ///< ccw-write BYTES at most 64

/// The byte `fill NAME SEED` writes at offset i: ((i * 31 + SEED) mod 251) + 1, never 0.
[[nodiscard]] constexpr std::uint8_t fill_byte(std::uint64_t i, std::uint64_t seed) noexcept {
  // (i*31 + seed) mod 251 computed without overflow: reduce each term first.
  const std::uint64_t v = ((i % fill_modulus) * 31 + seed % fill_modulus) % fill_modulus;
  return static_cast<std::uint8_t>(v + 1);
}

/// The seed that `check` needs at offset `offset` of a region filled with `seed`.
[[nodiscard]] constexpr std::uint64_t seed_at(std::uint64_t seed, std::uint64_t offset) noexcept {
  return ((offset % fill_modulus) * 31 + seed % fill_modulus) % fill_modulus;
}

// ---- spellings --------------------------------------------------------------------------

[[nodiscard]] constexpr std::string_view to_string(prot p) noexcept {
  switch (p) {
    case prot::none: return "none";
    case prot::r: return "r";
    case prot::w: return "w";
    case prot::rw: return "rw";
  }
  return "?";
}

[[nodiscard]] constexpr std::string_view to_string(container_type t) noexcept {
  return t == container_type::type1 ? "type1" : "type1v2";
}

[[nodiscard]] constexpr std::string_view to_string(mem_kind k) noexcept {
  switch (k) {
    case mem_kind::anon: return "anon";
    case mem_kind::memfd: return "memfd";
    case mem_kind::hugetlb: return "hugetlb";
    case mem_kind::bar: return "bar";
    case mem_kind::hole: return "hole";
  }
  return "?";
}

/// The library's prot flag set for a scenario PROT (same numeric values).
[[nodiscard]] constexpr vfiopin::prot to_library_prot(prot p) noexcept {
  return static_cast<vfiopin::prot>(static_cast<std::uint8_t>(p));
}

/// The operation keyword a statement starts with ("map", "dirty get", ...).
[[nodiscard]] inline std::string_view keyword(const operation& op) noexcept {
  static constexpr std::string_view names[] = {
      "container", "entry-limit", "memlock",     "attach",      "detach",      "mem",
      "fill",      "map",         "map-vaddr",   "unmap",       "unmap-all",   "unmap-vaddr",
      "unmap-dirty", "info",      "locked",      "dirty start", "dirty stop",  "dirty get",
      "dma-read",  "dma-write",   "check",       "emulated",    "pin",         "unpin",
      "kernel",    "geometry",    "scatter",     "container-type", "attach-group",
      "detach-group", "mmap",     "munmap",      "alias",       "vaddr",       "touch",
      "memlock",   "cap-restore", "unmap-all-range", "dirty-bitmap", "unmap-dirty-bitmap",
      "add-device", "remove-device", "device-id", "teardown",   "fail-nth",
      "map-vaddr-prot", "ccw-setup", "ccw-write", "ccw-translate", "ccw-notify",
      "ccw-complete"};
  static_assert(std::size(names) == std::variant_size_v<operation>);
  const std::size_t i = op.index();
  return i < std::size(names) ? names[i] : std::string_view("?");
}

}  // namespace vfiopin::scenario

#endif  // VFIOPIN_SCENARIO_AST_HPP
