// SPDX-License-Identifier: Apache-2.0
//
// The mock type1 container's groups, domains, IOVA list and replay (spec §1, §5; kernel:
// vfio_iommu_type1_open, vfio_iommu_type1_attach_group, vfio_iommu_replay,
// vfio_iommu_type1_detach_group, vfio_iommu_unmap_unpin_reaccount, vfio_iommu_aper_resize,
// vfio_iommu_resv_exclude, vfio_iommu_type1_release).
#include "tests/unit/mock_type1_fixture.hpp"

#include <cerrno>

using namespace vfiopin;
using namespace vfiopin::mock;
using namespace vfiopin::mock::testing;

TEST_CASE("vfio_iommu_type1_attach_group: set at first attach, duplicates, same-class join",
          "[mock][type1][attach]") {
  fixture f;
  REQUIRE(f.t.attach_group(group_id{0}));
  CHECK(err_of(f.t.attach_group(group_id{0})) == EINVAL);
  const vaddr va = f.filled(64 * KiB);
  REQUIRE(f.map(0x100000, va, 64 * KiB));
  const auto pins = f.proc.total_pins();
  REQUIRE(f.t.attach_group(group_id{1}));  // same VT-d domain: no replay, no new pins
  CHECK(f.proc.total_pins() == pins);
  f.t.with_state([](const auto& s) {
    CHECK(s.domains.size() == 1);
    CHECK(s.num_non_pinned_groups == 2);
  });
  f.ok();
  CHECK(err_of(f.t.detach_group(group_id{7})) == EINVAL);
  REQUIRE(f.t.detach_group(group_id{0}));
  CHECK(f.t.mapping_count() == 1);  // the domain still has group 1
  REQUIRE(f.t.detach_group(group_id{1}));  // last group: everything goes, driver released
  CHECK(f.locked() == 0);
  CHECK(f.proc.total_pins() == 0);
  CHECK(err_of(f.map(0x100000, va, 64 * KiB)) == EINVAL);
  f.ok();
}

TEST_CASE("vfio_iommu_replay: a new domain class copies translations from the first domain",
          "[mock][type1][attach][replay]") {
  fixture f(iommu_type::type1v2, debian_6_1, two_iommus());
  REQUIRE(f.t.attach_group(group_id{0}));
  const vaddr va = f.filled(256 * KiB);
  REQUIRE(f.map(0x100000, va, 256 * KiB));
  const vaddr bar = f.mem(region_kind::bar, 64 * KiB);
  REQUIRE(f.map(0x200000, bar, 64 * KiB));
  CHECK(f.locked() == 64);
  CHECK(f.proc.total_pins() == 64);
  REQUIRE(f.t.attach_group(group_id{1}));
  CHECK(f.locked() == 64);           // no new charge
  CHECK(f.proc.total_pins() == 64);  // and no new pin: pfns only
  const auto info = f.t.info();
  REQUIRE(info);
  CHECK(info->iova_pgsizes == (0x40201000ULL & 0x201000ULL));
  const auto t0 = f.t.translate(group_id{0}, iova(0x200000));
  const auto t1 = f.t.translate(group_id{1}, iova(0x200000));
  REQUIRE(t0);
  REQUIRE(t1);
  CHECK(t0->frame == t1->frame);
  CHECK(t1->kind == frame_kind::no_page);
  f.ok();
  // Detaching the first domain's group leaves the mappings in the other domain.
  REQUIRE(f.t.detach_group(group_id{0}));
  CHECK(f.locked() == 64);
  CHECK(f.t.translate(group_id{1}, iova(0x100000)).has_value());
  f.ok();
}

TEST_CASE("vfio_iommu_replay: the first real domain after emulated pins pins again but does "
          "not charge pinned pages twice",
          "[mock][type1][attach][replay][accounting]") {
  fixture f;
  fake_device dev(f.t);
  REQUIRE(dev.attach());
  const vaddr va = f.filled(64 * KiB);
  REQUIRE(f.map(0x100000, va, 64 * KiB));
  REQUIRE(dev.pin(0x100000, 4));
  CHECK(f.locked() == 4);
  REQUIRE(f.t.attach_group(group_id{0}));
  CHECK(f.locked() == 16);                // 12 new + the 4 already charged
  CHECK(f.proc.total_pins() == 16 + 4);   // a second GUP pin for the 4
  f.ok();
  SECTION("the last real domain leaves: vfio_iommu_unmap_unpin_reaccount") {
    REQUIRE(f.t.detach_group(group_id{0}));
    CHECK(f.t.mapping_count() == 1);
    CHECK(f.locked() == 4);               // the records only
    CHECK(f.proc.total_pins() == 4);
    f.ok();
  }
  SECTION("unpin while the domain exists is not uncharged; the dma keeps the charge") {
    dev.unpin(0x100000, 4);
    CHECK(f.locked() == 16);
    CHECK(f.proc.total_pins() == 16);
    f.ok();
    REQUIRE(f.t.detach_group(group_id{0}));
    CHECK(f.locked() == 0);
    f.ok();
  }
  dev.detach();
  f.ok();
  CHECK(f.t.mapping_count() == 0);  // last group gone: released
}

