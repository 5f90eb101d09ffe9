// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/real/pagemap.hpp: the physical frames behind this process's pages, from
// /proc/self/pagemap.
//
// Theory of operation. /proc/PID/pagemap holds one little-endian 64-bit entry per virtual
// page, at file offset (vaddr / 4096) * 8 (Documentation/admin-guide/mm/pagemap.rst):
//   bit 63     page present in RAM
//   bit 62     page swapped
//   bit 61     file page or shared anonymous
//   bits 0-54  the page frame number, if present
// Since Linux 4.2 the PFN field reads as zero unless the reader has CAP_SYS_ADMIN, so a
// present entry with PFN 0 means "not readable here", never frame 0. decode_pagemap()
// turns one entry into a page_frame, or nothing when the page is not present (not yet
// touched, swapped out) or its frame is hidden.
//
// A frame read here is a snapshot: user space holds no pin, so the kernel may move or swap
// the page afterwards, unless something else pins it (type1's MAP_DMA does). That is why
// the real memory regions do not model vfiopin::memory_backend (real/dma_memory.hpp).
//
// Every read goes through the syscalls seam (open + pread), in chunks of 512 entries.
#ifndef VFIOPIN_REAL_PAGEMAP_HPP
#define VFIOPIN_REAL_PAGEMAP_HPP

#include <vfiopin/error.hpp>
#include <vfiopin/real/sys.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/address.hpp>
#include <vfiopin/types/count.hpp>
#include <vfiopin/types/interval.hpp>
#include <vfiopin/types/page.hpp>
#include <vfiopin/types/pfn.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace vfiopin::real {

inline constexpr const char* pagemap_path = "/proc/self/pagemap";
inline constexpr std::uint64_t pagemap_present = std::uint64_t{1} << 63;
inline constexpr std::uint64_t pagemap_swapped = std::uint64_t{1} << 62;
inline constexpr std::uint64_t pagemap_pfn_mask = (std::uint64_t{1} << 55) - 1;

/// The frame of one pagemap entry: nothing if not present or the PFN field is hidden (0).
[[nodiscard]] constexpr std::optional<page_frame> decode_pagemap(std::uint64_t entry) noexcept {
  if ((entry & pagemap_present) == 0) return std::nullopt;
  const std::uint64_t frame = entry & pagemap_pfn_mask;
  if (frame == 0) return std::nullopt;
  return page_frame(frame);
}

namespace detail {
/// Calls f(k, entry) for the `n` pagemap entries from the page holding `first`.
template <class F>
[[nodiscard]] result<void> for_each_pagemap_entry(syscalls& sys, vaddr first, page_count n,
                                                  F&& f) {
  if (n.value() == 0) return {};
  const std::uint64_t first_page = first.value() >> page_shift;
  // The last page must exist: first_page + n - 1 <= 2^52 - 1.
  if (n.value() - 1 > ((~std::uint64_t{0}) >> page_shift) - first_page) {
    return unexpected(errc::invalid_argument);
  }
  auto fd = open_fd(sys, pagemap_path, O_RDONLY);
  if (!fd) return unexpected(fd.error());
  std::array<std::uint64_t, 512> chunk{};
  std::uint64_t done = 0;
  while (done < n.value()) {
    const std::uint64_t count = std::min<std::uint64_t>(chunk.size(), n.value() - done);
    const auto offset = static_cast<off_t>((first_page + done) * sizeof(std::uint64_t));
    if (auto r = sys_pread_all(sys, fd->get(), chunk.data(), count * sizeof(std::uint64_t), offset);
        !r) {
      return r;
    }
    for (std::uint64_t k = 0; k < count; ++k) f(done + k, chunk[k]);
    done += count;
  }
  return {};
}
}  // namespace detail

/// The frames of the `n` pages from the page holding `first` into out[0..n): nothing for a
/// page that is not present or whose frame this process may not read (no CAP_SYS_ADMIN).
/// EINVAL if out is shorter than n or the range leaves the address space; the seam's errno
/// if the file cannot be read.
[[nodiscard]] inline result<void> read_frames(syscalls& sys, vaddr first, page_count n,
                                              std::span<std::optional<page_frame>> out) {
  if (out.size() < n.value()) return unexpected(errc::invalid_argument);
  return detail::for_each_pagemap_entry(
      sys, first, n, [&](std::uint64_t k, std::uint64_t e) { out[k] = decode_pagemap(e); });
}

/// True when every page touching `range` is present in RAM (readable without privilege:
/// the present bit is not hidden).
[[nodiscard]] inline result<bool> all_present(syscalls& sys, interval<vaddr> range) {
  const page_count n{(range.last().value() >> page_shift) - (range.first().value() >> page_shift) +
                     1};
  bool all = true;
  auto r = detail::for_each_pagemap_entry(sys, range.first(), n, [&](std::uint64_t, std::uint64_t e) {
    all = all && (e & pagemap_present) != 0;
  });
  if (!r) return unexpected(r.error());
  return all;
}

}  // namespace vfiopin::real

#endif  // VFIOPIN_REAL_PAGEMAP_HPP
