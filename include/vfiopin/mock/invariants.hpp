// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/invariants.hpp: check_invariants(), the mock type1 container's self-check.
//
// Theory of operation. check_invariants(t) evaluates, under the container lock, the
// properties of spec §9 that a type1 model must keep, and returns one line per violation
// (empty: all hold). Tests call it after every step; the fuzzers after every operation,
// together with check_exclusive_process() as check_invariants_exclusive() (one lock, which
// an optional reader of the checked state shares).
// Numbers refer to spec §9.
//   1  dmas are disjoint and ordered (closed intervals, so a dma may end at 2^64-1)
//   2  every dma has size > 0 and 4 KiB-aligned iova, vaddr and size
//   3  |D| + dma_avail == dma_entry_limit sampled at open
//   4  with a non-empty IOVA list, each dma lies inside one list node; the list is sorted
//      and disjoint
//   5  pin records lie in their dma (or in the page before it: vfio_find_dma(iova,
//      PAGE_SIZE) matches an unaligned key just below a dma) and have refcount >= 1
//   13 pin conservation against the process: for every frame, GUP pins held by the model
//      = records (non-rsvd) + mapped dma pages (once per page, whatever the number of
//      domains); reserved and MMIO frames hold none; the totals match exactly
//   14 accounting: Σ dma.locked_vm + residual == what the model charged the process, and
//      per dma: mapped -> non-rsvd mapped pages, unmapped -> non-rsvd records (dmas whose
//      records have unaligned keys are exempt: the kernel's counting then differs, H1b; so
//      are dmas whose reaccounting charge failed over RLIMIT_MEMLOCK, which the kernel
//      ignores)
//   16 every iommu_mapped dma is translated page for page identically in every domain,
//      with the dma's prot; no domain translates anything else; no START/LAST violation
//   17 every page-table extent has one frame kind (by construction; checked)
//   20 vaddr_invalid_count == number of invalidated dmas
//   21 num_non_pinned_groups == real groups without pinned_page_dirty_scope; emulated
//      groups always have it
//   22 dirty bits exist only while tracking
//   -  structure: no domain without groups, no domain of a class twice, pgsize_bitmap is
//      the AND of the domains' (PAGE_MASK without), no IOMMU state while no driver is set
// Spec 6, 7 and 8 are properties of operations, checked by the tests around them.
// A violation's line is built out of line (report(), cold): the checks themselves hold no
// std::string, so under ASan their frames need no redzones and no fake stack, which was a
// twentieth of a fuzz input's time when every per-dma lambda carried one.
#ifndef VFIOPIN_MOCK_INVARIANTS_HPP
#define VFIOPIN_MOCK_INVARIANTS_HPP

#include <vfiopin/mock/type1.hpp>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <optional>
#include <utility>
#include <string>
#include <vector>

