// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/types/address.hpp: points in an address space: iova, vaddr (and pfn, pfn.hpp).
//
// Theory of operation. A point is a position; a displacement (types/count.hpp) is a
// distance. The algebra is the affine one:
//   point + displacement -> point      point - displacement -> point
//   point - point        -> displacement (the left one must not be below the right one)
//   point + point        -> does not exist
// Each address space has its own point type, so an iova is never a vaddr: there is no
// conversion between basic_point<iova_tag, ...> and basic_point<vaddr_tag, ...>, and a
// function that takes an iova does not accept a vaddr. The raw number comes out only
// through .value(), and goes in only through the explicit constructor.
//
// Points live in [0, 2^64-1]. Arithmetic that would leave that range traps
// (VFIOPIN_ASSERT); input-driven code uses checked_add(), or builds an interval through
// interval::from(), which refuses wrap.
#ifndef VFIOPIN_TYPES_ADDRESS_HPP
#define VFIOPIN_TYPES_ADDRESS_HPP

#include <vfiopin/config.hpp>
#include <vfiopin/types/count.hpp>

#include <compare>
#include <cstdint>
#include <functional>
#include <optional>

namespace vfiopin {

/// A point of the address space named by Tag, moved by displacements of type Displacement.
template <class Tag, class Displacement>
class basic_point {
 public:
  using rep = std::uint64_t;
  using tag = Tag;
  using difference_type = Displacement;

  constexpr basic_point() noexcept = default;
  constexpr explicit basic_point(rep v) noexcept : v_(v) {}

  [[nodiscard]] constexpr rep value() const noexcept { return v_; }
  [[nodiscard]] static constexpr basic_point min() noexcept { return basic_point(0); }
  [[nodiscard]] static constexpr basic_point max() noexcept { return basic_point(~rep{0}); }

  friend constexpr auto operator<=>(basic_point, basic_point) noexcept = default;

  friend constexpr basic_point operator+(basic_point p, difference_type d) noexcept {
    VFIOPIN_ASSERT(p.v_ + d.value() >= p.v_, "point + displacement leaves the address space");
    return basic_point(p.v_ + d.value());
  }
  friend constexpr basic_point operator+(difference_type d, basic_point p) noexcept {
    return p + d;
  }
  friend constexpr basic_point operator-(basic_point p, difference_type d) noexcept {
    VFIOPIN_ASSERT(p.v_ >= d.value(), "point - displacement goes below 0");
    return basic_point(p.v_ - d.value());
  }
  /// The distance from b up to a (a must not be below b).
  friend constexpr difference_type operator-(basic_point a, basic_point b) noexcept {
    VFIOPIN_ASSERT(a.v_ >= b.v_, "point - point: the left point is below the right one");
    return difference_type(a.v_ - b.v_);
  }
  constexpr basic_point& operator+=(difference_type d) noexcept { return *this = *this + d; }
  constexpr basic_point& operator-=(difference_type d) noexcept { return *this = *this - d; }

 private:
  rep v_ = 0;
};

/// p + d, or nothing if it leaves the address space.
template <class Tag, class D>
[[nodiscard]] constexpr std::optional<basic_point<Tag, D>> checked_add(basic_point<Tag, D> p,
                                                                       D d) noexcept {
  if (p.value() + d.value() < p.value()) return std::nullopt;
  return basic_point<Tag, D>(p.value() + d.value());
}

struct iova_tag {};
struct vaddr_tag {};

/// An I/O virtual address: what a device puts on the bus, translated by the IOMMU.
using iova = basic_point<iova_tag, byte_count>;
/// A virtual address in the mapping process (what MAP_DMA's vaddr field holds).
using vaddr = basic_point<vaddr_tag, byte_count>;

/// True for the point types of vfiopin (iova, vaddr, pfn and user-defined ones).
template <class T>
inline constexpr bool is_point_v = false;
template <class Tag, class D>
inline constexpr bool is_point_v<basic_point<Tag, D>> = true;

/// A vfiopin point type.
template <class T>
concept point = is_point_v<T>;

}  // namespace vfiopin

template <class Tag, class D>
struct std::hash<vfiopin::basic_point<Tag, D>> {
  std::size_t operator()(vfiopin::basic_point<Tag, D> p) const noexcept {
    return std::hash<std::uint64_t>{}(p.value());
  }
};

#endif  // VFIOPIN_TYPES_ADDRESS_HPP
