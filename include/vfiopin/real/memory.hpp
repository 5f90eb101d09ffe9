// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/real/memory.hpp: page-backed memory regions of this process, for real DMA.
//
// Theory of operation. A page_region is one mmap of one of the scenario format's
// page-backed kinds (scenario-format.md, `mem NAME KIND SIZE [ro]`):
//   anon     MAP_PRIVATE | MAP_ANONYMOUS, advised MADV_NOHUGEPAGE (page by page);
//   memfd    MAP_SHARED of a memfd (shmem) truncated to the size, MADV_NOHUGEPAGE;
//   hugetlb  MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB of 2 MiB pages. With no free huge
//            page in the pool the kernel refuses the mmap (hugetlb reserves at mmap time)
//            and create() answers errc::out_of_memory (ENOMEM): that is the "no hugetlb
//            here" answer callers turn into `skip no-hugetlb`.
// `read_only` maps PROT_READ instead of PROT_READ | PROT_WRITE. Sizes round up to 4 KiB
// (2 MiB for hugetlb); size 0 is EINVAL (as the mock, mock/process.hpp). Placement is
// placed_mapping's (real/mapping.hpp): a 2 MiB boundary, a 2 MiB PROT_NONE guard after.
// Nothing is touched: pages appear when written, or when MAP_DMA pins them.
//
// Every frame of such a region has a struct page, so the type says so at compile time,
// `backing = backing_kind::pages`, and offers page_at(offset): the 4 KiB page holding
// offset, as a page_handle whose bytes are the region's, whose frame comes from
// /proc/self/pagemap when the page is present and the process may read frames (root with
// CAP_SYS_ADMIN; nothing otherwise), whose issuer is the region's base address (stable
// across moves, unique while the region lives) and whose page id is the page index. The
// handle holds no pin (see real/dma_memory.hpp for why these regions are not
// vfiopin::memory_backend): the page stays put while a MAP_DMA of it is alive.
//
// Move-only; the destructor munmaps. System calls go through the syscalls seam.
#ifndef VFIOPIN_REAL_MEMORY_HPP
#define VFIOPIN_REAL_MEMORY_HPP

#include <vfiopin/concepts/memory_backend.hpp>
#include <vfiopin/error.hpp>
#include <vfiopin/real/dma_memory.hpp>
#include <vfiopin/real/mapping.hpp>
#include <vfiopin/real/pagemap.hpp>
#include <vfiopin/real/sys.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/address.hpp>
#include <vfiopin/types/count.hpp>
#include <vfiopin/types/dma.hpp>
#include <vfiopin/types/interval.hpp>
#include <vfiopin/types/page.hpp>
#include <vfiopin/types/page_handle.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

namespace vfiopin::real {

/// The page-backed kinds of real memory.
enum class page_region_kind : std::uint8_t { anon, memfd, hugetlb };

/// "anon", "memfd", "hugetlb" (the scenario spelling).
[[nodiscard]] constexpr std::string_view to_string(page_region_kind k) noexcept {
  switch (k) {
    case page_region_kind::anon: return "anon";
    case page_region_kind::memfd: return "memfd";
    case page_region_kind::hugetlb: return "hugetlb";
  }
  return "?";
}

/// Options of a page_region.
struct region_options {
  bool read_only = false;  ///< PROT_READ only
};

/// A page-backed memory region (see the header comment).
class page_region {
 public:
  static constexpr backing_kind backing = backing_kind::pages;

