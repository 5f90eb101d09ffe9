// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/scenario/operand_reader.hpp: the scenario parser's readers of one argument each.
//
// Theory of operation. A scenario line's arguments are numbers (parse_number's forms),
// groups, DMA lengths and ranges, PROTs, region names, memory kinds, flag words and byte
// strings. Each reader takes one token, stores what it means, and returns true; or it
// words the problem, which becomes the line's diagnostic (message()), and returns false,
// so a line's parse is a chain of `&&` that stops at the first bad argument. The reader
// also keeps what later lines need: the region declarations (name -> kind, read-only, the
// line that made it), to refuse a name used twice or before its declaration, and whether
// a `container` line has been seen. line_parser (parser.hpp) builds operations from them.
#ifndef VFIOPIN_SCENARIO_OPERAND_READER_HPP
#define VFIOPIN_SCENARIO_OPERAND_READER_HPP

#include <vfiopin/scenario/ast.hpp>
#include <vfiopin/scenario/lexer.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace vfiopin::scenario::detail {

/// The argument readers and the declarations seen so far (see the header comment).
class operand_reader {
 public:
  [[nodiscard]] const std::string& message() const noexcept { return message_; }

 protected:
  struct region_decl {
    mem_kind kind;
    bool read_only;
    std::size_t line;
  };

  template <class Op>
  static Op& emplace(operation& out) {
    return out.emplace<Op>();
  }

  bool fail(std::string message) {
    message_ = std::move(message);
    return false;
  }

  bool num(std::string_view token, std::uint64_t& out) {
    const number_result r = parse_number(token);
    if (r.error != number_error::none) return fail(describe(r.error, token));
    out = r.value;
    return true;
  }

  bool group(std::string_view token, std::uint64_t& out) {
    if (!num(token, out)) return false;
    if (out > max_group) return fail("group " + quote(token) + " is not 0 or 1");
    return true;
  }

  bool dma_length(std::string_view token, std::uint64_t& out) {
    if (!num(token, out)) return false;
    if (out < 1 || out > max_dma_length) {
      return fail("DMA LEN " + quote(token) + " is outside 1..2048");
    }
    return true;
  }

  bool dma_range(std::uint64_t iova, std::uint64_t length) {
    if (iova > dma_limit || length > dma_limit - iova) {
      return fail("DMA IOVA+LEN is above 0x10000000");
    }
    return true;
  }

  template <class Op>
  bool range(const std::vector<std::string_view>& t, Op& op) {
    return num(t[1], op.iova) && num(t[2], op.size);
  }

  bool prot_of(std::string_view token, prot& out) {
    if (token == "r") out = prot::r;
    else if (token == "w") out = prot::w;
    else if (token == "rw") out = prot::rw;
    else if (token == "none") out = prot::none;
    else return fail("unknown prot " + quote(token) + " (expected r, w, rw or none)");
    return true;
  }

  bool name(std::string_view token) {
    if (!is_valid_name(token)) {
      return fail("invalid name " + quote(token) + " (names match [a-z][a-z0-9_]*)");
    }
    return true;
  }

  /// A use of a region name: valid, and declared by an earlier `mem` line.
  bool use(std::string_view token, std::string& out) {
    if (!name(token)) return false;
    if (regions_.find(token) == regions_.end()) {
      return fail("region " + quote(token) + " used before its 'mem' line");
    }
    out.assign(token);
    return true;
  }

  /// Declares region `token` (not declared before) of `kind`.
  bool declare(std::string_view token, mem_kind kind, bool read_only, std::string& out) {
    if (!name(token)) return false;
    if (const auto it = regions_.find(token); it != regions_.end()) {
      return fail("region " + quote(token) + " already defined on line " +
                  std::to_string(it->second.line));
    }
    out.assign(token);
    regions_.emplace(out, region_decl{kind, read_only, line_});
    return true;
  }

  bool kind_of(std::string_view token, mem_kind& out) {
    static constexpr std::string_view kinds[] = {"anon", "memfd", "hugetlb", "bar", "hole"};
    for (std::size_t i = 0; i < std::size(kinds); ++i) {
      if (token == kinds[i]) return out = static_cast<mem_kind>(i), true;
    }
    return fail("unknown memory kind " + quote(token) +
                " (expected anon, memfd, hugetlb, bar or hole)");
  }

  bool word(std::string_view token, std::string_view expected, bool& out) {
    out = token == expected;
    return out || fail("unknown flag " + quote(token) + " (expected " + std::string(expected) + ")");
  }

  bool at_most(std::string_view token, std::uint64_t& out, std::uint64_t max) {
    if (!num(token, out)) return false;
    return out <= max || fail("number " + quote(token) + " is above " + std::to_string(max));
  }

  /// An even number of hex digits, 1 to max_ccw_write_bytes bytes.
  bool hex_bytes(std::string_view token, std::vector<std::uint8_t>& out) {
    if (token.empty() || token.size() % 2 != 0 || token.size() / 2 > max_ccw_write_bytes)
      return fail("bad byte string " + quote(token) + " (an even number of hex digits, at most " +
                  std::to_string(max_ccw_write_bytes) + " bytes)");
    const auto digit = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    out.clear();
    for (std::size_t i = 0; i < token.size(); i += 2) {
      const int hi = digit(token[i]), lo = digit(token[i + 1]);
      if (hi < 0 || lo < 0) return fail("bad byte string " + quote(token) + " (not hex)");
      out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
    }
    return true;
  }

  template <class Op>
  bool bitmap(const std::vector<std::string_view>& t, Op& op) {
    return num(t[1], op.iova) && num(t[2], op.size) && num(t[3], op.pgsize) &&
           at_most(t[4], op.words, max_bitmap_words);
  }

  std::map<std::string, region_decl, std::less<>> regions_;
  bool seen_container_ = false;
  std::size_t line_ = 0;
  std::string message_;
};

}  // namespace vfiopin::scenario::detail

#endif  // VFIOPIN_SCENARIO_OPERAND_READER_HPP
