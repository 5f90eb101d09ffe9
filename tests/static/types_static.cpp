// SPDX-License-Identifier: Apache-2.0
//
// Static tests of the strong-type algebra: everything that must compile does, and the
// operations that must not exist are checked with requires-expressions. If this file
// compiles, the test passes. The failing builds themselves are in tests/compile_fail/.
#include <vfiopin/vfiopin.hpp>

#include <concepts>
#include <cstdint>
#include <type_traits>

namespace {
using namespace vfiopin;
using namespace vfiopin::literals;
constexpr std::uint64_t top = ~std::uint64_t{0};

template <class A, class B>
concept addable = requires(A a, B b) { a + b; };
template <class A, class B>
concept subtractable = requires(A a, B b) { a - b; };
template <class A, class B>
concept assignable_from = requires(A& a, B b) { a = b; };

// ---- points and displacements -------------------------------------------------------
static_assert(std::same_as<decltype(iova{} + byte_count{}), iova>);
static_assert(std::same_as<decltype(byte_count{} + iova{}), iova>);
static_assert(std::same_as<decltype(iova{} - byte_count{}), iova>);
static_assert(std::same_as<decltype(iova{} - iova{}), byte_count>);
static_assert(std::same_as<decltype(vaddr{} - vaddr{}), byte_count>);
static_assert(std::same_as<decltype(pfn{} + page_count{}), pfn>);
static_assert(std::same_as<decltype(pfn{} - pfn{}), page_count>);
static_assert(!addable<iova, iova>, "point + point must not exist");
static_assert(!addable<vaddr, vaddr>);
static_assert(!addable<pfn, pfn>);
static_assert(!addable<iova, vaddr>);
static_assert(!subtractable<iova, vaddr>, "points of two address spaces do not subtract");
static_assert(!addable<iova, page_count>, "an iova moves by bytes, not pages");
static_assert(!addable<pfn, byte_count>, "a pfn moves by pages, not bytes");
static_assert(!addable<byte_count, page_count>, "bytes and pages do not mix");
static_assert(!addable<iova, std::uint64_t>, "raw integers are not displacements");
static_assert(!assignable_from<iova, vaddr>, "iova = vaddr must not compile");
static_assert(!assignable_from<vaddr, iova>);
static_assert(!std::is_convertible_v<vaddr, iova> && !std::is_convertible_v<iova, vaddr>);
static_assert(!std::is_convertible_v<std::uint64_t, iova>, "construction is explicit");
static_assert(!std::is_convertible_v<iova, std::uint64_t>, "no implicit way out");
static_assert(!std::is_convertible_v<std::uint64_t, byte_count>);
static_assert(!std::is_convertible_v<pfn, page_frame> && !std::is_convertible_v<page_frame, pfn>,
              "a pfn is never a page frame and vice versa");
static_assert(!std::is_constructible_v<page_frame, pfn> && !std::is_constructible_v<pfn, page_frame>);
static_assert(sizeof(iova) == 8 && sizeof(byte_count) == 8 && sizeof(pfn) == 8);
static_assert(std::is_trivially_copyable_v<iova> && std::is_trivially_copyable_v<byte_count>);

static_assert((iova(0x1000) + 4_KiB).value() == 0x2000);
static_assert(iova(0x3000) - iova(0x1000) == 8_KiB);
static_assert((pfn(10) + page_count(5)).value() == 15);
static_assert(1_MiB == byte_count(0x100000) && 2_GiB == byte_count(0x80000000));
static_assert(4_KiB * 3 == 12_KiB && 12_KiB / 3 == 4_KiB && 12_KiB / 4_KiB == 3);
static_assert(checked_add(iova(top - 1), byte_count(1)) == iova(top));
static_assert(!checked_add(iova(top), byte_count(1)).has_value());
static_assert(!checked_add(byte_count(top), byte_count(1)).has_value());
static_assert(!checked_mul(byte_count(top / 2 + 1), 2).has_value());
static_assert(iova(1) < iova(2) && vaddr(5) == vaddr(5));

// ---- page helpers -----------------------------------------------------------------------
static_assert(page_size == 4_KiB && huge_page_size == 2_MiB);
static_assert(is_aligned(iova(0x2000), page_bytes) && !is_aligned(iova(0x2001), page_bytes));
static_assert(is_aligned(8_KiB, page_bytes) && !is_aligned(byte_count(100), page_bytes));
static_assert(align_down(iova(0x2fff), page_bytes) == iova(0x2000));
static_assert(align_up(iova(0x2001), page_bytes) == iova(0x3000));
static_assert(align_up(iova(0x2000), page_bytes) == iova(0x2000));
static_assert(!align_up(iova(top - 10), page_bytes).has_value(), "align_up past 2^64-1 fails");
static_assert(align_up(iova(top - 0xfff), page_bytes) == iova(top - 0xfff));
static_assert(align_up(byte_count(1), page_bytes) == 4_KiB);
static_assert(pages_in(9_KiB) == page_count(2) && bytes_in(page_count(3)) == 12_KiB);
static_assert(page_offset(iova(0x1234)) == byte_count(0x234));

// ---- closed intervals -------------------------------------------------------------------
using iova_range = interval<iova>;
static_assert(!iova_range::from(iova(0x1000), byte_count(0)).has_value(), "length 0 refused");
static_assert(iova_range::from(iova(0x1000), 4_KiB)->last() == iova(0x1fff));
static_assert(iova_range::from(iova(top - 0xfff), 4_KiB)->last() == iova(top),
              "a range can end at 2^64-1");
static_assert(!iova_range::from(iova(top - 0xfff), 8_KiB).has_value(), "wrap refused");
static_assert(!iova_range::from(iova(top), byte_count(2)).has_value());
static_assert(iova_range::from(iova(top), byte_count(1))->size() == byte_count(1));
static_assert(iova_range::from(iova(0), byte_count(top))->last() == iova(top - 1));
static_assert(!iova_range::whole().size().has_value(), "2^64 does not fit a byte_count");
static_assert(iova_range::whole().span() == byte_count(top));
static_assert(iova_range::whole().ends_at_top() && !iova_range::whole().next_after());
static_assert(iova_range::from(iova(0), 4_KiB)->next_after() == iova(0x1000));
static_assert(!iova_range::from_bounds(iova(2), iova(1)).has_value());
static_assert(iova_range::from_bounds(iova(2), iova(2))->size() == byte_count(1));
static_assert(iova_range::single(iova(7)).first() == iova_range::single(iova(7)).last());

constexpr auto a = *iova_range::from(iova(0x1000), 8_KiB);  // [0x1000, 0x2fff]
constexpr auto b = *iova_range::from(iova(0x2000), 8_KiB);  // [0x2000, 0x3fff]
constexpr auto c = *iova_range::from(iova(0x3000), 4_KiB);  // [0x3000, 0x3fff]
static_assert(a.overlaps(b) && b.overlaps(a) && !a.overlaps(c) && !c.overlaps(a));
static_assert(a.intersect(b) == iova_range::from(iova(0x2000), 4_KiB));
static_assert(!a.intersect(c).has_value());
static_assert(a.precedes_adjacent(c) && !c.precedes_adjacent(a));
static_assert(!iova_range::whole().precedes_adjacent(a), "no adjacency past the top");
static_assert(a.contains(iova(0x1000)) && a.contains(iova(0x2fff)) && !a.contains(iova(0x3000)));
static_assert(b.contains(c) && !c.contains(b));
static_assert(a.hull(c) == iova_range::from(iova(0x1000), 12_KiB));
static_assert(a < b && a != b);
static_assert(!std::is_default_constructible_v<iova_range>, "built only by the factories");
static_assert(!std::is_constructible_v<iova_range, iova, iova>, "built only by the factories");
static_assert(!std::is_convertible_v<interval<iova>, interval<vaddr>>);

// ---- prot -------------------------------------------------------------------------------
static_assert((prot::read | prot::write) == prot::read_write);
static_assert(includes(prot::read_write, prot::write) && !includes(prot::read, prot::write));
static_assert(includes(prot::read, prot::none));
static_assert(static_cast<int>(prot::read) == 1 && static_cast<int>(prot::write) == 2,
              "values equal VFIO_DMA_MAP_FLAG_READ/WRITE");
static_assert(!std::is_convertible_v<prot, int>);

// ---- page handle ------------------------------------------------------------------------
static_assert(!std::is_convertible_v<page_handle, bool>, "no implicit conversion");
static_assert(!std::is_constructible_v<bool, page_handle>, "not even an explicit bool");
static_assert(!std::is_convertible_v<page_handle, pfn> && !std::is_constructible_v<pfn, page_handle>);
static_assert(!std::is_convertible_v<page_handle, std::byte*>);
static_assert(std::equality_comparable<page_handle>);
static_assert(requires(page_handle h) { std::hash<page_handle>{}(h); });
static_assert(std::same_as<decltype(page_handle{}.frame()), std::optional<page_frame>>);
static_assert(std::same_as<decltype(page_handle{}.bytes()), std::span<std::byte, 4096>>);

// ---- errc and result --------------------------------------------------------------------
static_assert(std::is_error_code_enum_v<errc>);
static_assert(to_errno(errc::invalid_argument) == EINVAL && to_errno(errc::exists) == EEXIST);
static_assert(to_errno(errc::not_page_backed) == EINVAL);
static_assert(from_errno(ENOSPC) == errc::no_space && from_errno(-EFAULT) == errc::bad_address);
static_assert(from_errno(0) == errc::unknown_errno && from_errno(5000) == errc::unknown_errno);
static_assert(errno_name(EINVAL) == "EINVAL" && errno_name(E2BIG) == "E2BIG");
static_assert(std::is_constructible_v<result<int>, int>);
static_assert(std::is_constructible_v<result<int>, unexpected<std::error_code>>);
static_assert(std::is_constructible_v<result<void>, unexpected<errc>>);
static_assert(!std::is_convertible_v<result<int>, bool>, "operator bool is explicit");

}  // namespace
