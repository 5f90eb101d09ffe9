// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/scenario/parser.hpp: scenario text -> script, or the first diagnostic.
//
// Theory of operation. parse() reads the whole text line by line (lexer.hpp gives the
// tokens), and for each operation line checks, in this order: the keyword is known; a
// container operation (attach, detach, map*, unmap*, info, dirty, dma-*) comes after the
// first `container` line; the number of arguments; then each argument from left to right
// (numbers, names, keywords, ranges). The first problem stops the parse and becomes a
// diagnostic `FILE:LINE: message`; nothing is run from a file that does not parse.
//
// What is refused here and not left to a backend is exactly what the format lists as a
// parse error, plus what makes a line meaningless: unknown keywords, a wrong argument
// count, an empty or doubled `=>`, a group other than 0 or 1. The parser keeps only the
// declarations of `mem` lines (name -> kind, read-only, line) to refuse a name used twice,
// a name used before its `mem` line, and `fill` of a bar, hole or read-only region.
//
// The extension operations (mock-only, for fuzz reproducers; ast.hpp) are parsed by
// build_extension(); `mmap`, `alias` and `vaddr` declare region names like `mem` does.
// Each argument is read by operand_reader.hpp, which words the messages.
//
// Robustness: no recursion, no unbounded allocation beyond the size of the input (one
// statement per line, each at most as long as its line), every index checked; any byte
// sequence gives either a script or a diagnostic.
#ifndef VFIOPIN_SCENARIO_PARSER_HPP
#define VFIOPIN_SCENARIO_PARSER_HPP

#include <vfiopin/config.hpp>
#include <vfiopin/scenario/ast.hpp>
#include <vfiopin/scenario/lexer.hpp>
#include <vfiopin/scenario/operand_reader.hpp>
#include <vfiopin/scenario/syntax.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace vfiopin::scenario {

/// Why a file does not parse. to_string() is the exact stderr line.
struct diagnostic {
  std::string file;
  std::size_t line = 0;
  std::string message;

  [[nodiscard]] std::string to_string() const {
    return file + ':' + std::to_string(line) + ": " + message;
  }
  friend bool operator==(const diagnostic&, const diagnostic&) = default;
};

