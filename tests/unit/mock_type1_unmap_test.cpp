// SPDX-License-Identifier: Apache-2.0
//
// The mock type1 container's VFIO_IOMMU_UNMAP_DMA (spec §3; kernel: vfio_iommu_type1_unmap_dma,
// vfio_dma_do_unmap, vfio_find_dma_first_node, vfio_notify_dma_unmap, vfio_remove_dma,
// vfio_unmap_unpin). Expected values come from the spec and vm-testbed.md.
#include "tests/unit/mock_type1_fixture.hpp"

#include <cerrno>

using namespace vfiopin;
using namespace vfiopin::mock;
using namespace vfiopin::mock::testing;

namespace {
/// Three mappings of 64 KiB at 1 MiB, 1 MiB + 64 KiB, 1 MiB + 192 KiB (a gap before the third).
void three(fixture& f, vaddr va) {
  REQUIRE(f.map(0x100000, va, 64 * KiB));
  REQUIRE(f.map(0x110000, va, 64 * KiB));
  REQUIRE(f.map(0x130000, va, 64 * KiB));
  f.ok();
}
}  // namespace

TEST_CASE("vfio_dma_do_unmap v2: no bisection, empty range, supersets (vm-testbed.md)",
          "[mock][type1][unmap]") {
  fixture f;
  REQUIRE(f.t.attach_group(group_id{0}));
  const vaddr va = f.filled(64 * KiB);
  three(f, va);
  CHECK(err_of(f.unmap(0x104000, 4 * KiB)) == EINVAL);       // inside
  CHECK(err_of(f.unmap(0x100000, 32 * KiB)) == EINVAL);      // first half
  CHECK(err_of(f.unmap(0x108000, 64 * KiB)) == EINVAL);      // starts inside
  CHECK(err_of(f.unmap(0x100000, 0x1800)) == EINVAL);        // unaligned size
  CHECK(err_of(f.unmap(0x100800, 4 * KiB)) == EINVAL);       // unaligned iova
  CHECK(err_of(f.unmap(0x100000, 0)) == EINVAL);             // size 0 without ALL
  CHECK(err_of(f.unmap(0xfffffffffffff000, 8 * KiB)) == EINVAL);  // wrap (6.1)
  f.ok();
  CHECK(f.unmapped(f.unmap(0x200000, 64 * KiB)) == 0);       // touches nothing
  CHECK(f.unmapped(f.unmap(0x120000, 64 * KiB)) == 0);       // the gap
  CHECK(f.unmapped(f.unmap(0x0, 0x120000)) == 128 * KiB);    // superset of the first two
  CHECK(f.t.mapping_count() == 1);
  CHECK(f.locked() == 16);
  f.ok();
  CHECK(err_of(f.unmap(0x100000, 0, unmap_flags{.all = true})) == EINVAL);  // ALL, iova != 0
  CHECK(err_of(f.unmap(0, 4 * KiB, unmap_flags{.all = true})) == EINVAL);   // ALL, size != 0
  CHECK(f.unmapped(f.unmap_all()) == 64 * KiB);
  CHECK(f.locked() == 0);
  CHECK(f.proc.total_pins() == 0);
  f.ok();
}

TEST_CASE("vfio_dma_do_unmap v2: EOVERFLOW after the Mastro series", "[mock][type1][unmap]") {
  fixture f(iommu_type::type1v2, upstream_2025);
  REQUIRE(f.t.attach_group(group_id{0}));
  CHECK(err_of(f.unmap(0xfffffffffffff000, 8 * KiB)) == EOVERFLOW);
  CHECK(err_of(f.unmap(0xfffffffffffff000, 0)) == EINVAL);  // size checks come first
  f.ok();
}

TEST_CASE("vfio_dma_do_unmap v1: a request starting inside a mapping succeeds with size 0, "
          "one covering a mapping's first iova removes all of it",
          "[mock][type1][unmap][v1]") {
  fixture f(iommu_type::type1);
  REQUIRE(f.t.attach_group(group_id{0}));
  const vaddr va = f.filled(64 * KiB);
  three(f, va);
  CHECK(f.unmapped(f.unmap(0x104000, 4 * KiB)) == 0);
  CHECK(f.t.mapping_count() == 3);
  // Covers the first iova of the first mapping and ends inside the second: both go, the
  // reported size exceeds the request.
  CHECK(f.unmapped(f.unmap(0x100000, 0x14000)) == 128 * KiB);
  CHECK(f.t.mapping_count() == 1);
  f.ok();
  // Starting below a mapping but inside none: the walk reaches it and removes it.
  CHECK(f.unmapped(f.unmap(0x12f000, 8 * KiB)) == 64 * KiB);
  CHECK(f.locked() == 0);
  f.ok();
}

