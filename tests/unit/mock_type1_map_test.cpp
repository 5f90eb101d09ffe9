// SPDX-License-Identifier: Apache-2.0
//
// The mock type1 container's VFIO_IOMMU_MAP_DMA (spec §2; kernel: vfio_iommu_type1_map_dma,
// vfio_dma_do_map, vfio_pin_map_dma, vfio_pin_pages_remote, vfio_iommu_map) and GET_INFO
// (spec §1.3; vfio_iommu_type1_get_info). Expected values come from the spec and from what
// the test bed's 6.1 kernel answered (vm-testbed.md), never from the model's own output.
#include "tests/unit/mock_type1_fixture.hpp"

#include <cerrno>

using namespace vfiopin;
using namespace vfiopin::mock;
using namespace vfiopin::mock::testing;

TEST_CASE("vfio_fops_unl_ioctl: MAP_DMA and GET_INFO before VFIO_SET_IOMMU are EINVAL",
          "[mock][type1][map]") {
  fixture f;
  const vaddr va = f.filled(64 * KiB);
  CHECK(err_of(f.map(0x100000, va, 64 * KiB)) == EINVAL);
  CHECK(err_of(f.t.info()) == EINVAL);
  f.ok();
}

TEST_CASE("vfio_iommu_type1_get_info: the test bed's VT-d answers (vm-testbed.md)",
          "[mock][type1][info]") {
  fixture f;
  REQUIRE(f.t.attach_group(group_id{0}));
  const auto info = f.t.info();
  REQUIRE(info);
  CHECK(info->iova_pgsizes == 0x40201000);
  REQUIRE(info->migration);
  CHECK(info->migration->pgsize_bitmap == 0x1000);
  CHECK(info->migration->max_dirty_bitmap_size == (std::uint64_t{1} << 28));
  CHECK(info->dma_avail == 65535);
  REQUIRE(info->iova_ranges);
  REQUIRE(info->iova_ranges->size() == 2);
  CHECK((*info->iova_ranges)[0].first().value() == 0x0);
  CHECK((*info->iova_ranges)[0].last().value() == 0xfedfffff);
  CHECK((*info->iova_ranges)[1].first().value() == 0xfef00000);
  CHECK((*info->iova_ranges)[1].last().value() == 0x7fffffffff);
  const vaddr va = f.filled(8 * KiB);
  REQUIRE(f.map(0x100000, va, 4 * KiB));
  CHECK(f.avail() == 65534);  // one less per mapping
  f.ok();
}

TEST_CASE("vfio_iommu_type1_get_info: an emulated-only container has no IOVA_RANGE cap and "
          "PAGE_MASK page sizes",
          "[mock][type1][info]") {
  fixture f;
  fake_device dev(f.t);
  REQUIRE(dev.attach());
  const auto info = f.t.info();
  REQUIRE(info);
  CHECK(info->iova_pgsizes == ~std::uint64_t{0xfff});
  CHECK_FALSE(info->iova_ranges.has_value());
  CHECK(info->dma_avail == 65535);
  dev.detach();
  f.ok();
}