/// A script or a diagnostic (the shape of std::expected<script, diagnostic>).
class parse_result {
 public:
  parse_result(script s) : value_(std::move(s)) {}      // NOLINT: implicit like expected
  parse_result(diagnostic d) : value_(std::move(d)) {}  // NOLINT
  [[nodiscard]] bool has_value() const noexcept { return value_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  [[nodiscard]] const script& value() const& {
    VFIOPIN_ASSERT(has_value(), "parse_result::value() on a diagnostic");
    return std::get<script>(value_);
  }
  [[nodiscard]] script&& value() && {
    VFIOPIN_ASSERT(has_value(), "parse_result::value() on a diagnostic");
    return std::get<script>(std::move(value_));
  }
  [[nodiscard]] const script& operator*() const& { return value(); }
  [[nodiscard]] const script* operator->() const { return &value(); }
  [[nodiscard]] const diagnostic& error() const& {
    VFIOPIN_ASSERT(!has_value(), "parse_result::error() on a script");
    return std::get<diagnostic>(value_);
  }

 private:
  std::variant<script, diagnostic> value_;
};

namespace detail {

/// Parses one file; keeps the `mem` declarations seen so far (operand_reader).
class line_parser : public operand_reader {
 public:
  /// Parses the operation tokens of one line into `out`; false with message() set if not.
  bool build(const std::vector<std::string_view>& t, std::size_t line, operation& out) {
    line_ = line;
    std::size_t index = op_table.size();
    for (std::size_t i = 0; i < op_table.size(); ++i) {
      if (op_table[i].keyword == t[0]) index = i;
    }
    if (index == op_table.size()) return fail("unknown operation " + quote(t[0]));
    const op_syntax& syn = op_table[index];
    const auto id = static_cast<keyword_id>(index);
    if (syn.needs_container && !seen_container_) {
      return fail("'" + std::string(syn.keyword) + "' before the first 'container' line");
    }
    const std::size_t argc = t.size() - 1;
    if (id == keyword_id::dirty) return build_dirty(t, out);
    if (argc < syn.min_args || argc > syn.max_args) {
      return fail(count_message(syn.keyword, syn.min_args, syn.max_args, syn.usage, argc));
    }
    switch (id) {
      using enum keyword_id;
      case container: return build_container(t[1], out);
      case entry_limit: return num(t[1], emplace<op_entry_limit>(out).limit);
      case memlock:
        if (t[1] == "unlimited") return emplace<op_memlock_unlimited>(out), true;
        return num(t[1], emplace<op_memlock>(out).bytes);
      case attach: return group(t[1], emplace<op_attach>(out).group);
      case detach: return group(t[1], emplace<op_detach>(out).group);
      case mem: return build_mem(t, out);
      case fill: return build_fill(t, out);
      case map: {
        auto& op = emplace<op_map>(out);
        return num(t[1], op.iova) && use(t[2], op.name) && num(t[3], op.offset) &&
               num(t[4], op.size) && prot_of(t[5], op.prot);
      }
      case map_vaddr: {
        auto& op = emplace<op_map_vaddr>(out);
        return num(t[1], op.iova) && use(t[2], op.name) && num(t[3], op.offset) &&
               num(t[4], op.size);
      }
      case unmap: return range(t, emplace<op_unmap>(out));
      case unmap_all: emplace<op_unmap_all>(out); return true;
      case unmap_vaddr: return range(t, emplace<op_unmap_vaddr>(out));
      case unmap_dirty: return range(t, emplace<op_unmap_dirty>(out));
      case info: emplace<op_info>(out); return true;
      case locked: emplace<op_locked>(out); return true;
      case dma_read: {
        auto& op = emplace<op_dma_read>(out);
        return group(t[1], op.group) && num(t[2], op.iova) && dma_length(t[3], op.length) &&
               dma_range(op.iova, op.length) && use(t[4], op.name) && num(t[5], op.offset);
      }
      case dma_write: {
        auto& op = emplace<op_dma_write>(out);
        return group(t[1], op.group) && num(t[2], op.iova) && dma_length(t[3], op.length) &&
               dma_range(op.iova, op.length) && num(t[4], op.seed);
      }
      case check: {
        auto& op = emplace<op_check>(out);
        return use(t[1], op.name) && num(t[2], op.offset) && num(t[3], op.length) &&
               num(t[4], op.seed);
      }
      case emulated: return num(t[1], emplace<op_emulated>(out).device);
      case pin: {
        auto& op = emplace<op_pin>(out);
        return num(t[1], op.device) && num(t[2], op.iova) && num(t[3], op.npages) &&
               prot_of(t[4], op.prot);
      }
      case unpin: {
        auto& op = emplace<op_unpin>(out);
        return num(t[1], op.device) && num(t[2], op.iova) && num(t[3], op.npages);
      }
      case dirty:
      case count_: break;
      default: return build_extension(id, t, out);
    }
    return fail("internal error: unhandled operation");
  }

 private:
  bool build_container(std::string_view token, operation& out) {
    auto& op = emplace<op_container>(out);
    if (token == "type1v2") op.type = container_type::type1v2;
    else if (token == "type1") op.type = container_type::type1;
    else return fail("unknown container type " + quote(token) + " (expected type1v2 or type1)");
    seen_container_ = true;
    return true;
  }

  bool build_mem(const std::vector<std::string_view>& t, operation& out) {
    auto& op = emplace<op_mem>(out);
    if (!name(t[1])) return false;
    if (const auto it = regions_.find(t[1]); it != regions_.end()) {
      return fail("region " + quote(t[1]) + " already defined on line " +
                  std::to_string(it->second.line));
    }
    if (!kind_of(t[2], op.kind) || !num(t[3], op.size)) return false;
    if (t.size() == 5) {
      if (t[4] != "ro") return fail("unknown mem flag " + quote(t[4]) + " (expected ro)");
      op.read_only = true;
    }
    op.name.assign(t[1]);
    regions_.emplace(op.name, region_decl{op.kind, op.read_only, line_});
    return true;
  }

