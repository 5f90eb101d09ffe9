// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/types/interval.hpp: closed intervals [first, last] of points.
//
// Theory of operation. A half-open range [start, start+length) cannot describe a mapping
// that ends at the last byte of the address space, because start+length wraps to 0; the
// kernel got this wrong twice (spec §10 items 2 and 3). vfiopin follows iommufd: an
// interval holds its first and its LAST point, both inclusive. Consequences:
//   - an interval is never empty: the smallest is [p, p];
//   - [0, 2^64-1] is representable; its size, 2^64, is not, so size() returns an
//     optional and span() (last - first, always representable) exists for arithmetic;
//   - "one past the end" is never computed; next_after() returns an optional instead.
// Intervals are built through checked factories that refuse wrap and zero lengths:
//   interval<P>::from(start, length)    nothing if length == 0 or start+length-1 wraps
//   interval<P>::from_bounds(first, last) nothing if first > last
#ifndef VFIOPIN_TYPES_INTERVAL_HPP
#define VFIOPIN_TYPES_INTERVAL_HPP

#include <vfiopin/config.hpp>
#include <vfiopin/types/address.hpp>

#include <algorithm>
#include <compare>
#include <functional>
#include <optional>

namespace vfiopin {

/// A closed, never empty interval [first, last] of points of type P.
template <point P>
class interval {
 public:
  using point_type = P;
  using difference_type = typename P::difference_type;

  /// [start, start + length - 1]; nothing if length is 0 or the interval would wrap.
  [[nodiscard]] static constexpr std::optional<interval> from(P start,
                                                              difference_type length) noexcept {
    if (length.value() == 0) return std::nullopt;
    const auto last = start.value() + (length.value() - 1);
    if (last < start.value()) return std::nullopt;
    return interval(start, P(last));
  }
  /// [first, last]; nothing if first > last.
  [[nodiscard]] static constexpr std::optional<interval> from_bounds(P first, P last) noexcept {
    if (last < first) return std::nullopt;
    return interval(first, last);
  }
  /// [p, p].
  [[nodiscard]] static constexpr interval single(P p) noexcept { return interval(p, p); }
  /// The whole address space [0, 2^64-1].
  [[nodiscard]] static constexpr interval whole() noexcept { return interval(P::min(), P::max()); }

  [[nodiscard]] constexpr P first() const noexcept { return first_; }
  [[nodiscard]] constexpr P last() const noexcept { return last_; }
  /// last - first, i.e. size - 1; always representable.
  [[nodiscard]] constexpr difference_type span() const noexcept { return last_ - first_; }
  /// last - first + 1, or nothing for the whole address space (2^64 does not fit).
  [[nodiscard]] constexpr std::optional<difference_type> size() const noexcept {
    const auto s = span().value();
    if (s == ~std::uint64_t{0}) return std::nullopt;
    return difference_type(s + 1);
  }
  /// True when the interval ends at the last point of the address space.
  [[nodiscard]] constexpr bool ends_at_top() const noexcept { return last_ == P::max(); }
  /// The point after last, or nothing if last is the top of the address space.
  [[nodiscard]] constexpr std::optional<P> next_after() const noexcept {
    if (ends_at_top()) return std::nullopt;
    return P(last_.value() + 1);
  }

  [[nodiscard]] constexpr bool contains(P p) const noexcept { return first_ <= p && p <= last_; }
  [[nodiscard]] constexpr bool contains(const interval& o) const noexcept {
    return first_ <= o.first_ && o.last_ <= last_;
  }
  [[nodiscard]] constexpr bool overlaps(const interval& o) const noexcept {
    return first_ <= o.last_ && o.first_ <= last_;
  }
  /// The common part, or nothing if the two do not overlap.
  [[nodiscard]] constexpr std::optional<interval> intersect(const interval& o) const noexcept {
    if (!overlaps(o)) return std::nullopt;
    return interval(std::max(first_, o.first_), std::min(last_, o.last_));
  }
  /// True when o starts right after this one ends (last + 1 == o.first, without wrapping).
  [[nodiscard]] constexpr bool precedes_adjacent(const interval& o) const noexcept {
    return !ends_at_top() && last_.value() + 1 == o.first_.value();
  }
  /// The smallest interval covering both.
  [[nodiscard]] constexpr interval hull(const interval& o) const noexcept {
    return interval(std::min(first_, o.first_), std::max(last_, o.last_));
  }

  friend constexpr bool operator==(const interval&, const interval&) noexcept = default;
  /// Ordered by first, then last.
  friend constexpr auto operator<=>(const interval&, const interval&) noexcept = default;

 private:
  constexpr interval(P first, P last) noexcept : first_(first), last_(last) {}
  P first_;
  P last_;
};

}  // namespace vfiopin

template <vfiopin::point P>
struct std::hash<vfiopin::interval<P>> {
  std::size_t operator()(const vfiopin::interval<P>& r) const noexcept {
    const std::size_t a = std::hash<P>{}(r.first());
    return a ^ (std::hash<P>{}(r.last()) + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
  }
};

#endif  // VFIOPIN_TYPES_INTERVAL_HPP