  /// Maps a region of `kind`; see the header comment for sizes and errors.
  [[nodiscard]] static result<page_region> create(page_region_kind kind, byte_count size,
                                                  region_options options = {},
                                                  syscalls& sys = linux_syscalls()) {
    if (size.value() == 0) return unexpected(errc::invalid_argument);
    const std::uint64_t unit =
        kind == page_region_kind::hugetlb ? huge_page_size.value() : page_bytes;
    const auto rounded = align_up(size, unit);
    if (!rounded) return unexpected(errc::out_of_memory);
    const int prot = options.read_only ? PROT_READ : PROT_READ | PROT_WRITE;
    result<placed_mapping> m = unexpected(errc::invalid_argument);
    switch (kind) {
      case page_region_kind::anon:
        m = placed_mapping::create(sys, *rounded, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        break;
      case page_region_kind::memfd: {
        const long fd = sys.memfd_create("vfiopin", 0);
        if (fd < 0) return unexpected(sys_error(fd));
        const unique_fd owner(sys, static_cast<int>(fd));
        if (const long t = sys.ftruncate(owner.get(), static_cast<off_t>(rounded->value())); t < 0) {
          return unexpected(sys_error(t));
        }
        m = placed_mapping::create(sys, *rounded, prot, MAP_SHARED, owner.get(), 0);
        break;  // the mapping keeps the file; the descriptor is closed here
      }
      case page_region_kind::hugetlb:
        m = placed_mapping::create(sys, *rounded, prot,
                                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
                                       (21 << MAP_HUGE_SHIFT),  // 2 MiB pages
                                   -1, 0);
        break;
    }
    if (!m) return unexpected(m.error());
    if (kind != page_region_kind::hugetlb) {
      if (const long a = sys.madvise(m->data(), m->size().value(), MADV_NOHUGEPAGE); a < 0) {
        return unexpected(sys_error(a));
      }
    }
    return page_region(kind, options, std::move(*m));
  }
  [[nodiscard]] static result<page_region> anon(byte_count size, region_options options = {},
                                                syscalls& sys = linux_syscalls()) {
    return create(page_region_kind::anon, size, options, sys);
  }
  [[nodiscard]] static result<page_region> memfd(byte_count size, region_options options = {},
                                                 syscalls& sys = linux_syscalls()) {
    return create(page_region_kind::memfd, size, options, sys);
  }
  [[nodiscard]] static result<page_region> hugetlb(byte_count size, region_options options = {},
                                                   syscalls& sys = linux_syscalls()) {
    return create(page_region_kind::hugetlb, size, options, sys);
  }

  page_region(page_region&&) noexcept = default;
  page_region& operator=(page_region&&) noexcept = default;
  page_region(const page_region&) = delete;
  page_region& operator=(const page_region&) = delete;
  ~page_region() = default;

  [[nodiscard]] page_region_kind kind() const noexcept { return kind_; }
  [[nodiscard]] bool read_only() const noexcept { return options_.read_only; }
  [[nodiscard]] vaddr base() const noexcept { return map_.base(); }
  /// The mapped size (the requested size rounded up to the region's page size).
  [[nodiscard]] byte_count size() const noexcept { return map_.size(); }
  [[nodiscard]] interval<vaddr> range() const noexcept { return map_.range(); }
  /// The region's bytes. Writing them faults (SIGSEGV) for a read-only region.
  [[nodiscard]] std::span<std::byte> bytes() const noexcept { return map_.bytes(); }

  /// The 4 KiB page holding `offset` (see the header comment). EINVAL past the end; the
  /// seam's errno if /proc/self/pagemap cannot be read.
  [[nodiscard]] result<page_handle> page_at(byte_count offset) const {
    if (offset >= size()) return unexpected(errc::invalid_argument);
    const byte_count page_offset_in_region = align_down(offset, page_bytes);
    std::optional<page_frame> frame[1];
    if (auto r = read_frames(map_.sys(), base() + page_offset_in_region, page_count{1}, frame); !r) {
      return unexpected(r.error());
    }
    return page_handle(page_handle::issue_tag{}, map_.data(), pages_in(page_offset_in_region).value(),
                       map_.data() + page_offset_in_region.value(), frame[0]);
  }

  /// MAP_DMA of [offset, offset + size) of this region (real/dma_memory.hpp).
  [[nodiscard]] result<dma_map_request> map_request(iova at, byte_count offset, byte_count size,
                                                    prot access) const {
    return make_map_request(base(), this->size(), at, offset, size, access);
  }

 private:
  page_region(page_region_kind kind, region_options options, placed_mapping map) noexcept
      : kind_(kind), options_(options), map_(std::move(map)) {}

  page_region_kind kind_;
  region_options options_;
  placed_mapping map_;
};

static_assert(page_backed_dma_memory<page_region>);

}  // namespace vfiopin::real

#endif  // VFIOPIN_REAL_MEMORY_HPP