TEST_CASE("vfio_iommu_replay: failure leaves pins and locked_vm exactly as before",
          "[mock][type1][attach][replay]") {
  fixture f;
  fake_device dev(f.t);
  REQUIRE(dev.attach());
  const vaddr va = f.filled(64 * KiB);
  REQUIRE(f.map(0x100000, va, 64 * KiB));
  REQUIRE(dev.pin(0x101000, 2));
  f.proc.set_cap_ipc_lock(false);
  // The dma was mapped with CAP_IPC_LOCK (lock_cap sampled then) -> add one without it.
  REQUIRE(f.map(0x200000, va, 64 * KiB));
  f.proc.set_memlock_limit(byte_count(20 * 4096));
  const auto before = f.t.state_dump();
  CHECK(err_of(f.t.attach_group(group_id{0})) == ENOMEM);  // 2 + 14 + 16 > 20
  CHECK(f.t.state_dump() == before);
  f.ok();
  dev.detach();
}

TEST_CASE("vfio_iommu_type1_attach_group: aperture and reserved-region conflicts, EPERM, EIO",
          "[mock][type1][attach]") {
  SECTION("a dma in the MSI window -> EINVAL (vfio_iommu_resv_conflict)") {
    fixture f;
    fake_device dev(f.t);
    REQUIRE(dev.attach());
    const vaddr va = f.filled(64 * KiB);
    REQUIRE(f.map(0xfee00000, va, 4 * KiB));
    CHECK(err_of(f.t.attach_group(group_id{0})) == EINVAL);
    f.ok();
    dev.detach();
  }
  SECTION("an emulated-only dma beyond 39 bits: no list, no conflict check; replay's "
          "intel_iommu_map refuses it -> EFAULT") {
    fixture f;
    fake_device dev(f.t);
    REQUIRE(dev.attach());
    const vaddr va = f.filled(64 * KiB);
    REQUIRE(f.map(0x10000000000, va, 64 * KiB));
    CHECK(err_of(f.t.attach_group(group_id{0})) == EFAULT);
    CHECK(f.locked() == 0);
    f.ok();
    dev.detach();
  }
  SECTION("a second domain whose aperture excludes an existing dma -> EINVAL") {
    geometry g = two_iommus();
    g.classes[1].aperture = *interval<iova>::from_bounds(iova(0), iova(0xfffff));
    fixture f(iommu_type::type1v2, debian_6_1, g);
    REQUIRE(f.t.attach_group(group_id{0}));
    const vaddr va = f.filled(64 * KiB);
    REQUIRE(f.map(0x100000, va, 64 * KiB));
    CHECK(err_of(f.t.attach_group(group_id{1})) == EINVAL);
    f.ok();
  }
  SECTION("no MSI isolation -> EPERM; no domain -> EIO; the failed first attach releases") {
    geometry g = two_iommus();
    g.classes[1].isolated_msi = false;
    g.classes.push_back(domain_class{});
    g.classes[2].allocatable = false;
    g.group_class.emplace_back(group_id{2}, 2);
    fixture f(iommu_type::type1v2, debian_6_1, g);
    CHECK(err_of(f.t.attach_group(group_id{1})) == EPERM);
    CHECK(err_of(f.t.info()) == EINVAL);  // SET_IOMMU failed: no driver
    CHECK(err_of(f.t.attach_group(group_id{2})) == EIO);
    f.ok();
  }
}

TEST_CASE("vfio_iommu_aper_resize / vfio_iommu_resv_refresh: the IOVA list narrows on attach "
          "and widens on detach",
          "[mock][type1][attach][iova]") {
  geometry g = two_iommus();
  g.classes[1].aperture = *interval<iova>::from_bounds(iova(0x1000), iova(0x3fffffff));
  fixture f(iommu_type::type1v2, debian_6_1, g);
  REQUIRE(f.t.attach_group(group_id{1}));
  auto ranges = *f.t.info()->iova_ranges;
  REQUIRE(ranges.size() == 1);
  CHECK(ranges[0].first().value() == 0x1000);
  CHECK(ranges[0].last().value() == 0x3fffffff);
  REQUIRE(f.t.attach_group(group_id{0}));
  ranges = *f.t.info()->iova_ranges;
  REQUIRE(ranges.size() == 1);  // the MSI window is above the narrower aperture
  CHECK(ranges[0].last().value() == 0x3fffffff);
  REQUIRE(f.t.detach_group(group_id{1}));
  ranges = *f.t.info()->iova_ranges;
  REQUIRE(ranges.size() == 2);
  CHECK(ranges[0].first().value() == 0x0);
  CHECK(ranges[0].last().value() == 0xfedfffff);
  CHECK(ranges[1].first().value() == 0xfef00000);
  CHECK(ranges[1].last().value() == 0x7fffffffff);
  f.ok();
}

TEST_CASE("vfio_iommu_type1_detach_group: removing a group that never pinned promotes the "
          "scope and, while tracking, marks every bitmap full",
          "[mock][type1][attach][dirty]") {
  fixture f(iommu_type::type1v2, debian_6_1, two_iommus());
  fake_device dev(f.t);
  REQUIRE(dev.attach());
  REQUIRE(f.t.attach_group(group_id{0}));
  REQUIRE(f.t.attach_group(group_id{1}));
  const vaddr va = f.filled(64 * KiB);
  REQUIRE(f.map(0x100000, va, 64 * KiB));
  REQUIRE(f.t.dirty_start());
  f.t.with_state([](const auto& s) { CHECK(s.num_non_pinned_groups == 2); });
  REQUIRE(f.t.detach_group(group_id{1}));
  f.t.with_state([](const auto& s) {
    CHECK(s.num_non_pinned_groups == 1);
    const auto p = s.dmas.first();
    REQUIRE(p);
    REQUIRE(s.dmas.value(*p).ext());
    CHECK(s.dmas.value(*p).ext()->dirty.full);
  });
  f.ok();
  dev.detach();
}
