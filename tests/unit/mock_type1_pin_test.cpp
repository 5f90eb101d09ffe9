// SPDX-License-Identifier: Apache-2.0
//
// The mock type1 container's vfio_pin_pages / vfio_unpin_pages path (spec §4; kernel:
// vfio_pin_pages and vfio_device_container_pin_pages in vfio_main.c,
// vfio_iommu_type1_pin_pages, vfio_pin_page_external, vfio_iova_get_vfio_pfn,
// vfio_iommu_type1_unpin_pages, vfio_unpin_page_external).
#include "tests/unit/mock_type1_fixture.hpp"

#include <cerrno>

using namespace vfiopin;
using namespace vfiopin::mock;
using namespace vfiopin::mock::testing;

namespace {
struct pin_env {
  fixture f;
  fake_device dev{f.t};
  vaddr va{};
  explicit pin_env(kernel_profile p = debian_6_1, iommu_type t = iommu_type::type1v2)
      : f(t, p) {
    REQUIRE(dev.attach());
    va = f.filled(64 * KiB);
    REQUIRE(f.map(0x100000, va, 64 * KiB));
  }
  ~pin_env() { dev.detach(); }
};
}  // namespace

TEST_CASE("vfio_pin_pages front end: npage 0, short output, E2BIG, unknown device",
          "[mock][type1][pin]") {
  pin_env e;
  std::vector<page_handle> out(513);
  CHECK(err_of(e.f.t.pin_pages(e.dev.id(), iova(0x100000), page_count(0), prot::read, out)) == EINVAL);
  CHECK(err_of(e.f.t.pin_pages(e.dev.id(), iova(0x100000), page_count(2), prot::read,
                               std::span(out).first(1))) == EINVAL);
  CHECK(err_of(e.f.t.pin_pages(e.dev.id(), iova(0x100000), page_count(513), prot::read, out)) == E2BIG);
  CHECK(err_of(e.f.t.pin_pages(device_id{999}, iova(0x100000), page_count(1), prot::read, out)) == EINVAL);
  e.f.ok();
}

TEST_CASE("vfio_iommu_type1_pin_pages: v1 EACCES, outside any dma EINVAL, prot EPERM",
          "[mock][type1][pin]") {
  SECTION("type1 (v1) container") {
    pin_env e(debian_6_1, iommu_type::type1);
    CHECK(err_of(e.dev.pin(0x100000, 1)) == EACCES);
    e.f.ok();
  }
  SECTION("v2") {
    pin_env e;
    CHECK(err_of(e.dev.pin(0x200000, 1)) == EINVAL);
    // The map is rw; a read-only dma refuses a write pin.
    REQUIRE(e.f.map(0x200000, e.va, 64 * KiB, prot::read));
    CHECK(err_of(e.dev.pin(0x200000, 1, prot::write)) == EPERM);
    CHECK(e.dev.pin(0x200000, 1, prot::read).has_value());
    // Page 3 is outside: all or nothing, pages 0-1 are unwound.
    CHECK(err_of(e.dev.pin(0x10e000, 3)) == EINVAL);
    CHECK(e.f.locked() == 1);
    e.f.ok();
  }
}

TEST_CASE("vfio_iommu_type1_pin_pages: refcounted records keyed by exact iova, accounting only "
          "without a real domain",
          "[mock][type1][pin][accounting]") {
  pin_env e;
  REQUIRE(e.dev.pin(0x100000, 4));
  const auto first = e.dev.last_handles();
  CHECK(e.f.locked() == 4);
  REQUIRE(e.dev.pin(0x101000, 2));  // overlaps: same pages, refcount 2, no new charge
  CHECK(e.f.locked() == 4);
  CHECK(e.dev.last_handles()[0] == first[1]);
  CHECK(e.f.proc.total_pins() == 4);  // one GUP pin per record
  e.f.ok();
  // Unaligned key in the same page: a second record, a second pin, a second charge.
  REQUIRE(e.dev.pin(0x100800, 1));
  CHECK(e.dev.last_handles()[0] == first[0]);
  CHECK(e.f.locked() == 5);
  CHECK(e.f.proc.total_pins() == 5);
  e.f.ok();
  e.dev.unpin(0x100800, 1);
  e.dev.unpin(0x101000, 2);
  CHECK(e.f.locked() == 4);
  e.dev.unpin(0x100000, 4);
  CHECK(e.f.locked() == 0);
  CHECK(e.f.proc.total_pins() == 0);
  e.f.ok();
}

