// SPDX-License-Identifier: Apache-2.0
// Rule [types.address-spaces]: `iova = vaddr` does not compile.
// expect-error: vaddr_tag
// expect-error(GNU): no match for 'operator='
// expect-error(Clang): no viable overloaded '='
#include <vfiopin/types/address.hpp>

int main() {
  vfiopin::iova i(0x1000);
  i = vfiopin::iova(0x2000);
#if defined(VFIOPIN_COMPILE_FAIL)
  i = vfiopin::vaddr(0x2000);
#endif
  return static_cast<int>(i.value() & 1);
}
