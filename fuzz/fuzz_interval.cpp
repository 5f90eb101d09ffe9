// SPDX-License-Identifier: Apache-2.0
//
// fuzz_interval: the point, displacement and interval algebra of include/vfiopin/types/
// against an independent reference model.
//
// Theory of operation. The input is decoded (fuzz_input) into a sequence of operations on
// freshly drawn operands. The operands are biased towards the edges where bounds checks
// live: 0, 2^64-1, and powers of two. Every result is compared with a reference that
// computes in unsigned __int128, where nothing near 2^64 wraps, so the reference is written
// directly from the documented contracts and shares no code or trick with the headers:
//   interval::from(start, length)  nothing iff length == 0 or start + length - 1 > 2^64-1
//   interval::from_bounds(f, l)    nothing iff f > l
//   first/last/span/size/ends_at_top/next_after, contains, overlaps, intersect, hull,
//   precedes_adjacent (and hull as the merge of touching intervals), ordering, hash
//   point +/- displacement, point - point, checked_add (points and counts), count algebra,
//   checked_mul, align_down/align_up/is_aligned, pages_in/bytes_in/page_offset.
// The operations whose contract is "traps on wrap" (VFIOPIN_ASSERT) are only called where
// the reference says they do not wrap; their checked counterparts are called on everything.
// Each operation runs for iova (displacement byte_count) and pfn (displacement page_count).
// Any disagreement prints what differed and traps.
#include <vfiopin/types/address.hpp>
#include <vfiopin/types/count.hpp>
#include <vfiopin/types/interval.hpp>
#include <vfiopin/types/page.hpp>
#include <vfiopin/types/pfn.hpp>

#include <algorithm>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <source_location>

#include "fuzz_input.hpp"

