// SPDX-License-Identifier: Apache-2.0
// Rule [consumer.pages-only]: a consumer that needs pages, given a pfn-only memory
// backend (a VM_PFNMAP BAR), does not compile, and the message names the rule.
// expect-error: vfiopin rule \[consumer\.pages-only\]
// expect-error: pfn-only
#include "tests/support/model_types.hpp"

int main() {
  static_assert(vfiopin::consumer_of_rule<vfiopin::test::page_consumer, vfiopin::test::page_memory>);
#if defined(VFIOPIN_COMPILE_FAIL)
  static_assert(vfiopin::consumer_of_rule<vfiopin::test::page_consumer, vfiopin::test::bar_memory>);
#endif
}
