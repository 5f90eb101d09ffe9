// SPDX-License-Identifier: Apache-2.0
//
// Static tests of the three concept families, positive and negative, piece by piece.
#include "tests/support/model_types.hpp"

namespace {
using namespace vfiopin;
using namespace vfiopin::test;

// ---- memory backends --------------------------------------------------------------------
static_assert(memory_backend<page_memory> && memory_backend<bar_memory> &&
              memory_backend<mixed_memory>);
static_assert(page_backed_memory<page_memory> && !page_backed_memory<bar_memory> &&
              !page_backed_memory<mixed_memory>);
static_assert(pfn_only_memory<bar_memory> && !pfn_only_memory<page_memory>);
static_assert(page_capable_memory<mixed_memory> && !page_capable_memory<bar_memory>);
static_assert(backing_of<bar_memory> == backing_kind::pfn_only);
// Opt-in is required: a look-alike has every member but no tag.
static_assert(frame_source<look_alike_memory> && page_source<look_alike_memory>);
static_assert(!memory_backend_opted_in<look_alike_memory> && !memory_backend<look_alike_memory>);
// Rule [memory.pfn-only-has-no-pages].
static_assert(!pfn_only_offers_no_pages<lying_bar_memory> && !memory_backend<lying_bar_memory>);
// Teardown never fails: unpin_frames must be noexcept.
static_assert(!frame_source<throwing_unpin_memory> && !memory_backend<throwing_unpin_memory>);
static_assert(!memory_backend<int> && !memory_backend<minimal_iommu>);

// ---- IOMMU backends ---------------------------------------------------------------------
static_assert(iommu_backend<minimal_iommu> && !dirty_tracking_iommu_backend<minimal_iommu> &&
              !pinning_iommu_backend<minimal_iommu>);
static_assert(dirty_tracking_iommu_backend<full_iommu> && pinning_iommu_backend<full_iommu>);
static_assert(!dma_mapper<no_unmap_iommu> && reports_iommu_info<no_unmap_iommu> &&
              hosts_groups<no_unmap_iommu> && !iommu_backend<no_unmap_iommu>);
static_assert(iommu_backend<foreign_iommu>, "opt-in through enable_iommu_backend");
static_assert(!iommu_backend<page_memory> && !iommu_backend<page_consumer>);

// ---- consumers --------------------------------------------------------------------------
static_assert(consumer<page_consumer> && consumer<observer_consumer>);
static_assert(!handles_dma_unmap<throwing_consumer> && !consumer<throwing_consumer>,
              "the unmap hook must be noexcept");
static_assert(!consumer<page_memory> && !consumer<int>);
// Rule [consumer.pages-only].
static_assert(consumer_of<page_consumer, page_memory>);
static_assert(consumer_of<page_consumer, mixed_memory>, "mixed memory is checked at run time");
static_assert(!consumer_of<page_consumer, bar_memory>, "pfn-only memory never reaches a consumer");
static_assert(consumer_of<observer_consumer, bar_memory>, "a consumer that needs no pages may");
static_assert(consumer_of_rule<page_consumer, page_memory>);

}  // namespace
