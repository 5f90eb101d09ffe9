// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/config.hpp: the only home of macros.
//
// Theory of operation. vfiopin keeps configuration in templates and policies, not in
// macros. The few macros that remain are here:
//   - VFIOPIN_ASSERT(cond, msg): an always-on precondition check. It guards programmer
//     errors (subtracting a larger address from a smaller one, dereferencing an error
//     result) and turns them into an immediate trap with a message instead of undefined
//     behaviour. Input from outside the program never reaches an assert: it goes through
//     the checked factories (interval::from, align_up, checked_add), which return an
//     empty optional or an error instead.
//   - VFIOPIN_HAS_STD_EXPECTED: 1 when <expected> provides std::expected, in which case
//     vfiopin::result<T> becomes an alias of std::expected<T, std::error_code>.
#ifndef VFIOPIN_CONFIG_HPP
#define VFIOPIN_CONFIG_HPP

#include <cstdio>
#include <cstdlib>
#include <version>

namespace vfiopin::detail {
[[noreturn]] inline void assert_failed(const char* cond, const char* msg, const char* file,
                                       int line) noexcept {
  std::fprintf(stderr, "%s:%d: vfiopin assertion '%s' failed: %s\n", file, line, cond, msg);
  std::abort();
}
}  // namespace vfiopin::detail

// Always on: the cost is one predictable branch, the benefit is no silent wrap.
#define VFIOPIN_ASSERT(cond, msg)                                                 \
  ((cond) ? static_cast<void>(0)                                                  \
          : ::vfiopin::detail::assert_failed(#cond, msg, __FILE__, __LINE__))

#if defined(__cpp_lib_expected) && __cpp_lib_expected >= 202202L
#define VFIOPIN_HAS_STD_EXPECTED 1
#else
#define VFIOPIN_HAS_STD_EXPECTED 0
#endif

#endif  // VFIOPIN_CONFIG_HPP
