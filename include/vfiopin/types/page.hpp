// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/types/page.hpp: the page size and alignment helpers.
//
// Theory of operation. vfiopin models x86-64 Linux: PAGE_SIZE is 4 KiB and type1's
// minimum IOMMU page size is PAGE_SIZE in practice (spec §1.3). The helpers take an
// alignment in bytes, which must be a power of two (a programmer error otherwise: trap).
//   align_down(p, a)  never fails;
//   align_up(p, a)    can leave the address space, so it returns an optional;
//   is_aligned(p, a)  for points and byte counts alike.
// pages_in()/bytes_in() convert between the two displacement units.
#ifndef VFIOPIN_TYPES_PAGE_HPP
#define VFIOPIN_TYPES_PAGE_HPP

#include <vfiopin/config.hpp>
#include <vfiopin/types/address.hpp>
#include <vfiopin/types/count.hpp>

#include <bit>
#include <cstdint>
#include <optional>

namespace vfiopin {

inline constexpr unsigned page_shift = 12;
inline constexpr std::uint64_t page_bytes = std::uint64_t{1} << page_shift;
/// The CPU page size (PAGE_SIZE), 4 KiB.
inline constexpr byte_count page_size{page_bytes};
/// A 2 MiB huge page (hugetlb, IOMMU superpage).
inline constexpr byte_count huge_page_size{std::uint64_t{2} << 20};

namespace detail {
constexpr void expect_pow2(std::uint64_t a) noexcept {
  VFIOPIN_ASSERT(std::has_single_bit(a), "alignment must be a power of two");
}
}  // namespace detail

/// True when v is a multiple of alignment (a power of two).
[[nodiscard]] constexpr bool is_aligned(std::uint64_t v, std::uint64_t alignment) noexcept {
  detail::expect_pow2(alignment);
  return (v & (alignment - 1)) == 0;
}
template <class Tag, class D>
[[nodiscard]] constexpr bool is_aligned(basic_point<Tag, D> p, std::uint64_t alignment) noexcept {
  return is_aligned(p.value(), alignment);
}
template <class U>
[[nodiscard]] constexpr bool is_aligned(basic_count<U> c, std::uint64_t alignment) noexcept {
  return is_aligned(c.value(), alignment);
}

/// The largest multiple of alignment not above p.
template <class Tag, class D>
[[nodiscard]] constexpr basic_point<Tag, D> align_down(basic_point<Tag, D> p,
                                                       std::uint64_t alignment) noexcept {
  detail::expect_pow2(alignment);
  return basic_point<Tag, D>(p.value() & ~(alignment - 1));
}
template <class U>
[[nodiscard]] constexpr basic_count<U> align_down(basic_count<U> c,
                                                  std::uint64_t alignment) noexcept {
  detail::expect_pow2(alignment);
  return basic_count<U>(c.value() & ~(alignment - 1));
}

/// The smallest multiple of alignment not below p, or nothing if that is past 2^64-1.
template <class Tag, class D>
[[nodiscard]] constexpr std::optional<basic_point<Tag, D>> align_up(
    basic_point<Tag, D> p, std::uint64_t alignment) noexcept {
  detail::expect_pow2(alignment);
  const std::uint64_t mask = alignment - 1;
  if (p.value() > ~mask) return std::nullopt;  // ~mask is the largest aligned value
  return basic_point<Tag, D>((p.value() + mask) & ~mask);
}
template <class U>
[[nodiscard]] constexpr std::optional<basic_count<U>> align_up(basic_count<U> c,
                                                               std::uint64_t alignment) noexcept {
  detail::expect_pow2(alignment);
  const std::uint64_t mask = alignment - 1;
  if (c.value() > ~mask) return std::nullopt;
  return basic_count<U>((c.value() + mask) & ~mask);
}

/// Whole pages in n bytes (rounded down).
[[nodiscard]] constexpr page_count pages_in(byte_count n) noexcept {
  return page_count(n.value() >> page_shift);
}
/// The bytes of n pages (traps if that does not fit 64 bits).
[[nodiscard]] constexpr byte_count bytes_in(page_count n) noexcept {
  VFIOPIN_ASSERT(n.value() <= (~std::uint64_t{0} >> page_shift), "page count too large");
  return byte_count(n.value() << page_shift);
}
/// The offset of p within its 4 KiB page.
template <class Tag>
[[nodiscard]] constexpr byte_count page_offset(basic_point<Tag, byte_count> p) noexcept {
  return byte_count(p.value() & (page_bytes - 1));
}

}  // namespace vfiopin

#endif  // VFIOPIN_TYPES_PAGE_HPP
