// SPDX-License-Identifier: Apache-2.0
//
// The mock type1 container's dirty page tracking (spec §6; kernel:
// vfio_iommu_type1_dirty_pages, vfio_dma_bitmap_alloc_all, vfio_dma_populate_bitmap,
// vfio_iova_dirty_bitmap, update_user_bitmap, verify_bitmap_size).
#include "tests/unit/mock_type1_fixture.hpp"

#include <cerrno>

using namespace vfiopin;
using namespace vfiopin::mock;
using namespace vfiopin::mock::testing;

namespace {
result<void> get(fixture& f, std::uint64_t at, std::uint64_t size, std::span<std::uint64_t> out,
                 std::uint64_t pgsize = 4096) {
  return f.t.dirty_bitmap(iova(at), byte_count(size), byte_count(pgsize), out);
}
}  // namespace

TEST_CASE("vfio_iommu_type1_dirty_pages: v1 EACCES, START and STOP idempotent",
          "[mock][type1][dirty]") {
  SECTION("v1") {
    fixture f(iommu_type::type1);
    REQUIRE(f.t.attach_group(group_id{0}));
    CHECK(err_of(f.t.dirty_start()) == EACCES);
    CHECK(err_of(f.t.dirty_stop()) == EACCES);
    std::vector<std::uint64_t> bits(1);
    CHECK(err_of(get(f, 0x100000, 4096, bits)) == EACCES);
  }
  SECTION("v2") {
    fixture f;
    REQUIRE(f.t.attach_group(group_id{0}));
    CHECK(f.t.dirty_stop().has_value());
    CHECK(f.t.dirty_start().has_value());
    CHECK(f.t.dirty_start().has_value());
    CHECK(f.t.dirty_stop().has_value());
    f.ok();
  }
}

TEST_CASE("vfio_iommu_type1_dirty_pages GET_BITMAP: validation", "[mock][type1][dirty]") {
  fixture f;
  REQUIRE(f.t.attach_group(group_id{0}));
  const vaddr va = f.filled(64 * KiB);
  REQUIRE(f.map(0x100000, va, 64 * KiB));
  std::vector<std::uint64_t> bits(1);
  CHECK(err_of(get(f, 0x100000, 64 * KiB, bits)) == EINVAL);  // not tracking
  REQUIRE(f.t.dirty_start());
  CHECK(err_of(get(f, 0x100000, 64 * KiB, bits, 8192)) == EINVAL);      // pgsize
  CHECK(err_of(get(f, 0x100000, 64 * KiB, bits, 0)) == EINVAL);         // __ffs(0)
  CHECK(err_of(get(f, 0x100800, 64 * KiB, bits)) == EINVAL);            // unaligned
  CHECK(err_of(get(f, 0x100000, 0, bits)) == EINVAL);                   // size 0
  CHECK(err_of(get(f, 0x104000, 64 * KiB, bits)) == EINVAL);            // bisects the start
  CHECK(err_of(get(f, 0x100000, 32 * KiB, bits)) == EINVAL);            // bisects the end
  CHECK(err_of(get(f, 0x100000, 64 * KiB, {})) == EINVAL);              // no bitmap
  std::vector<std::uint64_t> big((std::uint64_t{1} << 28) / 8 + 1);
  CHECK(err_of(get(f, 0x100000, 64 * KiB, big)) == EINVAL);             // > 2^28 bytes
  CHECK(err_of(get(f, 0xfffffffffffff000, 8 * KiB, bits)) == EINVAL);  // wrap (6.1)
  CHECK(get(f, 0x100000, 64 * KiB, bits).has_value());
  f.ok();
}

TEST_CASE("vfio_iommu_type1_dirty_pages GET_BITMAP: EOVERFLOW after the Mastro series",
          "[mock][type1][dirty]") {
  fixture f(iommu_type::type1v2, upstream_2025);
  REQUIRE(f.t.attach_group(group_id{0}));
  REQUIRE(f.t.dirty_start());
  std::vector<std::uint64_t> bits(1);
  CHECK(err_of(get(f, 0xfffffffffffff000, 8 * KiB, bits)) == EOVERFLOW);
  CHECK(err_of(get(f, 0x100000, 0, bits)) == EINVAL);
}

