// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/scenario/syntax.hpp: the keyword table of scenario scripts.
//
// Theory of operation. One row per keyword of the format's operation table: its spelling,
// a usage line for argument-count messages, how many arguments it takes, and whether it is
// a container operation (refused before the first `container` line). The parser
// (parser.hpp) looks a line's first token up here before it reads the arguments, so the
// table is the single place that says what a well-formed line looks like; `dirty` has one
// row and its start/stop/get forms are told apart by the parser. The rows after `unpin`
// are the extensions (ast.hpp): mock-only operations for fuzz reproducers.
#ifndef VFIOPIN_SCENARIO_SYNTAX_HPP
#define VFIOPIN_SCENARIO_SYNTAX_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace vfiopin::scenario::detail {

/// The grammar row of one keyword.
struct op_syntax {
  std::string_view keyword;
  std::string_view usage;  ///< for argument-count messages
  std::size_t min_args;
  std::size_t max_args;
  bool needs_container;
};

/// The keywords, in the order of op_table.
enum class keyword_id : std::uint8_t {
  container, entry_limit, memlock, attach, detach, mem, fill, map, map_vaddr, unmap,
  unmap_all, unmap_vaddr, unmap_dirty, info, locked, dirty, dma_read, dma_write, check,
  emulated, pin, unpin,
  // extensions (ast.hpp)
  kernel, geometry, scatter, container_type, attach_group, detach_group, mmap, munmap, alias,
  vaddr, touch, cap_restore, unmap_all_range, dirty_bitmap, unmap_dirty_bitmap, add_device,
  remove_device, device_id, teardown, fail_nth, map_vaddr_prot, ccw_setup, ccw_write,
  ccw_translate, ccw_notify, ccw_complete, count_
};

inline constexpr std::array<op_syntax, static_cast<std::size_t>(keyword_id::count_)> op_table{{
    {"container", "container type1v2|type1", 1, 1, false},
    {"entry-limit", "entry-limit N", 1, 1, false},
    {"memlock", "memlock BYTES", 1, 1, false},
    {"attach", "attach G", 1, 1, true},
    {"detach", "detach G", 1, 1, true},
    {"mem", "mem NAME KIND SIZE [ro]", 3, 4, false},
    {"fill", "fill NAME SEED", 2, 2, false},
    {"map", "map IOVA NAME OFFSET SIZE PROT", 5, 5, true},
    {"map-vaddr", "map-vaddr IOVA NAME OFFSET SIZE", 4, 4, true},
    {"unmap", "unmap IOVA SIZE", 2, 2, true},
    {"unmap-all", "unmap-all", 0, 0, true},
    {"unmap-vaddr", "unmap-vaddr IOVA SIZE", 2, 2, true},
    {"unmap-dirty", "unmap-dirty IOVA SIZE", 2, 2, true},
    {"info", "info", 0, 0, true},
    {"locked", "locked", 0, 0, false},
    {"dirty", "dirty start|stop|get IOVA SIZE", 1, 3, true},
    {"dma-read", "dma-read G IOVA LEN NAME OFFSET", 5, 5, true},
    {"dma-write", "dma-write G IOVA LEN SEED", 4, 4, true},
    {"check", "check NAME OFFSET LEN SEED", 4, 4, false},
    {"emulated", "emulated E", 1, 1, false},
    {"pin", "pin E IOVA NPAGES PROT", 4, 4, false},
    {"unpin", "unpin E IOVA NPAGES", 3, 3, false},
    {"kernel", "kernel PROFILE", 1, 1, false},
    {"geometry", "geometry N", 1, 1, false},
    {"scatter", "scatter", 0, 0, false},
    {"container-type", "container-type N", 1, 1, false},
    {"attach-group", "attach-group ID", 1, 1, true},
    {"detach-group", "detach-group ID", 1, 1, true},
    {"mmap", "mmap NAME KIND SIZE [ro]", 3, 4, false},
    {"munmap", "munmap NAME", 1, 1, false},
    {"alias", "alias NAME SOURCE [ro]", 2, 3, false},
    {"vaddr", "vaddr NAME ADDRESS", 2, 2, false},
    {"touch", "touch NAME OFFSET LEN read|write", 4, 4, false},
    {"cap-restore", "cap-restore [unlimited]", 0, 1, false},
    {"unmap-all-range", "unmap-all-range IOVA SIZE", 2, 2, true},
    {"dirty-bitmap", "dirty-bitmap IOVA SIZE PGSIZE WORDS", 4, 4, true},
    {"unmap-dirty-bitmap", "unmap-dirty-bitmap IOVA SIZE PGSIZE WORDS", 4, 4, true},
    {"add-device", "add-device D emulated|group G [stubborn]", 2, 4, true},
    {"remove-device", "remove-device D", 1, 1, true},
    {"device-id", "device-id D N", 2, 2, false},
    {"teardown", "teardown", 0, 0, true},
    {"fail-nth", "fail-nth N", 1, 1, true},
    {"map-vaddr-prot", "map-vaddr-prot IOVA NAME OFFSET SIZE PROT", 5, 5, true},
    {"ccw-setup", "ccw-setup", 0, 0, false},
    {"ccw-write", "ccw-write GUEST HEXBYTES", 2, 2, false},
    {"ccw-translate", "ccw-translate CPA format0|format1 4k|2k", 3, 3, false},
    {"ccw-notify", "ccw-notify IOVA LEN", 2, 2, false},
    {"ccw-complete", "ccw-complete", 0, 0, false},
}};

[[nodiscard]] inline std::string count_message(std::string_view what, std::size_t min,
                                               std::size_t max, std::string_view usage,
                                               std::size_t got) {
  std::string expects;
  if (max == 0) {
    expects = "no arguments";
  } else if (min == max) {
    expects = std::to_string(min) + (min == 1 ? " argument" : " arguments");
  } else {
    expects = std::to_string(min) + " or " + std::to_string(max) + " arguments";
  }
  return "'" + std::string(what) + "' expects " + expects + " (" + std::string(usage) +
         "), got " + std::to_string(got);
}

}  // namespace vfiopin::scenario::detail

#endif  // VFIOPIN_SCENARIO_SYNTAX_HPP