TEST_CASE("vfio_dma_do_map: validation order and errno (6.1)", "[mock][type1][map]") {
  fixture f;
  REQUIRE(f.t.attach_group(group_id{0}));
  const vaddr va = f.filled(1 * MiB);
  const std::uint64_t v = va.value();
  SECTION("no R/W flag is EINVAL, a VADDR update with R/W is EINVAL") {
    CHECK(err_of(f.map(0x100000, va, 64 * KiB, prot::none)) == EINVAL);
    CHECK(err_of(f.t.map_dma({iova(0x100000), va, byte_count(64 * KiB), prot::read, true})) == EINVAL);
  }
  SECTION("size 0 and unaligned iova, vaddr or size are EINVAL") {
    CHECK(err_of(f.map(0x100000, va, 0)) == EINVAL);
    CHECK(err_of(f.map(0x100800, va, 64 * KiB)) == EINVAL);
    CHECK(err_of(f.map_raw(0x100000, v + 0x800, 64 * KiB)) == EINVAL);
    CHECK(err_of(f.map(0x100000, va, 64 * KiB + 0x800)) == EINVAL);
  }
  SECTION("a wrapping iova or vaddr is EINVAL before the Mastro series") {
    CHECK(err_of(f.map_raw(0xfffffffffffff000, v, 8 * KiB)) == EINVAL);
    CHECK(err_of(f.map_raw(0x100000, 0xfffffffffffff000, 8 * KiB)) == EINVAL);
  }
  SECTION("prot is checked before size (no lock taken yet)") {
    CHECK(err_of(f.map(0x100800, va, 0, prot::none)) == EINVAL);
  }
  SECTION("overlap, exact or partial, is EEXIST") {
    REQUIRE(f.map(0x100000, va, 64 * KiB));
    CHECK(err_of(f.map(0x100000, va, 64 * KiB)) == EEXIST);
    CHECK(err_of(f.map(0x108000, va, 64 * KiB)) == EEXIST);
    CHECK(err_of(f.map(0xf8000, va, 64 * KiB)) == EEXIST);
  }
  SECTION("an IOVA in the MSI window or spanning two valid ranges is EINVAL") {
    CHECK(err_of(f.map(0xfee00000, va, 4 * KiB)) == EINVAL);
    CHECK(err_of(f.map(0xfedff000, va, 8 * KiB)) == EINVAL);
    CHECK(err_of(f.map(0x8000000000, va, 4 * KiB)) == EINVAL);  // beyond 39 bits
  }
  SECTION("unmapped vaddr EFAULT; read-only buffer: RW EFAULT, R ok") {
    const vaddr hole = f.mem(region_kind::hole, 64 * KiB);
    CHECK(err_of(f.map(0x100000, hole, 64 * KiB)) == EFAULT);
    const vaddr ro = f.mem(region_kind::anon, 64 * KiB, true);
    CHECK(err_of(f.map(0x100000, ro, 64 * KiB, prot::read_write)) == EFAULT);
    CHECK(f.map(0x100000, ro, 64 * KiB, prot::read).has_value());
  }
  SECTION("the device's own BAR (PFNMAP) maps, never charged") {
    const vaddr bar = f.mem(region_kind::bar, 1 * MiB);
    CHECK(f.map(0x200000, bar, 1 * MiB).has_value());
    CHECK(f.locked() == 0);
  }
  f.ok();
}

TEST_CASE("vfio_dma_do_map: the Mastro series' order and EOVERFLOW (upstream-2025)",
          "[mock][type1][map]") {
  fixture f(iommu_type::type1v2, upstream_2025);
  fake_device dev(f.t);
  REQUIRE(dev.attach());  // emulated only: the whole address space is valid
  const vaddr va = f.filled(64 * KiB);
  // size 0 is checked first, even before prot.
  CHECK(err_of(f.map(0x1000, va, 0, prot::none)) == EINVAL);
  // wrap -> EOVERFLOW, and before prot and alignment.
  CHECK(err_of(f.map_raw(0xfffffffffffff000, va.value(), 8 * KiB, prot::none)) == EOVERFLOW);
  CHECK(err_of(f.map_raw(0x1000, 0xfffffffffffff800, 0x1000)) == EOVERFLOW);
  CHECK(err_of(f.map(0x1800, va, 4 * KiB, prot::none)) == EINVAL);
  CHECK(err_of(f.map(0x1800, va, 4 * KiB)) == EINVAL);
  dev.detach();
  f.ok();
}

