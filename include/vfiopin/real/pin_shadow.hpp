// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/real/pin_shadow.hpp: the vfio_pin_pages contract in user space, over real VFIO.
//
// Theory of operation. User space cannot call the kernel's vfio_pin_pages, yet an
// in-process emulated device (a vfio-user server, say) needs the same contract. The real
// backend (real/type1.hpp) keeps a shadow of the container's mappings, updated only after
// the kernel accepted a MAP or UNMAP, and pins against it:
//   - a pin succeeds only for IOVAs inside a mapping whose prot includes the requested
//     one, all or nothing, up to 512 pages, in vfio_iommu_type1_pin_pages' order of checks
//     (EINVAL no mapping, EPERM prot; a v1 container EACCES; a pending VADDR update EBUSY);
//   - memory without struct pages (a VM_PFNMAP vma: a device BAR) is refused with
//     errc::not_page_backed, a clear runtime error; the vma is classified from
//     /proc/self/smaps (real/vma.hpp) once per mapping, when it is first pinned;
//   - a pin is a reference count per IOVA page, container-wide as in the kernel's vfio_pfn;
//     the page handle gives the CPU address (the mapping's vaddr) and the frame from
//     /proc/self/pagemap where readable. Its identity is the vaddr's page, so two IOVAs
//     mapping the same vaddr give equal handles.
// The pages themselves are pinned by the kernel: a container can only map after a group
// with an IOMMU is attached, and type1 pins every page of a mapping at MAP_DMA for its
// real domain. So the shadow adds no accounting (and VmLck does not change on a pin).
//
// The shadow is plain data with no lock: real::type1 holds its lock around every call, and
// runs the unmap notification (which must drop that lock) itself.
#ifndef VFIOPIN_REAL_PIN_SHADOW_HPP
#define VFIOPIN_REAL_PIN_SHADOW_HPP

#include <vfiopin/error.hpp>
#include <vfiopin/real/pagemap.hpp>
#include <vfiopin/real/sys.hpp>
#include <vfiopin/real/vma.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/dma.hpp>
#include <vfiopin/types/page.hpp>
#include <vfiopin/types/page_handle.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

namespace vfiopin::real::detail {

/// One mapping the kernel accepted.
struct shadow_mapping {
  std::uint64_t last = 0;   ///< last iova byte
  std::uint64_t vaddr = 0;  ///< vaddr of the first byte
  prot access = prot::none;
  bool vaddr_valid = true;                  ///< false between UNMAP_VADDR and MAP_VADDR
  std::optional<range_backing> backing;     ///< classified at the first pin
  std::map<std::uint64_t, std::uint32_t> pins;  ///< iova of a pinned page -> references
};

/// The shadow of a container's mappings, with the consumer pins (see the header comment).
class pin_shadow {
 public:
  using map_type = std::map<std::uint64_t, shadow_mapping>;  // by first iova

  /// The mappings overlapping [first, last], as an iterator range.
  [[nodiscard]] std::pair<map_type::iterator, map_type::iterator> overlapping(std::uint64_t first,
                                                                              std::uint64_t last) {
    auto b = maps_.upper_bound(first);
    if (b != maps_.begin() && std::prev(b)->second.last >= first) --b;
    auto e = maps_.upper_bound(last);
    return {b, e};
  }

  /// After the kernel accepted MAP_DMA.
  void on_map(const dma_map_request& req) {
    const std::uint64_t first = req.at.value();
    if (req.vaddr_update) {
      auto it = maps_.find(first);
      if (it != maps_.end()) {
        it->second.vaddr = req.from.value();
        it->second.vaddr_valid = true;
        it->second.backing.reset();
        --vaddr_invalid_;
      }
      return;
    }
    maps_[first] = shadow_mapping{first + (req.size.value() - 1), req.from.value(), req.access,
                                  true, std::nullopt, {}};
  }

  /// After the kernel accepted UNMAP_DMA of [first, last] (every overlapping mapping goes,
  /// as vfio_dma_do_unmap removes whole dmas), or with FLAG_VADDR invalidated them.
  void on_unmap(std::uint64_t first, std::uint64_t last, bool vaddr_only) {
    auto [b, e] = overlapping(first, last);
    if (vaddr_only) {
      for (auto it = b; it != e; ++it) {
        if (it->second.vaddr_valid) ++vaddr_invalid_;
        it->second.vaddr_valid = false;
      }
      return;
    }
    for (auto it = b; it != e; ++it) {
      if (!it->second.vaddr_valid) --vaddr_invalid_;
    }
    maps_.erase(b, e);
  }

  /// Everything goes (the last group left; the kernel released the driver).
  void clear() noexcept {
    maps_.clear();
    vaddr_invalid_ = 0;
  }

