// SPDX-License-Identifier: Apache-2.0
//
// tools/replay/target_common.hpp: what every scenario backend formats the same way.
//
// Theory of operation. The mock and the vfio targets differ in where an answer comes
// from, never in how it is printed: both turn results, unmap replies, GET_INFO and dirty
// bitmaps into outcomes here, so a difference between the two backends' output is always
// a difference in behaviour.
#ifndef VFIOPIN_TOOLS_REPLAY_TARGET_COMMON_HPP
#define VFIOPIN_TOOLS_REPLAY_TARGET_COMMON_HPP

#include <vfiopin/result.hpp>
#include <vfiopin/scenario/ast.hpp>
#include <vfiopin/scenario/outcome.hpp>
#include <vfiopin/types/dma.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace vfiopin::replay {

/// ok, or err with the result's errno.
[[nodiscard]] inline scenario::outcome done(const result<void>& r) {
  return r ? scenario::outcome::ok() : scenario::outcome::err(r.error());
}

/// ok, or err with the result's errno (the value is not printed).
template <class T>
[[nodiscard]] scenario::outcome done(const result<T>& r) {
  return r ? scenario::outcome::ok() : scenario::outcome::err(r.error());
}

/// ok size=..., or err.
[[nodiscard]] inline scenario::outcome unmapped(const result<dma_unmap_reply>& r) {
  if (!r) return scenario::outcome::err(r.error());
  return scenario::outcome::ok().with(scenario::field::size(r->size.value()));
}

/// The user bitmap for `size` bytes of 4 KiB pages: DIRTY_BITMAP_BYTES(pages), as words.
[[nodiscard]] inline std::size_t bitmap_words(std::uint64_t size) {
  return static_cast<std::size_t>((size / scenario::bitmap_page_size + 63) / 64);
}

/// `bits=` digits: one per 4 KiB page of `size`, lowest IOVA first.

/// `bits=` digits of a bitmap with page size `pgsize` (the extensions dirty-bitmap and
/// unmap-dirty-bitmap): one per page of `size`, at most as many as `words` hold, lowest
/// IOVA first; none for pgsize 0.
[[nodiscard]] inline std::string bitmap_digits(std::span<const std::uint64_t> words,
                                               std::uint64_t size, std::uint64_t pgsize) {
  std::string s;
  const std::uint64_t pages = pgsize == 0 ? 0 : size / pgsize;
  const std::uint64_t n = std::min<std::uint64_t>(pages, std::uint64_t{words.size()} * 64);
  for (std::uint64_t i = 0; i < n; ++i) s.push_back(((words[i / 64] >> (i % 64)) & 1U) != 0 ? '1' : '0');
  return s;
}

/// `bits=` digits: one per 4 KiB page of `size`, lowest IOVA first.
[[nodiscard]] inline std::string bits_of(const std::vector<std::uint64_t>& words,
                                         std::uint64_t size) {
  return bitmap_digits(words, size, scenario::bitmap_page_size);
}

/// ok size=... bits=DIGITS, or err.
[[nodiscard]] inline scenario::outcome unmapped_with_digits(const result<dma_unmap_reply>& r,
                                                            std::string digits) {
  if (!r) return scenario::outcome::err(r.error());
  return scenario::outcome::ok()
      .with(scenario::field::size(r->size.value()))
      .with(scenario::field::bits(std::move(digits)));
}

/// ok size=... bits=..., or err.
[[nodiscard]] inline scenario::outcome unmapped_with_bits(const result<dma_unmap_reply>& r,
                                                          const std::vector<std::uint64_t>& words,
                                                          std::uint64_t size) {
  return unmapped_with_digits(r, r ? bits_of(words, size) : std::string());
}

/// ok [avail=] pgsizes= [ranges=], or err.
[[nodiscard]] inline scenario::outcome info_outcome(const result<iommu_info>& r) {
  if (!r) return scenario::outcome::err(r.error());
  auto o = scenario::outcome::ok();
  if (r->dma_avail) o.with(scenario::field::avail(*r->dma_avail));
  o.with(scenario::field::pgsizes(r->iova_pgsizes));
  if (r->iova_ranges) {
    std::vector<scenario::iova_range> ranges;
    for (const auto& x : *r->iova_ranges) ranges.push_back({x.first().value(), x.last().value()});
    o.with(scenario::field::ranges(std::move(ranges)));
  }
  return o;
}

// The container operations whose request is built from the operation alone, for any
// backend B with the iommu_backend and tracks_dirty_pages surface.

template <class B>
[[nodiscard]] scenario::outcome run_unmap(B& t, const scenario::op_unmap& op) {
  return unmapped(t.unmap_dma(dma_unmap_request{iova(op.iova), byte_count(op.size), {}, {}, {}}));
}
template <class B>
[[nodiscard]] scenario::outcome run_unmap_all(B& t) {
  return unmapped(
      t.unmap_dma(dma_unmap_request{iova(0), byte_count(0), unmap_flags{.all = true}, {}, {}}));
}
template <class B>
[[nodiscard]] scenario::outcome run_unmap_vaddr(B& t, const scenario::op_unmap_vaddr& op) {
  return unmapped(t.unmap_dma(
      dma_unmap_request{iova(op.iova), byte_count(op.size), unmap_flags{.vaddr = true}, {}, {}}));
}
template <class B>
[[nodiscard]] scenario::outcome run_unmap_dirty(B& t, const scenario::op_unmap_dirty& op) {
  std::vector<std::uint64_t> words(bitmap_words(op.size));
  auto r = t.unmap_dma(dma_unmap_request{iova(op.iova), byte_count(op.size),
                                         unmap_flags{.get_dirty_bitmap = true},
                                         byte_count(scenario::bitmap_page_size), words});
  return unmapped_with_bits(r, words, op.size);
}
template <class B>
[[nodiscard]] scenario::outcome run_dirty_get(B& t, const scenario::op_dirty_get& op) {
  std::vector<std::uint64_t> words(bitmap_words(op.size));
  auto r = t.dirty_bitmap(iova(op.iova), byte_count(op.size),
                          byte_count(scenario::bitmap_page_size), words);
  if (!r) return scenario::outcome::err(r.error());
  return scenario::outcome::ok().with(scenario::field::bits(bits_of(words, op.size)));
}

}  // namespace vfiopin::replay

#endif  // VFIOPIN_TOOLS_REPLAY_TARGET_COMMON_HPP