TEST_CASE("vfio_dma_do_map: dma_entry_limit is sampled at VFIO_SET_IOMMU, ENOSPC at the limit",
          "[mock][type1][map]") {
  fixture f;
  f.t.set_dma_entry_limit(3);
  REQUIRE(f.t.attach_group(group_id{0}));
  f.t.set_dma_entry_limit(100);  // too late for this container
  const vaddr va = f.filled(64 * KiB);
  for (std::uint64_t i = 0; i < 3; ++i) REQUIRE(f.map(0x100000 + i * 0x10000, va, 4 * KiB));
  CHECK(f.avail() == 0);
  CHECK(err_of(f.map(0x200000, va, 4 * KiB)) == ENOSPC);
  // EEXIST is checked before ENOSPC.
  CHECK(err_of(f.map(0x100000, va, 4 * KiB)) == EEXIST);
  REQUIRE(f.unmap(0x100000, 4 * KiB));
  CHECK(f.avail() == 1);
  CHECK(f.map(0x200000, va, 4 * KiB).has_value());
  f.ok();
  // A new open (after the last group left) samples the parameter again.
  REQUIRE(f.t.detach_group(group_id{0}));
  REQUIRE(f.t.attach_group(group_id{0}));
  CHECK(f.avail() == 100);
  f.ok();
}

TEST_CASE("vfio_pin_pages_remote: RLIMIT_MEMLOCK without CAP_IPC_LOCK, the same pages at a "
          "second IOVA are charged twice",
          "[mock][type1][map][accounting]") {
  fixture f;
  REQUIRE(f.t.attach_group(group_id{0}));
  const vaddr va = f.filled(64 * KiB);
  f.proc.set_cap_ipc_lock(false);
  f.proc.set_memlock_limit(byte_count(96 * KiB));
  REQUIRE(f.map(0x100000, va, 64 * KiB));
  CHECK(f.locked() == 16);
  CHECK(err_of(f.map(0x200000, va, 64 * KiB)) == ENOMEM);
  CHECK(f.locked() == 16);  // all or nothing
  f.ok();
  REQUIRE(f.map(0x200000, va, 32 * KiB));  // exactly at the limit
  CHECK(f.locked() == 24);
  f.ok();
  // CAP_IPC_LOCK bypasses the limit but is still charged.
  f.proc.set_cap_ipc_lock(true);
  REQUIRE(f.map(0x300000, va, 64 * KiB));
  CHECK(f.locked() == 40);
  f.ok();
  REQUIRE(f.unmap_all());
  CHECK(f.locked() == 0);
  f.ok();
}

TEST_CASE("vfio_dma_do_map: lock_cap is sampled at MAP time (dma->lock_cap)",
          "[mock][type1][map][accounting]") {
  fixture f;
  REQUIRE(f.t.attach_group(group_id{0}));
  const vaddr va = f.filled(64 * KiB);
  f.proc.set_memlock_limit(byte_count(0));
  REQUIRE(f.map(0x100000, va, 64 * KiB));  // CAP_IPC_LOCK: allowed
  f.proc.set_cap_ipc_lock(false);
  CHECK(err_of(f.map(0x200000, va, 4 * KiB)) == ENOMEM);
  CHECK(f.locked() == 16);
  f.ok();
}

TEST_CASE("vfio_dma_do_map: no real domain -> nothing pinned, vaddr not checked (lazy)",
          "[mock][type1][map]") {
  fixture f;
  fake_device dev(f.t);
  REQUIRE(dev.attach());
  const vaddr hole = f.mem(region_kind::hole, 64 * KiB);
  CHECK(f.map(0x100000, hole, 64 * KiB).has_value());
  CHECK(f.locked() == 0);
  CHECK(f.proc.total_pins() == 0);
  // It fails only when something pins it.
  CHECK(err_of(dev.pin(0x100000, 1)) == EFAULT);
  // ... or when a real group arrives and the mapping is replayed.
  CHECK(err_of(f.t.attach_group(group_id{0})) == EFAULT);
  f.ok();
  dev.detach();
  f.ok();
}