  /// The first mapping in [first, last] that holds pins, as its iova range.
  [[nodiscard]] std::optional<interval<iova>> first_pinned(std::uint64_t first, std::uint64_t last) {
    auto [b, e] = overlapping(first, last);
    for (auto it = b; it != e; ++it) {
      if (!it->second.pins.empty()) {
        return interval<iova>::from_bounds(iova{it->first}, iova{it->second.last});
      }
    }
    return std::nullopt;
  }

  /// vfio_iommu_type1_pin_pages after the front end's checks (see the header comment).
  result<void> pin(syscalls& sys, const void* issuer, bool v2, std::uint64_t iova0,
                   std::uint64_t npage, prot want, std::span<page_handle> out) {
    if (!v2) return unexpected(errc::access_denied);
    if (vaddr_invalid_ != 0) return unexpected(errc::busy);
    std::vector<std::uint64_t> done;  // keys referenced so far, for the unwind
    done.reserve(npage);
    std::vector<std::uint64_t> vas;  // page k's vaddr
    vas.reserve(npage);
    auto unwind = [&](std::error_code e) -> result<void> {
      for (const std::uint64_t key : done) unpin_one(key);
      std::fill(out.begin(), out.end(), page_handle{});
      return unexpected(e);
    };
    for (std::uint64_t k = 0; k < npage; ++k) {
      const std::uint64_t key = iova0 + k * page_bytes;
      auto [b, e] = overlapping(key, page_last(key));
      if (b == e) return unwind(make_error_code(errc::invalid_argument));
      shadow_mapping& m = b->second;
      if (!includes(m.access, want)) return unwind(make_error_code(errc::not_permitted));
      if (!m.backing) {
        const auto range = interval<vaddr>::from_bounds(
            vaddr{m.vaddr}, vaddr{m.vaddr + (m.last - b->first)});
        auto c = classify(sys, *range);
        if (!c) return unwind(c.error());
        m.backing = *c;
      }
      if (*m.backing != range_backing::pages) return unwind(make_error_code(errc::not_page_backed));
      // A page that only overlaps the start of the mapping: the kernel's vaddr arithmetic
      // wraps and GUP fails.
      if (key < b->first) return unwind(make_error_code(errc::bad_address));
      ++m.pins[key];
      done.push_back(key);
      vas.push_back((m.vaddr + (key - b->first)) & ~(page_bytes - 1));
    }
    // The frames, one pagemap read per run of consecutive vaddrs (not one open and read
    // per page). A frame is optional: an unreadable pagemap is not an error.
    std::vector<std::optional<page_frame>> frames(npage);
    for (std::uint64_t k = 0; k < npage;) {
      std::uint64_t run = 1;
      while (k + run < npage && vas[k + run] == vas[k] + run * page_bytes) ++run;
      const std::span<std::optional<page_frame>> part(frames.data() + k, run);
      if (!read_frames(sys, vaddr{vas[k]}, page_count{run}, part))
        std::fill(part.begin(), part.end(), std::nullopt);
      k += run;
    }
    for (std::uint64_t k = 0; k < npage; ++k) {
      out[k] = page_handle(page_handle::issue_tag{}, issuer, vas[k] >> page_shift,
                           reinterpret_cast<std::byte*>(vas[k]), frames[k]);
    }
    return {};
  }

  /// vfio_iommu_type1_unpin_pages: per page, no covering mapping ends the loop, a page
  /// without a pin is skipped.
  void unpin(std::uint64_t iova0, std::uint64_t npage) noexcept {
    for (std::uint64_t k = 0; k < npage; ++k) {
      if (!unpin_one(iova0 + k * page_bytes)) return;
    }
  }

  [[nodiscard]] std::size_t mapping_count() const noexcept { return maps_.size(); }
  [[nodiscard]] std::uint64_t pinned_pages() const noexcept {
    std::uint64_t n = 0;
    for (const auto& [first, m] : maps_) n += m.pins.size();
    return n;
  }

 private:
  /// False when no mapping covers key.
  /// The last byte of the page-sized window at key (vfio_find_dma(iova, PAGE_SIZE)).
  static std::uint64_t page_last(std::uint64_t key) noexcept {
    return key + (page_bytes - 1) < key ? ~std::uint64_t{0} : key + (page_bytes - 1);
  }
  bool unpin_one(std::uint64_t key) noexcept {
    auto [b, e] = overlapping(key, page_last(key));
    if (b == e) return false;
    auto& pins = b->second.pins;
    if (auto p = pins.find(key); p != pins.end() && --p->second == 0) pins.erase(p);
    return true;
  }

  map_type maps_;
  std::uint32_t vaddr_invalid_ = 0;
};

}  // namespace vfiopin::real::detail

#endif  // VFIOPIN_REAL_PIN_SHADOW_HPP