namespace vfiopin::mock {

namespace detail {

/// Appends the violation line `what`, followed by `at` in decimal if given, and by
/// " (dma at FIRST)" if `dma` is given.
[[gnu::cold, gnu::noinline]] inline void report(std::vector<std::string>& out, const char* what,
                                                std::optional<std::uint64_t> at = std::nullopt,
                                                std::optional<std::uint64_t> dma = std::nullopt) {
  std::string line(what);
  if (at) line += std::to_string(*at);
  if (dma) line += " (dma at " + std::to_string(*dma) + ")";
  out.push_back(std::move(line));
}
/// "13: frame F holds fewer pins than the model's".
[[gnu::cold, gnu::noinline]] inline void report_short_frame(std::vector<std::string>& out,
                                                            std::uint64_t frame) {
  out.push_back("13: frame " + std::to_string(frame) + " holds fewer pins than the model's");
}
/// "<a><x><b><y>", for two totals that should agree.
[[gnu::cold, gnu::noinline]] inline void report_mismatch(std::vector<std::string>& out,
                                                         const char* a, std::uint64_t x,
                                                         const char* b, std::uint64_t y) {
  out.push_back(a + std::to_string(x) + b + std::to_string(y));
}
/// The same for a message made elsewhere (a domain's own violations).
[[gnu::cold, gnu::noinline]] inline void report_prefixed(std::vector<std::string>& out,
                                                         const char* prefix, const std::string& what) {
  out.push_back(prefix + what);
}

template <class Memory>
void check_structure(const type1_state<Memory>& s, std::vector<std::string>& out) {
  auto bad = [&](const char* m) { report(out, m); };
  if (!s.iommu_set) {
    if (!s.dmas.empty() || !s.domains.empty() || !s.emulated_groups.empty())
      bad("state without an IOMMU driver set");
    return;
  }
  if (s.dmas.size() + s.dma_avail != s.dma_limit) bad("3: |D| + dma_avail != dma_entry_limit");
  std::uint64_t expect_bitmap = ~std::uint64_t{0};
  std::uint64_t non_pinned = 0;
  for (std::size_t i = 0; i < s.domains.size(); ++i) {
    const auto& dom = *s.domains[i];
    if (dom.groups.empty()) bad("domain without groups");
    for (std::size_t j = i + 1; j < s.domains.size(); ++j)
      if (s.domains[j]->class_id() == dom.class_id()) bad("two domains of one class");
    for (const auto& g : dom.groups) non_pinned += g.pinned_page_dirty_scope ? 0 : 1;
    expect_bitmap &= dom.config().pgsize_bitmap;
    for (const auto& v : dom.violations()) report_prefixed(out, "domain: ", v);
  }
  if (expect_bitmap & ~page_mask) expect_bitmap = (expect_bitmap & page_mask) | page_bytes;
  if (s.pgsize_bitmap != expect_bitmap) bad("pgsize_bitmap is not the AND of the domains'");
  for (const auto& g : s.emulated_groups)
    if (!g.pinned_page_dirty_scope) bad("21: emulated group without pinned_page_dirty_scope");
  if (non_pinned != s.num_non_pinned_groups) bad("21: num_non_pinned_groups mismatch");
  for (std::size_t i = 0; i + 1 < s.iova_list.size(); ++i)
    if (s.iova_list[i].last() >= s.iova_list[i + 1].first()) bad("4: IOVA list not sorted/disjoint");
}

template <class Memory>
void check_dmas(const type1_state<Memory>& s, std::vector<std::string>& out) {
  bool have_prev = false;
  std::uint64_t prev_last = 0;
  std::uint64_t invalid = 0;
  s.dmas.for_each([&](std::uint64_t first, const dma_record& d) {
    const auto bad = [&](const char* m) { report(out, m, std::nullopt, first); };
    if (d.last() < first) bad("2: empty or inverted dma");
    if (have_prev && prev_last >= first) bad("1: overlapping dmas");
    have_prev = true;
    prev_last = d.last();
    if ((first | d.vaddr() | (d.last() + 1)) & (page_bytes - 1)) bad("2: unaligned dma");
    if (d.vaddr() + (d.last() - first) < d.vaddr()) bad("2: vaddr range wraps");
    if (d.vaddr_invalid()) ++invalid;
    if (!s.iova_list.empty()) {
      bool inside = false;
      for (const auto& n : s.iova_list)
        inside |= first >= n.first().value() && d.last() <= n.last().value();
      if (!inside) bad("4: dma outside the IOVA list");
    }
    if (d.iommu_mapped() != !s.domains.empty()) bad("16: iommu_mapped disagrees with the domains");
    if (const dma_ext* e = d.ext()) {
      e->pins.for_each([&](const pin_run_view& v) {
        if (v.refs == 0) bad("5: record with refcount 0");
        const std::uint64_t lo = first >= page_bytes - 1 ? first - (page_bytes - 1) : 0;
        if (v.key < lo || v.last_key() > d.last()) bad("5: record outside its dma");
      });
      if (!e->dirty.empty() && !s.dirty_tracking) bad("22: dirty bits while not tracking");
    }
  });
  if (invalid != s.vaddr_invalid_count) report(out, "20: vaddr_invalid_count mismatch");
}

template <class Memory>
void check_domains_and_pins(const type1_state<Memory>& s, std::vector<std::string>& out) {
  const auto bad = [&](const char* m, std::optional<std::uint64_t> at = std::nullopt) {
    report(out, m, at);
  };
  // GUP pins the model holds, as (first frame, pages) runs; summed per frame at the end by
  // a sweep over the run boundaries (no per-page allocation: this runs after every step,
  // and its two scratch vectors keep their capacity from one call to the next).
  thread_local std::vector<std::pair<std::uint64_t, std::uint64_t>> expected;
  expected.clear();
  // Page tables: the first domain is the reference; every other must be identical per page.
  if (!s.domains.empty()) {
    const iommu_domain& ref = *s.domains.front();
    std::uint64_t translated = 0;
    s.dmas.for_each([&](std::uint64_t first, const dma_record& d) {
      std::uint64_t nonrsvd = 0;
      for (std::uint64_t at = first;;) {
        auto run = ref.run_at(at, d.last());
        if (!run) {
          bad("16: untranslated page in a mapped dma at ", at);
          break;
        }
        if (run->access != d.access()) bad("16: prot differs from the dma's at ", at);
        const std::uint64_t run_last = at + (run->pages * page_bytes - 1);
        // Every other domain, run by run: the same frames over [at, run_last]. Its runs
        // end where its frames stop being contiguous, so a mismatch shows at the exact
        // first differing iova.
        for (std::size_t i = 1; i < s.domains.size(); ++i) {
          std::uint64_t a = at, frame = run->frame, left = run->pages;
          while (left != 0) {
            auto o = s.domains[i]->run_at(a, run_last);
            if (!o || o->frame != frame) {
              bad("16: domains disagree at ", a);
              break;
            }
            left -= o->pages;  // o ends at or before run_last: o->pages <= left
            frame += o->pages;
            a += o->pages * page_bytes;  // wraps to 0 only when left reaches 0
          }
        }
        if (run->kind == frame_kind::page) {
          nonrsvd += run->pages;
          expected.emplace_back(run->frame, run->pages);
        }
        translated += run->pages;
        if (run_last >= d.last()) break;
        at = run_last + 1;
      }
      if (!d.acct_quirk() && d.locked_vm() != nonrsvd)
        bad("14: locked_vm of a mapped dma is not its non-rsvd page count at ", first);
    });
    for (const auto& dom : s.domains) {
      std::uint64_t n = 0;
      dom->for_each([&](std::uint64_t a, std::uint64_t b, std::uint64_t, prot, frame_kind) { n += (b - a) / page_bytes + 1; });
      if (n != translated) bad("16: a domain translates iovas outside the mapped dmas");
    }
  }
  s.dmas.for_each([&](std::uint64_t first, const dma_record& d) {
    std::uint64_t nonrsvd_records = 0;
    if (const dma_ext* e = d.ext())
      e->pins.for_each([&](const pin_run_view& v) {
        if (v.kind == frame_kind::page) {
          nonrsvd_records += v.pages;
          expected.emplace_back(v.frame, v.pages);
        }
      });
    if (s.domains.empty()) {
      if (!d.acct_quirk() && d.locked_vm() != nonrsvd_records)
        bad("14: locked_vm of an unmapped dma is not its non-rsvd record count at ", first);
    }
  });
  if constexpr (requires(pfn f) { s.mem->pincount(f); s.mem->total_pins(); }) {
    // Boundaries: +1 at a run's first frame, -1 after its last; between two consecutive
    // boundaries every frame holds the same expected count.
    thread_local std::vector<std::pair<std::uint64_t, std::int64_t>> edges;
    edges.clear();
    edges.reserve(expected.size() * 2);
    std::uint64_t total = 0;
    for (const auto& [f, n] : expected) {
      total += n;
      edges.emplace_back(f, 1);
      edges.emplace_back(f + n, -1);  // frames are far below 2^64: no wrap
    }
    std::sort(edges.begin(), edges.end());
    std::int64_t depth = 0;
    for (std::size_t i = 0; i < edges.size(); ++i) {
      depth += edges[i].second;
      if (depth <= 0 || i + 1 == edges.size()) continue;
      const auto need = static_cast<std::uint64_t>(depth);
      const std::uint64_t lo = edges[i].first, n = edges[i + 1].first - lo;
      if (n == 0) continue;
      if constexpr (requires { s.mem->first_short_of_pins(pfn(lo), n, std::uint32_t{1}); }) {
        // One pass over the frame table for the whole stretch (physmem's).
        const auto need32 = static_cast<std::uint32_t>(std::min<std::uint64_t>(need, UINT32_MAX));
        if (need > UINT32_MAX) {
          bad("13: more than 2^32-1 pins expected on frame ", lo);
        } else if (auto f = s.mem->first_short_of_pins(pfn(lo), n, need32)) {
          report_short_frame(out, f->value());
        }
      } else {
        for (std::uint64_t f = lo; f < lo + n; ++f)
          if (s.mem->pincount(pfn(f)) < need) {
            report_short_frame(out, f);
            break;
          }
      }
    }
    if (s.mem->total_pins() < total) bad("13: the process holds fewer pins than the model");
  }
}

template <class Memory>
void check_all(const type1_state<Memory>& s, std::vector<std::string>& out) {
  check_structure(s, out);
  check_dmas(s, out);
  check_domains_and_pins(s, out);
}

}  // namespace detail

/// Spec §9 invariants of t (empty: all hold). See the header comment.
template <class Memory>
[[nodiscard]] std::vector<std::string> check_invariants(const type1<Memory>& t) {
  return t.with_state([](const detail::type1_state<Memory>& s) {
    std::vector<std::string> out;
    detail::check_all(s, out);
    return out;
  });
}

namespace detail {

template <class Memory>
void check_exclusive(const type1_state<Memory>& s, std::vector<std::string>& out) {
  std::uint64_t pins = 0;
  std::uint64_t charged = s.residual_locked;
  if (!s.domains.empty()) {
    s.domains.front()->for_each([&](std::uint64_t a, std::uint64_t b, std::uint64_t, prot, frame_kind k) {
      if (k == frame_kind::page) pins += (b - a) / page_bytes + 1;
    });
  }
  s.dmas.for_each([&](std::uint64_t, const dma_record& d) {
    charged += d.locked_vm();
    if (const auto* e = d.ext())
      e->pins.for_each([&](const pin_run_view& v) {
        if (v.kind == frame_kind::page) pins += v.pages;
      });
  });
  if constexpr (requires { s.mem->total_pins(); }) {
    if (s.mem->total_pins() != pins)
      report_mismatch(out, "13: process pins ", s.mem->total_pins(), " != container pins ", pins);
  }
  const std::uint64_t mm = page_count(s.mem->locked_vm()).value();
  if (mm != charged) report_mismatch(out, "14: mm locked_vm ", mm, " != charged ", charged);
}

}  // namespace detail

/// For a process used by exactly one container, invariants 13 and 14 with equality: the
/// process's pins are exactly the container's, and its locked_vm is exactly
/// Σ dma.locked_vm + the residual of freed dmas ("13"/"14" lines if not).
template <class Memory>
[[nodiscard]] std::vector<std::string> check_exclusive_process(const type1<Memory>& t) {
  return t.with_state([](const detail::type1_state<Memory>& s) {
    std::vector<std::string> out;
    detail::check_exclusive(s, out);
    return out;
  });
}

/// check_invariants(t) and check_exclusive_process(t) under one lock, then then(state) under
/// the same lock: for a caller that reads the state it has just checked (the fuzzers' state
/// summary and operand tables), one lock per operation instead of one per question.
template <class Memory, class Then>
  requires std::invocable<Then&, const detail::type1_state<Memory>&>
[[nodiscard]] std::vector<std::string> check_invariants_exclusive(const type1<Memory>& t, Then&& then) {
  return t.with_state([&](const detail::type1_state<Memory>& s) {
    std::vector<std::string> out;
    detail::check_all(s, out);
    detail::check_exclusive(s, out);
    then(s);
    return out;
  });
}

/// The same without a reader (the fuzzers run one or the other after every operation).
template <class Memory>
[[nodiscard]] std::vector<std::string> check_invariants_exclusive(const type1<Memory>& t) {
  return check_invariants_exclusive(t, [](const detail::type1_state<Memory>&) {});
}

}  // namespace vfiopin::mock

#endif  // VFIOPIN_MOCK_INVARIANTS_HPP