TEST_CASE("vfio_iommu_type1_pin_pages with a real domain: not charged, a second GUP pin",
          "[mock][type1][pin][accounting]") {
  pin_env e;
  REQUIRE(e.f.t.attach_group(group_id{0}));  // replay pins and charges the 16 pages
  CHECK(e.f.locked() == 16);
  CHECK(e.f.proc.total_pins() == 16);
  REQUIRE(e.dev.pin(0x100000, 4));
  CHECK(e.f.locked() == 16);
  CHECK(e.f.proc.total_pins() == 20);
  e.f.ok();
  e.dev.unpin(0x100000, 4);
  CHECK(e.f.proc.total_pins() == 16);
  e.f.ok();
}

TEST_CASE("vfio_iommu_type1_pin_pages: the DMA's prot decides FOLL_WRITE, not the caller's",
          "[mock][type1][pin]") {
  pin_env e;
  const vaddr ro = e.f.mem(region_kind::anon, 64 * KiB, true);
  // rw dma over a read-only vaddr: lazily accepted (no domain), a read pin still GUPs with
  // FOLL_WRITE and fails.
  REQUIRE(e.f.map(0x300000, ro, 64 * KiB, prot::read_write));
  CHECK(err_of(e.dev.pin(0x300000, 1, prot::read)) == EFAULT);
  e.f.ok();
}

TEST_CASE("vfio_iommu_type1_pin_pages: RLIMIT_MEMLOCK per page, all or nothing",
          "[mock][type1][pin][accounting]") {
  pin_env e;
  e.f.proc.set_cap_ipc_lock(false);
  e.f.proc.set_memlock_limit(byte_count(3 * 4096));
  // The dma at 1 MiB was mapped with CAP_IPC_LOCK: external pins use dma->lock_cap.
  REQUIRE(e.dev.pin(0x100000, 4));
  CHECK(e.f.locked() == 4);
  e.dev.unpin(0x100000, 4);
  REQUIRE(e.f.map(0x200000, e.va, 64 * KiB));  // mapped without CAP_IPC_LOCK
  CHECK(err_of(e.dev.pin(0x200000, 4)) == ENOMEM);
  CHECK(e.f.locked() == 0);
  CHECK(e.f.proc.total_pins() == 0);
  REQUIRE(e.dev.pin(0x200000, 3));
  CHECK(e.f.locked() == 3);
  e.f.ok();
}

TEST_CASE("vfio_iommu_type1_pin_pages: PFNMAP iova per profile", "[mock][type1][pin][pfnmap]") {
  // 4752354af710 (pfn_valid) is in 6.1.y since 6.1.32: Debian's 6.1 refuses; 6.1.31 did not.
  CHECK(debian_6_1.pfnmap_pin == pfnmap_pin_behaviour::invalid);
  CHECK(linux_6_1_31.pfnmap_pin == pfnmap_pin_behaviour::bogus_page);
  for (const auto& prof : {debian_6_1, linux_6_1_31, upstream_2025}) {
    pin_env e(prof);
    const vaddr bar = e.f.mem(region_kind::bar, 64 * KiB);
    REQUIRE(e.f.map(0x400000, bar, 64 * KiB));
    REQUIRE(e.dev.pin(0x100000, 1));
    const auto r = e.dev.pin(0x400000, 2);
    if (prof.pfnmap_pin == pfnmap_pin_behaviour::invalid) {
      CHECK(err_of(r) == EINVAL);  // 6.4+ pfn_valid check
    } else {
      CHECK(errc_of(r) == errc::bogus_page);  // 6.0-6.3 would hand out garbage
      CHECK_FALSE(e.f.t.anomalies().empty());
    }
    // Nothing pinned, nothing charged beyond the first pin, no record left.
    CHECK(e.f.locked() == 1);
    CHECK(e.f.proc.total_pins() == 1);
    // A page after the BAR page still fails all or nothing.
    CHECK_FALSE(e.dev.pin(0x40f000, 1).has_value());
    e.f.ok();
  }
}

TEST_CASE("vfio_iommu_type1_pin_pages: EBUSY while a vaddr is invalid (6.2+)", "[mock][type1][pin][vaddr]") {
  fixture f;
  REQUIRE(f.t.attach_group(group_id{0}));
  const vaddr va = f.filled(64 * KiB);
  REQUIRE(f.map(0x100000, va, 64 * KiB));
  fake_device dev(f.t);
  REQUIRE(dev.attach());
  // VADDR unmap is refused with an mdev; so invalidate before the mdev arrives.
  dev.detach();
  REQUIRE(f.unmap_vaddr(0x100000, 64 * KiB));
  CHECK(err_of(dev.attach()) == EBUSY);
  REQUIRE(f.map_vaddr(0x100000, va, 64 * KiB));
  REQUIRE(dev.attach());
  CHECK(dev.pin(0x100000, 1).has_value());
  f.ok();
  dev.detach();
  f.ok();
}

