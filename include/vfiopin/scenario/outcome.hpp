// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/scenario/outcome.hpp: the result of one scenario operation, and its one line.
//
// Theory of operation. Every operation prints exactly one result line, and two backends
// are compared by diffing those lines, so the line is produced in one place only: a
// backend returns a typed `outcome`, and to_string() formats it per the format's
// "Results" section:
//   - `ok`, then for dma-read/check the bare word `same` or `differ`, then the fields in
//     the order the backend added them (which must be the order the operation lists them);
//   - `err NAME`, NAME the Linux errno symbol (errno_names.hpp), or, for an extension's
//     condition that has no errno, a lowercase word (`ccw-misaligned-ccw`);
//   - `skip WORD`, the backend cannot do this operation here.
// A field's key fixes how its value prints: `avail=` and the ccw extensions' `ccws=`,
// `idaws=`, `pins=`, `active=` decimal; `size=`, `pgsizes=`,
// `locked=` lowercase hex with 0x (0 is `0x0`); `ranges=` inclusive `A-B` pairs in hex
// joined by commas; `bits=` a string of 0/1 digits, lowest IOVA first. So a backend never
// formats a number itself, and the mock and the real backend cannot disagree on spelling.
#ifndef VFIOPIN_SCENARIO_OUTCOME_HPP
#define VFIOPIN_SCENARIO_OUTCOME_HPP