TEST_CASE("vfio_dma_do_unmap v1: the walk stops at a mapping that starts below the request",
          "[mock][type1][unmap][v1]") {
  fixture f(iommu_type::type1);
  REQUIRE(f.t.attach_group(group_id{0}));
  const vaddr va = f.filled(64 * KiB);
  three(f, va);
  // Starts inside the first mapping: nothing at all is removed, even the later ones.
  CHECK(f.unmapped(f.unmap(0x108000, 0x100000)) == 0);
  CHECK(f.t.mapping_count() == 3);
  f.ok();
}

TEST_CASE("vfio_dma_do_unmap: VADDR marks, rolls back on an invalid one, EBUSY with mdevs",
          "[mock][type1][unmap][vaddr]") {
  fixture f;
  REQUIRE(f.t.attach_group(group_id{0}));
  const vaddr va = f.filled(64 * KiB);
  three(f, va);
  CHECK(f.unmapped(f.unmap_vaddr(0x110000, 64 * KiB)) == 64 * KiB);
  f.ok();
  // The walk marks the first dma, then meets the invalid second: rollback, EINVAL.
  CHECK(err_of(f.unmap_vaddr(0x100000, 0x40000)) == EINVAL);
  f.ok();
  // Only the second is invalid: the first can be invalidated alone (it was rolled back).
  CHECK(f.unmapped(f.unmap_vaddr(0x100000, 64 * KiB)) == 64 * KiB);
  // While a vaddr is invalid, attach is EBUSY (it could require pinning).
  CHECK(err_of(f.t.attach_group(group_id{1})) == EBUSY);
  fake_device dev(f.t);
  CHECK(err_of(dev.attach()) == EBUSY);
  REQUIRE(f.map_vaddr(0x100000, va, 64 * KiB));
  REQUIRE(f.map_vaddr(0x110000, va, 64 * KiB));
  f.ok();
  // With an emulated group attached, VADDR unmap is EBUSY (6.2 "exclude mdevs").
  REQUIRE(dev.attach());
  CHECK(err_of(f.unmap_vaddr(0x100000, 64 * KiB)) == EBUSY);
  dev.detach();
  // ALL + VADDR invalidates everything.
  CHECK(f.unmapped(f.unmap(0, 0, unmap_flags{.all = true, .vaddr = true})) == 192 * KiB);
  f.ok();
  // A real unmap of invalidated dmas removes them and drops the count.
  CHECK(f.unmapped(f.unmap_all()) == 192 * KiB);
  f.ok();
}

TEST_CASE("vfio_iommu_type1_unmap_dma: GET_DIRTY_BITMAP flag combinations and bitmap checks",
          "[mock][type1][unmap][dirty]") {
  fixture f;
  REQUIRE(f.t.attach_group(group_id{0}));
  const vaddr va = f.filled(64 * KiB);
  REQUIRE(f.map(0x100000, va, 64 * KiB));
  std::vector<std::uint64_t> bits(1);
  auto req = [&](unmap_flags fl, std::uint64_t pgsize, std::span<std::uint64_t> b) {
    fl.get_dirty_bitmap = true;
    return f.t.unmap_dma(dma_unmap_request{iova(0x100000), byte_count(64 * KiB), fl,
                                           byte_count(pgsize), b});
  };
  CHECK(err_of(req(unmap_flags{.all = true}, 4096, bits)) == EINVAL);
  CHECK(err_of(req(unmap_flags{.vaddr = true}, 4096, bits)) == EINVAL);
  CHECK(err_of(req({}, 0, bits)) == EINVAL);                   // __ffs(0)
  CHECK(err_of(req({}, 4096, {})) == EINVAL);                  // zero-sized bitmap
  CHECK(err_of(req({}, 4096, bits)) == EINVAL);                // not tracking
  REQUIRE(f.t.dirty_start());
  CHECK(err_of(req({}, 8192, bits)) == EINVAL);                // not the minimum page size
  f.ok();
  auto r = req({}, 4096, bits);
  REQUIRE(r);
  CHECK(r->size.value() == 64 * KiB);
  // A real group that never pinned: every page of a mapped dma is dirty.
  CHECK(bits[0] == 0xffff);
  f.ok();
}