namespace {

using vfiopin::fuzz::fuzz_input;
using u64 = std::uint64_t;
__extension__ typedef unsigned __int128 u128;  // __extension__: -Wpedantic knows no __int128

constexpr u128 top = ~u64{0};  // 2^64 - 1, the last point of the address space

void expect(bool ok, const char* what,
            std::source_location where = std::source_location::current()) noexcept {
  if (!ok) {
    std::fprintf(stderr, "fuzz_interval: reference mismatch at line %u: %s\n",
                 static_cast<unsigned>(where.line()), what);
    std::fflush(stderr);
    __builtin_trap();
  }
}

std::strong_ordering compare_ref(u128 a, u128 b) noexcept {
  return a < b ? std::strong_ordering::less
               : (a > b ? std::strong_ordering::greater : std::strong_ordering::equal);
}

// The reference of an interval: its bounds as wide integers.
struct ref_interval {
  u128 first;
  u128 last;
  [[nodiscard]] u128 size() const noexcept { return last - first + 1; }
};

template <class P>
struct drawn_interval {
  vfiopin::interval<P> value;
  ref_interval ref;
};

template <class P>
ref_interval ref_of(const vfiopin::interval<P>& r) noexcept {
  return {r.first().value(), r.last().value()};
}

// Checks every observer of r against the reference bounds [first, last].
template <class P>
void check_shape(const vfiopin::interval<P>& r, const ref_interval& ref) {
  using D = typename P::difference_type;
  expect(ref.first <= ref.last, "reference interval is empty");
  expect(r.first().value() == ref.first, "first()");
  expect(r.last().value() == ref.last, "last()");
  expect(r.span() == D(static_cast<u64>(ref.last - ref.first)), "span()");
  const std::optional<D> size = r.size();
  expect(size.has_value() == (ref.size() <= top), "size() present iff size < 2^64");
  if (size) expect(size->value() == ref.size(), "size() value");
  expect(r.ends_at_top() == (ref.last == top), "ends_at_top()");
  const std::optional<P> next = r.next_after();
  expect(next.has_value() == (ref.last < top), "next_after() present iff last < 2^64-1");
  if (next) expect(next->value() == ref.last + 1, "next_after() value");
  expect(r.contains(r.first()) && r.contains(r.last()), "contains(own bounds)");
  expect(r.contains(r) && r.overlaps(r), "contains/overlaps itself");
  expect(r.intersect(r) == r && r.hull(r) == r, "intersect/hull with itself");
  expect(!r.precedes_adjacent(r), "adjacent to itself");
  expect((r <=> r) == std::strong_ordering::equal, "<=> with itself");
}

// One interval, built by one of the factories; the factory's refusals are checked too, and
// a refused draw falls back to [p, p] so that every caller gets an interval.
template <class P>
drawn_interval<P> draw_interval(fuzz_input& in) {
  using I = vfiopin::interval<P>;
  using D = typename P::difference_type;
  enum class factory : std::uint8_t { from, from_bounds, single, whole };
  const u64 a = in.draw_edgy<u64>();
  const u64 b = in.draw_edgy<u64>();
  switch (in.draw_enum(factory::whole)) {
    case factory::from: {
      const std::optional<I> r = I::from(P(a), D(b));
      const bool refused = b == 0 || u128{a} + b - 1 > top;
      expect(r.has_value() == !refused, "from(start, length) refuses exactly zero and wrap");
      if (r) {
        const ref_interval ref{a, u128{a} + b - 1};
        expect(I::from_bounds(P(a), P(static_cast<u64>(ref.last))) == r, "from == from_bounds");
        return {*r, ref};
      }
      break;
    }
    case factory::from_bounds: {
      const std::optional<I> r = I::from_bounds(P(a), P(b));
      expect(r.has_value() == (a <= b), "from_bounds(first, last) refuses exactly first > last");
      if (r) return {*r, {a, b}};
      break;
    }
    case factory::single:
      break;
    case factory::whole:
      return {I::whole(), {0, top}};
  }
  return {I::single(P(a)), {a, a}};
}

template <class P>
void op_shape(fuzz_input& in) {
  const auto r = draw_interval<P>(in);
  check_shape(r.value, r.ref);
}

// Two intervals and a point: the relations between them.
template <class P>
void op_relations(fuzz_input& in) {
  using I = vfiopin::interval<P>;
  const auto [a, ra] = draw_interval<P>(in);
  const auto [b, rb] = draw_interval<P>(in);
  check_shape(a, ra);
  check_shape(b, rb);

  const u128 lo = std::max(ra.first, rb.first);
  const u128 hi = std::min(ra.last, rb.last);
  const bool overlap = lo <= hi;
  expect(a.overlaps(b) == overlap, "overlaps");
  expect(b.overlaps(a) == overlap, "overlaps is symmetric");

  const std::optional<I> common = a.intersect(b);
  expect(common.has_value() == overlap, "intersect present iff overlapping");
  expect(b.intersect(a) == common, "intersect is symmetric");
  if (common) check_shape(*common, {lo, hi});

  expect(a.contains(b) == (ra.first <= rb.first && rb.last <= ra.last), "contains(interval)");
  expect(b.contains(a) == (rb.first <= ra.first && ra.last <= rb.last), "contains(interval)'");

  const bool a_then_b = ra.last + 1 == rb.first;
  const bool b_then_a = rb.last + 1 == ra.first;
  expect(a.precedes_adjacent(b) == a_then_b, "precedes_adjacent");
  expect(b.precedes_adjacent(a) == b_then_a, "precedes_adjacent'");
  expect(!((a_then_b || b_then_a) && overlap), "adjacent intervals do not overlap");

  const I h = a.hull(b);
  expect(b.hull(a) == h, "hull is symmetric");
  const ref_interval rh{std::min(ra.first, rb.first), std::max(ra.last, rb.last)};
  check_shape(h, rh);
  // Merging: touching intervals (overlapping or adjacent) cover exactly their hull; apart
  // ones leave a gap, so the hull is larger than the two together.
  const u128 covered = ra.size() + rb.size() - (overlap ? hi - lo + 1 : 0);
  if (overlap || a_then_b || b_then_a) {
    expect(rh.size() == covered, "hull of touching intervals is their union");
  } else {
    expect(rh.size() > covered, "hull of apart intervals spans a gap");
  }

  const std::strong_ordering order =
      ra.first != rb.first ? compare_ref(ra.first, rb.first) : compare_ref(ra.last, rb.last);
  expect((a <=> b) == order, "<=> is (first, last) lexicographic");
  expect((a == b) == (order == 0), "==");
  if (a == b) expect(std::hash<I>{}(a) == std::hash<I>{}(b), "equal intervals hash equal");

  const u64 p = in.draw_edgy<u64>();
  expect(a.contains(P(p)) == (ra.first <= p && p <= ra.last), "contains(point)");
  for (const u128 q : {rb.first - 1, rb.first, rb.last, rb.last + 1}) {
    if (q <= top) {
      expect(a.contains(P(static_cast<u64>(q))) == (ra.first <= q && q <= ra.last),
             "contains(point near the other interval's bounds)");
    }
  }
}

// point +/- displacement, point - point, checked_add, ordering.
template <class P>
void op_point_arith(fuzz_input& in) {
  using D = typename P::difference_type;
  const u64 x = in.draw_edgy<u64>();
  const u64 y = in.draw_edgy<u64>();
  const P p(x);
  const P q(y);
  const D d(y);

  expect((p <=> q) == compare_ref(x, y), "point <=>");
  expect((p == q) == (x == y), "point ==");

  const std::optional<P> sum = vfiopin::checked_add(p, d);
  expect(sum.has_value() == (u128{x} + y <= top), "checked_add(point, d) refuses exactly wrap");
  if (sum) {
    expect(sum->value() == u128{x} + y, "checked_add(point, d) value");
    expect(p + d == *sum && d + p == *sum, "point + d");
    P moved = p;
    moved += d;
    expect(moved == *sum, "point += d");
    expect(*sum - d == p && *sum - p == d, "point - d, point - point undo +");
  }
  if (x >= y) {
    expect((p - d).value() == x - y, "point - d");
    P moved = p;
    moved -= d;
    expect(moved.value() == x - y, "point -= d");
    expect((p - q).value() == x - y, "point - point");
    expect(q + (p - q) == p, "q + (p - q) == p");
  }
}

// The displacement algebra of one unit.
template <class D>
void op_count_arith(fuzz_input& in) {
  const u64 x = in.draw_edgy<u64>();
  const u64 y = in.draw_edgy<u64>();
  const u64 n = in.draw_edgy<u64>();
  const D a(x);
  const D b(y);

  expect((a <=> b) == compare_ref(x, y), "count <=>");
  const std::optional<D> sum = vfiopin::checked_add(a, b);
  expect(sum.has_value() == (u128{x} + y <= top), "checked_add(count, count) refuses exactly wrap");
  if (sum) expect(sum->value() == u128{x} + y && a + b == *sum && b + a == *sum, "count + count");
  if (x >= y) expect((a - b).value() == x - y, "count - count");

  const std::optional<D> product = vfiopin::checked_mul(a, n);
  expect(product.has_value() == (u128{x} * n <= top), "checked_mul refuses exactly wrap");
  if (product)
    expect(product->value() == u128{x} * n && a * n == *product && n * a == *product, "count * n");
  if (n != 0) expect((a / n).value() == x / n, "count / n");
  if (y != 0) {
    expect(a / b == x / y, "count / count");
    expect((a % b).value() == x % y, "count % count");
  }
}

// align_down / align_up / is_aligned for points and counts, against ceil/floor in 128 bits.
template <class P>
void op_align(fuzz_input& in) {
  using D = typename P::difference_type;
  const u64 x = in.draw_edgy<u64>();
  const u64 alignment = u64{1} << in.draw_in_range(0, 63);
  const u128 down = u128{x} - u128{x} % alignment;
  const u128 up = (u128{x} + alignment - 1) / alignment * alignment;
  const bool aligned = x % alignment == 0;

  expect(vfiopin::is_aligned(x, alignment) == aligned, "is_aligned(u64)");
  expect(vfiopin::is_aligned(P(x), alignment) == aligned, "is_aligned(point)");
  expect(vfiopin::is_aligned(D(x), alignment) == aligned, "is_aligned(count)");
  expect(vfiopin::align_down(P(x), alignment).value() == down, "align_down(point)");
  expect(vfiopin::align_down(D(x), alignment).value() == down, "align_down(count)");

  const std::optional<P> up_point = vfiopin::align_up(P(x), alignment);
  const std::optional<D> up_count = vfiopin::align_up(D(x), alignment);
  expect(up_point.has_value() == (up <= top), "align_up(point) refuses exactly past 2^64-1");
  expect(up_count.has_value() == (up <= top), "align_up(count) refuses exactly past 2^64-1");
  if (up_point) expect(up_point->value() == up, "align_up(point) value");
  if (up_count) expect(up_count->value() == up, "align_up(count) value");
}

// pages_in / bytes_in / page_offset (byte and page units, 4 KiB pages).
void op_pages(fuzz_input& in) {
  const u64 x = in.draw_edgy<u64>();
  expect(vfiopin::pages_in(vfiopin::byte_count(x)).value() == x / 4096, "pages_in");
  expect(vfiopin::page_offset(vfiopin::iova(x)).value() == x % 4096, "page_offset(iova)");
  expect(vfiopin::page_offset(vfiopin::vaddr(x)).value() == x % 4096, "page_offset(vaddr)");
  if (u128{x} * 4096 <= top) {
    expect(vfiopin::bytes_in(vfiopin::page_count(x)).value() == u128{x} * 4096, "bytes_in");
  }
}

enum class op : std::uint8_t { shape, relations, point_arith, count_arith, align, pages };

template <class P>
void run_op(op which, fuzz_input& in) {
  switch (which) {
    case op::shape:
      return op_shape<P>(in);
    case op::relations:
      return op_relations<P>(in);
    case op::point_arith:
      return op_point_arith<P>(in);
    case op::count_arith:
      return op_count_arith<typename P::difference_type>(in);
    case op::align:
      return op_align<P>(in);
    case op::pages:
      return op_pages(in);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz_input in(data, size);
  while (!in.empty()) {
    const op which = in.draw_enum(op::pages);
    if (in.draw_bool()) {
      run_op<vfiopin::iova>(which, in);
    } else {
      run_op<vfiopin::pfn>(which, in);
    }
  }
  return 0;
}
