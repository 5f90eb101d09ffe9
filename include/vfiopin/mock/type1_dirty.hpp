// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/type1_dirty.hpp: VFIO_IOMMU_DIRTY_PAGES and the dirty bitmaps (spec §6).
//
// Theory of operation. While tracking is on every dma has a bitmap, one bit per minimum-size
// IOMMU page (vfio_dma_bitmap_alloc). A bit is set when a page is pinned through
// vfio_pin_pages (vfio_iommu_type1_pin_pages) and when the bitmap is (re)populated from the
// pin records (vfio_dma_populate_bitmap). Reporting (update_user_bitmap) first sets every
// bit if a real group has not declared itself through pinning (num_non_pinned_groups > 0)
// and the dma is iommu_mapped, then shifts the bits to their position in the user's bitmap,
// ORs in the low bits of the user's existing word when the position is not a multiple of 64
// (copy_from_user of that word) and writes whole 64-bit words (copy_to_user): bits past the
// dma's end in its last word are written as 0. GET_BITMAP (vfio_iova_dirty_bitmap) then
// clears the dma's bitmap and repopulates it with the pages pinned now, so a pinned page is
// reported on every GET until it is unpinned. Both user copies are failure points (-EFAULT).
//   dirty_start   START: -EACCES on v1; allocates every bitmap (failure point per dma,
//                 -ENOMEM; more than INT_MAX pages -EINVAL) and rolls back on failure (the
//                 2025 "fixed rollback in vfio_dma_bitmap_alloc_all()" behaviour); no-op if on
//   dirty_stop    STOP: frees every bitmap; always succeeds (v2)
//   dirty_get     GET_BITMAP: the validation order of vfio_iommu_type1_dirty_pages per
//                 profile, then no bisected dma at either end (-EINVAL), then every dma that
//                 starts inside the range is reported
// A bitmap page size of 0 would make the kernel compute __ffs(0) (spec §10 H3, undefined):
// the model answers -EINVAL.
#ifndef VFIOPIN_MOCK_TYPE1_DIRTY_HPP
#define VFIOPIN_MOCK_TYPE1_DIRTY_HPP

#include <vfiopin/mock/mutant.hpp>
#include <vfiopin/mock/type1_core.hpp>

#include <bit>
#include <cstdint>
#include <span>
#include <vector>

