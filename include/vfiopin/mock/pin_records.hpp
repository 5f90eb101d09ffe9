// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/pin_records.hpp: the external pin records of one vfio_dma, run-length encoded.
//
// Theory of operation. The kernel records every page an emulated-IOMMU driver pinned through
// vfio_pin_pages() as a struct vfio_pfn {iova, pfn, ref_count} in the dma's rb-tree pfn_list,
// keyed by the EXACT iova the driver passed (vfio_find_vpfn, vfio_add_to_pfn_list,
// vfio_iova_get_vfio_pfn, vfio_iova_put_vfio_pfn). Keys need not be page aligned: vfio-ap
// pins its notification byte at an unaligned guest address, vfio-ccw pins 2 KiB IDAWs, so two
// records (two GUP pins, two charged pages) can name one host page (spec §4.4).
//
// The model keeps the same records, but not one heap node per page. Keys that share their
// offset within a page (their "phase", key & 0xfff) live in one lane; a lane is an
// ordered_index of runs {first key, pfn of the first key, pages, frame kind, refcount}. A run
// stands for `pages` records with keys first + i * 4096 and pfns pfn + i, all with the same
// refcount and kind. Pinning 512 physically contiguous pages once is one 24-byte run; a
// refcount or pfn discontinuity splits a run, and neighbours that become equal merge back
// (coalesce), so the size is proportional to the number of distinct (contiguous, equally
// pinned) stretches, never worse than one 24-byte entry per record.
//
// Counting helpers answer the two accounting questions of the kernel: how many page-aligned
// iovas of a chunk have a record (vfio_find_vpfn per page, before ~6.17) and how many record
// nodes have a key inside a span (vpfn_pages, ~6.17+).
#ifndef VFIOPIN_MOCK_PIN_RECORDS_HPP
#define VFIOPIN_MOCK_PIN_RECORDS_HPP

#include <vfiopin/concepts/memory_backend.hpp>
#include <vfiopin/config.hpp>
#include <vfiopin/mock/dma_index.hpp>
#include <vfiopin/types/page.hpp>
#include <vfiopin/types/pfn.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace vfiopin::mock::detail {

/// A run of pin records, as seen by callers.
struct pin_run_view {
  std::uint64_t key = 0;    ///< iova of the first record (exact, may be unaligned)
  std::uint64_t frame = 0;  ///< pfn of the first record
  std::uint64_t pages = 0;  ///< records in the run (keys key + i * 4096)
  frame_kind kind = frame_kind::page;
  std::uint32_t refs = 0;   ///< vfio_pfn.ref_count of every record of the run
  [[nodiscard]] std::uint64_t last_key() const noexcept { return key + (pages - 1) * page_bytes; }
};

/// The vfio_pfn records of one dma.
class pin_records {
  static constexpr std::uint32_t max_run = (std::uint32_t{1} << 30) - 1;
  struct run {
    std::uint64_t frame = 0;
    std::uint32_t pages_kind = 0;  // pages (low 30 bits) | kind << 30
    std::uint32_t refs = 0;
  };
  using index = ordered_index<run, 64>;
  struct lane {
    std::uint64_t phase = 0;
    index runs;
  };

  static std::uint64_t pages_of(const run& r) noexcept { return r.pages_kind & max_run; }
  static frame_kind kind_of(const run& r) noexcept {
    return static_cast<frame_kind>(r.pages_kind >> 30);
  }
  static run make(std::uint64_t frame, std::uint64_t pages, frame_kind k, std::uint32_t refs) {
    VFIOPIN_ASSERT(pages > 0 && pages <= max_run, "pin run length out of range");
    return run{frame, static_cast<std::uint32_t>(pages) | (static_cast<std::uint32_t>(k) << 30),
               refs};
  }
  static pin_run_view view(std::uint64_t key, const run& r) noexcept {
    return {key, r.frame, pages_of(r), kind_of(r), r.refs};
  }

