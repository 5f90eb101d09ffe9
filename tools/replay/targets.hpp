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
// The mock backend (mock_target.hpp: mock::type1 over mock::process) takes the --kernel
// profile by name (mock::profile_by_name: "debian-6.1", "debian-6.12", "linux-6.1.31", "upstream-2025").
// The real VFIO backend (vfio_target.hpp) needs /dev/vfio and the test bed's edu devices;
// elsewhere its constructor throws and the tool exits 2 with the reason. --kernel is the
// mock's: the real backend runs whatever kernel it is on, so it refuses the option.
#ifndef VFIOPIN_TOOLS_REPLAY_TARGETS_HPP
#define VFIOPIN_TOOLS_REPLAY_TARGETS_HPP

#include "mock_target.hpp"
#include "vfio_target.hpp"

#include <vfiopin/mock/profile.hpp>
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
  if (!is_backend_name(backend)) {
    return {nullptr, "unknown backend '" + std::string(backend) + "' (expected mock or vfio)"};
  }
  if (backend == "mock") {
    const auto profile = mock::profile_by_name(kernel_profile);
    if (!profile) {
      return {nullptr, "unknown kernel profile '" + std::string(kernel_profile) +
                           "' (expected debian-6.1, debian-6.12, linux-6.1.31 or upstream-2025)"};
    }
    return {std::make_unique<mock_target>(*profile), {}};
  }
  if (!kernel_profile.empty()) {
    return {nullptr, "--kernel selects a mock profile; the vfio backend runs the kernel it is on"};
  }
  try {
    return {std::make_unique<vfio_target>(), {}};
  } catch (const std::exception& e) {
    return {nullptr, e.what()};
  }
}

}  // namespace vfiopin::replay

#endif  // VFIOPIN_TOOLS_REPLAY_TARGETS_HPP
