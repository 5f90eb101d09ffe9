// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/scenario/errno_names.hpp: Linux errno numbers <-> their symbols.
//
// Theory of operation. Scenario results print a failure as `err NAME`, NAME being the
// Linux errno symbol ("any errno is printed by its Linux symbol"). The table below is the
// whole userspace errno set of Linux (include/uapi/asm-generic/errno-base.h and errno.h,
// 1..133, as used by x86-64 and arm64). Two numbers have a second, alias symbol: 11 is
// EAGAIN (alias EWOULDBLOCK) and 35 is EDEADLK (alias EDEADLOCK), and 95 is EOPNOTSUPP
// (glibc's ENOTSUP); the primary symbol is the one printed, the aliases are accepted by
// errno_from_symbol(). Numbers 41 and 58 have no symbol of their own. A number outside the
// table prints as "errnoN" (errno_text), so even a bogus value gives one stable token.
//
// The numbers are Linux's, not the host C library's: a scenario result means the same on
// every machine. (On Linux hosts they equal <cerrno>; the unit tests check that.)
#ifndef VFIOPIN_SCENARIO_ERRNO_NAMES_HPP
#define VFIOPIN_SCENARIO_ERRNO_NAMES_HPP

#include <vfiopin/error.hpp>

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace vfiopin::scenario {

namespace detail {

struct errno_alias {
  std::string_view symbol;
  int number;
};
inline constexpr std::array<errno_alias, 3> errno_aliases{{
    {"EWOULDBLOCK", 11}, {"EDEADLOCK", 35}, {"ENOTSUP", 95}}};
}  // namespace detail

/// The largest errno number with a symbol.
inline constexpr int max_errno_symbol = vfiopin::max_named_errno;

/// The Linux symbol of errno `e` ("EINVAL"); "" when Linux has none. Negated values
/// (the kernel's -EINVAL) are accepted.
[[nodiscard]] constexpr std::string_view errno_symbol(int e) noexcept {
  if (e < 0 && e >= -max_errno_symbol) e = -e;
  return vfiopin::errno_name(e);
}

/// The errno number of a Linux symbol, aliases included; nullopt if unknown.
[[nodiscard]] constexpr std::optional<int> errno_from_symbol(std::string_view symbol) noexcept {
  if (symbol.empty()) return std::nullopt;
  for (int i = 1; i <= max_errno_symbol; ++i) {
    if (vfiopin::errno_name(i) == symbol) return i;
  }
  for (const auto& alias : detail::errno_aliases) {
    if (alias.symbol == symbol) return alias.number;
  }
  return std::nullopt;
}

/// The token printed after `err`: the symbol, or "errnoN" for a number without one.
[[nodiscard]] inline std::string errno_text(int e) {
  const std::string_view symbol = errno_symbol(e);
  if (!symbol.empty()) return std::string(symbol);
  return "errno" + std::to_string(e);
}

}  // namespace vfiopin::scenario

#endif  // VFIOPIN_SCENARIO_ERRNO_NAMES_HPP
