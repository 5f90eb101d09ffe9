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
//   - A leaf holds up to Cap entries: their keys in one contiguous array, in groups of 8
//     (one cache line each), and their values in a second array, so a search touches keys
//     only. The leaf's head line holds its entry count and the first key of every group
//     but the first (separators), so an in-leaf search reads the head line and one line of
//     keys, not ~log2(Cap) lines one after the other.
//   - The directory holds each leaf's first key, contiguously (~1,500 leaves * 8 bytes for
//     65,535 random inserts: it stays in L1/L2), and the leaf pointers; it grows
//     geometrically, so a split does not copy it.
//   - A lookup is a branch-free binary search of the directory, one pointer load, a search
//     of the leaf's head line and of one key line: two dependent cold lines in the leaf,
//     then the value. floor_entry() returns the key and a pointer to the value at once.
//   - locate(k) answers where k goes; floor_at / above_at read the neighbours from it and
//     insert_at inserts there, so "check the neighbours, then insert" descends once.
//   - Entries are moved in bulk (std::copy / std::move: a memmove for trivially copyable
//     values, which every value of the mock is).
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
  static_assert(Cap >= 16 && Cap % 8 == 0 && Cap <= 64,
                "leaf capacity: a multiple of 8 from 16 to 64 (one separator line)");
  static constexpr std::uint32_t group = 8;               // keys per cache line
  static constexpr std::uint32_t groups = Cap / group;

  struct alignas(64) leaf {
    // The head line: the entry count and the first key of groups 1.. (group 0 starts with
    // the leaf's first key, which the directory holds). Slots >= n are never read.
    std::uint32_t n = 0;
    std::uint64_t sep[groups - 1];
    alignas(64) std::uint64_t keys[Cap];
    V vals[Cap];
  };

 public:
  /// Where an entry is: valid until the next insert or erase.
  struct position {
    std::uint32_t leaf = 0;
    std::uint32_t slot = 0;
    friend constexpr bool operator==(position, position) noexcept = default;
  };
  /// Where a key would go: leaf `leaf` holds `slot` keys <= k (the floor is the entry before
  /// it). Valid until the next insert or erase; locate(), then insert_at() inserts with one
  /// descent.
  struct locus {
    std::uint32_t leaf = 0;
    std::uint32_t slot = 0;
  };
  /// An entry found by floor_entry: value is null when there is none.
  struct entry {
    std::uint64_t key = 0;
    const V* value = nullptr;
  };

  ordered_index() = default;
  ordered_index(ordered_index&& o) noexcept
      : first_(std::move(o.first_)), leaves_(std::move(o.leaves_)), size_(std::exchange(o.size_, 0)) {
    o.first_.clear();
    o.leaves_.clear();
  }
  ordered_index& operator=(ordered_index&& o) noexcept {
    if (this != &o) {
      clear();
      first_.swap(o.first_);
      leaves_.swap(o.leaves_);
      std::swap(size_, o.size_);
    }
    return *this;
  }
  ordered_index(const ordered_index&) = delete;
  ordered_index& operator=(const ordered_index&) = delete;
  ~ordered_index() { clear(); }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  [[nodiscard]] std::uint64_t key(position p) const noexcept { return leaves_[p.leaf]->keys[p.slot]; }
  [[nodiscard]] V& value(position p) noexcept { return leaves_[p.leaf]->vals[p.slot]; }
  [[nodiscard]] const V& value(position p) const noexcept { return leaves_[p.leaf]->vals[p.slot]; }

  /// Where k would be inserted (see locus). On an empty index: leaf 0, slot 0.
  [[nodiscard]] locus locate(std::uint64_t k) const noexcept {
    const std::size_t li = count_not_above(first_.data(), first_.size(), k);
    if (li == 0) return locus{0, 0};
    return locus{static_cast<std::uint32_t>(li - 1),
                 static_cast<std::uint32_t>(leaf_count(*leaves_[li - 1], k))};
  }
  /// The entry with the largest key <= k, from locate(k).
  [[nodiscard]] std::optional<position> floor_at(locus c) const noexcept {
    if (c.slot == 0) return std::nullopt;  // only the first leaf can have k below its keys
    return position{c.leaf, c.slot - 1};
  }
  /// The entry with the smallest key > k, from locate(k).
  [[nodiscard]] std::optional<position> above_at(locus c) const noexcept {
    if (leaves_.empty()) return std::nullopt;
    if (c.slot < leaves_[c.leaf]->n) return position{c.leaf, c.slot};
    if (c.leaf + 1 < leaves_.size()) return position{c.leaf + 1, 0};
    return std::nullopt;
  }

  /// The entry with the largest key <= k.
  [[nodiscard]] std::optional<position> floor(std::uint64_t k) const noexcept {
    return floor_at(locate(k));
  }
  /// floor(k) as {key, pointer to the value}: one descent and no re-resolution.
  [[nodiscard]] entry floor_entry(std::uint64_t k) const noexcept {
    const std::size_t li = count_not_above(first_.data(), first_.size(), k);
    if (li == 0) return entry{};
    const leaf& l = *leaves_[li - 1];
    const std::size_t s = leaf_count(l, k) - 1;
    return entry{l.keys[s], &l.vals[s]};
  }
  /// The entry with the smallest key >= k.
  [[nodiscard]] std::optional<position> lower_bound(std::uint64_t k) const noexcept {
    const locus c = locate(k);
    if (auto p = floor_at(c); p && key(*p) == k) return p;
    return above_at(c);
  }
  /// The entry with the smallest key > k.
  [[nodiscard]] std::optional<position> upper_bound(std::uint64_t k) const noexcept {
    return above_at(locate(k));
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

  /// Changes the key of the entry at p to k, which must keep the order (above the previous
  /// key, below the next). Never allocates.
  void set_key(position p, std::uint64_t k) noexcept {
    leaf& l = *leaves_[p.leaf];
    VFIOPIN_ASSERT((p.slot == 0 || l.keys[p.slot - 1] < k) &&
                       (p.slot + 1 == l.n || k < l.keys[p.slot + 1]),
                   "ordered_index::set_key: the order must not change");
    l.keys[p.slot] = k;
    if (p.slot == 0) first_[p.leaf] = k;
    if (p.slot % group == 0 && p.slot != 0) l.sep[p.slot / group - 1] = k;
  }

  /// Inserts k -> v; k must not be present. Returns where it went.
  position insert(std::uint64_t k, V v) { return insert_at(locate(k), k, std::move(v)); }

  /// Inserts k -> v at c = locate(k) (no insert or erase since); k must not be present.
  position insert_at(locus c, std::uint64_t k, V v) {
    // Checked here, not at class scope: V may be a nested type of a class not yet complete.
    static_assert(std::is_nothrow_move_assignable_v<V> && std::is_default_constructible_v<V>,
                  "values are moved inside leaves and must be default constructible");
    if (leaves_.empty()) {
      first_.reserve(4);
      leaves_.reserve(4);  // before the leaf exists: nothing leaks if it throws
      leaves_.push_back(new_leaf().release());  // reserved: cannot throw
      first_.push_back(k);
      c = locus{0, 0};
    }
    std::uint32_t li = c.leaf;
    std::uint32_t slot = c.slot;
    leaf* l = leaves_[li];
    VFIOPIN_ASSERT(slot == 0 || l->keys[slot - 1] != k, "ordered_index: duplicate key");
    if (l->n == Cap) {
      // Reserve first (geometrically): once entries start moving, nothing below may throw.
      if (first_.size() == first_.capacity()) first_.reserve(2 * first_.capacity() + 8);
      if (leaves_.size() == leaves_.capacity()) leaves_.reserve(2 * leaves_.capacity() + 8);
      auto fresh = new_leaf();
      if (slot == Cap) {
        // Appending past a full leaf: open a new leaf (dense ascending fill).
        fresh->keys[0] = k;
        fresh->vals[0] = std::move(v);
        fresh->n = 1;
        first_.insert(first_.begin() + static_cast<std::ptrdiff_t>(li + 1), k);
        leaves_.insert(leaves_.begin() + static_cast<std::ptrdiff_t>(li + 1), fresh.release());
        ++size_;
        return position{li + 1, 0};
      }
      constexpr std::uint32_t half = Cap / 2;
      std::copy(l->keys + half, l->keys + Cap, fresh->keys);
      std::move(l->vals + half, l->vals + Cap, fresh->vals);
      fresh->n = half;
      l->n = half;
      refresh_sep(*fresh, 0);
      const std::uint64_t fresh_first = fresh->keys[0];
      first_.insert(first_.begin() + static_cast<std::ptrdiff_t>(li + 1), fresh_first);
      leaves_.insert(leaves_.begin() + static_cast<std::ptrdiff_t>(li + 1), fresh.release());
      if (slot > half) {
        ++li;
        slot -= half;
      }
      l = leaves_[li];
    }
    std::copy_backward(l->keys + slot, l->keys + l->n, l->keys + l->n + 1);
    std::move_backward(l->vals + slot, l->vals + l->n, l->vals + l->n + 1);
    l->keys[slot] = k;
    l->vals[slot] = std::move(v);
    ++l->n;
    refresh_sep(*l, slot);
    if (slot == 0) first_[li] = k;
    ++size_;
    return position{li, slot};
  }

  /// Removes the entry at p. Never allocates.
  void erase(position p) noexcept {
    leaf& l = *leaves_[p.leaf];
    std::copy(l.keys + p.slot + 1, l.keys + l.n, l.keys + p.slot);
    std::move(l.vals + p.slot + 1, l.vals + l.n, l.vals + p.slot);
    --l.n;
    if constexpr (!std::is_trivially_copyable_v<V>) l.vals[l.n] = V{};  // release what it held
    --size_;
    if (l.n == 0) {
      delete &l;
      first_.erase(first_.begin() + p.leaf);
      leaves_.erase(leaves_.begin() + p.leaf);
      return;
    }
    first_[p.leaf] = l.keys[0];
    refresh_sep(l, p.slot);
    if (l.n < Cap / 4 && p.leaf + 1 < leaves_.size() &&
        l.n + leaves_[p.leaf + 1]->n <= Cap / 2) {
      leaf& r = *leaves_[p.leaf + 1];
      std::copy(r.keys, r.keys + r.n, l.keys + l.n);
      std::move(r.vals, r.vals + r.n, l.vals + l.n);
      const std::uint32_t at = l.n;
      l.n += r.n;
      refresh_sep(l, at);
      delete &r;
      first_.erase(first_.begin() + p.leaf + 1);
      leaves_.erase(leaves_.begin() + p.leaf + 1);
    }
  }

  void clear() noexcept {
    for (leaf* l : leaves_) delete l;
    first_.clear();
    leaves_.clear();
    size_ = 0;
  }

  /// f(key, const V&) for every entry in key order.
  template <class F>
  void for_each(F&& f) const {
    for (const leaf* l : leaves_)
      for (std::uint32_t i = 0; i < l->n; ++i) f(l->keys[i], l->vals[i]);
  }
  /// f(key, V&) for every entry in key order (f must not insert or erase).
  template <class F>
  void for_each_mut(F&& f) {
    for (leaf* l : leaves_)
      for (std::uint32_t i = 0; i < l->n; ++i) f(l->keys[i], l->vals[i]);
  }

  /// Heap bytes held (leaves and directory), for the memory benchmarks.
  [[nodiscard]] std::size_t heap_bytes() const noexcept {
    return leaves_.size() * sizeof(leaf) + first_.capacity() * sizeof(std::uint64_t) +
           leaves_.capacity() * sizeof(leaf*);
  }

 private:
  /// A leaf whose slots are left uninitialised (values default constructed): a split or an
  /// append writes what it uses.
  static std::unique_ptr<leaf> new_leaf() { return std::unique_ptr<leaf>(new leaf); }

  /// Keys of l that are <= k, where k >= l's first key: the separator line picks the group,
  /// then one line of keys. Touches two cache lines of the leaf.
  [[nodiscard]] static std::size_t leaf_count(const leaf& l, std::uint64_t k) noexcept {
    const std::uint32_t used = (l.n + group - 1) / group;  // groups in use, >= 1
    const std::size_t g = count_not_above(l.sep, used - 1, k);
    const std::size_t base = g * group;
    const std::size_t m = std::min<std::size_t>(group, l.n - base);
    return base + count_not_above(l.keys + base, m, k);
  }
  /// Rewrites the separators of the groups from the one holding slot `from` on.
  static void refresh_sep(leaf& l, std::uint32_t from) noexcept {
    for (std::uint32_t g = std::max<std::uint32_t>(from / group, 1); g * group < l.n; ++g)
      l.sep[g - 1] = l.keys[g * group];
  }

  std::vector<std::uint64_t> first_;
  std::vector<leaf*> leaves_;  // owned (raw, so the directory shifts with memmove)
  std::size_t size_ = 0;
};

}  // namespace vfiopin::mock::detail

#endif  // VFIOPIN_MOCK_DMA_INDEX_HPP
