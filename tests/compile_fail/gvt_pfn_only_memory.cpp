// SPDX-License-Identifier: Apache-2.0
// Rule [consumer.pages-only] for the GVT-g consumer: a shadow GTT over guest memory that is
// pfn-only (a device BAR, VM_PFNMAP: no struct pages) does not compile, and the message
// names the rule. Over page-backed or mixed memory it does.
// expect-error: vfiopin rule \[consumer\.pages-only\]
// expect-error: pfn-only
#include "tests/support/model_types.hpp"

#include <vfiopin/consumers/gvt.hpp>
#include <vfiopin/mock/process.hpp>
#include <vfiopin/mock/type1.hpp>

using backend = vfiopin::mock::type1<vfiopin::mock::process>;

int main() {
  vfiopin::mock::process proc;
  vfiopin::container<backend> c(std::in_place, proc);
  auto mixed = vfiopin::consumers::gvt<backend, vfiopin::mock::process>::open(c, 4);
  auto pages = vfiopin::consumers::gvt<backend, vfiopin::test::page_memory>::open(c, 4);
#if defined(VFIOPIN_COMPILE_FAIL)
  auto bar = vfiopin::consumers::gvt<backend, vfiopin::test::bar_memory>::open(c, 4);
  return bar.has_value() ? 0 : 1;
#endif
  return mixed.has_value() && pages.has_value() ? 0 : 1;
}
