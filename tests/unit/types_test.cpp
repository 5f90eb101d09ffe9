// SPDX-License-Identifier: Apache-2.0
//
// Runtime behaviour of the vocabulary types: values at the edges of the address space,
// hashing, page handles. (The algebra itself is checked at compile time in
// tests/static/types_static.cpp.)
#include "tests/support/catch.hpp"

#include <vfiopin/vfiopin.hpp>

#include <array>
#include <optional>
#include <cstdint>
#include <unordered_set>

using namespace vfiopin;
using namespace vfiopin::literals;

namespace {
constexpr std::uint64_t top = ~std::uint64_t{0};
}

TEST_CASE("interval::from refuses exactly the wrapping and empty inputs", "[types][interval]") {
  const std::array<std::uint64_t, 9> points{0, 1, 0xfff, 0x1000, 1ULL << 63, top - 0x1000,
                                            top - 0xfff, top - 1, top};
  for (const auto s : points) {
    for (const auto l : points) {
      const auto r = interval<iova>::from(iova(s), byte_count(l));
      // Reference without 128-bit integers: start + length - 1 fits iff length - 1 <= top - start.
      const bool expect_ok = l != 0 && l - 1 <= top - s;
      const std::uint64_t last = s + (l - 1);
      REQUIRE(r.has_value() == expect_ok);
      if (expect_ok) {
        CHECK(r->first() == iova(s));
        CHECK(r->last().value() == last);
        CHECK(r->span().value() == l - 1);
        CHECK(r->size() == (l == 0 ? std::optional<byte_count>() : std::optional(byte_count(l))));
      }
    }
  }
}

TEST_CASE("an interval at the top of the address space", "[types][interval]") {
  const auto last_page = *interval<iova>::from(iova(top - 0xfff), page_size);
  CHECK(last_page.ends_at_top());
  CHECK_FALSE(last_page.next_after().has_value());
  CHECK(last_page.size() == page_size);
  const auto below = *interval<iova>::from(iova(top - 0x1fff), page_size);
  CHECK(below.precedes_adjacent(last_page));
  CHECK(below.hull(last_page) == interval<iova>::from(iova(top - 0x1fff), 8_KiB));
  CHECK(interval<iova>::whole().contains(last_page));
  CHECK(interval<iova>::whole().intersect(last_page) == last_page);
}

TEST_CASE("points and intervals hash by value", "[types]") {
  std::unordered_set<iova> s{iova(1), iova(2), iova(1)};
  CHECK(s.size() == 2);
  std::unordered_set<interval<iova>> r{interval<iova>::single(iova(1)),
                                       *interval<iova>::from(iova(1), byte_count(1)),
                                       *interval<iova>::from(iova(1), byte_count(2))};
  CHECK(r.size() == 2);
}

TEST_CASE("page handles compare by page identity and give CPU bytes", "[types][page_handle]") {
  alignas(4096) static std::array<std::byte, 8192> pages{};
  const int backend_a = 0;
  const int backend_b = 0;
  const page_handle h1(page_handle::issue_tag{}, &backend_a, 7, pages.data(), page_frame(0x1234));
  const page_handle h2(page_handle::issue_tag{}, &backend_a, 7, pages.data(), page_frame(0x1234));
  const page_handle h3(page_handle::issue_tag{}, &backend_a, 8, pages.data() + 4096, std::nullopt);
  const page_handle h4(page_handle::issue_tag{}, &backend_b, 7, pages.data(), page_frame(0x1234));
  CHECK(h1 == h2);
  CHECK(h1 != h3);
  CHECK(h1 != h4);  // the same id from another backend is another page
  CHECK(std::hash<page_handle>{}(h1) == std::hash<page_handle>{}(h2));
  CHECK(h1.frame()->phys_addr() == 0x1234000);
  CHECK_FALSE(h3.frame().has_value());
  h3.bytes()[5] = std::byte{0x5a};
  CHECK(pages[4096 + 5] == std::byte{0x5a});
  CHECK(h1.bytes().size() == 4096);
  const page_handle empty;
  CHECK(empty.empty());
  CHECK_FALSE(h1.empty());
  CHECK(empty != h1);
  CHECK(empty == page_handle{});
}

TEST_CASE("prot spelling", "[types][prot]") {
  CHECK(to_string(prot::none) == "none");
  CHECK(to_string(prot::read) == "r");
  CHECK(to_string(prot::write) == "w");
  CHECK(to_string(prot::read_write) == "rw");
  CHECK(is_valid(prot::read_write));
  CHECK_FALSE(is_valid(static_cast<prot>(4)));
}

TEST_CASE("page frames give host physical addresses", "[types]") {
  CHECK(page_frame(1).phys_addr() == 4096);
  CHECK(page_frame(0xfffffffffffffULL).phys_addr() == 0xfffffffffffff000ULL);
}

TEST_CASE("a dma_unmap_callback forwards to its target", "[types]") {
  struct counter {
    int calls = 0;
    iova last{};
    void operator()(interval<iova> r) noexcept {
      ++calls;
      last = r.last();
    }
  } c;
  const dma_unmap_callback cb(c);
  cb(*interval<iova>::from(iova(0x1000), page_size));
  CHECK(c.calls == 1);
  CHECK(c.last == iova(0x1fff));
  const dma_unmap_callback none;
  CHECK(none.empty());
  none(interval<iova>::single(iova(0)));  // does nothing, does not crash
}

TEST_CASE("dma_unmap_callback: copying a non-const callback copies its target", "[types]") {
  // Regression: the binding constructor template once won overload resolution for a
  // non-const lvalue callback and bound the copy to the source object itself, which
  // dangles as soon as the source (often a temporary) is gone.
  int a = 0;
  int b = 0;
  auto fa = [&a](vfiopin::interval<vfiopin::iova>) noexcept { ++a; };
  auto fb = [&b](vfiopin::interval<vfiopin::iova>) noexcept { ++b; };
  std::optional<vfiopin::dma_unmap_callback> src(std::in_place, fa);
  vfiopin::dma_unmap_callback copy(*src);  // non-const lvalue
  src.emplace(fb);                          // the source now calls someone else
  copy(*vfiopin::interval<vfiopin::iova>::from_bounds(vfiopin::iova{0}, vfiopin::iova{4095}));
  CHECK(a == 1);
  CHECK(b == 0);
}