namespace vfiopin::mock::detail {

/// DIRTY_BITMAP_BYTES(n): bytes of a bitmap of n bits rounded up to whole u64 words.
[[nodiscard]] constexpr std::uint64_t dirty_bitmap_bytes(std::uint64_t nbits) noexcept {
  return ((nbits + 63) / 64) * 8;
}

/// verify_bitmap_size(): true if the user bitmap is acceptable.
template <class Memory>
[[nodiscard]] bool bitmap_size_ok(const type1_state<Memory>& s, std::uint64_t npages,
                                  std::uint64_t bytes) noexcept {
  return npages != 0 && bytes != 0 && bytes <= s.geo.max_dirty_bitmap_bytes &&
         bytes >= dirty_bitmap_bytes(npages);
}

/// vfio_dma_populate_bitmap: sets the bit of every pinned record of d.
template <class Memory>
void populate_bitmap(type1_state<Memory>& s, std::uint64_t first, dma_record& d) {
  if (!d.has_pins()) return;
  const unsigned shift = s.pgshift();
  const std::uint64_t size = type1_state<Memory>::size_of(first, d);
  dirty_bits& bits = d.ext()->dirty;
  d.ext()->pins.for_each([&](const pin_run_view& v) {
    for (std::uint64_t i = 0; i < v.pages; ++i) {
      const std::uint64_t key = v.key + i * page_bytes;
      if (key < first || key - first >= size) {
        s.warn("vfio_dma_populate_bitmap: record outside its dma (kernel writes out of bounds)");
        continue;
      }
      bits.mark((key - first) >> shift);
    }
  });
}

/// update_user_bitmap: merges d's bits into the user bitmap whose bit 0 is base_iova.
template <class Memory>
result<void> update_user_bitmap(type1_state<Memory>& s, std::span<std::uint64_t> user,
                                std::uint64_t first, dma_record& d, std::uint64_t base_iova) {
  const unsigned pgshift = s.pgshift();
  const std::uint64_t nbits = type1_state<Memory>::size_of(first, d) >> pgshift;
  const std::uint64_t bit_offset = (first - base_iova) >> pgshift;
  const std::uint64_t copy_offset = bit_offset / 64;
  const unsigned shift = static_cast<unsigned>(bit_offset % 64);
  if (s.num_non_pinned_groups != 0 && d.iommu_mapped()) d.ext_or_make().dirty.mark_all();
  const std::uint64_t nwords = dirty_bitmap_bytes(nbits + shift) / 8;
  std::vector<std::uint64_t> words(static_cast<std::size_t>(nwords), 0);
  auto set_bit = [&](std::uint64_t b) { words[(b + shift) / 64] |= std::uint64_t{1} << ((b + shift) % 64); };
  if (dma_ext* e = d.ext()) {
    if (e->dirty.full) {
      for (std::uint64_t b = 0; b < nbits;) {
        if ((b + shift) % 64 == 0 && nbits - b >= 64) {
          words[(b + shift) / 64] = ~std::uint64_t{0};
          b += 64;
        } else {
          set_bit(b++);
        }
      }
    } else {
      for (const std::uint64_t b : e->dirty.set)
        if (b < nbits) set_bit(b);
    }
  }
  const bool in_bounds = copy_offset <= user.size() && nwords <= user.size() - copy_offset;
  if (shift != 0) {
    if (s.fail_step() || copy_offset >= user.size()) return fail(errc::bad_address);  // copy_from_user
    words[0] |= user[copy_offset] & ((std::uint64_t{1} << shift) - 1);
  }
  if (s.fail_step() || !in_bounds) return fail(errc::bad_address);  // copy_to_user
  for (std::uint64_t i = 0; i < nwords; ++i) user[copy_offset + i] = words[i];
  return {};
}

/// VFIO_IOMMU_DIRTY_PAGES_FLAG_START.
template <class Memory>
result<void> dirty_start(type1_state<Memory>& s) {
  if (!s.iommu_set) return fail(errc::invalid_argument);
  if (!s.v2) return fail(errc::access_denied);
  if (s.dirty_tracking) return {};
  const std::uint64_t pgsize = s.min_pgsize();
  for (auto p = s.dmas.first(); p; p = s.dmas.next(*p)) {
    const std::uint64_t size = type1_state<Memory>::size_of(s.dmas.key(*p), s.dmas.value(*p));
    std::error_code err;
    if (size / pgsize > dirty_pages_max) err = make_error_code(errc::invalid_argument);
    else if (s.fail_step()) err = make_error_code(errc::out_of_memory);  // kvzalloc
    if (err) {
      for (auto q = s.dmas.first(); q && !(*q == *p); q = s.dmas.next(*q)) {
        dma_record& d = s.dmas.value(mutant == 8 ? *p : *q);  // mutant 8: the wrong dma's
        if (d.ext()) d.ext()->dirty.clear();
        d.trim();
      }
      return fail(err);
    }
    populate_bitmap(s, s.dmas.key(*p), s.dmas.value(*p));
  }
  s.dirty_tracking = true;
  return {};
}

/// VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP.
template <class Memory>
result<void> dirty_stop(type1_state<Memory>& s) {
  if (!s.iommu_set) return fail(errc::invalid_argument);
  if (!s.v2) return fail(errc::access_denied);
  if (!s.dirty_tracking) return {};
  s.dirty_tracking = false;
  for (auto p = s.dmas.first(); p; p = s.dmas.next(*p)) {
    dma_record& d = s.dmas.value(*p);
    if (d.ext()) d.ext()->dirty.clear();
    d.trim();
  }
  return {};
}

/// VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP for [iova, iova + size).
template <class Memory>
result<void> dirty_get(type1_state<Memory>& s, std::uint64_t iova0, std::uint64_t size,
                       std::uint64_t bitmap_pgsize, std::span<std::uint64_t> user) {
  if (!s.iommu_set) return fail(errc::invalid_argument);
  if (!s.v2) return fail(errc::access_denied);
  if (s.profile.overflow_errnos) {
    if (size == 0) return fail(errc::invalid_argument);
    if (iova0 + (size - 1) < iova0) return fail(errc::overflow);
  } else if (iova0 + size < iova0) {
    return fail(errc::invalid_argument);
  }
  if (bitmap_pgsize == 0) return fail(errc::invalid_argument);  // __ffs(0), spec §10 H3
  const auto ushift = static_cast<unsigned>(std::countr_zero(bitmap_pgsize));
  if (!bitmap_size_ok(s, size >> ushift, user.size_bytes())) return fail(errc::invalid_argument);
  // --- iommu->lock ---
  const std::uint64_t pgsize = s.min_pgsize();
  if (bitmap_pgsize != pgsize || (iova0 & (pgsize - 1)) != 0 || size == 0 ||
      (size & (pgsize - 1)) != 0)
    return fail(errc::invalid_argument);
  if (!s.dirty_tracking) return fail(errc::invalid_argument);
  const std::uint64_t last = iova0 + (size - 1);
  if (auto p = s.find_dma(iova0, 1); p && s.dmas.key(*p) != iova0)
    return fail(errc::invalid_argument);
  if (auto p = s.find_dma(last, 0); p && s.dmas.value(*p).last() != last)
    return fail(errc::invalid_argument);
  for (auto p = s.dmas.lower_bound(iova0); p && s.dmas.key(*p) <= last; p = s.dmas.next(*p)) {
    const std::uint64_t first = s.dmas.key(*p);
    dma_record& d = s.dmas.value(*p);
    if (auto r = update_user_bitmap(s, user, first, d, iova0); !r) return r;
    // Re-populate with the pages pinned now (the pins are reported again next time).
    if (dma_ext* e = d.ext()) e->dirty.clear();
    populate_bitmap(s, first, d);
    d.trim();
  }
  return {};
}

}  // namespace vfiopin::mock::detail

#endif  // VFIOPIN_MOCK_TYPE1_DIRTY_HPP
