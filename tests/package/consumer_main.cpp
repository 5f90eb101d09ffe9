// SPDX-License-Identifier: Apache-2.0
//
// The program of every package test consumer (find_package, build tree, add_subdirectory,
// pkg-config): it includes the umbrella header and uses a real vfiopin type at compile time
// and at run time, so a missing include directory or a C++ standard below 20 fails the build.
#include <vfiopin/vfiopin.hpp>

#include <cstdint>
#include <cstdio>

namespace {
constexpr auto window = vfiopin::interval<vfiopin::iova>::from(vfiopin::iova(0x1000),
                                                               vfiopin::byte_count(0x2000));
static_assert(window.has_value() && window->last() == vfiopin::iova(0x2fff));
}  // namespace

int main() {
  // At run time as well, from a value the compiler cannot fold away.
  volatile std::uint64_t start = 0x1000;
  const auto mapping =
      vfiopin::interval<vfiopin::iova>::from(vfiopin::iova(start), vfiopin::byte_count(0x2000));
  if (!mapping || !mapping->contains(vfiopin::iova(0x2fff)) ||
      mapping->contains(vfiopin::iova(0x3000))) {
    std::puts("vfiopin consumer: wrong interval");
    return 1;
  }
  std::puts("vfiopin consumer: ok");
  return 0;
}
