// SPDX-License-Identifier: Apache-2.0
// Rule [types.pfn-split]: a pfn (IOMMU side, may be MMIO) never becomes a page_frame
// (consumer side, has a struct page).
// expect-error: pfn_tag
// expect-error(GNU): no matching function|cannot convert|could not convert
// expect-error(Clang): no matching constructor|no viable conversion
#include <vfiopin/types/pfn.hpp>

int main() {
  [[maybe_unused]] const vfiopin::page_frame ok(0x1234);
#if defined(VFIOPIN_COMPILE_FAIL)
  [[maybe_unused]] const vfiopin::page_frame bad(vfiopin::pfn(0x1234));
#endif
}
