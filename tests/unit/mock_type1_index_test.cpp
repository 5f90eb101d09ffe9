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

#include <cstdint>
#include <iterator>
#include <map>
#include <random>
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
      // vfio_pin_pages over n keys: existing records get a ref, the gaps new records.
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
          // pfns contiguous within the gap, a jump elsewhere.
          const std::uint64_t frame = 0x5000 + (k >> 12) * 2 + (odd ? 1 : 0);
          pr.insert(k, frame, m, frame_kind::page);
          for (std::uint64_t j = 0; j < m; ++j) model[k + j * 4096] = rec{frame + j, 1};
          i += m;
        }
      }
    } else if (op == 1) {
      std::uint64_t freed = 0;
      pr.drop_ref(k0, n, [&](const pin_run_view& v) {
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
