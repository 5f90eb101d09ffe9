// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/dma_index.hpp: an ordered map from 64-bit keys to values, for the mock's trees.
//
// Theory of operation. The kernel keeps struct vfio_dma in an rb-tree (iommu->dma_list,
// searched by vfio_find_dma / vfio_find_dma_first_node), external pins in a second rb-tree per
// dma (dma->pfn_list), and relies on the IOMMU page table for translations. An rb-tree costs
// a 24-byte node header per entry plus malloc overhead and ~2 log2(n) dependent cache misses
// per lookup. The mock needs the same ordered queries (floor: "the entry at or below key",
// lower_bound, in-order walk) for three things: dmas by first iova, IOMMU page-table extents
// by first iova, and pin runs by first key. ordered_index is the one structure behind all
// three: a sorted array of leaves plus a directory (a B+-tree of height two).
//   - A leaf holds up to Cap entries: their keys in one contiguous array (searched
//     branch-free, Cap * 8 bytes = 8 cache lines for Cap 64) and their values in a second
//     array, so a search touches keys only.
//   - The directory holds each leaf's first key, contiguously (1,024 leaves * 8 bytes for
//     65,535 entries: it stays in L1/L2), and the leaf pointers.
//   - A lookup is a branch-free binary search of the directory, one pointer load, and a
//     branch-free binary search of one leaf's keys: two dependent cold loads in the common
//     case, which is the floor for a two-level structure.
//   - Inserting at the end of a full leaf opens a new leaf instead of splitting it in half,
//     so ascending inserts fill leaves to 100%; other full leaves split in half (~70% fill
//     on random inserts). Erasing merges a leaf that falls below a quarter into its right
//     neighbour when both fit in half a leaf, so churn does not leave sparse leaves.
// Keys are unique. A position (leaf, slot) is valid until the next insert or erase; callers
// that mutate while walking re-find their place by key. erase() and clear() never allocate
// and never throw; insert() may throw std::bad_alloc (the mock never injects that: its
// failure points are the kernel's, see mock/fault_injection.hpp).
#ifndef VFIOPIN_MOCK_DMA_INDEX_HPP
#define VFIOPIN_MOCK_DMA_INDEX_HPP

#include <vfiopin/config.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace vfiopin::mock::detail {

/// The number of elements of the sorted array a[0..n) that are <= k (branch-free).
[[nodiscard]] inline std::size_t count_not_above(const std::uint64_t* a, std::size_t n,
                                                 std::uint64_t k) noexcept {
  if (n == 0) return 0;
  const std::uint64_t* base = a;
  while (n > 1) {
    const std::size_t half = n / 2;
    base += (base[half] <= k) ? half : 0;
    n -= half;
  }
  return static_cast<std::size_t>(base - a) + (*base <= k ? 1U : 0U);
}

/// An ordered map u64 -> V with unique keys (see the header comment).
template <class V, std::uint32_t Cap = 64>
class ordered_index {
  static_assert(Cap >= 8 && Cap % 2 == 0, "leaf capacity must be even and at least 8");

  struct leaf {
    std::uint32_t n = 0;
    std::array<std::uint64_t, Cap> keys{};
    std::array<V, Cap> vals{};
  };

 public:
  /// Where an entry is: valid until the next insert or erase.
  struct position {
    std::uint32_t leaf = 0;
    std::uint32_t slot = 0;
    friend constexpr bool operator==(position, position) noexcept = default;
  };

  ordered_index() = default;
  ordered_index(ordered_index&&) noexcept = default;
  ordered_index& operator=(ordered_index&&) noexcept = default;
  ordered_index(const ordered_index&) = delete;
  ordered_index& operator=(const ordered_index&) = delete;
  ~ordered_index() = default;

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  [[nodiscard]] std::uint64_t key(position p) const noexcept { return leaves_[p.leaf]->keys[p.slot]; }
  [[nodiscard]] V& value(position p) noexcept { return leaves_[p.leaf]->vals[p.slot]; }
  [[nodiscard]] const V& value(position p) const noexcept { return leaves_[p.leaf]->vals[p.slot]; }

  /// The entry with the largest key <= k.
  [[nodiscard]] std::optional<position> floor(std::uint64_t k) const noexcept {
    const std::size_t li = count_not_above(first_.data(), first_.size(), k);
    if (li == 0) return std::nullopt;
    const leaf& l = *leaves_[li - 1];
    const std::size_t s = count_not_above(l.keys.data(), l.n, k);
    return position{static_cast<std::uint32_t>(li - 1), static_cast<std::uint32_t>(s - 1)};
  }
  /// The entry with the smallest key >= k.
  [[nodiscard]] std::optional<position> lower_bound(std::uint64_t k) const noexcept {
    if (auto p = floor(k)) {
      if (key(*p) == k) return p;
      return next(*p);
    }
    return first();
  }
  /// The entry with the smallest key > k.
  [[nodiscard]] std::optional<position> upper_bound(std::uint64_t k) const noexcept {
    if (auto p = floor(k)) return next(*p);
    return first();
  }
  /// The entry with key k.
  [[nodiscard]] std::optional<position> find(std::uint64_t k) const noexcept {
    auto p = floor(k);
    if (p && key(*p) == k) return p;
    return std::nullopt;
  }
  [[nodiscard]] std::optional<position> first() const noexcept {
    if (leaves_.empty()) return std::nullopt;
    return position{0, 0};
  }
  [[nodiscard]] std::optional<position> last() const noexcept {
    if (leaves_.empty()) return std::nullopt;
    const auto li = static_cast<std::uint32_t>(leaves_.size() - 1);
    return position{li, leaves_[li]->n - 1};
  }
  [[nodiscard]] std::optional<position> next(position p) const noexcept {
    if (p.slot + 1 < leaves_[p.leaf]->n) return position{p.leaf, p.slot + 1};
    if (p.leaf + 1 < leaves_.size()) return position{p.leaf + 1, 0};
    return std::nullopt;
  }
  [[nodiscard]] std::optional<position> prev(position p) const noexcept {
    if (p.slot > 0) return position{p.leaf, p.slot - 1};
    if (p.leaf > 0) return position{p.leaf - 1, leaves_[p.leaf - 1]->n - 1};
    return std::nullopt;
  }

