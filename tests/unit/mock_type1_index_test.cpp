// SPDX-License-Identifier: Apache-2.0
//
// The data structures behind the mock type1 container, each against a naive std::map model
// with random operations: ordered_index (the dma tree of vfio_find_dma /
// vfio_find_dma_first_node, the page tables), pin_records (dma->pfn_list of struct vfio_pfn:
// vfio_find_vpfn, vfio_iova_get_vfio_pfn, vfio_iova_put_vfio_pfn, vpfn_pages) and the mock
// iommu_domain (iommu_map, iommu_unmap, iommu_iova_to_phys, the START/LAST rule of the
// iommufd selftest mock domain).
#include "tests/support/catch.hpp"

#include <vfiopin/mock/domain.hpp>
#include <vfiopin/mock/dma_index.hpp>
#include <vfiopin/mock/pin_records.hpp>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <random>
#include <utility>
#include <vector>

using namespace vfiopin;
using namespace vfiopin::mock;
using namespace vfiopin::mock::detail;

TEST_CASE("ordered_index against std::map: insert, erase, floor, lower_bound, walk",
          "[mock][type1][index]") {
  std::mt19937_64 rng(42);
  ordered_index<std::uint64_t, 16> idx;
  std::map<std::uint64_t, std::uint64_t> model;
  for (int step = 0; step < 20000; ++step) {
    const std::uint64_t k = rng() % 4000 * 16;
    const auto op = rng() % 10;
    if (op < 5) {
      if (!model.count(k)) {
        const auto p = idx.insert(k, k * 3);
        CHECK(idx.key(p) == k);
        model[k] = k * 3;
      }
    } else if (op < 8) {
      if (auto p = idx.find(k)) {
        idx.erase(*p);
        model.erase(k);
      } else {
        CHECK(model.count(k) == 0);
      }
    } else {
      // floor / lower_bound / upper_bound against the model
      auto f = idx.floor(k);
      auto mf = model.upper_bound(k);
      if (mf == model.begin()) {
        CHECK_FALSE(f.has_value());
      } else {
        REQUIRE(f.has_value());
        CHECK(idx.key(*f) == std::prev(mf)->first);
        CHECK(idx.value(*f) == std::prev(mf)->second);
      }
      auto lb = idx.lower_bound(k);
      auto mlb = model.lower_bound(k);
      CHECK(lb.has_value() == (mlb != model.end()));
      if (lb && mlb != model.end()) CHECK(idx.key(*lb) == mlb->first);
      auto ub = idx.upper_bound(k);
      auto mub = model.upper_bound(k);
      CHECK(ub.has_value() == (mub != model.end()));
      if (ub && mub != model.end()) CHECK(idx.key(*ub) == mub->first);
    }
    REQUIRE(idx.size() == model.size());
  }
  // In-order walk both ways.
  std::vector<std::uint64_t> fwd;
  for (auto p = idx.first(); p; p = idx.next(*p)) fwd.push_back(idx.key(*p));
  std::vector<std::uint64_t> expect;
  for (const auto& kv : model) expect.push_back(kv.first);
  CHECK(fwd == expect);
  std::vector<std::uint64_t> back;
  for (auto p = idx.last(); p; p = idx.prev(*p)) back.push_back(idx.key(*p));
  std::reverse(back.begin(), back.end());
  CHECK(back == expect);
}

