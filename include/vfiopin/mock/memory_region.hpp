// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/memory_region.hpp: the regions (VMAs) of the mock process and where they go.
//
// Theory of operation. A region is one mmap of the mapping process, of one kind (the
// scenario format's `mem` kinds, scenario-format.md):
//   anon     private anonymous memory (MADV_NOHUGEPAGE: page by page)
//   memfd    a shared mapping of a memfd (shmem)
//   hugetlb  a mapping of 2 MiB hugetlb pages
//   bar      BAR0 of test device 0, VM_PFNMAP: MMIO frames without struct pages
//   hole     address space with nothing mapped: every access faults (EFAULT)
// region_info describes one; address_layout places them and finds them.
//
// Placement follows the scenario convention: every region starts on a 2 MiB boundary and
// is followed by at least 2 MiB of unmapped address space, so an access or a pin that
// runs past a region's end reaches unmapped memory, never the next region. Addresses
// come from a counter and are never reused: an unmapped region's range stays unmapped
// (a `bar` the scenario tool unmapped "behaves as a hole"). The mock address space is
// [layout_first, layout_end), 1 TiB to 128 TiB; placement past its end is ENOMEM.
//
// Lookup is a binary search in a vector sorted by start (regions are only appended in
// address order and erased).
//
// Thread safety: none; serialised by mock::process.
#ifndef VFIOPIN_MOCK_MEMORY_REGION_HPP
#define VFIOPIN_MOCK_MEMORY_REGION_HPP

#include <vfiopin/config.hpp>
#include <vfiopin/types/address.hpp>
#include <vfiopin/types/count.hpp>
#include <vfiopin/types/interval.hpp>
#include <vfiopin/types/page.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace vfiopin::mock {

/// The kind of a region (the scenario format's `mem` kinds).
enum class region_kind : std::uint8_t { anon, memfd, hugetlb, bar, hole };

/// "anon", "memfd", "hugetlb", "bar", "hole" (the scenario spelling).
[[nodiscard]] constexpr std::string_view to_string(region_kind k) noexcept {
  switch (k) {
    case region_kind::anon: return "anon";
    case region_kind::memfd: return "memfd";
    case region_kind::hugetlb: return "hugetlb";
    case region_kind::bar: return "bar";
    case region_kind::hole: return "hole";
  }
  return "?";
}

/// One region of the process: [start, start + size), size a multiple of its page size.
struct region_info {
  vaddr start{};
  byte_count size{};
  region_kind kind = region_kind::hole;
  bool read_only = false;

  [[nodiscard]] constexpr page_count pages() const noexcept { return pages_in(size); }
  /// [start, start + size - 1] (size is never 0).
  [[nodiscard]] constexpr interval<vaddr> range() const noexcept {
    const auto r = interval<vaddr>::from(start, size);
    VFIOPIN_ASSERT(r.has_value(), "a region is never empty");
    return *r;
  }
  [[nodiscard]] constexpr bool contains(vaddr va) const noexcept {
    return va >= start && (va - start) < size;
  }
  friend constexpr bool operator==(const region_info&, const region_info&) noexcept = default;
};

/// Where the mock places regions: [1 TiB, 128 TiB).
inline constexpr vaddr layout_first{std::uint64_t{1} << 40};
inline constexpr vaddr layout_end{std::uint64_t{1} << 47};
/// Unmapped space after every region.
inline constexpr byte_count region_gap = huge_page_size;

namespace detail {

/// A region and the memory object it maps (for anon, memfd and hugetlb).
struct region {
  region_info info;
  std::uint32_t object = 0;
};

/// The regions of one process, sorted by start, and the placement counter.
class address_layout {
 public:
  /// Where a region of `size` bytes (already rounded to its page size) would go, or
  /// nothing if it does not fit below layout_end.
  [[nodiscard]] std::optional<vaddr> place(byte_count size) const noexcept {
    const auto room = layout_end - next_;
    const auto rounded = align_up(size, huge_page_size.value());
    if (!rounded || *rounded > room || room - *rounded < region_gap) return std::nullopt;
    return next_;
  }
  /// Appends r, which must start where place() said. May throw std::bad_alloc (then
  /// nothing changed).
  void insert(const region& r) {
    VFIOPIN_ASSERT(r.info.start == next_, "regions are inserted where place() put them");
    const auto rounded = align_up(r.info.size, huge_page_size.value());
    VFIOPIN_ASSERT(rounded.has_value(), "region size");
    regions_.push_back(r);
    next_ = r.info.start + *rounded + region_gap;
  }
  /// The region containing va.
  [[nodiscard]] region* find(vaddr va) noexcept {
    auto it = std::upper_bound(regions_.begin(), regions_.end(), va,
                               [](vaddr v, const region& r) { return v < r.info.start; });
    if (it == regions_.begin()) return nullptr;
    --it;
    return it->info.contains(va) ? &*it : nullptr;
  }
  [[nodiscard]] const region* find(vaddr va) const noexcept {
    return const_cast<address_layout*>(this)->find(va);
  }
  /// Removes the region that starts at `start`, if any, and returns it.
  [[nodiscard]] std::optional<region> remove(vaddr start) noexcept {
    region* r = find(start);
    if (r == nullptr || r->info.start != start) return std::nullopt;
    const region out = *r;
    regions_.erase(regions_.begin() + (r - regions_.data()));
    return out;
  }
  [[nodiscard]] const std::vector<region>& regions() const noexcept { return regions_; }

 private:
  std::vector<region> regions_;
  vaddr next_ = layout_first;
};

}  // namespace detail
}  // namespace vfiopin::mock

#endif  // VFIOPIN_MOCK_MEMORY_REGION_HPP
