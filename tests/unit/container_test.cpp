// SPDX-License-Identifier: Apache-2.0
//
// container<Backend>: RAII handles over the mock type1 backend. Expectations come from
// the spec (linux-type1-semantics.md), not from running the code:
//   - dma_avail starts at dma_entry_limit (65535) and drops by one per mapping (§1.2);
//   - a container with only emulated groups maps lazily: nothing pinned or charged (§2.1
//     step 11); an external pin then charges one page (§4.5);
//   - before a pinned dma is removed every registered device is told, with the whole
//     dma's range (§3.3); a device that keeps its pins stops the unmap (pins_retained).
#include "tests/support/catch.hpp"

#include <vfiopin/container.hpp>
#include <vfiopin/mock/process.hpp>
#include <vfiopin/mock/type1.hpp>

#include <array>
#include <cstring>
#include <optional>
#include <vector>

using namespace vfiopin;
using namespace vfiopin::literals;
using backend = mock::type1<mock::process>;

namespace {

std::uint32_t avail(container<backend>& c) {
  auto info = c.info();
  REQUIRE(info);
  REQUIRE(info->dma_avail.has_value());
  return *info->dma_avail;
}

/// A consumer that pins through leases and drops them when told (rule
/// [consumer.unpin-on-notify]).
struct lease_consumer {
  using consumer_tag = vfiopin::consumer_tag;
  static constexpr bool needs_pages = true;
  std::vector<pin_lease<backend>> leases;
  std::vector<interval<iova>> told;
  void on_dma_unmap(interval<iova> r) noexcept {
    told.push_back(r);
    std::erase_if(leases, [&](const pin_lease<backend>& l) {
      return r.overlaps(*interval<iova>::from(l.first(), bytes_in(l.pages())));
    });
  }
};

/// A consumer that ignores notifications: the bug of spec §10 item 11.
struct stubborn_consumer {
  using consumer_tag = vfiopin::consumer_tag;
  static constexpr bool needs_pages = true;
  int told = 0;
  void on_dma_unmap(interval<iova>) noexcept { ++told; }
};

}  // namespace

TEST_CASE("container: a mapping unmaps when its handle dies (vfio_dma_do_map/unmap)",
          "[container]") {
  mock::process proc;
  const auto buf = proc.map_region(mock::region_kind::anon, 64_KiB, false);
  REQUIRE(buf);
  {
    container<backend> c(std::in_place, proc);
    auto g = c.attach(group_id{0});
    REQUIRE(g);
    CHECK(avail(c) == 65535);
    {
      auto m = c.map(iova(0x100000), *buf, 64_KiB, prot::read_write);
      REQUIRE(m);
      CHECK(m->range() == interval<iova>::from(iova(0x100000), 64_KiB));
      CHECK(avail(c) == 65534);
      CHECK(proc.locked_vm() == page_count(16));  // a real domain pins and charges (§2.2)
      auto again = c.map(iova(0x108000), *buf, 4_KiB, prot::read);
      CHECK(again.error() == errc::exists);
    }
    CHECK(avail(c) == 65535);
    CHECK(proc.locked_vm() == page_count(0));
    CHECK(c.teardown_failures() == 0);
  }
  CHECK(proc.quiescent());
}

TEST_CASE("container: explicit unmap reports the size, release keeps the mapping",
          "[container]") {
  mock::process proc;
  const auto buf = *proc.map_region(mock::region_kind::anon, 64_KiB, false);
  container<backend> c(std::in_place, proc);
  auto g = c.attach(group_id{0});
  REQUIRE(g);
  auto m = c.map(iova(0x200000), buf, 32_KiB, prot::read);
  REQUIRE(m);
  const auto r = m->unmap();
  REQUIRE(r);
  CHECK(r->size == 32_KiB);
  CHECK_FALSE(m->mapped());
  auto kept = c.map(iova(0x200000), buf, 8_KiB, prot::read);
  REQUIRE(kept);
  const auto range = kept->release();
  CHECK(avail(c) == 65534);
  const auto raw = c.unmap({.at = range.first(), .size = 8_KiB});
  REQUIRE(raw);
  CHECK(raw->size == 8_KiB);
}