  /// The extension operations (ast.hpp), argument counts already checked.
  bool build_extension(keyword_id id, const std::vector<std::string_view>& t, operation& out) {
    const std::size_t argc = t.size() - 1;
    switch (id) {
      using enum keyword_id;
      case kernel: emplace<op_kernel>(out).profile.assign(t[1]); return true;
      case geometry: return at_most(t[1], emplace<op_geometry>(out).variant, 3);
      case scatter: emplace<op_scatter>(out); return true;
      case container_type:
        seen_container_ = true;
        return num(t[1], emplace<op_container_type>(out).type);
      case attach_group: return num(t[1], emplace<op_attach_group>(out).group);
      case detach_group: return num(t[1], emplace<op_detach_group>(out).group);
      case mmap: {
        auto& op = emplace<op_mmap>(out);
        if (!kind_of(t[2], op.kind) || !num(t[3], op.size)) return false;
        if (argc == 4 && !word(t[4], "ro", op.read_only)) return false;
        return declare(t[1], op.kind, op.read_only, op.name);
      }
      case munmap: return use(t[1], emplace<op_munmap>(out).name);
      case alias: {
        auto& op = emplace<op_alias>(out);
        if (!use(t[2], op.source)) return false;
        if (argc == 3 && !word(t[3], "ro", op.read_only)) return false;
        return declare(t[1], regions_.find(t[2])->second.kind, op.read_only, op.name);
      }
      case vaddr: {
        auto& op = emplace<op_vaddr>(out);
        return num(t[2], op.address) && declare(t[1], mem_kind::hole, false, op.name);
      }
      case touch: {
        auto& op = emplace<op_touch>(out);
        if (!use(t[1], op.name) || !num(t[2], op.offset) ||
            !at_most(t[3], op.length, max_touch_length)) {
          return false;
        }
        if (t[4] == "read" || t[4] == "write") return op.write = t[4] == "write", true;
        return fail("unknown access " + quote(t[4]) + " (expected read or write)");
      }
      case cap_restore: {
        auto& op = emplace<op_cap_restore>(out);
        return argc == 0 || word(t[1], "unlimited", op.unlimited);
      }
      case unmap_all_range: return range(t, emplace<op_unmap_all_range>(out));
      case dirty_bitmap: return bitmap(t, emplace<op_dirty_bitmap>(out));
      case unmap_dirty_bitmap: return bitmap(t, emplace<op_unmap_dirty_bitmap>(out));
      case add_device: {
        auto& op = emplace<op_add_device>(out);
        if (!num(t[1], op.device)) return false;
        std::size_t next = 3;
        if (t[2] == "group") {
          if (argc < 3) return fail("'add-device D group' needs a group id");
          op.group.emplace();
          if (!num(t[3], *op.group)) return false;
          next = 4;
        } else if (t[2] != "emulated") {
          return fail("unknown device kind " + quote(t[2]) + " (expected emulated or group)");
        }
        if (argc > next) return fail("'add-device' has too many arguments");
        return argc < next || word(t[next], "stubborn", op.stubborn);
      }
      case remove_device: return num(t[1], emplace<op_remove_device>(out).device);
      case device_id: {
        auto& op = emplace<op_device_id>(out);
        return num(t[1], op.device) && num(t[2], op.id);
      }
      case teardown: emplace<op_teardown>(out); return true;
      case fail_nth: return num(t[1], emplace<op_fail_nth>(out).step);
      case map_vaddr_prot: {
        auto& op = emplace<op_map_vaddr_prot>(out);
        return num(t[1], op.iova) && use(t[2], op.name) && num(t[3], op.offset) &&
               num(t[4], op.size) && prot_of(t[5], op.prot);
      }
      case ccw_setup: emplace<op_ccw_setup>(out); return true;
      case ccw_write: {
        auto& op = emplace<op_ccw_write>(out);
        return num(t[1], op.guest) && hex_bytes(t[2], op.bytes);
      }
      case ccw_translate: {
        auto& op = emplace<op_ccw_translate>(out);
        if (!num(t[1], op.cpa)) return false;
        op.format0 = t[2] == "format0";
        if (!op.format0 && t[2] != "format1")
          return fail("unknown ccw format " + quote(t[2]) + " (expected format0 or format1)");
        op.block2k = t[3] == "2k";
        return op.block2k || t[3] == "4k" ||
               fail("unknown idaw block " + quote(t[3]) + " (expected 4k or 2k)");
      }
      case ccw_notify: {
        auto& op = emplace<op_ccw_notify>(out);
        if (!num(t[1], op.iova) || !num(t[2], op.length)) return false;
        if (op.length == 0) return fail("'ccw-notify' needs a length of at least 1");
        return op.length - 1 <= ~op.iova || fail("'ccw-notify' range wraps past 2^64 - 1");
      }
      case ccw_complete: emplace<op_ccw_complete>(out); return true;
      default: break;
    }
    return fail("internal error: unhandled operation");
  }

