// SPDX-License-Identifier: Apache-2.0
// Rule [consumer.concept]: a consumer's on_dma_unmap must be noexcept (teardown never
// fails); a type whose hook may throw is not a consumer, and the message says so.
// expect-error: vfiopin rule \[consumer\.concept\]
// expect-error: noexcept on_dma_unmap
#include "tests/support/model_types.hpp"

int main() {
  static_assert(vfiopin::consumer_of_rule<vfiopin::test::page_consumer, vfiopin::test::page_memory>);
#if defined(VFIOPIN_COMPILE_FAIL)
  static_assert(
      vfiopin::consumer_of_rule<vfiopin::test::throwing_consumer, vfiopin::test::page_memory>);
#endif
}
