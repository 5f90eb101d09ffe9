// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/types/page_handle.hpp: the consumer's view of a pinned page.
//
// Theory of operation. A page_handle is what vfio_pin_pages() gives a consumer since
// Linux 6.0 in place of a raw pfn: a token for a page that has a struct page behind it.
// Only a memory backend that can prove that issues one (page-backed memory, or a mixed
// address space after a runtime check); pfn-only memory cannot issue one at all (see
// concepts/memory_backend.hpp), so a BAR never reaches a consumer as a page.
//
// The handle is a small value type, like the struct page pointer it models: copying it
// does not pin anything, and it does not unpin on destruction. The pin it stands for is
// owned by whoever pinned (the container's pin API, which gives RAII leases). A handle
// is valid until that pin is released.
//
// What it offers:
//   bytes()   the page's contents for the CPU, a span of exactly one page;
//   frame()   the page_frame (host physical frame) where the backend knows it, e.g. from
//             /proc/self/pagemap, which needs CAP_SYS_ADMIN on real Linux;
//   ==, hash  identity of the page: two pins of the same page give equal handles.
// It converts to nothing implicitly; a default-constructed handle is empty().
#ifndef VFIOPIN_TYPES_PAGE_HANDLE_HPP
#define VFIOPIN_TYPES_PAGE_HANDLE_HPP

#include <vfiopin/config.hpp>
#include <vfiopin/types/page.hpp>
#include <vfiopin/types/pfn.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>

namespace vfiopin {

/// A token for a pinned page that has a struct page. Issued by memory backends only.
class page_handle {
 public:
  /// The tag of the issuing constructor, so that no handle is made by accident.
  struct issue_tag {
    explicit issue_tag() = default;
  };
  static constexpr std::size_t extent = page_bytes;

  /// An empty handle (for arrays that are filled by a pin).
  constexpr page_handle() noexcept = default;

  /// Issued by a memory backend: `issuer` identifies the backend, `page_id` the page
  /// within it (the same page always gets the same id), `page` its first byte for the CPU.
  page_handle(issue_tag, const void* issuer, std::uint64_t page_id, std::byte* page,
              std::optional<page_frame> frame) noexcept
      : issuer_(issuer), id_(page_id), page_(page), frame_(frame) {
    VFIOPIN_ASSERT(issuer != nullptr && page != nullptr, "a page handle needs an issuer and a page");
  }

  /// True for a default-constructed handle.
  [[nodiscard]] constexpr bool empty() const noexcept { return page_ == nullptr; }

  /// The page's bytes, for the CPU.
  [[nodiscard]] std::span<std::byte, extent> bytes() const noexcept {
    VFIOPIN_ASSERT(!empty(), "bytes() of an empty page handle");
    return std::span<std::byte, extent>(page_, extent);
  }
  /// The host physical frame, where the backend knows it.
  [[nodiscard]] constexpr std::optional<page_frame> frame() const noexcept { return frame_; }

  /// The backend that issued the handle, and the page's id within it.
  [[nodiscard]] constexpr const void* issuer() const noexcept { return issuer_; }
  [[nodiscard]] constexpr std::uint64_t page_id() const noexcept { return id_; }

  /// Same page of the same backend.
  friend constexpr bool operator==(const page_handle& a, const page_handle& b) noexcept {
    return a.issuer_ == b.issuer_ && a.id_ == b.id_ && a.empty() == b.empty();
  }

 private:
  const void* issuer_ = nullptr;
  std::uint64_t id_ = 0;
  std::byte* page_ = nullptr;
  std::optional<page_frame> frame_;
};

}  // namespace vfiopin

template <>
struct std::hash<vfiopin::page_handle> {
  std::size_t operator()(const vfiopin::page_handle& h) const noexcept {
    const std::size_t a = std::hash<const void*>{}(h.issuer());
    return a ^ (std::hash<std::uint64_t>{}(h.page_id()) + 0x9e3779b97f4a7c15ULL + (a << 6) +
                (a >> 2));
  }
};

#endif  // VFIOPIN_TYPES_PAGE_HANDLE_HPP
