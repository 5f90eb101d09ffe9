// SPDX-License-Identifier: Apache-2.0
// Rule [consumer.pages-only] on real memory: asking a BAR mmap (real::bar_region, VM_PFNMAP,
// pfn-only) for a page handle does not compile, and the message names the rule.
// expect-error: vfiopin rule \[consumer\.pages-only\]
// expect-error: pfn-only
#include <vfiopin/real/bar_region.hpp>
#include <vfiopin/real/memory.hpp>

int use_page(const vfiopin::real::page_region& r) {
  return vfiopin::real::page_at(r, vfiopin::byte_count{0}).has_value() ? 1 : 0;
}

#if defined(VFIOPIN_COMPILE_FAIL)
int use_bar(const vfiopin::real::bar_region& b) {
  return vfiopin::real::page_at(b, vfiopin::byte_count{0}).has_value() ? 1 : 0;
}
#endif

int main() { return 0; }