TEST_CASE("ordered_index: one descent (locate, floor_at, above_at, insert_at), floor_entry, "
          "set_key against std::map",
          "[mock][type1][index]") {
  std::mt19937_64 rng(1234);
  ordered_index<std::uint64_t, 16> idx;
  std::map<std::uint64_t, std::uint64_t> model;
  const std::uint64_t top = ~std::uint64_t{0};
  for (int step = 0; step < 30000; ++step) {
    // Mostly small keys; now and then keys at the very top (k = 2^64 - 1 included).
    const std::uint64_t k = rng() % 16 == 0 ? top - rng() % 40 : rng() % 3000 * 8;
    const auto c = idx.locate(k);
    const auto fl = idx.floor_at(c);
    const auto ab = idx.above_at(c);
    const auto e = idx.floor_entry(k);
    const auto mub = model.upper_bound(k);
    if (mub == model.begin()) {
      CHECK_FALSE(fl.has_value());
      CHECK(e.value == nullptr);
    } else {
      const auto mf = std::prev(mub);
      REQUIRE(fl.has_value());
      CHECK(idx.key(*fl) == mf->first);
      REQUIRE(e.value != nullptr);
      CHECK(e.key == mf->first);
      CHECK(*e.value == mf->second);
    }
    REQUIRE(ab.has_value() == (mub != model.end()));
    if (ab) CHECK(idx.key(*ab) == mub->first);
    const auto op = rng() % 4;
    if (op < 2 && model.count(k) == 0) {
      const auto p = idx.insert_at(c, k, k ^ 0x5a5a);
      CHECK(idx.key(p) == k);
      CHECK(idx.value(p) == (k ^ 0x5a5a));
      model[k] = k ^ 0x5a5a;
    } else if (op == 2 && fl && idx.key(*fl) == k) {
      idx.erase(*fl);
      model.erase(k);
    } else if (op == 3 && fl) {
      // Move the floor's key up by one where that keeps the order.
      const std::uint64_t old = idx.key(*fl);
      const auto nx = model.upper_bound(old);
      if (old != top && (nx == model.end() || nx->first > old + 1)) {
        idx.set_key(*fl, old + 1);
        const std::uint64_t v = model[old];
        model.erase(old);
        model[old + 1] = v;
      }
    }
    REQUIRE(idx.size() == model.size());
    if (step % 1000 == 999) {
      std::vector<std::pair<std::uint64_t, std::uint64_t>> got;
      idx.for_each([&](std::uint64_t key, std::uint64_t v) { got.emplace_back(key, v); });
      CHECK(got == std::vector<std::pair<std::uint64_t, std::uint64_t>>(model.begin(), model.end()));
      // Every key is found again through the separator search.
      for (const auto& kv : model) CHECK(idx.find(kv.first).has_value());
    }
  }
}

TEST_CASE("ordered_index: ascending inserts fill leaves densely (bytes per entry)",
          "[mock][type1][index]") {
  ordered_index<std::uint64_t, 64> idx;
  for (std::uint64_t i = 0; i < 65535; ++i) idx.insert(i * 4096, i);
  // 16 bytes of payload per entry; a dense leaf adds only its header.
  CHECK(idx.heap_bytes() / idx.size() < 20);
  CHECK(idx.floor(0xfffffffffffff000)->slot == idx.last()->slot);
}

namespace {
/// The naive model: one entry per record key.
struct rec {
  std::uint64_t frame;
  std::uint32_t refs;
};
using pin_model = std::map<std::uint64_t, rec>;

/// vfio_pin_pages over n keys from k0 on both: existing records get a ref, the gaps new
/// records (frame_at(key) is the frame of a new record; frames are contiguous in a gap).
template <class FrameAt>
void pin_both(pin_records& pr, pin_model& model, std::uint64_t k0, std::uint64_t n, FrameAt frame_at) {
  for (std::uint64_t i = 0; i < n;) {
    const std::uint64_t k = k0 + i * 4096;
    if (auto c = pr.covering(k)) {
      const std::uint64_t m = std::min(n - i, (c->last_key() - k) / 4096 + 1);
      pr.add_ref(k, m);
      for (std::uint64_t j = 0; j < m; ++j) ++model[k + j * 4096].refs;
      i += m;
    } else {
      const std::uint64_t m = pr.gap_pages(k, n - i);
      REQUIRE(m > 0);
      const std::uint64_t frame = frame_at(k);
      pr.insert(k, frame, m, frame_kind::page);
      for (std::uint64_t j = 0; j < m; ++j) model[k + j * 4096] = rec{frame + j, 1};
      i += m;
    }
  }
}

/// vfio_unpin_pages over n keys from k0 on both; the stretches freed must be the records
/// whose refcount reached 0, with their frames.
void unpin_both(pin_records& pr, pin_model& model, std::uint64_t k0, std::uint64_t n) {
  std::uint64_t freed = 0;
  pr.drop_ref(k0, n, [&](const pin_run_view& v) {
    CHECK(v.refs == 0);
    freed += v.pages;
    for (std::uint64_t j = 0; j < v.pages; ++j) {
      auto it = model.find(v.key + j * 4096);
      REQUIRE(it != model.end());
      CHECK(it->second.refs == 1);
      CHECK(it->second.frame == v.frame + j);
    }
  });
  std::uint64_t expect_freed = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    auto it = model.find(k0 + i * 4096);
    if (it == model.end()) continue;
    if (--it->second.refs == 0) {
      model.erase(it);
      ++expect_freed;
    }
  }
  CHECK(freed == expect_freed);
}
}  // namespace