#include <vfiopin/error.hpp>
#include <vfiopin/scenario/errno_names.hpp>

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace vfiopin::scenario {

/// An inclusive IOVA range [first, last], as the IOVA_RANGE capability reports it.
struct iova_range {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  friend bool operator==(const iova_range&, const iova_range&) = default;
};

/// The keys of the format's ok fields.
enum class field_key : std::uint8_t { avail, size, pgsizes, locked, ranges, bits, ccws, idaws, pins, active };

/// Keys whose values print in decimal.
[[nodiscard]] constexpr bool is_decimal(field_key k) noexcept {
  return k == field_key::avail || k == field_key::ccws || k == field_key::idaws ||
         k == field_key::pins || k == field_key::active;
}

[[nodiscard]] constexpr std::string_view to_string(field_key k) noexcept {
  switch (k) {
    case field_key::avail: return "avail";
    case field_key::size: return "size";
    case field_key::pgsizes: return "pgsizes";
    case field_key::locked: return "locked";
    case field_key::ranges: return "ranges";
    case field_key::bits: return "bits";
    case field_key::ccws: return "ccws";
    case field_key::idaws: return "idaws";
    case field_key::pins: return "pins";
    case field_key::active: return "active";
  }
  return "?";
}

/// One `key=value` of an ok result. Build it with the named factories.
struct field {
  field_key key = field_key::size;
  std::variant<std::uint64_t, std::vector<iova_range>, std::string> value;

  /// `avail=` dma_avail of GET_INFO (decimal).
  [[nodiscard]] static field avail(std::uint64_t n) { return {field_key::avail, n}; }
  /// `size=` bytes unmapped (hex).
  [[nodiscard]] static field size(std::uint64_t bytes) { return {field_key::size, bytes}; }
  /// `pgsizes=` iova_pgsizes of GET_INFO (hex).
  [[nodiscard]] static field pgsizes(std::uint64_t b) { return {field_key::pgsizes, b}; }
  /// `locked=` VmLck in bytes (hex).
  [[nodiscard]] static field locked(std::uint64_t bytes) { return {field_key::locked, bytes}; }
  /// `ranges=` the IOVA ranges of GET_INFO, inclusive, in order.
  [[nodiscard]] static field ranges(std::vector<iova_range> r) {
    return {field_key::ranges, std::move(r)};
  }
  /// A decimal count of the ccw extensions (ccws, idaws, pins, active).
  [[nodiscard]] static field count(field_key k, std::uint64_t n) { return {k, n}; }
  /// `bits=` one '0'/'1' per 4 KiB page, lowest IOVA first.
  [[nodiscard]] static field bits(std::string digits) {
    return {field_key::bits, std::move(digits)};
  }
  /// `bits=` from a bit vector (index 0 = lowest IOVA).
  [[nodiscard]] static field bits(const std::vector<bool>& dirty) {
    std::string digits;
    digits.reserve(dirty.size());
    for (const bool b : dirty) digits.push_back(b ? '1' : '0');
    return bits(std::move(digits));
  }

  friend bool operator==(const field&, const field&) = default;
};

/// `same` / `differ` of dma-read and check.
enum class comparison : std::uint8_t { none, same, differ };

/// The result of one operation: ok (with an optional comparison and fields), err, skip.
class outcome {
 public:
  enum class kind : std::uint8_t { ok, err, skip };

  /// Plain `ok`.
  [[nodiscard]] static outcome ok() { return outcome(kind::ok); }
  /// `ok same`.
  [[nodiscard]] static outcome same() { return compared(scenario::comparison::same); }
  /// `ok differ`.
  [[nodiscard]] static outcome differ() { return compared(scenario::comparison::differ); }
  /// `ok same` when `equal`, else `ok differ`.
  [[nodiscard]] static outcome compared(bool equal) {
    return compared(equal ? scenario::comparison::same : scenario::comparison::differ);
  }
  [[nodiscard]] static outcome compared(scenario::comparison c) {
    outcome o(kind::ok);
    o.comparison_ = c;
    return o;
  }
  /// `err NAME` for a Linux errno (positive, or negated as the kernel returns it).
  [[nodiscard]] static outcome err(int errno_value) {
    outcome o(kind::err);
    o.errno_ = errno_value < 0 && errno_value > -4096 ? -errno_value : errno_value;
    return o;
  }
  /// `err NAME` for a vfiopin error (library conditions map to the kernel's answer).
  [[nodiscard]] static outcome err(errc e) { return err(to_errno(e)); }
  /// `err NAME` for an error_code of vfiopin's, the generic or the system category.
  [[nodiscard]] static outcome err(const std::error_code& ec) {
    if (ec.category() == error_category()) return err(static_cast<errc>(ec.value()));
    return err(ec.value());
  }
  /// `err WORD` for an extension's condition that has no errno; WORD is one lowercase
  /// token (a ccw_errc: "ccw-misaligned-ccw").
  [[nodiscard]] static outcome err_condition(std::string word) {
    outcome o(kind::err);
    o.err_word_ = std::move(word);
    return o;
  }
  /// `skip WORD`; WORD is one token such as "no-hugetlb" or "no-emulated-device".
  [[nodiscard]] static outcome skip(std::string word) {
    outcome o(kind::skip);
    o.skip_word_ = std::move(word);
    return o;
  }

  /// Appends a field (ok results only); fields print in the order they were added.
  outcome& with(field f) & {
    fields_.push_back(std::move(f));
    return *this;
  }
  outcome&& with(field f) && {
    fields_.push_back(std::move(f));
    return std::move(*this);
  }

  [[nodiscard]] kind what() const noexcept { return kind_; }
  [[nodiscard]] bool is_ok() const noexcept { return kind_ == kind::ok; }
  [[nodiscard]] bool is_err() const noexcept { return kind_ == kind::err; }
  [[nodiscard]] bool is_skip() const noexcept { return kind_ == kind::skip; }
  /// The errno of an err outcome (0 otherwise, and for an err_condition).
  [[nodiscard]] int errno_value() const noexcept { return errno_; }
  /// The word of an err_condition outcome ("" otherwise).
  [[nodiscard]] const std::string& err_word() const noexcept { return err_word_; }
  /// The word of a skip outcome ("" otherwise).
  [[nodiscard]] const std::string& skip_word() const noexcept { return skip_word_; }
  [[nodiscard]] scenario::comparison comparison() const noexcept { return comparison_; }
  [[nodiscard]] const std::vector<field>& fields() const noexcept { return fields_; }

  friend bool operator==(const outcome&, const outcome&) = default;

 private:
  explicit outcome(kind k) : kind_(k) {}

  kind kind_ = kind::ok;
  int errno_ = 0;
  scenario::comparison comparison_ = scenario::comparison::none;
  std::string skip_word_;
  std::string err_word_;
  std::vector<field> fields_;
};

namespace detail {
inline void append_hex(std::string& out, std::uint64_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  char buf[16];
  int n = 0;
  do {
    buf[n++] = digits[v & 0xf];
    v >>= 4;
  } while (v != 0);
  out += "0x";
  while (n > 0) out.push_back(buf[--n]);
}

inline void append_value(std::string& out, const field& f) {
  if (const auto* n = std::get_if<std::uint64_t>(&f.value)) {
    if (is_decimal(f.key)) out += std::to_string(*n);
    else append_hex(out, *n);
  } else if (const auto* r = std::get_if<std::vector<iova_range>>(&f.value)) {
    for (std::size_t i = 0; i < r->size(); ++i) {
      if (i != 0) out.push_back(',');
      append_hex(out, (*r)[i].first);
      out.push_back('-');
      append_hex(out, (*r)[i].last);
    }
  } else if (const auto* s = std::get_if<std::string>(&f.value)) {
    out += *s;
  }
}
}  // namespace detail

/// The result line, e.g. "ok size=0x10000", "err EEXIST", "skip no-hugetlb", "ok same".
[[nodiscard]] inline std::string to_string(const outcome& o) {
  std::string out;
  switch (o.what()) {
    case outcome::kind::err:
      return "err " + (o.err_word().empty() ? errno_text(o.errno_value()) : o.err_word());
    case outcome::kind::skip: return "skip " + o.skip_word();
    case outcome::kind::ok: break;
  }
  out = "ok";
  if (o.comparison() == comparison::same) out += " same";
  if (o.comparison() == comparison::differ) out += " differ";
  for (const field& f : o.fields()) {
    out.push_back(' ');
    out += to_string(f.key);
    out.push_back('=');
    detail::append_value(out, f);
  }
  return out;
}

inline std::ostream& operator<<(std::ostream& os, const outcome& o) { return os << to_string(o); }

}  // namespace vfiopin::scenario

#endif  // VFIOPIN_SCENARIO_OUTCOME_HPP
