// SPDX-License-Identifier: Apache-2.0
//
// result<T>: the std::expected<T, std::error_code> subset.
#include "tests/support/catch.hpp"

#include <vfiopin/result.hpp>

#include <memory>
#include <string>

using vfiopin::errc;
using vfiopin::fail;
using vfiopin::result;

namespace {
result<int> parse_positive(int v) {
  if (v <= 0) return fail(errc::invalid_argument);
  return v;
}
}  // namespace

TEST_CASE("result holds a value or an error", "[result]") {
  const auto ok = parse_positive(3);
  REQUIRE(ok.has_value());
  CHECK(static_cast<bool>(ok));
  CHECK(*ok == 3);
  CHECK(ok == 3);
  const auto bad = parse_positive(-1);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error() == errc::invalid_argument);
  CHECK(bad == vfiopin::unexpected(std::error_code(errc::invalid_argument)));
  CHECK(bad.value_or(7) == 7);
  CHECK(ok.value_or(7) == 3);
  CHECK(ok != bad);
}

TEST_CASE("result constructs from unexpected<errc>, as std::expected does", "[result]") {
  result<std::string> r = vfiopin::unexpected(errc::exists);
  REQUIRE_FALSE(r);
  CHECK(r.error() == std::errc::file_exists);
  result<std::string> s = std::string("x");
  CHECK(s->size() == 1);
}

TEST_CASE("and_then, transform and or_else", "[result]") {
  const auto doubled = parse_positive(4).transform([](int v) { return v * 2; });
  CHECK(doubled == 8);
  const auto chained = parse_positive(4).and_then([](int v) { return parse_positive(v - 10); });
  CHECK(chained.error() == errc::invalid_argument);
  const auto skipped = parse_positive(0).transform([](int v) { return v * 2; });
  CHECK(skipped.error() == errc::invalid_argument);
  const auto recovered = parse_positive(0).or_else([](std::error_code) { return result<int>(1); });
  CHECK(recovered == 1);
  const auto to_void = parse_positive(1).transform([](int) {});
  CHECK(to_void.has_value());
}

TEST_CASE("result<void>", "[result]") {
  result<void> ok;
  CHECK(ok.has_value());
  result<void> bad = fail(errc::busy);
  CHECK_FALSE(bad.has_value());
  CHECK(bad.error() == errc::busy);
  CHECK(ok != bad);
  CHECK(ok == result<void>());
  int calls = 0;
  const auto next = ok.and_then([&] {
    ++calls;
    return result<int>(5);
  });
  CHECK(next == 5);
  CHECK(bad.transform([&] { ++calls; }).error() == errc::busy);
  CHECK(calls == 1);
}

TEST_CASE("result holds move-only values", "[result]") {
  result<std::unique_ptr<int>> r = std::make_unique<int>(9);
  REQUIRE(r);
  auto p = *std::move(r);
  CHECK(*p == 9);
}