TEST_CASE("pin_records against one std::map node per record (vfio_pfn)", "[mock][type1][pins]") {
  std::mt19937_64 rng(7);
  pin_records pr;
  std::map<std::uint64_t, rec> model;
  const std::uint64_t base = 0x100000;
  auto key_of = [&](std::uint64_t page, bool odd) { return base + page * 4096 + (odd ? 0x800 : 0); };
  for (int step = 0; step < 20000; ++step) {
    const bool odd = rng() % 5 == 0;
    const std::uint64_t page = rng() % 200;
    const std::uint64_t n = 1 + rng() % 8;
    const std::uint64_t k0 = key_of(page, odd);
    const auto op = rng() % 3;
    if (op == 0) {
      // pfns contiguous within a gap, a jump elsewhere.
      pin_both(pr, model, k0, n, [](std::uint64_t k) {
        return 0x5000 + (k >> 12) * 2 + ((k & 0x800) != 0 ? 1 : 0);
      });
    } else if (op == 1) {
      unpin_both(pr, model, k0, n);
    } else {
      // Queries: covering, count_exact, count_in (vpfn_pages).
      const auto c = pr.covering(k0);
      const auto it = model.find(k0);
      REQUIRE(c.has_value() == (it != model.end()));
      if (c) {
        CHECK(c->frame + (k0 - c->key) / 4096 == it->second.frame);
        CHECK(c->refs == it->second.refs);
      }
      std::uint64_t exact = 0;
      for (std::uint64_t i = 0; i < n; ++i) exact += model.count(k0 + i * 4096);
      CHECK(pr.count_exact(k0, n) == exact);
      const std::uint64_t lo = base + page * 4096;
      const std::uint64_t hi = lo + n * 4096 - 1;
      std::uint64_t in = 0;
      for (auto m = model.lower_bound(lo); m != model.end() && m->first <= hi; ++m) ++in;
      CHECK(pr.count_in(lo, hi) == in);
    }
    REQUIRE(pr.node_count() == model.size());
  }
  // Runs stay compact: far fewer runs than records.
  std::uint64_t runs = 0;
  pr.for_each([&](const pin_run_view&) { ++runs; });
  CHECK(runs <= model.size());
}

TEST_CASE("pin_records: runs stay maximal under single-page and batch pins and unpins",
          "[mock][type1][pins]") {
  // One record per key in the model; the expected runs are the maximal stretches of records
  // with consecutive keys, consecutive frames and equal refcounts (what vfio_pfn nodes look
  // like when grouped), computed from the model alone.
  std::mt19937_64 rng(99);
  pin_records pr;
  pin_model model;
  const std::uint64_t base = 0x40000000;
  auto frame_of = [&](std::uint64_t k) { return 0x9000 + (k - base) / 4096; };  // frames follow keys
  auto expected_runs = [&] {
    std::vector<pin_run_view> out;
    for (const auto& [k, r] : model) {
      if (!out.empty()) {
        pin_run_view& b = out.back();
        if (b.key + b.pages * 4096 == k && b.frame + b.pages == r.frame && b.refs == r.refs) {
          ++b.pages;
          continue;
        }
      }
      out.push_back(pin_run_view{k, r.frame, 1, frame_kind::page, r.refs});
    }
    return out;
  };
  for (int step = 0; step < 30000; ++step) {
    const std::uint64_t page = rng() % 96;
    const std::uint64_t n = rng() % 4 == 0 ? 1 + rng() % 12 : 1;
    const std::uint64_t k0 = base + page * 4096;
    if (rng() % 2 == 0) {
      pin_both(pr, model, k0, n, frame_of);
    } else {
      unpin_both(pr, model, k0, n);
    }
    REQUIRE(pr.node_count() == model.size());
    std::vector<pin_run_view> got;
    pr.for_each([&](const pin_run_view& v) { got.push_back(v); });
    const auto want = expected_runs();
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].key == want[i].key);
      CHECK(got[i].frame == want[i].frame);
      CHECK(got[i].pages == want[i].pages);
      CHECK(got[i].refs == want[i].refs);
    }
  }
  CHECK(pr.empty() == model.empty());
}

