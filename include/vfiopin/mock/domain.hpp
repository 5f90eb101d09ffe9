// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/domain.hpp: a mock IOMMU domain with a real page table (iova -> pfn, prot).
//
// Theory of operation. Type1 never stores the pfns it pinned for the IOMMU: it asks the
// first domain (iommu_iova_to_phys) when it unmaps (vfio_unmap_unpin) or replays into a new
// domain (vfio_iommu_replay). The mock does the same, so the domain must hold a real page
// table. Each successful map() call becomes one extent {first iova, last iova, first pfn,
// prot, frame kind}: a physically contiguous, kind-homogeneous chunk (what vfio_iommu_map
// hands iommu_map for one chunk of vfio_pin_pages_remote). Extents live in an ordered_index
// keyed by first iova (24 bytes per extent); translate() is one floor lookup.
//
// The domain checks the contract the iommufd selftest mock domain checks (selftest.c: START
// and LAST flags, MOCK_IOMMU unmap_pages WARN): every unmap must cover whole earlier maps.
// An unmap whose range splits an extent, or a map over an existing translation, is recorded
// in violations() (the mock's WARN); the operation still completes so the model stays
// usable, and check_invariants() reports it. (Unlike the iommufd mock, freeing a type1 domain
// that still translates is legal: detaching one of several domains frees its page table.)
// map() is a failure point (fault_injector: -ENOMEM, like a page-table allocation in
// iommu_map) and refuses iovas beyond the aperture with -EFAULT (intel_iommu_map's
// max_addr check), which is how vfio_iommu_replay fails for a dma outside a new aperture.
// runs() merges neighbouring extents whose pfns continue each other (the "longest
// physically contiguous run" loops of vfio_unmap_unpin and vfio_iommu_replay) but never
// across a change of frame kind, so every run is homogeneous (spec invariant 17).
#ifndef VFIOPIN_MOCK_DOMAIN_HPP
#define VFIOPIN_MOCK_DOMAIN_HPP

#include <vfiopin/concepts/memory_backend.hpp>
#include <vfiopin/config.hpp>
#include <vfiopin/error.hpp>
#include <vfiopin/mock/dma_index.hpp>
#include <vfiopin/mock/fault_injection.hpp>
#include <vfiopin/mock/profile.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/dma.hpp>
#include <vfiopin/types/page.hpp>
#include <vfiopin/types/prot.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vfiopin::mock::detail {

/// A physically contiguous, kind-homogeneous stretch of a domain's page table.
struct domain_run {
  std::uint64_t iova = 0;   ///< first iova
  std::uint64_t frame = 0;  ///< pfn at iova
  std::uint64_t pages = 0;
  prot access = prot::none;
  frame_kind kind = frame_kind::page;
};

/// A group attached to the container and its dirty-tracking scope.
struct group_state {
  group_id id{};
  bool pinned_page_dirty_scope = false;
};

/// One mock iommu_domain and the real groups attached to it (struct vfio_domain).
class iommu_domain {
  struct extent {
    std::uint64_t last = 0;
    std::uint64_t bits = 0;  // pfn (low 56 bits) | prot << 56 | kind << 58
  };
  static constexpr std::uint64_t frame_mask = (std::uint64_t{1} << 56) - 1;

 public:
  /// A domain of class `cfg`, which it refers to and which must outlive it (the container's
  /// geometry, fixed when the container is made: no copy of the reserved regions per
  /// attach).
  iommu_domain(std::uint32_t class_id, const domain_class& cfg) noexcept
      : class_id_(class_id), cfg_(&cfg) {}
  iommu_domain(std::uint32_t, domain_class&&) = delete;

  [[nodiscard]] std::uint32_t class_id() const noexcept { return class_id_; }
  [[nodiscard]] const domain_class& config() const noexcept { return *cfg_; }
  [[nodiscard]] bool empty() const noexcept { return table_.empty(); }
  [[nodiscard]] std::size_t extent_count() const noexcept { return table_.size(); }
  [[nodiscard]] const std::vector<std::string>& violations() const noexcept { return violations_; }
  [[nodiscard]] std::size_t heap_bytes() const noexcept { return table_.heap_bytes(); }

  std::vector<group_state> groups;

  /// iommu_map(): translate [iova, iova + pages * 4K) to frame.., one extent.
  result<void> map(std::uint64_t iova, std::uint64_t frame, std::uint64_t pages, prot p,
                   frame_kind kind, fault_injector* fi) {
    VFIOPIN_ASSERT(pages > 0 && frame <= frame_mask, "iommu_domain::map: bad run");
    const std::uint64_t last = iova + (pages * page_bytes - 1);
    if (fi != nullptr && fi->fail_here()) return fail(errc::out_of_memory);
    if (iova < cfg_->aperture.first().value() || last > cfg_->aperture.last().value())
      return fail(errc::bad_address);
    if (overlaps(iova, last)) {
      violations_.push_back("map over an existing translation at iova " + std::to_string(iova));
      return fail(errc::exists);
    }
    table_.insert(iova, extent{last, frame | (std::uint64_t{static_cast<std::uint8_t>(p)} << 56) |
                                         (std::uint64_t{static_cast<std::uint8_t>(kind)} << 58)});
    return {};
  }