 public:
  [[nodiscard]] bool empty() const noexcept { return nodes_ == 0; }
  /// The number of vfio_pfn records (one per key).
  [[nodiscard]] std::uint64_t node_count() const noexcept { return nodes_; }

  /// The run holding the record with exactly this key.
  [[nodiscard]] std::optional<pin_run_view> covering(std::uint64_t key) const noexcept {
    const lane* l = find_lane(key);
    if (l == nullptr) return std::nullopt;
    const auto e = l->runs.floor_entry(key);
    if (e.value == nullptr || (key - e.key) / page_bytes >= pages_of(*e.value)) return std::nullopt;
    return view(e.key, *e.value);
  }

  /// Pages from `key` on (step 4096, at most max) that have no record.
  [[nodiscard]] std::uint64_t gap_pages(std::uint64_t key, std::uint64_t max) const noexcept {
    const lane* l = find_lane(key);
    if (l == nullptr) return max;
    auto p = l->runs.upper_bound(key);
    if (!p) return max;
    return std::min(max, (l->runs.key(*p) - key) / page_bytes);
  }

  /// New records key + i * 4096 -> frame + i for i < pages, refcount 1. None may exist.
  void insert(std::uint64_t key, std::uint64_t frame, std::uint64_t pages, frame_kind kind) {
    lane& l = lane_for(key);
    if (pages <= max_run) {  // one run: joined to its neighbours in place
      insert_run(l, key, make(frame, pages, kind, 1));
      nodes_ += pages;
      return;
    }
    const std::uint64_t first_key = key;
    while (pages > 0) {
      const std::uint64_t n = std::min<std::uint64_t>(pages, max_run);
      l.runs.insert(key, make(frame, n, kind, 1));
      nodes_ += n;
      key += n * page_bytes;
      frame += n;
      pages -= n;
    }
    coalesce(l, first_key);
    coalesce(l, key - page_bytes);
  }

  /// refcount + 1 for the records key + i * 4096, i < pages; all must exist.
  void add_ref(std::uint64_t key, std::uint64_t pages) {
    lane& l = lane_for(key);
    if (auto p = within_one_run(l, key, pages)) {
      (void)retag(l, *p, key, pages, +1);
      return;
    }
    const std::uint64_t first_key = key;
    while (pages > 0) {
      auto p = isolate(l, key, pages);
      run& r = l.runs.value(p);
      ++r.refs;
      const std::uint64_t n = pages_of(r);
      key += n * page_bytes;
      pages -= n;
    }
    coalesce(l, first_key);
    coalesce(l, key - page_bytes);
  }

  /// refcount - 1 for every record among key + i * 4096, i < pages (keys without a record
  /// are skipped, like vfio_unpin_page_external). Records that reach 0 are removed and
  /// f(pin_run_view) is called for each removed stretch (refs in the view is 0).
  template <class F>
  void drop_ref(std::uint64_t key, std::uint64_t pages, F&& f) {
    lane* l = find_lane(key);
    if (l == nullptr) return;
    if (auto p = within_one_run(*l, key, pages)) {
      const run r = retag(*l, *p, key, pages, -1);
      if (r.refs == 0) {
        nodes_ -= pages;
        if (l->runs.empty()) drop_empty_lanes();
        f(view(key, r));
      }
      return;
    }
    const std::uint64_t first_key = key;
    while (pages > 0) {
      auto c = covering(key);
      if (!c) {
        const std::uint64_t gap = gap_pages(key, pages);
        if (gap >= pages) break;
        key += gap * page_bytes;
        pages -= gap;
        continue;
      }
      auto p = isolate(*l, key, pages);
      run& r = l->runs.value(p);
      const std::uint64_t n = pages_of(r);
      if (--r.refs == 0) {
        const pin_run_view freed = view(key, r);
        l->runs.erase(p);
        nodes_ -= n;
        f(freed);
      }
      key += n * page_bytes;
      pages -= n;
    }
    coalesce(*l, first_key);
    coalesce(*l, key - page_bytes);
    drop_empty_lanes();
  }