TEST_CASE("pin_records: a dense pin of contiguous frames is one run (bytes per pinned page)",
          "[mock][type1][pins]") {
  pin_records pr;
  pr.insert(0x100000, 0x9000, 512, frame_kind::page);
  pr.insert(0x400000, 0x9200, 512, frame_kind::page);  // keys not adjacent: two runs
  pr.add_ref(0x100000 + 10 * 4096, 3);                 // splits into three, refs 1/2/1
  std::uint64_t runs = 0;
  pr.for_each([&](const pin_run_view&) { ++runs; });
  CHECK(runs == 4);
  pr.drop_ref(0x100000 + 10 * 4096, 3, [](const pin_run_view&) { FAIL("nothing reaches 0"); });
  runs = 0;
  pr.for_each([&](const pin_run_view&) { ++runs; });
  CHECK(runs == 2);  // merged back
  CHECK(pr.node_count() == 1024);
  CHECK(static_cast<double>(pr.heap_bytes()) / 1024.0 <= 4.0);
}

TEST_CASE("iommu_domain: map, translate, contiguous runs, START/LAST rule",
          "[mock][type1][domain]") {
  domain_class cfg;
  iommu_domain dom(0, cfg);
  REQUIRE(dom.map(0x100000, 0x5000, 2, prot::read_write, frame_kind::page, nullptr));
  REQUIRE(dom.map(0x102000, 0x5002, 2, prot::read_write, frame_kind::page, nullptr));
  REQUIRE(dom.map(0x104000, 0x9000, 1, prot::read, frame_kind::page, nullptr));
  CHECK(to_errno(dom.map(0x101000, 0x1, 1, prot::read, frame_kind::page, nullptr).error()) == EEXIST);
  CHECK(to_errno(dom.map(0x8000000000, 0x1, 1, prot::read, frame_kind::page, nullptr).error()) == EFAULT);
  const auto t = dom.translate(0x103abc);
  REQUIRE(t);
  CHECK(t->frame == 0x5003);
  const auto run = dom.run_at(0x100000, 0x104fff);
  REQUIRE(run);
  CHECK(run->pages == 4);  // two maps, physically contiguous
  CHECK(dom.violations().size() == 1);  // the EEXIST map
  // Unmapping whole maps is fine; splitting one is a violation (still done).
  CHECK(dom.unmap(0x100000, 0x103fff) == 0x4000);
  CHECK(dom.violations().size() == 1);
  REQUIRE(dom.map(0x200000, 0x7000, 4, prot::read, frame_kind::page, nullptr));
  CHECK(dom.unmap(0x201000, 0x201fff) == 0x1000);
  CHECK(dom.violations().size() == 2);
  CHECK(dom.translate(0x200000)->frame == 0x7000);
  CHECK(dom.translate(0x202000)->frame == 0x7002);
  CHECK_FALSE(dom.translate(0x201000).has_value());
  fault_injector fi;
  fi.arm(1);
  CHECK(to_errno(dom.map(0x300000, 0x1, 1, prot::read, frame_kind::page, &fi).error()) == ENOMEM);
}
