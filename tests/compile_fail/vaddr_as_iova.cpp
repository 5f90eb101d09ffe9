// SPDX-License-Identifier: Apache-2.0
// Rule [types.address-spaces]: a vaddr is not an iova; a function that takes an iova
// refuses a vaddr.
// expect-error: vaddr_tag
// expect-error(GNU): could not convert|cannot convert|no matching function
// expect-error(Clang): no matching function for call to 'map_at'|no viable conversion
#include <vfiopin/types/address.hpp>

namespace {
void map_at(vfiopin::iova) {}
}  // namespace

int main() {
  map_at(vfiopin::iova(0x1000));
#if defined(VFIOPIN_COMPILE_FAIL)
  map_at(vfiopin::vaddr(0x7f0000000000));
#endif
}