  /// Records with a key exactly equal to iova + i * 4096, i < pages (the per-page
  /// vfio_find_vpfn() test of vfio_pin_pages_remote before ~6.17).
  [[nodiscard]] std::uint64_t count_exact(std::uint64_t iova0, std::uint64_t pages) const noexcept {
    const lane* l = find_lane(iova0);
    if (l == nullptr || pages == 0) return 0;
    return count_in_lane(*l, iova0, iova0 + (pages - 1) * page_bytes);
  }

  /// Record nodes with a key in [lo, hi] (vpfn_pages(), ~6.17+).
  [[nodiscard]] std::uint64_t count_in(std::uint64_t lo, std::uint64_t hi) const noexcept {
    std::uint64_t total = 0;
    for (const lane& l : lanes_) {
      // The lane's keys congruent to its phase inside [lo, hi].
      const std::uint64_t ph = l.phase;
      std::uint64_t a = (lo & ~(page_bytes - 1)) | ph;
      if (a < lo) {
        if (a > ~std::uint64_t{0} - page_bytes) continue;
        a += page_bytes;
      }
      if (a > hi) continue;
      total += count_in_lane(l, a, a + ((hi - a) / page_bytes) * page_bytes);
    }
    return total;
  }

  /// f(pin_run_view) for every run, lane by lane, in key order within a lane.
  template <class F>
  void for_each(F&& f) const {
    for (const lane& l : lanes_) l.runs.for_each([&](std::uint64_t k, const run& r) { f(view(k, r)); });
  }

  /// Removes every record without releasing anything (the caller already did).
  void clear() noexcept {
    lanes_.clear();
    nodes_ = 0;
  }

  /// Heap bytes held, for the memory benchmarks.
  [[nodiscard]] std::size_t heap_bytes() const noexcept {
    std::size_t b = lanes_.capacity() * sizeof(lane);
    for (const lane& l : lanes_) b += l.runs.heap_bytes();
    return b;
  }

 private:
  static std::uint64_t phase_of(std::uint64_t key) noexcept { return key & (page_bytes - 1); }

  const lane* find_lane(std::uint64_t key) const noexcept {
    for (const lane& l : lanes_)
      if (l.phase == phase_of(key)) return &l;
    return nullptr;
  }
  lane* find_lane(std::uint64_t key) noexcept {
    for (lane& l : lanes_)
      if (l.phase == phase_of(key)) return &l;
    return nullptr;
  }
  lane& lane_for(std::uint64_t key) {
    if (lane* l = find_lane(key)) return *l;
    lanes_.push_back(lane{phase_of(key), index{}});
    return lanes_.back();
  }
  void drop_empty_lanes() noexcept {
    std::erase_if(lanes_, [](const lane& l) { return l.runs.empty(); });
  }

  /// True if run b continues run a (keys, frames, kind, refcount) and the sum fits a run.
  static bool continues(std::uint64_t ka, const run& a, std::uint64_t kb, const run& b) noexcept {
    const std::uint64_t na = pages_of(a);
    return kind_of(a) == kind_of(b) && a.refs == b.refs && a.frame + na == b.frame &&
           na + pages_of(b) <= max_run && ka + na * page_bytes == kb;
  }
  static void grow(run& r, std::uint64_t by) noexcept {
    r.pages_kind = static_cast<std::uint32_t>(pages_of(r) + by) |
                   (static_cast<std::uint32_t>(kind_of(r)) << 30);
  }

  /// The run holding every record key + i * 4096, i < pages, if one does.
  static std::optional<index::position> within_one_run(const lane& l, std::uint64_t key,
                                                       std::uint64_t pages) noexcept {
    auto p = l.runs.floor(key);
    if (!p || pages == 0) return std::nullopt;
    const std::uint64_t off = (key - l.runs.key(*p)) / page_bytes;
    const std::uint64_t n = pages_of(l.runs.value(*p));
    if (off >= n || pages > n - off) return std::nullopt;
    return p;
  }