TEST_CASE("vfio_iova_dirty_bitmap: pinned pages are reported on every GET until unpinned",
          "[mock][type1][dirty][pin]") {
  fixture f;
  fake_device dev(f.t);
  REQUIRE(dev.attach());
  const vaddr va = f.filled(64 * KiB);
  REQUIRE(f.map(0x100000, va, 64 * KiB));
  REQUIRE(dev.pin(0x102000, 1));  // pinned before START: populated at START
  REQUIRE(f.t.dirty_start());
  REQUIRE(dev.pin(0x105000, 2));  // pinned while tracking: set at pin time
  std::vector<std::uint64_t> bits(1);
  REQUIRE(get(f, 0x100000, 64 * KiB, bits));
  CHECK(bits[0] == 0b1100100);
  dev.unpin(0x105000, 2);
  bits[0] = 0;
  REQUIRE(get(f, 0x100000, 64 * KiB, bits));
  CHECK(bits[0] == 0b1100100);  // still reported once: they were pinned since the last GET
  bits[0] = 0;
  REQUIRE(get(f, 0x100000, 64 * KiB, bits));
  CHECK(bits[0] == 0b100);  // only the one still pinned
  f.ok();
  REQUIRE(f.t.dirty_stop());
  f.ok();
  dev.detach();
}

TEST_CASE("update_user_bitmap: bit offsets not a multiple of 64 OR in the user's low bits, "
          "whole words are written",
          "[mock][type1][dirty]") {
  fixture f;
  fake_device dev(f.t);
  REQUIRE(dev.attach());
  const vaddr va = f.filled(64 * KiB);
  REQUIRE(f.map(0x100000, va, 3 * 4096));
  REQUIRE(f.map(0x103000, va, 2 * 4096));
  REQUIRE(f.t.dirty_start());
  REQUIRE(dev.pin(0x101000, 1));
  REQUIRE(dev.pin(0x103000, 1));
  std::vector<std::uint64_t> bits{0xf0, 0x77};
  REQUIRE(get(f, 0x100000, 5 * 4096, bits));
  CHECK(bits[0] == 0b1010);  // the garbage above the dmas' bits is overwritten
  CHECK(bits[1] == 0x77);    // a word no dma reaches is not touched
  f.ok();
  dev.detach();
}

TEST_CASE("update_user_bitmap: a real group that never pinned makes mapped dmas all dirty",
          "[mock][type1][dirty]") {
  fixture f;
  REQUIRE(f.t.attach_group(group_id{0}));
  const vaddr va = f.filled(64 * KiB);
  REQUIRE(f.map(0x100000, va, 64 * KiB));
  REQUIRE(f.t.dirty_start());
  std::vector<std::uint64_t> bits(2);
  REQUIRE(get(f, 0x100000, 128 * KiB, bits));
  CHECK(bits[0] == 0xffff);
  CHECK(bits[1] == 0);
  // GET clears and repopulates from the pins (none): the next GET is full again only
  // because of the non-pinned group.
  bits = {0, 0};
  REQUIRE(get(f, 0x100000, 64 * KiB, bits));
  CHECK(bits[0] == 0xffff);
  // A mapping made while tracking gets a bitmap too.
  REQUIRE(f.map(0x200000, va, 8 * KiB));
  bits = {0, 0};
  REQUIRE(get(f, 0x200000, 8 * KiB, bits));
  CHECK(bits[0] == 0b11);
  f.ok();
  // UNMAP with GET_DIRTY_BITMAP reports the same way.
  bits = {0, 0};
  auto r = f.t.unmap_dma(dma_unmap_request{iova(0x100000), byte_count(64 * KiB),
                                           unmap_flags{.get_dirty_bitmap = true},
                                           byte_count(4096), bits});
  REQUIRE(r);
  CHECK(bits[0] == 0xffff);
  f.ok();
}

TEST_CASE("vfio_dma_bitmap_alloc: more than INT_MAX pages is EINVAL at MAP and at START",
          "[mock][type1][dirty]") {
  fixture f;
  fake_device dev(f.t);
  REQUIRE(dev.attach());
  const std::uint64_t huge = std::uint64_t{1} << 43;  // 2^31 pages
  REQUIRE(f.map_raw(0x100000000000, 0x100000000000, huge));  // lazy: any vaddr
  CHECK(err_of(f.t.dirty_start()) == EINVAL);
  REQUIRE(f.unmap_all());
  REQUIRE(f.t.dirty_start());
  CHECK(err_of(f.map_raw(0x100000000000, 0x100000000000, huge)) == EINVAL);
  CHECK(f.t.mapping_count() == 0);
  CHECK(f.map_raw(0x100000000000, 0x100000000000, huge - 4096).has_value());
  f.ok();
  dev.detach();
}