TEST_CASE("container: consumer pins give page handles onto the process's bytes "
          "(vfio_iommu_type1_pin_pages)",
          "[container]") {
  mock::process proc;
  const auto buf = *proc.map_region(mock::region_kind::anon, 16_KiB, false);
  const std::array<std::byte, 4> hello{std::byte{'h'}, std::byte{'e'}, std::byte{'y'},
                                       std::byte{'!'}};
  REQUIRE(proc.write(buf + 4_KiB, hello));
  container<backend> c(std::in_place, proc);
  lease_consumer gpu;
  auto reg = c.add_consumer(gpu);  // an emulated group: sets the IOMMU type
  REQUIRE(reg);
  auto m = c.map(iova(0x300000), buf, 16_KiB, prot::read_write);
  REQUIRE(m);
  CHECK(proc.locked_vm() == page_count(0));  // lazy: no real domain, nothing pinned
  std::array<page_handle, 2> pages{};
  auto lease = reg->pin(iova(0x301000), page_count(2), prot::read_write, pages);
  REQUIRE(lease);
  CHECK(proc.locked_vm() == page_count(2));  // external pins charge without a domain (§4.5)
  CHECK(std::memcmp(pages[0].bytes().data(), hello.data(), hello.size()) == 0);
  pages[1].bytes()[0] = std::byte{0x42};
  std::array<std::byte, 1> back{};
  REQUIRE(proc.read(buf + 8_KiB, back));
  CHECK(back[0] == std::byte{0x42});
  CHECK(pages[0] != pages[1]);
  lease->unpin();
  CHECK(proc.locked_vm() == page_count(0));
  std::array<page_handle, 1> one{};
  CHECK(reg->pin(iova(0x300000), page_count(2), prot::read, one).error() ==
        errc::invalid_argument);  // the output span is too small
}

TEST_CASE("container: the unmap notification reaches the consumer, which drops its leases "
          "(vfio_notify_dma_unmap)",
          "[container]") {
  mock::process proc;
  const auto buf = *proc.map_region(mock::region_kind::anon, 64_KiB, false);
  container<backend> c(std::in_place, proc);
  lease_consumer gpu;
  auto reg = c.add_consumer(gpu);
  REQUIRE(reg);
  auto m = c.map(iova(0x400000), buf, 64_KiB, prot::read_write);
  REQUIRE(m);
  std::array<page_handle, 1> page{};
  auto lease = reg->pin(iova(0x40f000), page_count(1), prot::read, page);
  REQUIRE(lease);
  gpu.leases.push_back(std::move(*lease));
  const auto r = m->unmap();
  REQUIRE(r);
  CHECK(r->size == 64_KiB);
  REQUIRE(gpu.told.size() == 1);
  CHECK(gpu.told[0] == interval<iova>::from(iova(0x400000), 64_KiB));  // the whole dma
  CHECK(gpu.leases.empty());
  CHECK(proc.locked_vm() == page_count(0));
}

TEST_CASE("container: a consumer that keeps its pins stops the unmap with pins_retained, "
          "and the container still tears down cleanly",
          "[container]") {
  mock::process proc;
  const auto buf = *proc.map_region(mock::region_kind::anon, 16_KiB, false);
  {
    container<backend> c(std::in_place, proc);
    stubborn_consumer dev;
    auto reg = c.add_consumer(dev);
    REQUIRE(reg);
    {
      auto m = c.map(iova(0x500000), buf, 16_KiB, prot::read_write);
      REQUIRE(m);
      std::array<page_handle, 1> page{};
      auto lease = reg->pin(iova(0x500000), page_count(1), prot::read, page);
      REQUIRE(lease);
      lease->release();  // the consumer keeps the pin past its lease
      const auto r = m->unmap();
      CHECK(r.error() == errc::pins_retained);
      CHECK(dev.told > 10);  // the kernel's retry limit: more than 10 notifications
      CHECK(m->mapped());
    }  // the mapping's destructor cannot unmap either
    CHECK(c.teardown_failures() == 1);
    reg->unpin(iova(0x500000), page_count(1));
  }
  CHECK(proc.quiescent());
  CHECK(proc.locked_vm() == page_count(0));
}