  /// iommu_unmap(): removes the translations in [first, last]; returns bytes removed.
  std::uint64_t unmap(std::uint64_t first, std::uint64_t last) noexcept {
    std::uint64_t removed = 0;
    auto p = table_.floor(first);
    if (p && table_.value(*p).last < first) p = table_.next(*p);
    if (!p) p = table_.lower_bound(first);
    while (p && table_.key(*p) <= last) {
      const std::uint64_t a = table_.key(*p);
      const extent e = table_.value(*p);
      if (a < first || e.last > last) {
        violations_.push_back("unmap [" + std::to_string(first) + ", " + std::to_string(last) +
                              "] splits the map [" + std::to_string(a) + ", " +
                              std::to_string(e.last) + "]");
        // Complete it anyway (an IOMMU would clear the PTEs), keeping the outside parts.
        table_.erase(*p);
        const std::uint64_t frame = e.bits & frame_mask;
        const std::uint64_t meta = e.bits & ~frame_mask;
        if (a < first) table_.insert(a, extent{first - 1, e.bits});
        if (e.last > last)
          table_.insert(last + 1, extent{e.last, meta | (frame + (last + 1 - a) / page_bytes)});
        const std::uint64_t lo = a < first ? first : a;
        const std::uint64_t hi = e.last > last ? last : e.last;
        removed += hi - lo + 1;
      } else {
        table_.erase(*p);
        removed += e.last - a + 1;
      }
      if (e.last >= last) break;
      p = table_.lower_bound(e.last + 1);
    }
    return removed;
  }

  /// iommu_iova_to_phys() at page granularity: the run of one page at iova.
  [[nodiscard]] std::optional<domain_run> translate(std::uint64_t iova) const noexcept {
    auto p = table_.floor(iova);
    if (!p) return std::nullopt;
    const extent& e = table_.value(*p);
    if (e.last < iova) return std::nullopt;
    const std::uint64_t off = (iova - table_.key(*p)) / page_bytes;
    return domain_run{iova & ~(page_bytes - 1), (e.bits & frame_mask) + off, 1, prot_of(e),
                      kind_of(e)};
  }

  /// The longest physically contiguous, kind-homogeneous run starting at iova (which must
  /// be translated) and ending at or before last.
  [[nodiscard]] std::optional<domain_run> run_at(std::uint64_t iova, std::uint64_t last) const noexcept {
    auto p = table_.floor(iova);
    if (!p || table_.value(*p).last < iova) return std::nullopt;
    const extent& e0 = table_.value(*p);
    const std::uint64_t off = (iova - table_.key(*p)) / page_bytes;
    domain_run r{iova, (e0.bits & frame_mask) + off, 0, prot_of(e0), kind_of(e0)};
    std::uint64_t end_last = e0.last < last ? e0.last : last;
    r.pages = (end_last - iova) / page_bytes + 1;
    while (end_last < last) {
      auto q = table_.next(*p);
      if (!q || table_.key(*q) != end_last + 1) break;
      const extent& e = table_.value(*q);
      if (kind_of(e) != r.kind || (e.bits & frame_mask) != r.frame + r.pages) break;
      end_last = e.last < last ? e.last : last;
      r.pages = (end_last - iova) / page_bytes + 1;
      p = q;
    }
    return r;
  }

  /// The lowest translated iova in [first, last].
  [[nodiscard]] std::optional<std::uint64_t> first_mapped(std::uint64_t first,
                                                          std::uint64_t last) const noexcept {
    auto p = table_.floor(first);
    if (p && table_.value(*p).last >= first) return first;
    p = p ? table_.next(*p) : table_.first();
    if (p && table_.key(*p) <= last) return table_.key(*p);
    return std::nullopt;
  }

  /// True if anything in [first, last] is translated.
  [[nodiscard]] bool overlaps(std::uint64_t first, std::uint64_t last) const noexcept {
    auto p = table_.floor(last);
    return p && table_.value(*p).last >= first;
  }

  /// f(first iova, last iova, pfn, prot, kind) for every extent in iova order.
  template <class F>
  void for_each(F&& f) const {
    table_.for_each([&](std::uint64_t k, const extent& e) {
      f(k, e.last, e.bits & frame_mask, prot_of(e), kind_of(e));
    });
  }

 private:
  static prot prot_of(const extent& e) noexcept {
    return static_cast<prot>((e.bits >> 56) & 3U);
  }
  static frame_kind kind_of(const extent& e) noexcept {
    return static_cast<frame_kind>((e.bits >> 58) & 3U);
  }

  std::uint32_t class_id_;
  const domain_class* cfg_;
  ordered_index<extent, 64> table_;
  std::vector<std::string> violations_;
};

}  // namespace vfiopin::mock::detail

#endif  // VFIOPIN_MOCK_DOMAIN_HPP
