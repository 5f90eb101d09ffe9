// SPDX-License-Identifier: Apache-2.0
// Rule [types.affine]: point + point does not exist; an iova moves by a byte_count.
// expect-error(GNU): no match for 'operator\+'
// expect-error(GNU): iova
// expect-error(Clang): invalid operands to binary expression
// expect-error(Clang): iova_tag
#include <vfiopin/types/address.hpp>

int main() {
  const vfiopin::iova a(0x1000);
  [[maybe_unused]] const auto ok = a + vfiopin::byte_count(0x1000);
#if defined(VFIOPIN_COMPILE_FAIL)
  [[maybe_unused]] const auto bad = a + vfiopin::iova(0x1000);
#endif
}
