// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/scenario/lexer.hpp: the lexical rules of scenario scripts.
//
// Theory of operation. The format's lexical layer is small and line-oriented:
//   - `#` starts a comment that runs to the end of the line;
//   - tokens are separated by spaces (tabs, carriage returns, vertical tabs and form feeds
//     count as spaces too, so CRLF files and tab-aligned files read the same);
//   - a number is decimal (`4096`) or `0x` hex (hex digits in either case), optionally
//     followed by an upper-case suffix `K`, `M` or `G` (x1024, x1024^2, x1024^3); a
//     lower-case suffix is refused with its own message, and any value that does not fit in
//     64 bits, before or after the suffix, is refused;
//   - a name matches [a-z][a-z0-9_]*.
// Everything here works on std::string_view slices of the caller's text, allocates only
// for error messages, never recurses and never reads out of bounds, whatever the bytes.
// Error messages quote the offending token through quote(), which shortens long tokens and
// escapes unprintable bytes so that a diagnostic is always one readable line.
#ifndef VFIOPIN_SCENARIO_LEXER_HPP
#define VFIOPIN_SCENARIO_LEXER_HPP

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace vfiopin::scenario {

/// True for the bytes that separate tokens.
[[nodiscard]] constexpr bool is_separator(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/// Splits `line` (without its newline) into tokens, dropping a `#` comment. `out` is
/// cleared first; the views point into `line`.
inline void split_tokens(std::string_view line, std::vector<std::string_view>& out) {
  out.clear();
  if (const auto hash = line.find('#'); hash != std::string_view::npos) {
    line = line.substr(0, hash);
  }
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_separator(line[i])) ++i;
    const std::size_t start = i;
    while (i < line.size() && !is_separator(line[i])) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
}

/// Tokens joined by single spaces (the canonical text of --echo).
[[nodiscard]] inline std::string join_tokens(const std::string_view* first,
                                             const std::string_view* last) {
  std::string out;
  for (auto it = first; it != last; ++it) {
    if (it != first) out.push_back(' ');
    out.append(*it);
  }
  return out;
}

/// `'token'` for a diagnostic: at most 40 bytes shown (then "..."), bytes outside the
/// printable ASCII range written as \xNN.
[[nodiscard]] inline std::string quote(std::string_view token) {
  constexpr std::size_t max_shown = 40;
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "'";
  const std::size_t shown = token.size() < max_shown ? token.size() : max_shown;
  for (std::size_t i = 0; i < shown; ++i) {
    const auto c = static_cast<unsigned char>(token[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xf]);
    }
  }
  if (shown < token.size()) out += "...";
  out.push_back('\'');
  return out;
}

/// True when `s` matches [a-z][a-z0-9_]*.
[[nodiscard]] constexpr bool is_valid_name(std::string_view s) noexcept {
  if (s.empty() || s[0] < 'a' || s[0] > 'z') return false;
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

/// Why a token is not a number.
enum class number_error : std::uint8_t {
  none,              ///< it is a number
  invalid,           ///< not decimal or 0x hex with an optional K/M/G
  lower_case_suffix, ///< a valid number followed by k, m or g
  overflow,          ///< does not fit in 64 bits (with or without the suffix)
};

/// The result of parse_number: `value` is meaningful only when `error == none`.
struct number_result {
  std::uint64_t value = 0;
  number_error error = number_error::invalid;
};

namespace detail {
[[nodiscard]] constexpr int digit_value(char c, bool hex) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (!hex) return -1;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Syntax of the part before the suffix: 0x followed by >= 1 hex digit, or >= 1 decimal
/// digit.
[[nodiscard]] constexpr bool is_number_body(std::string_view s) noexcept {
  const bool hex = s.size() >= 2 && s[0] == '0' && s[1] == 'x';
  const std::string_view digits = hex ? s.substr(2) : s;
  if (digits.empty()) return false;
  for (const char c : digits) {
    if (digit_value(c, hex) < 0) return false;
  }
  return true;
}
}  // namespace detail

/// Parses one number token per the lexical rules (see the header comment).
[[nodiscard]] constexpr number_result parse_number(std::string_view token) noexcept {
  constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  std::string_view body = token;
  std::uint64_t multiplier = 1;
  if (!body.empty()) {
    switch (body.back()) {
      case 'K': multiplier = std::uint64_t{1} << 10; break;
      case 'M': multiplier = std::uint64_t{1} << 20; break;
      case 'G': multiplier = std::uint64_t{1} << 30; break;
      case 'k':
      case 'm':
      case 'g':
        body.remove_suffix(1);
        return {0, detail::is_number_body(body) ? number_error::lower_case_suffix
                                                : number_error::invalid};
      default: break;
    }
    if (multiplier != 1) body.remove_suffix(1);
  }
  if (!detail::is_number_body(body)) return {0, number_error::invalid};
  const bool hex = body.size() >= 2 && body[1] == 'x';
  const std::uint64_t base = hex ? 16 : 10;
  std::uint64_t value = 0;
  for (const char c : hex ? body.substr(2) : body) {
    const auto d = static_cast<std::uint64_t>(detail::digit_value(c, hex));
    if (value > (max - d) / base) return {0, number_error::overflow};
    value = value * base + d;
  }
  if (value > max / multiplier) return {0, number_error::overflow};
  return {value * multiplier, number_error::none};
}

/// The diagnostic text for a number_error on `token` (empty for none).
[[nodiscard]] inline std::string describe(number_error e, std::string_view token) {
  switch (e) {
    case number_error::none: return {};
    case number_error::invalid: return "invalid number " + quote(token);
    case number_error::lower_case_suffix:
      return "lower-case suffix in " + quote(token) + " (the suffixes are K, M and G)";
    case number_error::overflow: return "number " + quote(token) + " does not fit in 64 bits";
  }
  return {};
}

}  // namespace vfiopin::scenario

#endif  // VFIOPIN_SCENARIO_LEXER_HPP
