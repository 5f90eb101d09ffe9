// SPDX-License-Identifier: Apache-2.0
//
// Static tests of the real memory types (include/vfiopin/real/dma_memory.hpp): page-backed
// regions give page handles, a BAR mmap is pfn-only and has no page_at at all, and
// neither claims to be a vfiopin::memory_backend (user space cannot pin frames).
#include <vfiopin/real/bar_region.hpp>
#include <vfiopin/real/memory.hpp>

#include <type_traits>

namespace {
using namespace vfiopin;
using real::bar_region;
using real::page_region;

static_assert(real::dma_memory<page_region> && real::dma_memory<bar_region>);
static_assert(backing_of<page_region> == backing_kind::pages);
static_assert(backing_of<bar_region> == backing_kind::pfn_only);
static_assert(real::page_backed_dma_memory<page_region> && !real::pfn_only_dma_memory<page_region>);
static_assert(real::pfn_only_dma_memory<bar_region> && !real::page_backed_dma_memory<bar_region>);
// Rule [memory.pfn-only-has-no-pages]: no page_at member on a BAR.
static_assert(!real::offers_page_at<bar_region>);
static_assert(requires(const page_region& r) { real::page_at(r, byte_count{0}); });
// Not memory backends: no pin_frames to offer honestly.
static_assert(!memory_backend<page_region> && !memory_backend<bar_region>);
static_assert(!frame_source<page_region>);
// Move-only RAII handles.
static_assert(!std::is_copy_constructible_v<page_region> && std::is_nothrow_move_constructible_v<page_region>);
static_assert(!std::is_copy_constructible_v<bar_region> && std::is_nothrow_move_constructible_v<bar_region>);
static_assert(!std::is_copy_assignable_v<real::placed_mapping>);
}  // namespace