  bool build_fill(const std::vector<std::string_view>& t, operation& out) {
    auto& op = emplace<op_fill>(out);
    if (!use(t[1], op.name) || !num(t[2], op.seed)) return false;
    const region_decl& decl = regions_.find(t[1])->second;
    if (decl.kind == mem_kind::bar || decl.kind == mem_kind::hole) {
      return fail("cannot fill " + quote(t[1]) + ": it is a " +
                  std::string(to_string(decl.kind)) + " region");
    }
    if (decl.read_only) return fail("cannot fill " + quote(t[1]) + ": it is read-only");
    return true;
  }

  bool build_dirty(const std::vector<std::string_view>& t, operation& out) {
    const std::size_t argc = t.size() - 1;
    if (argc == 0) return fail("'dirty' expects start, stop or get");
    const std::string_view action = t[1];
    if (action == "start" || action == "stop") {
      if (argc != 1) {
        return fail(count_message(action == "start" ? "dirty start" : "dirty stop", 0, 0,
                                  action == "start" ? "dirty start" : "dirty stop", argc - 1));
      }
      if (action == "start") emplace<op_dirty_start>(out);
      else emplace<op_dirty_stop>(out);
      return true;
    }
    if (action == "get") {
      if (argc != 3) {
        return fail(count_message("dirty get", 2, 2, "dirty get IOVA SIZE", argc - 1));
      }
      auto& op = emplace<op_dirty_get>(out);
      return num(t[2], op.iova) && num(t[3], op.size);
    }
    return fail("unknown dirty action " + quote(action) + " (expected start, stop or get)");
  }

};

}  // namespace detail

/// Parses a whole scenario. `file_name` is used in diagnostics and kept in the script.
[[nodiscard]] inline parse_result parse(std::string_view text, std::string_view file_name) {
  script result;
  result.file_name.assign(file_name);
  detail::line_parser grammar;
  std::vector<std::string_view> tokens;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  const auto failure = [&](std::string message) {
    return parse_result(diagnostic{std::string(file_name), line_no, std::move(message)});
  };
  while (pos < text.size()) {
    ++line_no;
    const std::size_t newline = text.find('\n', pos);
    const std::size_t end = newline == std::string_view::npos ? text.size() : newline;
    split_tokens(text.substr(pos, end - pos), tokens);
    pos = newline == std::string_view::npos ? text.size() : newline + 1;
    if (tokens.empty()) continue;

    std::size_t arrow = tokens.size();
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] != "=>") continue;
      if (arrow != tokens.size()) return failure("more than one '=>' on a line");
      arrow = i;
    }
    if (arrow == 0) return failure("'=>' without an operation before it");
    if (arrow + 1 == tokens.size()) return failure("'=>' without an expected result after it");

    statement st;
    st.line = line_no;
    const std::vector<std::string_view> op_tokens(tokens.begin(),
                                                  tokens.begin() + static_cast<std::ptrdiff_t>(arrow));
    if (!grammar.build(op_tokens, line_no, st.op)) return failure(grammar.message());
    st.text = join_tokens(op_tokens.data(), op_tokens.data() + op_tokens.size());
    if (arrow != tokens.size()) {
      st.expected = join_tokens(tokens.data() + arrow + 1, tokens.data() + tokens.size());
    }
    result.statements.push_back(std::move(st));
  }
  return parse_result(std::move(result));
}

}  // namespace vfiopin::scenario

#endif  // VFIOPIN_SCENARIO_PARSER_HPP
