// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/result.hpp: result<T>, a value or a std::error_code.
//
// Theory of operation. Every fallible vfiopin operation returns result<T>. Its API is a
// strict subset of std::expected<T, std::error_code>: with a C++23 standard library that
// has <expected>, result<T> IS std::expected<T, std::error_code> and vfiopin::unexpected IS
// std::unexpected, and code written against the subset compiles unchanged.
//
// The subset: construction from a T (or anything T is constructible from) and from
// unexpected<G> (G convertible to std::error_code, e.g. vfiopin::errc), has_value(),
// explicit operator bool, operator*, operator->, error(), value_or(), and_then(),
// transform(), or_else(), and equality with results, values and unexpected.
// Left out on purpose: value() (its exception type differs between the two
// implementations), emplace(), swap(), in_place constructors.
//
// Where the standard says "undefined behaviour" (operator* on an error, error() on a
// value), this implementation traps through VFIOPIN_ASSERT instead.
#ifndef VFIOPIN_RESULT_HPP
#define VFIOPIN_RESULT_HPP

#include <vfiopin/config.hpp>
#include <vfiopin/error.hpp>

#include <concepts>
#include <functional>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#if VFIOPIN_HAS_STD_EXPECTED
#include <expected>
#endif

namespace vfiopin {

#if VFIOPIN_HAS_STD_EXPECTED

template <class T>
using result = std::expected<T, std::error_code>;
using std::unexpected;

#else

/// The error side of a result (subset of std::unexpected).
template <class E>
class unexpected {
 public:
  template <class G = E>
    requires std::constructible_from<E, G&&>
  constexpr explicit unexpected(G&& e) : error_(std::forward<G>(e)) {}
  constexpr const E& error() const& noexcept { return error_; }
  constexpr E& error() & noexcept { return error_; }
  constexpr E&& error() && noexcept { return std::move(error_); }
  template <class G>
  friend constexpr bool operator==(const unexpected& a, const unexpected<G>& b) {
    return a.error() == b.error();
  }

 private:
  E error_;
};
template <class E>
unexpected(E) -> unexpected<E>;

template <class T>
class result;
template <>
class result<void>;

namespace detail {
template <class T>
struct is_result : std::false_type {};
template <class T>
struct is_result<result<T>> : std::true_type {};
}  // namespace detail

/// A T or a std::error_code (subset of std::expected<T, std::error_code>).
template <class T>
class result {
  static_assert(!std::is_reference_v<T> && !std::is_same_v<std::remove_cv_t<T>, std::error_code>,
                "vfiopin::result<T>: T must be an object type other than std::error_code");

 public:
  using value_type = T;
  using error_type = std::error_code;
  using unexpected_type = unexpected<std::error_code>;

  constexpr result()
    requires std::is_default_constructible_v<T>
      : v_(std::in_place_index<0>) {}
  template <class U = T>
    requires(std::constructible_from<T, U &&> && !std::is_same_v<std::remove_cvref_t<U>, result> &&
             !detail::is_result<std::remove_cvref_t<U>>::value)
  constexpr explicit(!std::is_convertible_v<U&&, T>) result(U&& v)
      : v_(std::in_place_index<0>, std::forward<U>(v)) {}
  template <class G>
    requires std::constructible_from<std::error_code, const G&>
  constexpr result(const unexpected<G>& e) : v_(std::in_place_index<1>, e.error()) {}
  template <class G>
    requires std::constructible_from<std::error_code, G &&>
  constexpr result(unexpected<G>&& e) : v_(std::in_place_index<1>, std::move(e).error()) {}

  [[nodiscard]] constexpr bool has_value() const noexcept { return v_.index() == 0; }
  constexpr explicit operator bool() const noexcept { return has_value(); }

  constexpr const T& operator*() const& noexcept { return *get(); }
  constexpr T& operator*() & noexcept { return *get(); }
  constexpr T&& operator*() && noexcept { return std::move(*get()); }
  constexpr const T* operator->() const noexcept { return get(); }
  constexpr T* operator->() noexcept { return get(); }

  constexpr const std::error_code& error() const noexcept {
    VFIOPIN_ASSERT(!has_value(), "result::error() called on a value");
    return *std::get_if<1>(&v_);
  }

  template <class U>
  constexpr T value_or(U&& other) const& {
    return has_value() ? **this : static_cast<T>(std::forward<U>(other));
  }
  template <class U>
  constexpr T value_or(U&& other) && {
    return has_value() ? std::move(**this) : static_cast<T>(std::forward<U>(other));
  }

