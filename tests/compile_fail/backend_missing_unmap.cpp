// SPDX-License-Identifier: Apache-2.0
// Rule [iommu.concept]: an IOMMU backend without unmap_dma is refused, and the
// diagnostic names the missing piece (the dma_mapper sub-concept).
// expect-error: dma_mapper
// expect-error: iommu_backend
#include "tests/support/model_types.hpp"

namespace {
template <vfiopin::iommu_backend B>
int use(B&) {
  return 0;
}
}  // namespace

int main() {
  vfiopin::test::minimal_iommu good;
  use(good);
#if defined(VFIOPIN_COMPILE_FAIL)
  vfiopin::test::no_unmap_iommu bad;
  use(bad);
#endif
}
