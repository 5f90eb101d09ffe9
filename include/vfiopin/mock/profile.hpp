// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/profile.hpp: which kernel the mock type1 container imitates, and on what IOMMU.
//
// Theory of operation. The mock type1 container (mock/type1.hpp) is an executable model of
// drivers/vfio/vfio_iommu_type1.c. Where kernel versions answer differently, the model asks
// a kernel_profile: a plain struct of behaviour switches, one per upstream change that is
// observable from user space. A new kernel is a new constant (Debian 6.12 would be
// debian_6_1 with the 6.4 and 6.9 switches flipped), never a new code path.
//   pfnmap_pin            vfio_iommu_type1_pin_pages on a VM_PFNMAP iova: 6.0-6.3 hand out
//                         pfn_to_page() of a pfn without struct page (the model reports
//                         errc::bogus_page and hands out nothing); 6.4+ (4752354af710,
//                         "check pfn valid before converting to struct page") fail -EINVAL.
//                         The fix is in 6.1.y since 6.1.32 (stable review of 1 June 2023),
//                         so Debian's current 6.1 answers -EINVAL; linux_6_1_31 keeps the
//                         bogus-page behaviour of 6.1.0-6.1.31.
//   unpin_zero_pages      6.0-6.8 vaddr_get_pfns() drops GUP's pin on the shared zero page at
//                         once (873aefb376bb); 6.9+ GUP does not take it. Same net state.
//   overflow_errnos       the late-2025 Mastro series ("sanitize for overflow using
//                         check_*_overflow"): -EOVERFLOW for wrapping ranges, size 0 checked
//                         first in vfio_dma_do_map and DIRTY_PAGES GET_BITMAP, pin checks.
//   full_address_space    the same series ("handle DMA map/unmap up to the addressable
//                         limit"): before it, vfio_find_dma() and vfio_find_dma_first_node()
//                         computed iova + size in 64 bits, so a mapping or a request ending at
//                         2^64-1 was invisible to lookups (spec §10 item 3, H2).
//   vpfn_range_accounting ~6.17 (Li Zhe, large-folio batching): vfio_pin_pages_remote() and
//                         vfio_unpin_pages_remote() subtract vpfn_pages(), the number of
//                         vfio_pfn nodes whose key falls in the chunk, instead of testing
//                         vfio_find_vpfn() at each page-aligned iova.
// Both profiles have Steve Sistare's VADDR fixes (the test bed's 6.1 reads UPDATE_VADDR as 1
// only after SET_IOMMU, which is the 6.2 "exclude mdevs" code) and exact-key
// vfio_find_vpfn() (the ~6.17 range lookup was reverted to an exact match after it crashed
// vfio-ccw).
//
// geometry describes the IOMMU hardware and module parameters: one domain_class per kind of
// IOMMU domain (aperture, page sizes, reserved regions, MSI isolation: what
// vfio_iommu_type1_attach_group reads from the domain and the group), which class each group
// belongs to (groups of one class share a domain, as iommu ops and coherency match; a new
// class means a new domain and vfio_iommu_replay), and dma_entry_limit. The default is the
// project's QEMU test bed (docs: vm-testbed.md): Intel VT-d, 39-bit aperture, pgsizes
// 0x40201000, the MSI window 0xfee00000-0xfeefffff reserved, both groups in one domain.
#ifndef VFIOPIN_MOCK_PROFILE_HPP
#define VFIOPIN_MOCK_PROFILE_HPP

