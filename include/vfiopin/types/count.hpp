// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/types/count.hpp: displacements, byte_count and page_count.
//
// Theory of operation. vfiopin separates points (where: iova, vaddr, pfn) from
// displacements (how far: byte_count, page_count), as mp-units separates quantity_point
// from quantity. A displacement is an unsigned 64-bit count with its unit in the type:
//   count + count -> count      count - count -> count      count * n, count / n -> count
//   count / count -> integer    comparisons
// Bytes and pages never mix: byte_count{4096} + page_count{1} does not compile; convert
// explicitly with pages_in()/bytes_in() (types/page.hpp).
//
// Arithmetic that would wrap traps (VFIOPIN_ASSERT): a wrapped size is always a bug.
// Values that come from outside the program go through checked_add()/checked_mul(),
// which return an empty optional instead.
#ifndef VFIOPIN_TYPES_COUNT_HPP
#define VFIOPIN_TYPES_COUNT_HPP

#include <vfiopin/config.hpp>

#include <compare>
#include <cstdint>
#include <functional>
#include <optional>

namespace vfiopin {

/// A displacement measured in units of Unit (a tag type).
template <class Unit>
class basic_count {
 public:
  using rep = std::uint64_t;
  using unit = Unit;

  constexpr basic_count() noexcept = default;
  constexpr explicit basic_count(rep v) noexcept : v_(v) {}

  [[nodiscard]] constexpr rep value() const noexcept { return v_; }
  [[nodiscard]] static constexpr basic_count max() noexcept { return basic_count(~rep{0}); }

  friend constexpr auto operator<=>(basic_count, basic_count) noexcept = default;

  friend constexpr basic_count operator+(basic_count a, basic_count b) noexcept {
    VFIOPIN_ASSERT(a.v_ + b.v_ >= a.v_, "count + count wraps");
    return basic_count(a.v_ + b.v_);
  }
  friend constexpr basic_count operator-(basic_count a, basic_count b) noexcept {
    VFIOPIN_ASSERT(a.v_ >= b.v_, "count - count underflows");
    return basic_count(a.v_ - b.v_);
  }
  friend constexpr basic_count operator*(basic_count a, rep n) noexcept {
    VFIOPIN_ASSERT(n == 0 || a.v_ <= ~rep{0} / n, "count * n wraps");
    return basic_count(a.v_ * n);
  }
  friend constexpr basic_count operator*(rep n, basic_count a) noexcept { return a * n; }
  friend constexpr basic_count operator/(basic_count a, rep n) noexcept {
    VFIOPIN_ASSERT(n != 0, "count / 0");
    return basic_count(a.v_ / n);
  }
  friend constexpr rep operator/(basic_count a, basic_count b) noexcept {
    VFIOPIN_ASSERT(b.v_ != 0, "count / zero count");
    return a.v_ / b.v_;
  }
  friend constexpr basic_count operator%(basic_count a, basic_count b) noexcept {
    VFIOPIN_ASSERT(b.v_ != 0, "count % zero count");
    return basic_count(a.v_ % b.v_);
  }
  constexpr basic_count& operator+=(basic_count b) noexcept { return *this = *this + b; }
  constexpr basic_count& operator-=(basic_count b) noexcept { return *this = *this - b; }

 private:
  rep v_ = 0;
};

struct byte_unit {};
struct page_unit {};

/// A number of bytes (sizes, offsets, lengths).
using byte_count = basic_count<byte_unit>;
/// A number of 4 KiB pages.
using page_count = basic_count<page_unit>;

/// a + b, or nothing if it wraps.
template <class U>
[[nodiscard]] constexpr std::optional<basic_count<U>> checked_add(basic_count<U> a,
                                                                  basic_count<U> b) noexcept {
  if (a.value() + b.value() < a.value()) return std::nullopt;
  return basic_count<U>(a.value() + b.value());
}
/// a * n, or nothing if it wraps.
template <class U>
[[nodiscard]] constexpr std::optional<basic_count<U>> checked_mul(basic_count<U> a,
                                                                  std::uint64_t n) noexcept {
  if (n != 0 && a.value() > ~std::uint64_t{0} / n) return std::nullopt;
  return basic_count<U>(a.value() * n);
}

namespace literals {
constexpr byte_count operator""_B(unsigned long long v) noexcept { return byte_count(v); }
constexpr byte_count operator""_KiB(unsigned long long v) noexcept { return byte_count(v) * 1024; }
constexpr byte_count operator""_MiB(unsigned long long v) noexcept {
  return byte_count(v) * (1024 * 1024);
}
constexpr byte_count operator""_GiB(unsigned long long v) noexcept {
  return byte_count(v) * (1024ULL * 1024 * 1024);
}
constexpr page_count operator""_pages(unsigned long long v) noexcept { return page_count(v); }
}  // namespace literals

}  // namespace vfiopin

template <class U>
struct std::hash<vfiopin::basic_count<U>> {
  std::size_t operator()(vfiopin::basic_count<U> c) const noexcept {
    return std::hash<std::uint64_t>{}(c.value());
  }
};

#endif  // VFIOPIN_TYPES_COUNT_HPP