  /// f(T) -> result<U>; errors pass through.
  template <class F>
  constexpr auto and_then(F&& f) const& {
    using R = std::remove_cvref_t<std::invoke_result_t<F, const T&>>;
    static_assert(detail::is_result<R>::value, "and_then: f must return a vfiopin::result");
    if (has_value()) return std::invoke(std::forward<F>(f), **this);
    return R(unexpected(error()));
  }
  /// f(T) -> U; gives result<U>; errors pass through.
  template <class F>
  constexpr auto transform(F&& f) const& {
    using U = std::remove_cv_t<std::invoke_result_t<F, const T&>>;
    if (!has_value()) return result<U>(unexpected(error()));
    if constexpr (std::is_void_v<U>) {
      std::invoke(std::forward<F>(f), **this);
      return result<U>();
    } else {
      return result<U>(std::invoke(std::forward<F>(f), **this));
    }
  }
  /// f(error_code) -> result<T>; values pass through.
  template <class F>
  constexpr result or_else(F&& f) const& {
    if (has_value()) return *this;
    return std::invoke(std::forward<F>(f), error());
  }

  template <class U>
  friend constexpr bool operator==(const result& a, const result<U>& b) {
    if (a.has_value() != b.has_value()) return false;
    return a.has_value() ? *a == *b : a.error() == b.error();
  }
  template <class U>
    requires(!detail::is_result<U>::value)
  friend constexpr bool operator==(const result& a, const U& v) {
    return a.has_value() && *a == v;
  }
  template <class G>
  friend constexpr bool operator==(const result& a, const unexpected<G>& e) {
    return !a.has_value() && a.error() == e.error();
  }

 private:
  constexpr const T* get() const noexcept {
    VFIOPIN_ASSERT(has_value(), "dereferenced a vfiopin::result that holds an error");
    return std::get_if<0>(&v_);
  }
  constexpr T* get() noexcept {
    VFIOPIN_ASSERT(has_value(), "dereferenced a vfiopin::result that holds an error");
    return std::get_if<0>(&v_);
  }
  std::variant<T, std::error_code> v_;
};

/// Success or a std::error_code (subset of std::expected<void, std::error_code>).
template <>
class result<void> {
 public:
  using value_type = void;
  using error_type = std::error_code;
  using unexpected_type = unexpected<std::error_code>;

  result() noexcept = default;
  template <class G>
    requires std::constructible_from<std::error_code, const G&>
  result(const unexpected<G>& e) : ok_(false), error_(e.error()) {}
  template <class G>
    requires std::constructible_from<std::error_code, G &&>
  result(unexpected<G>&& e) : ok_(false), error_(std::move(e).error()) {}

  [[nodiscard]] bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  void operator*() const noexcept {
    VFIOPIN_ASSERT(ok_, "dereferenced a vfiopin::result<void> that holds an error");
  }
  const std::error_code& error() const noexcept {
    VFIOPIN_ASSERT(!ok_, "result::error() called on a value");
    return error_;
  }

  template <class F>
  auto and_then(F&& f) const {
    using R = std::remove_cvref_t<std::invoke_result_t<F>>;
    static_assert(detail::is_result<R>::value, "and_then: f must return a vfiopin::result");
    if (ok_) return std::invoke(std::forward<F>(f));
    return R(unexpected(error_));
  }
  template <class F>
  auto transform(F&& f) const {
    using U = std::remove_cv_t<std::invoke_result_t<F>>;
    if (!ok_) return result<U>(unexpected(error_));
    if constexpr (std::is_void_v<U>) {
      std::invoke(std::forward<F>(f));
      return result<void>();
    } else {
      return result<U>(std::invoke(std::forward<F>(f)));
    }
  }
  template <class F>
  result or_else(F&& f) const {
    if (ok_) return *this;
    return std::invoke(std::forward<F>(f), error_);
  }

  friend bool operator==(const result& a, const result& b) {
    if (a.ok_ != b.ok_) return false;
    return a.ok_ || a.error_ == b.error_;
  }
  template <class G>
  friend bool operator==(const result& a, const unexpected<G>& e) {
    return !a.ok_ && a.error_ == e.error();
  }

 private:
  bool ok_ = true;
  std::error_code error_{};
};

#endif  // VFIOPIN_HAS_STD_EXPECTED

/// The usual way to fail: `return fail(errc::invalid_argument);`
[[nodiscard]] inline unexpected<std::error_code> fail(errc e) noexcept {
  return unexpected<std::error_code>(make_error_code(e));
}
[[nodiscard]] inline unexpected<std::error_code> fail(std::error_code ec) noexcept {
  return unexpected<std::error_code>(ec);
}

}  // namespace vfiopin

#endif  // VFIOPIN_RESULT_HPP