#include <vfiopin/types/address.hpp>
#include <vfiopin/types/dma.hpp>
#include <vfiopin/types/interval.hpp>

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace vfiopin::mock {

/// What vfio_pin_pages() answers for an iova whose vaddr is VM_PFNMAP (no struct page).
enum class pfnmap_pin_behaviour : std::uint8_t {
  bogus_page,  ///< 6.0-6.3: a bogus struct page; the model fails with errc::bogus_page
  invalid,     ///< 6.4+: -EINVAL, all or nothing
};

/// The behaviour switches of one kernel (see the header comment for each).
struct kernel_profile {
  std::string_view name;
  pfnmap_pin_behaviour pfnmap_pin = pfnmap_pin_behaviour::invalid;
  bool unpin_zero_pages = false;
  bool overflow_errnos = false;
  bool full_address_space = false;
  bool vpfn_range_accounting = false;
  /// 6.2+ ("mm/gup: reliable R/O long-term pinning in COW mappings"): a FOLL_LONGTERM read
  /// pin of a private page still mapped to the shared zero page unshares it first: the
  /// pin gets a fresh zeroed page, which is charged like any other. Seen on the test bed:
  /// Debian 6.12 charges read-only maps of never-written anonymous memory, 6.1 does not.
  bool longterm_pin_unshares_zero_page = false;
};

/// Debian bookworm's 6.1 (6.1.1xx): the test bed kernel, and the default.
inline constexpr kernel_profile debian_6_1{
    .name = "debian-6.1",
    .pfnmap_pin = pfnmap_pin_behaviour::invalid,
    .unpin_zero_pages = true,
    .overflow_errnos = false,
    .full_address_space = false,
    .vpfn_range_accounting = false,
    .longterm_pin_unshares_zero_page = false,
};

/// 6.1.0-6.1.31 (and 6.0-6.3): before the pfn_valid check reached the stable trees.
inline constexpr kernel_profile linux_6_1_31{
    .name = "linux-6.1.31",
    .pfnmap_pin = pfnmap_pin_behaviour::bogus_page,
    .unpin_zero_pages = true,
    .overflow_errnos = false,
    .full_address_space = false,
    .vpfn_range_accounting = false,
    .longterm_pin_unshares_zero_page = false,
};

/// Debian bookworm's 6.12 (linux-image-6.12.*+deb12, the test bed's second kernel): the
/// pfn_valid check and the zero-page unshare; neither the overflow errnos nor the ~6.17
/// batching (its runs on the test bed match the 6.1 expectations everywhere else:
/// docs/kernel-differences.md).
inline constexpr kernel_profile debian_6_12{
    .name = "debian-6.12",
    .pfnmap_pin = pfnmap_pin_behaviour::invalid,
    .unpin_zero_pages = false,
    .overflow_errnos = false,
    .full_address_space = false,
    .vpfn_range_accounting = false,
    .longterm_pin_unshares_zero_page = true,
};

/// Upstream as of late 2025: 6.4 pfn_valid check, 6.9 zero-page revert, ~6.17 batching,
/// and the Mastro overflow series.
inline constexpr kernel_profile upstream_2025{
    .name = "upstream-2025",
    .pfnmap_pin = pfnmap_pin_behaviour::invalid,
    .unpin_zero_pages = false,
    .overflow_errnos = true,
    .full_address_space = true,
    .vpfn_range_accounting = true,
    .longterm_pin_unshares_zero_page = true,
};

/// The profile called `name` ("debian-6.1", "debian-6.12", "linux-6.1.31", "upstream-2025"; "" gives the
/// default).
[[nodiscard]] constexpr std::optional<kernel_profile> profile_by_name(
    std::string_view name) noexcept {
  if (name.empty() || name == debian_6_1.name) return debian_6_1;
  if (name == debian_6_12.name) return debian_6_12;
  if (name == linux_6_1_31.name) return linux_6_1_31;
  if (name == upstream_2025.name) return upstream_2025;
  return std::nullopt;
}

/// One kind of IOMMU domain and the groups behind it.
struct domain_class {
  /// iommu_domain->pgsize_bitmap (VT-d: 4K, 2M, 1G).
  std::uint64_t pgsize_bitmap = 0x40201000;
  /// iommu_domain->geometry aperture (VT-d in QEMU: 39 address bits).
  interval<iova> aperture = *interval<iova>::from_bounds(iova(0), iova(0x7fffffffffULL));
  /// Non-relaxable reserved regions of the groups of this class (the x86 MSI window).
  std::vector<interval<iova>> reserved = {
      *interval<iova>::from_bounds(iova(0xfee00000ULL), iova(0xfeefffffULL))};
  /// iommu_group_has_isolated_msi(): false makes attach fail -EPERM.
  bool isolated_msi = true;
  /// false makes iommu_domain_alloc() fail: attach -EIO.
  bool allocatable = true;
};

/// The IOMMU hardware and the module parameters the container sees.
struct geometry {
  /// Domain classes; a class index is a position in this vector.
  std::vector<domain_class> classes = {domain_class{}};
  /// Group -> class; groups not listed are in class 0.
  std::vector<std::pair<group_id, std::uint32_t>> group_class{};
  /// The dma_entry_limit module parameter (sampled when the IOMMU type is set).
  std::uint32_t dma_entry_limit = 65535;
  /// DIRTY_BITMAP_SIZE_MAX, bytes (2^28: INT_MAX bits rounded up to u64).
  std::uint64_t max_dirty_bitmap_bytes = std::uint64_t{1} << 28;

  /// The class of group g.
  [[nodiscard]] std::uint32_t class_of(group_id g) const noexcept {
    for (const auto& [grp, cls] : group_class)
      if (grp == g) return cls;
    return 0;
  }
};

}  // namespace vfiopin::mock

#endif  // VFIOPIN_MOCK_PROFILE_HPP
