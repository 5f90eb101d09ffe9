// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/real/caps.hpp: VFIO_IOMMU_GET_INFO and its capability chain, parsed defensively.
//
// Theory of operation. GET_INFO answers in a buffer the caller sizes: a fixed
// vfio_iommu_type1_info head, then a chain of capabilities, each starting with a
// vfio_info_cap_header {id, version, next}, where `next` is the offset of the following
// capability from the start of the buffer and 0 ends the chain. The kernel says how big a
// buffer it needs by raising argsz (116 bytes on Linux 6.1, 120 on 6.12: the sizes differ,
// so they are never assumed). get_iommu_info() asks with the bare head, grows the buffer
// to the argsz the kernel asks for and asks again, a bounded number of times.
//
// parse_iommu_info() trusts nothing in the buffer: every capability must lie inside the
// bytes the kernel filled, the chain may not revisit an offset (a loop) or point into the
// head, and a capability too short for its id's fields is an error. Capabilities are read
// with memcpy (their offsets need not be aligned). Unknown ids are skipped; the first
// capability of a known id wins. A malformed chain is errc::protocol_error, never a crash.
#ifndef VFIOPIN_REAL_CAPS_HPP
#define VFIOPIN_REAL_CAPS_HPP

#include <vfiopin/error.hpp>
#include <vfiopin/real/sys.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/dma.hpp>
#include <vfiopin/types/interval.hpp>

#include <linux/vfio.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

namespace vfiopin::real {

namespace detail {
template <class T>
[[nodiscard]] T load(std::span<const std::byte> buf, std::size_t offset) noexcept {
  T v{};
  std::memcpy(&v, buf.data() + offset, sizeof v);
  return v;
}
[[nodiscard]] inline unexpected<errc> malformed() noexcept {
  return unexpected(errc::protocol_error);
}
}  // namespace detail

/// The capability ids of the type1 GET_INFO chain.
inline constexpr std::uint16_t cap_iova_range = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE;
inline constexpr std::uint16_t cap_migration = VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION;
inline constexpr std::uint16_t cap_dma_avail = VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL;

/// Parses a GET_INFO answer: `buf` holds the bytes the kernel filled (at most the argsz it
/// was given). See the header comment for what is refused.
[[nodiscard]] inline result<iommu_info> parse_iommu_info(std::span<const std::byte> buf) {
  using detail::load;
  using detail::malformed;
  constexpr std::size_t head = sizeof(vfio_iommu_type1_info);
  constexpr std::size_t hdr = sizeof(vfio_info_cap_header);
  if (buf.size() < offsetof(vfio_iommu_type1_info, cap_offset)) return malformed();
  const auto flags = load<std::uint32_t>(buf, offsetof(vfio_iommu_type1_info, flags));
  iommu_info info;
  if ((flags & VFIO_IOMMU_INFO_PGSIZES) != 0) {
    info.iova_pgsizes = load<std::uint64_t>(buf, offsetof(vfio_iommu_type1_info, iova_pgsizes));
  }
  if ((flags & VFIO_IOMMU_INFO_CAPS) == 0 || buf.size() < head) return info;
  std::uint32_t at = load<std::uint32_t>(buf, offsetof(vfio_iommu_type1_info, cap_offset));
  std::vector<std::uint32_t> seen;
  while (at != 0) {
    if (at < head || at > buf.size() || buf.size() - at < hdr) return malformed();
    for (const std::uint32_t s : seen) {
      if (s == at) return malformed();  // a loop
    }
    seen.push_back(at);
    const auto h = load<vfio_info_cap_header>(buf, at);
    const std::size_t room = buf.size() - at;  // bytes from the header to the end
    switch (h.id) {
      case cap_iova_range: {
        constexpr std::size_t fixed = sizeof(vfio_iommu_type1_info_cap_iova_range);
        if (room < fixed) return malformed();
        const auto nr = load<std::uint32_t>(
            buf, at + offsetof(vfio_iommu_type1_info_cap_iova_range, nr_iovas));
        constexpr std::size_t each = sizeof(vfio_iova_range);
        if (nr > (room - fixed) / each) return malformed();
        if (info.iova_ranges) break;
        std::vector<interval<iova>> ranges;
        ranges.reserve(nr);
        for (std::uint32_t k = 0; k < nr; ++k) {
          const auto r = load<vfio_iova_range>(buf, at + fixed + k * each);
          auto iv = interval<iova>::from_bounds(iova{r.start}, iova{r.end});
          if (!iv) return malformed();  // start > end
          ranges.push_back(*iv);
        }
        info.iova_ranges = std::move(ranges);
        break;
      }
      case cap_migration: {
        if (room < sizeof(vfio_iommu_type1_info_cap_migration)) return malformed();
        if (info.migration) break;
        const auto m = load<vfio_iommu_type1_info_cap_migration>(buf, at);
        info.migration = migration_info{m.pgsize_bitmap, m.max_dirty_bitmap_size};
        break;
      }
      case cap_dma_avail: {
        constexpr std::size_t need = offsetof(vfio_iommu_type1_info_dma_avail, avail) + 4;
        if (room < need) return malformed();
        if (info.dma_avail) break;
        info.dma_avail =
            load<std::uint32_t>(buf, at + offsetof(vfio_iommu_type1_info_dma_avail, avail));
        break;
      }
      default:
        break;  // a capability this library does not know: skip it
    }
    at = h.next;
  }
  return info;
}

/// GET_INFO on container fd `fd`, growing the buffer to the argsz the kernel asks for.
[[nodiscard]] inline result<iommu_info> get_iommu_info(syscalls& sys, int fd) {
  constexpr std::size_t head = sizeof(vfio_iommu_type1_info);
  constexpr std::uint32_t max_argsz = 1U << 20;  // far above any kernel's chain
  std::vector<std::byte> buf(head);
  std::uint32_t argsz = head;
  for (int attempt = 0; attempt < 4; ++attempt) {
    buf.assign(argsz, std::byte{0});
    std::memcpy(buf.data(), &argsz, sizeof argsz);
    if (auto r = sys_ioctl(sys, fd, VFIO_IOMMU_GET_INFO, buf.data()); !r) {
      return unexpected(r.error());
    }
    const auto wanted = detail::load<std::uint32_t>(buf, 0);
    if (wanted <= argsz) return parse_iommu_info(buf);  // the chain fit: argsz left as given
    if (wanted > max_argsz) return detail::malformed();
    argsz = wanted;  // the chain did not fit: ask again with the size the kernel wants
  }
  return detail::malformed();  // the size kept growing
}

}  // namespace vfiopin::real

#endif  // VFIOPIN_REAL_CAPS_HPP