  /// Inserts run nr at key (none of its keys exist), joined to equal neighbours: the result
  /// is what insert + coalesce gives (merged with the next run first, then the previous).
  static void insert_run(lane& l, std::uint64_t key, run nr) {
    const auto at = l.runs.locate(key);
    const auto p = l.runs.floor_at(at);
    const auto q = l.runs.above_at(at);
    const bool to_next = q && continues(key, nr, l.runs.key(*q), l.runs.value(*q));
    if (to_next) {
      run& rq = l.runs.value(*q);
      rq.frame = nr.frame;
      grow(rq, pages_of(nr));
      l.runs.set_key(*q, key);
      if (p && continues(l.runs.key(*p), l.runs.value(*p), key, rq)) {
        grow(l.runs.value(*p), pages_of(rq));
        l.runs.erase(*q);
      }
      return;
    }
    if (p && continues(l.runs.key(*p), l.runs.value(*p), key, nr)) {
      grow(l.runs.value(*p), pages_of(nr));
      return;
    }
    l.runs.insert_at(at, key, nr);
  }

  /// refcount + delta (+1 or -1) for the records key + i * 4096, i < pages, all in the run
  /// at p; a record reaching 0 is removed. Splits the run where the refcount changes and
  /// joins equal neighbours, leaving the canonical form isolate + coalesce gives. Returns
  /// the changed stretch (refs 0: it was removed).
  static run retag(lane& l, index::position p, std::uint64_t key, std::uint64_t pages, int delta) {
    const std::uint64_t k0 = l.runs.key(p);
    const run r = l.runs.value(p);
    const std::uint64_t off = (key - k0) / page_bytes;
    const std::uint64_t tail = pages_of(r) - off - pages;
    const run mid = make(r.frame + off, pages, kind_of(r), r.refs + static_cast<std::uint32_t>(delta));
    const std::uint64_t after_key = key + pages * page_bytes;
    const auto tail_run = [&] { return make(mid.frame + pages, tail, kind_of(r), r.refs); };
    if (mid.refs == 0) {  // the stretch goes: no neighbour can join across the gap
      if (off == 0 && tail == 0) {
        l.runs.erase(p);
      } else if (off == 0) {
        l.runs.value(p) = tail_run();
        l.runs.set_key(p, after_key);
      } else {
        l.runs.value(p) = make(r.frame, off, kind_of(r), r.refs);
        if (tail != 0) l.runs.insert(after_key, tail_run());
      }
      return mid;
    }
    if (off != 0 && tail != 0) {  // three runs; the middle one differs from both sides
      l.runs.value(p) = make(r.frame, off, kind_of(r), r.refs);
      const auto m = l.runs.insert(key, mid);
      l.runs.insert_at({m.leaf, m.slot + 1}, after_key, tail_run());
      return mid;
    }
    if (off == 0 && tail != 0) {  // the front changes: it may join the previous run
      const auto q = l.runs.prev(p);
      if (q && continues(l.runs.key(*q), l.runs.value(*q), key, mid)) {
        grow(l.runs.value(*q), pages);
        l.runs.value(p) = tail_run();
        l.runs.set_key(p, after_key);
      } else {
        l.runs.value(p) = mid;
        l.runs.insert(after_key, tail_run());
      }
      return mid;
    }
    if (off != 0) {  // the back changes: it may join the next run
      const auto q = l.runs.next(p);
      l.runs.value(p) = make(r.frame, off, kind_of(r), r.refs);
      if (q && continues(key, mid, l.runs.key(*q), l.runs.value(*q))) {
        run& rq = l.runs.value(*q);
        rq.frame = mid.frame;
        grow(rq, pages);
        l.runs.set_key(*q, key);
      } else {
        l.runs.insert(key, mid);
      }
      return mid;
    }
    // The whole run changes: it may join the next run, then the previous one.
    l.runs.value(p) = mid;
    if (const auto q = l.runs.next(p); q && continues(k0, mid, l.runs.key(*q), l.runs.value(*q))) {
      grow(l.runs.value(p), pages_of(l.runs.value(*q)));
      l.runs.erase(*q);
    }
    if (const auto q = l.runs.prev(p); q && continues(l.runs.key(*q), l.runs.value(*q), k0, l.runs.value(p))) {
      grow(l.runs.value(*q), pages_of(l.runs.value(p)));
      l.runs.erase(p);
    }
    return mid;
  }