  /// Inserts k -> v; k must not be present. Returns where it went.
  position insert(std::uint64_t k, V v) {
    // Checked here, not at class scope: V may be a nested type of a class not yet complete.
    static_assert(std::is_nothrow_move_assignable_v<V> && std::is_default_constructible_v<V>,
                  "values are moved inside leaves and must be default constructible");
    if (leaves_.empty()) {
      leaves_.push_back(std::make_unique<leaf>());
      first_.push_back(k);
    }
    std::size_t li = count_not_above(first_.data(), first_.size(), k);
    li = li == 0 ? 0 : li - 1;
    leaf* l = leaves_[li].get();
    auto slot = static_cast<std::uint32_t>(count_not_above(l->keys.data(), l->n, k));
    VFIOPIN_ASSERT(slot == 0 || l->keys[slot - 1] != k, "ordered_index: duplicate key");
    if (l->n == Cap) {
      // Reserve first: once entries start moving, nothing below may throw.
      first_.reserve(first_.size() + 1);
      leaves_.reserve(leaves_.size() + 1);
      auto fresh = std::make_unique<leaf>();
      if (slot == Cap) {
        // Appending past a full leaf: open a new leaf (dense ascending fill).
        fresh->keys[0] = k;
        fresh->vals[0] = std::move(v);
        fresh->n = 1;
        first_.insert(first_.begin() + static_cast<std::ptrdiff_t>(li + 1), k);
        leaves_.insert(leaves_.begin() + static_cast<std::ptrdiff_t>(li + 1), std::move(fresh));
        ++size_;
        return position{static_cast<std::uint32_t>(li + 1), 0};
      }
      constexpr std::uint32_t half = Cap / 2;
      for (std::uint32_t i = 0; i < half; ++i) {
        fresh->keys[i] = l->keys[half + i];
        fresh->vals[i] = std::move(l->vals[half + i]);
      }
      fresh->n = half;
      l->n = half;
      const std::uint64_t fresh_first = fresh->keys[0];
      first_.insert(first_.begin() + static_cast<std::ptrdiff_t>(li + 1), fresh_first);
      leaves_.insert(leaves_.begin() + static_cast<std::ptrdiff_t>(li + 1), std::move(fresh));
      if (slot > half) {
        ++li;
        slot -= half;
      }
      l = leaves_[li].get();
    }
    for (std::uint32_t i = l->n; i > slot; --i) {
      l->keys[i] = l->keys[i - 1];
      l->vals[i] = std::move(l->vals[i - 1]);
    }
    l->keys[slot] = k;
    l->vals[slot] = std::move(v);
    ++l->n;
    if (slot == 0) first_[li] = k;
    ++size_;
    return position{static_cast<std::uint32_t>(li), slot};
  }

  /// Removes the entry at p. Never allocates.
  void erase(position p) noexcept {
    leaf& l = *leaves_[p.leaf];
    for (std::uint32_t i = p.slot; i + 1 < l.n; ++i) {
      l.keys[i] = l.keys[i + 1];
      l.vals[i] = std::move(l.vals[i + 1]);
    }
    --l.n;
    l.vals[l.n] = V{};
    --size_;
    if (l.n == 0) {
      first_.erase(first_.begin() + p.leaf);
      leaves_.erase(leaves_.begin() + p.leaf);
      return;
    }
    first_[p.leaf] = l.keys[0];
    if (l.n < Cap / 4 && p.leaf + 1 < leaves_.size() &&
        l.n + leaves_[p.leaf + 1]->n <= Cap / 2) {
      leaf& r = *leaves_[p.leaf + 1];
      for (std::uint32_t i = 0; i < r.n; ++i) {
        l.keys[l.n + i] = r.keys[i];
        l.vals[l.n + i] = std::move(r.vals[i]);
      }
      l.n += r.n;
      first_.erase(first_.begin() + p.leaf + 1);
      leaves_.erase(leaves_.begin() + p.leaf + 1);
    }
  }

  void clear() noexcept {
    first_.clear();
    leaves_.clear();
    size_ = 0;
  }

  /// f(key, const V&) for every entry in key order.
  template <class F>
  void for_each(F&& f) const {
    for (const auto& l : leaves_)
      for (std::uint32_t i = 0; i < l->n; ++i) f(l->keys[i], l->vals[i]);
  }

  /// Heap bytes held (leaves and directory), for the memory benchmarks.
  [[nodiscard]] std::size_t heap_bytes() const noexcept {
    return leaves_.size() * sizeof(leaf) + first_.capacity() * sizeof(std::uint64_t) +
           leaves_.capacity() * sizeof(std::unique_ptr<leaf>);
  }

 private:
  std::vector<std::uint64_t> first_;
  std::vector<std::unique_ptr<leaf>> leaves_;
  std::size_t size_ = 0;
};

}  // namespace vfiopin::mock::detail

#endif  // VFIOPIN_MOCK_DMA_INDEX_HPP
