// SPDX-License-Identifier: Apache-2.0
//
// tools/replay/targets.hpp: the one place where vfiopin-replay's backends plug in.
//
// Theory of operation. main.cpp knows nothing about backends: it parses the command line
// and the files, then asks make_target() for a scenario::target by the name given to
// --backend, passing the --kernel profile along (empty when none was given, meaning the
// test bed's kernel, Debian's 6.1). A backend joins by adding a branch here that constructs
// its target; the rest of the tool (parsing, skip propagation, --echo, --check, exit
// status) is backend-independent and lives in include/vfiopin/scenario/.
//
// Today no backend is built, so both known names answer with an error and the tool exits 2:
// the mock and the real VFIO backend are being written separately, and a stand-in that
// printed made-up results would defeat the purpose of a differential test.
#ifndef VFIOPIN_TOOLS_REPLAY_TARGETS_HPP
#define VFIOPIN_TOOLS_REPLAY_TARGETS_HPP

#include <vfiopin/scenario/target.hpp>

#include <array>
#include <memory>
#include <string>
#include <string_view>

namespace vfiopin::replay {

/// The --backend names of the format; the first is the default.
inline constexpr std::array<std::string_view, 2> backend_names{"mock", "vfio"};

/// A backend, or why there is none.
struct made_target {
  std::unique_ptr<scenario::target> target;
  std::string error;  ///< set when target is null
};

/// True for a name the command line accepts for --backend.
[[nodiscard]] constexpr bool is_backend_name(std::string_view name) noexcept {
  for (const std::string_view known : backend_names) {
    if (known == name) return true;
  }
  return false;
}

/// Builds the backend `backend` for kernel profile `kernel_profile` ("" = the default).
[[nodiscard]] inline made_target make_target(std::string_view backend,
                                             std::string_view kernel_profile) {
  static_cast<void>(kernel_profile);  // used by the mock once it exists
  if (!is_backend_name(backend)) {
    return {nullptr, "unknown backend '" + std::string(backend) + "' (expected mock or vfio)"};
  }
  return {nullptr, "backend '" + std::string(backend) + "' is not built yet"};
}

}  // namespace vfiopin::replay

#endif  // VFIOPIN_TOOLS_REPLAY_TARGETS_HPP
