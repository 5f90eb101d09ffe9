// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/version.hpp: the library version. CMakeLists.txt reads the version from here,
// so this file is its single source.
#ifndef VFIOPIN_VERSION_HPP
#define VFIOPIN_VERSION_HPP

#define VFIOPIN_VERSION_MAJOR 0
#define VFIOPIN_VERSION_MINOR 1
#define VFIOPIN_VERSION_PATCH 0

namespace vfiopin {
inline constexpr int version_major = VFIOPIN_VERSION_MAJOR;
inline constexpr int version_minor = VFIOPIN_VERSION_MINOR;
inline constexpr int version_patch = VFIOPIN_VERSION_PATCH;
}  // namespace vfiopin

#endif  // VFIOPIN_VERSION_HPP