  /// Splits runs so that one run starts at `key` and holds at most `pages` records; returns it.
  index::position isolate(lane& l, std::uint64_t key, std::uint64_t pages) {
    auto p = *l.runs.floor(key);
    std::uint64_t first = l.runs.key(p);
    if (first != key) {
      run& r = l.runs.value(p);
      const std::uint64_t off = (key - first) / page_bytes;
      const run tail = make(r.frame + off, pages_of(r) - off, kind_of(r), r.refs);
      r = make(r.frame, off, kind_of(r), r.refs);
      p = l.runs.insert(key, tail);
    }
    run& r = l.runs.value(p);
    if (pages_of(r) > pages) {
      const run tail = make(r.frame + pages, pages_of(r) - pages, kind_of(r), r.refs);
      r = make(r.frame, pages, kind_of(r), r.refs);
      l.runs.insert(key + pages * page_bytes, tail);
      p = *l.runs.find(key);
    }
    return p;
  }

  /// Merges the run holding `key` with equal neighbours on both sides.
  static void coalesce(lane& l, std::uint64_t key) noexcept {
    auto p = l.runs.floor(key);
    if (!p) return;
    if (auto q = l.runs.next(*p)) (void)try_merge(l, *p, *q);
    p = l.runs.floor(key);
    if (!p) return;
    if (auto q = l.runs.prev(*p)) (void)try_merge(l, *q, *p);
  }
  /// Merges b into a if they continue each other; true if merged.
  static bool try_merge(lane& l, index::position a, index::position b) noexcept {
    run& ra = l.runs.value(a);
    const run& rb = l.runs.value(b);
    const std::uint64_t na = pages_of(ra);
    if (kind_of(ra) != kind_of(rb) || ra.refs != rb.refs || ra.frame + na != rb.frame ||
        na + pages_of(rb) > max_run || l.runs.key(a) + na * page_bytes != l.runs.key(b))
      return false;
    ra.pages_kind = static_cast<std::uint32_t>(na + pages_of(rb)) |
                    (static_cast<std::uint32_t>(kind_of(ra)) << 30);
    l.runs.erase(b);
    return true;
  }

  /// Record keys in [lo, hi] of one lane; lo and hi have the lane's phase.
  static std::uint64_t count_in_lane(const lane& l, std::uint64_t lo, std::uint64_t hi) noexcept {
    std::uint64_t total = 0;
    auto p = l.runs.floor(lo);
    if (!p) p = l.runs.first();
    for (; p; p = l.runs.next(*p)) {
      const std::uint64_t k = l.runs.key(*p);
      if (k > hi) break;
      const run& r = l.runs.value(*p);
      const std::uint64_t last = k + (pages_of(r) - 1) * page_bytes;
      if (last < lo) continue;
      const std::uint64_t a = std::max(k, lo);
      const std::uint64_t b = std::min(last, hi);
      total += (b - a) / page_bytes + 1;
    }
    return total;
  }

  std::vector<lane> lanes_;
  std::uint64_t nodes_ = 0;
};

}  // namespace vfiopin::mock::detail

#endif  // VFIOPIN_MOCK_PIN_RECORDS_HPP