TEST_CASE("vfio_pin_map_dma: all or nothing when a later chunk fails", "[mock][type1][map]") {
  fixture f;
  REQUIRE(f.t.attach_group(group_id{0}));
  // 2 MiB region: the first 64 KiB written (pages), the rest never touched but mapped RW
  // (GUP faults them in). Map past the region's end: the tail is a hole -> EFAULT.
  const vaddr va = f.filled(64 * KiB);
  CHECK(err_of(f.map(0x100000, va, 64 * KiB + 2 * MiB)) == EFAULT);
  CHECK(f.locked() == 0);
  CHECK(f.proc.total_pins() == 0);
  CHECK(f.t.mapping_count() == 0);
  CHECK(f.avail() == 65535);
  f.ok();
}

TEST_CASE("vaddr_get_pfns: read-only untouched anon memory maps the zero page, uncharged",
          "[mock][type1][map][zero-page]") {
  // Kernels before 6.2 (the test bed's Debian 6.1: zero_page.vfs on real VFIO).
  for (const auto& prof : {debian_6_1, linux_6_1_31}) {
    fixture f(iommu_type::type1v2, prof);
    REQUIRE(f.t.attach_group(group_id{0}));
    const vaddr ro = f.mem(region_kind::anon, 64 * KiB, true);
    REQUIRE(f.map(0x100000, ro, 64 * KiB, prot::read));
    CHECK(f.locked() == 0);
    CHECK(f.proc.total_pins() == 0);
    CHECK(f.proc.zero_page_intact());
    f.ok();
    REQUIRE(f.unmap(0x100000, 64 * KiB));
    f.ok();
  }
}

TEST_CASE("vfio_dma_do_map: VADDR update needs an exact invalidated dma", "[mock][type1][map][vaddr]") {
  fixture f;
  REQUIRE(f.t.attach_group(group_id{0}));
  const vaddr va = f.filled(128 * KiB);
  REQUIRE(f.map(0x100000, va, 64 * KiB));
  CHECK(err_of(f.map_vaddr(0x300000, va, 64 * KiB)) == ENOENT);
  CHECK(err_of(f.map_vaddr(0x100000, va, 64 * KiB)) == EINVAL);  // not invalidated
  REQUIRE(f.unmap_vaddr(0x100000, 64 * KiB));
  f.ok();
  CHECK(err_of(f.map_vaddr(0x100000, va, 32 * KiB)) == EINVAL);   // size differs
  CHECK(err_of(f.map_vaddr(0x108000, va, 32 * KiB)) == EINVAL);   // iova differs
  CHECK(f.map_vaddr(0x100000, va + 64_KiB, 64 * KiB).has_value());
  CHECK(f.locked() == 16);  // no pinning, no re-charge
  f.ok();
}

TEST_CASE("vaddr_get_pfns: on 6.2+ read-only untouched anon memory is unshared and charged",
          "[mock][type1][map][zero-page]") {
  // Seen on the test bed's Debian 6.12 (zero_page_6_12.vfs): two read-only maps of the same
  // never-written 64 KiB charge 32 pages; the zero page itself is never pinned.
  for (const auto& prof : {debian_6_12, upstream_2025}) {
    fixture f(iommu_type::type1v2, prof);
    REQUIRE(f.t.attach_group(group_id{0}));
    const vaddr ro = f.mem(region_kind::anon, 64 * KiB, true);
    REQUIRE(f.map(0x100000, ro, 64 * KiB, prot::read));
    CHECK(f.locked() == 16);
    REQUIRE(f.map(0x200000, ro, 64 * KiB, prot::read));
    CHECK(f.locked() == 32);
    CHECK(f.proc.zero_page_intact());
    f.ok();
    REQUIRE(f.unmap(0x100000, 64 * KiB));
    REQUIRE(f.unmap(0x200000, 64 * KiB));
    CHECK(f.locked() == 0);
    f.ok();
  }
}
