// SPDX-License-Identifier: Apache-2.0
// Rule [memory.pfn-only-has-no-pages]: a pfn-only memory backend that offers page_of()
// is not a memory backend; the diagnostic names the rule's concept.
// expect-error: pfn_only_offers_no_pages
#include "tests/support/model_types.hpp"

namespace {
template <vfiopin::memory_backend M>
int use(M&) {
  return 0;
}
}  // namespace

int main() {
  vfiopin::test::bar_memory good;
  use(good);
#if defined(VFIOPIN_COMPILE_FAIL)
  vfiopin::test::lying_bar_memory bad;
  use(bad);
#endif
}
