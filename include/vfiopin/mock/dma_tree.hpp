// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/dma_tree.hpp: the dmas of a mock type1 container and the kernel's lookups.
//
// Theory of operation. The kernel keeps struct vfio_dma in an rb-tree ordered by iova and
// searches it three ways: vfio_find_dma(start, size) returns ANY dma overlapping
// [start, start + size) (the first it meets descending the tree), vfio_find_dma_first_node
// returns the lowest dma not wholly below start, and the unmap walk stops at the first dma
// with iova >= start + size. dma_tree holds the dmas in an ordered_index keyed by first iova
// and answers the same questions: where several dmas qualify it answers the one holding
// start, else the lowest (for the kernel's consistent comparisons the tree descent finds
// the same one; only the wrap cases below depend on the tree's shape).
// Before the Mastro series (full_address_space false) all three compute ends in 64 bits:
// a dma ending at 2^64-1 has end 0, so it never matches vfio_find_dma or first_node (the
// model treats it as invisible), and a query whose end wraps matches nothing (every node
// compares "to the left"). After it, ends are inclusive and nothing wraps.
#ifndef VFIOPIN_MOCK_DMA_TREE_HPP
#define VFIOPIN_MOCK_DMA_TREE_HPP

#include <vfiopin/mock/dma_index.hpp>
#include <vfiopin/mock/dma_record.hpp>

#include <cstdint>
#include <optional>

namespace vfiopin::mock::detail {

/// iommu->dma_list and its lookups.
struct dma_tree {
  using dma_index = ordered_index<dma_record, 64>;
  using pos = dma_index::position;

  explicit dma_tree(bool full_address_space) noexcept : full_space_(full_address_space) {}
  dma_tree(const dma_tree&) = delete;
  dma_tree& operator=(const dma_tree&) = delete;
  /// Frees the extensions of the dmas still held (dma_record does not own them itself).
  ~dma_tree() {
    dmas.for_each_mut([](std::uint64_t, dma_record& d) { d.release_ext(); });
  }

  /// The dmas by first iova. Remove entries with erase_dma(), never dmas.erase().
  dma_index dmas;

  /// Removes the dma at p and frees its extension.
  void erase_dma(pos p) noexcept {
    dmas.value(p).release_ext();
    dmas.erase(p);
  }

  [[nodiscard]] static std::uint64_t size_of(std::uint64_t first, const dma_record& d) noexcept {
    return d.last() - first + 1;
  }
  /// True before the Mastro series: ends are computed in 64 bits and may wrap to 0.
  [[nodiscard]] bool wraps() const noexcept { return !full_space_; }

  /// The kernel's overlap test of a dma and a query [start, start + size).
  [[nodiscard]] bool kernel_overlaps(std::uint64_t first, std::uint64_t last, std::uint64_t start,
                                     std::uint64_t size) const noexcept {
    if (wraps()) {
      const std::uint64_t q_end = start + size;  // dma_addr_t arithmetic: may wrap
      const std::uint64_t d_end = last + 1;      // 0 for a dma ending at 2^64-1
      return !(q_end <= first) && !(start >= d_end);
    }
    if (size == 0) return first < start && start <= last;
    const std::uint64_t q_last = start + (size - 1) < start ? ~std::uint64_t{0} : start + (size - 1);
    return q_last >= first && start <= last;
  }
  /// vfio_find_dma(start, size): the dma holding start, else the lowest one overlapping.
  [[nodiscard]] std::optional<pos> find_dma(std::uint64_t start, std::uint64_t size) const noexcept {
    return find_dma_at(dmas.locate(start), start, size);
  }
  /// find_dma(start, size) from at = dmas.locate(start) (MAP reuses it to insert).
  [[nodiscard]] std::optional<pos> find_dma_at(dma_index::locus at, std::uint64_t start,
                                               std::uint64_t size) const noexcept {
    if (wraps() && size != 0 && start + size < start) return std::nullopt;  // always "left"
    auto p = dmas.floor_at(at);
    if (p && kernel_overlaps(dmas.key(*p), dmas.value(*p).last(), start, size)) return p;
    auto q = dmas.above_at(at);
    if (q && kernel_overlaps(dmas.key(*q), dmas.value(*q).last(), start, size)) return q;
    return std::nullopt;
  }
  /// The kernel's "dma->iova >= start + size": the walk of an unmap stops there.
  [[nodiscard]] bool at_or_past_end(std::uint64_t first, std::uint64_t start,
                                    std::uint64_t size) const noexcept {
    if (wraps()) return first >= start + size;
    return size != 0 && first > start + (size - 1);
  }
  /// vfio_find_dma_first_node(start, size): the lowest dma not wholly below start. Before
  /// the Mastro series a dma ending at 2^64-1 has end 0 and never qualifies (whether the
  /// kernel then finds an earlier one depends on the rb-tree shape; the model assumes it does).
  [[nodiscard]] std::optional<pos> find_first_node(std::uint64_t start,
                                                   std::uint64_t size) const noexcept {
    const auto at = dmas.locate(start);
    auto p = dmas.floor_at(at);
    std::optional<pos> res;
    if (p && dmas.value(*p).last() >= start) res = p;
    else res = dmas.above_at(at);
    if (res && wraps() && dmas.value(*res).last() == ~std::uint64_t{0}) res = std::nullopt;
    if (res && size != 0 && at_or_past_end(dmas.key(*res), start, size)) res = std::nullopt;
    return res;
  }


 private:
  bool full_space_;
};

}  // namespace vfiopin::mock::detail

#endif  // VFIOPIN_MOCK_DMA_TREE_HPP