TEST_CASE("vfio_notify_dma_unmap: every device is told the WHOLE dma, then the unmap retries",
          "[mock][type1][unmap][notify]") {
  fixture f;
  fake_device a(f.t);
  fake_device b(f.t);
  REQUIRE(a.attach());
  REQUIRE(b.attach());
  const vaddr va = f.filled(64 * KiB);
  REQUIRE(f.map(0x100000, va, 64 * KiB));
  REQUIRE(a.pin(0x104000, 2));
  CHECK(f.locked() == 2);
  f.ok();
  CHECK(f.unmapped(f.unmap(0x100000, 64 * KiB)) == 64 * KiB);
  CHECK(a.notifications == 1);
  CHECK(b.notifications == 1);  // every registered device, not only the pinner
  REQUIRE(a.notified.size() == 1);
  CHECK(a.notified[0].first().value() == 0x100000);
  CHECK(a.notified[0].last().value() == 0x10ffff);
  CHECK(f.locked() == 0);
  CHECK(f.proc.total_pins() == 0);
  f.ok();
  a.detach();
  b.detach();
  f.ok();
}

TEST_CASE("vfio_dma_do_unmap: a device that keeps its pins -> errc::pins_retained (the kernel's "
          "BUG_ON(++retries > 10)), state consistent",
          "[mock][type1][unmap][notify]") {
  fixture f;
  fake_device a(f.t);
  REQUIRE(a.attach());
  const vaddr va = f.filled(64 * KiB);
  REQUIRE(f.map(0x100000, va, 64 * KiB));
  REQUIRE(f.map(0x200000, va, 64 * KiB));
  REQUIRE(a.pin(0x200000, 1));
  a.stubborn = true;
  const auto r = f.unmap(0x100000, 0x200000);
  CHECK(errc_of(r) == errc::pins_retained);
  // retries counts from 0 at the first notification of this dma; the 12th visit BUGs.
  CHECK(a.notifications == 11);
  // The first dma (no pins) was removed before the walk reached the pinned one.
  CHECK(f.t.mapping_count() == 1);
  CHECK(f.locked() == 1);
  f.ok();
  a.stubborn = false;
  CHECK(f.unmapped(f.unmap(0x100000, 0x200000)) == 64 * KiB);
  CHECK(f.locked() == 0);
  f.ok();
  a.detach();
}

TEST_CASE("vfio_dma_do_unmap: a mapping ending at 2^64-1 in an emulated-only container",
          "[mock][type1][unmap][top]") {
  const std::uint64_t top = 0xffffffffffff0000;
  SECTION("upstream-2025 handles the addressable limit") {
    fixture f(iommu_type::type1v2, upstream_2025);
    fake_device dev(f.t);
    REQUIRE(dev.attach());
    const vaddr va = f.filled(64 * KiB);
    REQUIRE(f.map_raw(top, va.value(), 64 * KiB));
    CHECK(err_of(f.map_raw(top + 0x8000, va.value(), 32 * KiB)) == EEXIST);
    REQUIRE(dev.pin(top + 0xf000, 1));
    CHECK(err_of(f.unmap(top + 0x8000, 32 * KiB)) == EINVAL);  // bisects it
    CHECK(f.unmapped(f.unmap(top, 64 * KiB)) == 64 * KiB);
    CHECK(dev.notifications == 1);
    f.ok();
    dev.detach();
  }
  SECTION("6.1: the 64-bit end wraps to 0 and the mapping is invisible to lookups") {
    fixture f(iommu_type::type1v2, debian_6_1);
    fake_device dev(f.t);
    REQUIRE(dev.attach());
    const vaddr va = f.filled(64 * KiB);
    REQUIRE(f.map_raw(top, va.value(), 64 * KiB));
    f.ok();
    // vfio_find_dma(iova, PAGE_SIZE) never matches it: pins fail EINVAL.
    CHECK(err_of(dev.pin(top + 0xf000, 1)) == EINVAL);
    // An unmap ending at 2^64 finds nothing: success, size 0 (spec §10 item 3).
    CHECK(f.unmapped(f.unmap(top, 64 * KiB)) == 0);
    CHECK(f.t.mapping_count() == 1);
    // A MAP overlapping it is not seen by the kernel (H2); the model refuses and says so.
    CHECK(err_of(f.map_raw(top + 0x8000, va.value(), 32 * KiB)) == EEXIST);
    CHECK_FALSE(f.t.anomalies().empty());
    // Unmap-all reaches it through rb_next once another dma precedes it.
    REQUIRE(f.map_raw(0x1000, va.value(), 4 * KiB));
    CHECK(f.unmapped(f.unmap_all()) == 64 * KiB + 4 * KiB);
    CHECK(f.t.mapping_count() == 0);
    f.ok();
    dev.detach();
  }
}