TEST_CASE("vfio_iommu_type1_unpin_pages: no dma stops the loop (WARN), no record is skipped",
          "[mock][type1][pin]") {
  pin_env e;
  REQUIRE(e.dev.pin(0x100000, 2));
  e.f.t.clear_logs();
  e.f.t.unpin_pages(e.dev.id(), iova(0x104000), page_count(1));  // no record: silent
  CHECK(e.f.t.warnings().empty());
  e.f.t.unpin_pages(e.dev.id(), iova(0x10f000), page_count(3));  // runs off the dma: WARN
  CHECK(e.f.t.warnings().size() == 1);
  e.f.t.unpin_pages(e.dev.id(), iova(0x100000), page_count(513));  // front end WARN
  CHECK(e.f.locked() == 2);
  e.f.t.unpin_pages(e.dev.id(), iova(0x100000), page_count(2));
  CHECK(e.f.locked() == 0);
  e.f.ok();
}

TEST_CASE("vfio_iommu_type1_pin_pages: the page handles are the process's pages",
          "[mock][type1][pin]") {
  pin_env e;
  REQUIRE(e.dev.pin(0x100000, 2, prot::read));
  const auto& h = e.dev.last_handles();
  REQUIRE(h.size() == 2);
  CHECK(h[0].issuer() == &e.f.proc);
  CHECK(h[0].frame()->number() == e.f.proc.frame_of(e.va)->value());
  CHECK(h[1].frame()->number() == e.f.proc.frame_of(e.va + 4_KiB)->value());
  CHECK(h[0].bytes()[0] == std::byte{0x5a});
  e.f.ok();
}

TEST_CASE("vfio_iommu_type1_pin_pages: a real group that pins declares its dirty scope",
          "[mock][type1][pin][dirty]") {
  fixture f;
  REQUIRE(f.t.attach_group(group_id{0}));
  const vaddr va = f.filled(64 * KiB);
  REQUIRE(f.map(0x100000, va, 64 * KiB));
  int calls = 0;
  auto cb = [&](interval<iova>) noexcept { ++calls; };
  auto d = f.t.add_device(group_id{0}, dma_unmap_callback(cb));
  REQUIRE(d);
  f.t.with_state([](const auto& s) { CHECK(s.num_non_pinned_groups == 1); });
  std::vector<page_handle> out(1);
  REQUIRE(f.t.pin_pages(*d, iova(0x100000), page_count(1), prot::read, out));
  f.t.with_state([](const auto& s) { CHECK(s.num_non_pinned_groups == 0); });
  CHECK(err_of(f.t.detach_group(group_id{0})) == EBUSY);  // its device is open
  f.t.unpin_pages(*d, iova(0x100000), page_count(1));
  f.t.remove_device(*d);
  f.ok();
}

TEST_CASE("vfio_pin_pages_remote accounting of unaligned records at replay (spec §10 H1b)",
          "[mock][type1][pin][accounting][replay]") {
  // An emulated device pins key X + 0x800 while no real domain exists: one record, one page
  // charged. The first real domain replays the dma: before ~6.17 vfio_find_vpfn() looks for
  // a record at each page-aligned iova (X), finds none and charges the page again; ~6.17+
  // subtracts vpfn_pages(), the record nodes in the chunk, and does not. The charge made at
  // pin time is never taken back while a domain exists (do_accounting is false), and
  // vfio_unmap_unpin only returns the mapped pages: 6.1 keeps one page of locked_vm after
  // the dma is gone.
  for (const auto& prof : {debian_6_1, upstream_2025}) {
    fixture f(iommu_type::type1v2, prof);
    fake_device dev(f.t);
    REQUIRE(dev.attach());
    const vaddr va = f.filled(64 * KiB);
    REQUIRE(f.map(0x100000, va, 64 * KiB));
    REQUIRE(dev.pin(0x100800, 1));
    CHECK(f.locked() == 1);
    REQUIRE(f.t.attach_group(group_id{0}));
    const bool range_lookup = prof.vpfn_range_accounting;
    CHECK(f.locked() == (range_lookup ? 16 : 17));
    dev.unpin(0x100800, 1);
    CHECK(f.locked() == (range_lookup ? 16 : 17));
    REQUIRE(f.unmap(0x100000, 64 * KiB));
    CHECK(f.locked() == (range_lookup ? 0 : 1));
    f.ok();  // the leak is accounted for (residual), not an invariant violation
    dev.detach();
  }
}
