// SPDX-License-Identifier: Apache-2.0
//
// fuzz_input: turns the raw bytes libFuzzer hands a target into bounded values.
//
// Theory of operation. A fuzz target asks for values (an integer in [lo, hi], a bool, an
// enumerator, a run of bytes) and fuzz_input consumes just enough bytes from the front of
// the input to produce each one. Nothing here throws, allocates or asserts: when the input
// runs out, the missing bytes read as zero, so every draw still returns a valid value (lo,
// false, the first enumerator, an empty span) and empty() becomes true. A target decoding a
// sequence of operations therefore loops `while (!in.empty())` and always terminates.
//
// Values are taken little-endian and a bounded draw reads only as many bytes as its range
// needs, so small changes by the mutator give small, local changes in the decoded values
// (which keeps libFuzzer's coverage feedback and -merge minimisation effective).
#ifndef VFIOPIN_FUZZ_FUZZ_INPUT_HPP
#define VFIOPIN_FUZZ_FUZZ_INPUT_HPP

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>

namespace vfiopin::fuzz {

class fuzz_input {
 public:
  fuzz_input(const std::uint8_t* data, std::size_t size) noexcept
      : bytes_(data, data == nullptr ? 0 : size) {}

  explicit fuzz_input(std::span<const std::uint8_t> bytes) noexcept : bytes_(bytes) {}

  // True once every byte has been consumed; from then on all draws return zeros.
  [[nodiscard]] bool empty() const noexcept { return bytes_.empty(); }
  [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size(); }

  // A full-width value of T from sizeof(T) bytes (missing bytes read as zero).
  template <std::integral T>
  [[nodiscard]] T draw() noexcept {
    using unsigned_type = std::make_unsigned_t<T>;
    return static_cast<T>(take_bytes<unsigned_type>(sizeof(T)));
  }

  // A value in the closed range [lo, hi], reading only the bytes the range needs.
  // A reversed range is taken as [hi, lo], so the call has no precondition.
  template <std::integral T>
  [[nodiscard]] T draw_in_range(T lo, T hi) noexcept {
    if (hi < lo) {
      const T tmp = lo;
      lo = hi;
      hi = tmp;
    }
    using unsigned_type = std::make_unsigned_t<T>;
    const auto span =
        static_cast<unsigned_type>(static_cast<unsigned_type>(hi) - static_cast<unsigned_type>(lo));
    std::size_t width = 0;
    for (unsigned_type rest = span; rest != 0; rest = shift_right_byte(rest)) {
      ++width;
    }
    auto value = take_bytes<unsigned_type>(width);
    if (span != std::numeric_limits<unsigned_type>::max()) {
      value = static_cast<unsigned_type>(value % static_cast<unsigned_type>(span + 1U));
    }
    return static_cast<T>(static_cast<unsigned_type>(static_cast<unsigned_type>(lo) + value));
  }

  [[nodiscard]] bool draw_bool() noexcept { return (take_bytes<std::uint8_t>(1) & 1U) != 0; }

  // One of the enumerators 0 .. last of a contiguous enumeration starting at 0.
  template <class E>
  requires std::is_enum_v<E>
  [[nodiscard]] E draw_enum(E last) noexcept {
    using underlying = std::underlying_type_t<E>;
    return static_cast<E>(draw_in_range<underlying>(underlying{0}, static_cast<underlying>(last)));
  }

  // An integer biased towards the values where bounds checks live: near zero, near the
  // maximum, and around powers of two. One selector byte picks the shape.
  template <std::unsigned_integral T>
  [[nodiscard]] T draw_edgy() noexcept {
    constexpr T max = std::numeric_limits<T>::max();
    constexpr int bits = std::numeric_limits<T>::digits;
    switch (draw_in_range<std::uint8_t>(0, 3)) {
      case 0:
        return draw_in_range<T>(0, small_limit<T>());
      case 1:
        return static_cast<T>(max - draw_in_range<T>(0, small_limit<T>()));
      case 2: {
        const auto shift = draw_in_range<int>(0, bits - 1);
        const auto delta = draw<std::int8_t>();
        return static_cast<T>(static_cast<T>(T{1} << shift) + static_cast<T>(delta));
      }
      default:
        return draw<T>();
    }
  }

  // Up to max_size bytes (fewer when the input is shorter); the span aliases the input.
  [[nodiscard]] std::span<const std::uint8_t> draw_bytes(std::size_t max_size) noexcept {
    const std::size_t length = draw_in_range<std::size_t>(0, max_size);
    const std::size_t taken = length < bytes_.size() ? length : bytes_.size();
    const auto out = bytes_.first(taken);
    bytes_ = bytes_.subspan(taken);
    return out;
  }

 private:
  template <std::unsigned_integral U>
  static constexpr U shift_right_byte(U value) noexcept {
    if constexpr (sizeof(U) == 1) {
      return U{0};
    } else {
      return static_cast<U>(value >> 8U);
    }
  }

  template <std::unsigned_integral U>
  static constexpr U small_limit() noexcept {
    return sizeof(U) == 1 ? U{0x0f} : U{0xffff};
  }

  // Little-endian assembly of `count` bytes (count <= sizeof(U)); zeros past the end.
  template <std::unsigned_integral U>
  U take_bytes(std::size_t count) noexcept {
    U value = 0;
    for (std::size_t i = 0; i < count; ++i) {
      if (bytes_.empty()) {
        break;
      }
      const U byte = bytes_.front();
      bytes_ = bytes_.subspan(1);
      if constexpr (sizeof(U) > 1) {
        value = static_cast<U>(value | static_cast<U>(byte << (8U * i)));
      } else {
        value = byte;
      }
    }
    return value;
  }

  std::span<const std::uint8_t> bytes_;
};

}  // namespace vfiopin::fuzz

#endif  // VFIOPIN_FUZZ_FUZZ_INPUT_HPP
