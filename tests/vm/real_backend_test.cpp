// SPDX-License-Identifier: Apache-2.0
//
// real_backend_test: container<real::type1> against the real kernel, in the test bed
// (Catch2; ctest vm.real_backend). Run as root in the guest, statically linked.
//
// Theory of operation. Each case opens a fresh container on the first edu device's group
// and checks what the real kernel says, with the expectation taken from somewhere other
// than the code under test:
//   - accounting: every step is also applied to the mock (mock::type1 over mock::process,
//     the oracle), and VmLck (from /proc/self/status) must equal the mock's locked_vm after
//     each step; after teardown VmLck and dma_avail are back to where they started;
//   - DMA: bytes written through a consumer's page handle are what the edu device reads at
//     the IOVA, and a device write is what the handle then shows;
//   - the consumer contract over real VFIO: a BAR (PFNMAP) page is refused with
//     not_page_backed, the unmap notification makes the consumer unpin before the kernel
//     unmaps, and a group whose BAR is still mmapped cannot leave (EBUSY) until the BAR
//     is unmapped.

#include "tests/support/catch.hpp"

#include <vfiopin/container.hpp>
#include <vfiopin/mock/memory.hpp>
#include <vfiopin/mock/type1.hpp>
#include <vfiopin/real/device.hpp>
#include <vfiopin/real/edu.hpp>
#include <vfiopin/real/memory.hpp>
#include <vfiopin/real/pci_sysfs.hpp>
#include <vfiopin/real/proc_status.hpp>
#include <vfiopin/real/type1.hpp>

#include <cstring>
#include <string>
#include <vector>

using namespace vfiopin;

namespace {

std::uint64_t vm_lck() {
  auto v = real::vm_locked();
  REQUIRE(v.has_value());
  return v->value();
}

struct testbed {
  real::pci_function edu0;
  testbed() {
    auto devs = real::find_edu_devices();
    REQUIRE(devs.has_value());
    REQUIRE(!devs->empty());
    edu0 = devs->front();
    REQUIRE(edu0.iommu_group.has_value());
  }
  [[nodiscard]] group_id group() const { return group_id{*edu0.iommu_group}; }
};

std::unique_ptr<container<real::type1>> open_container() {
  auto fd = real::open_container(iommu_type::type1v2);
  REQUIRE(fd.has_value());
  return std::make_unique<container<real::type1>>(std::in_place, std::move(*fd), iommu_type::type1v2);
}

std::uint32_t dma_avail(container<real::type1>& c) {
  auto info = c.info();
  REQUIRE(info.has_value());
  REQUIRE(info->dma_avail.has_value());
  return *info->dma_avail;
}

/// A consumer that unpins whatever it is told about.
struct unpinning_consumer {
  using consumer_tag = vfiopin::consumer_tag;
  static constexpr bool needs_pages = true;
  real::type1* backend = nullptr;
  device_id id{};
  std::vector<interval<iova>> told;
  void on_dma_unmap(interval<iova> r) noexcept {
    told.push_back(r);
    backend->unpin_pages(id, r.first(), page_count{(r.last().value() - r.first().value() + 1) / page_bytes});
  }
};

}  // namespace

TEST_CASE("real: VmLck equals the mock's locked_vm at every step, and returns after teardown", "[vm]") {
  testbed tb;
  const std::uint64_t before = vm_lck();
  mock::process proc;
  mock::type1<> oracle(proc, iommu_type::type1v2);
  REQUIRE(oracle.attach_group(group_id{0}).has_value());
  proc.set_cap_ipc_lock(true);
  const auto mock_locked = [&] { return bytes_in(proc.locked_vm()).value(); };
  const auto mock_va = [&](mock::region_kind k, std::uint64_t size) {
    auto v = proc.map_region(k, byte_count(size), false);
    REQUIRE(v.has_value());
    std::vector<std::byte> fill(size, std::byte{1});
    if (k != mock::region_kind::bar) REQUIRE(proc.write(*v, fill));
    return *v;
  };
  std::uint32_t avail_before = 0;
  {
    auto c = open_container();
    auto g = c->attach(tb.group());
    REQUIRE(g.has_value());
    avail_before = dma_avail(*c);
    auto anon = real::page_region::anon(byte_count{1 << 20});
    REQUIRE(anon.has_value());
    std::memset(anon->bytes().data(), 1, anon->bytes().size());
    auto memfd = real::page_region::memfd(byte_count{256 << 10});
    REQUIRE(memfd.has_value());
    std::memset(memfd->bytes().data(), 1, memfd->bytes().size());
    const vaddr m_anon = mock_va(mock::region_kind::anon, 1 << 20);
    const vaddr m_memfd = mock_va(mock::region_kind::memfd, 256 << 10);

    auto m1 = c->map(iova{0x100000}, anon->base(), byte_count{1 << 20}, prot::read_write);
    REQUIRE(m1.has_value());
    REQUIRE(oracle.map_dma({iova{0x100000}, m_anon, byte_count{1 << 20}, prot::read_write, false}));
    CHECK(vm_lck() - before == mock_locked());
    CHECK(mock_locked() == (1 << 20));

    // The same pages at a second IOVA are charged again (per dma, vfio_lock_acct).
    auto m2 = c->map(iova{0x400000}, anon->base(), byte_count{64 << 10}, prot::read);
    REQUIRE(m2.has_value());
    REQUIRE(oracle.map_dma({iova{0x400000}, m_anon, byte_count{64 << 10}, prot::read, false}));
    CHECK(vm_lck() - before == mock_locked());

    auto m3 = c->map(iova{0x800000}, memfd->base(), byte_count{256 << 10}, prot::read_write);
    REQUIRE(m3.has_value());
    REQUIRE(oracle.map_dma({iova{0x800000}, m_memfd, byte_count{256 << 10}, prot::read_write, false}));
    CHECK(vm_lck() - before == mock_locked());
    CHECK(dma_avail(*c) == avail_before - 3);

    REQUIRE(m2->unmap().has_value());
    REQUIRE(oracle.unmap_dma({iova{0x400000}, byte_count{64 << 10}, {}, {}, {}}));
    CHECK(vm_lck() - before == mock_locked());
  }
  CHECK(vm_lck() == before);  // the container's handles and teardown released everything
  auto c = open_container();
  auto g = c->attach(tb.group());
  REQUIRE(g.has_value());
  CHECK(dma_avail(*c) == avail_before);
}

TEST_CASE("real: bytes written through a page handle are what the device reads", "[vm]") {
  testbed tb;
  auto c = open_container();
  auto g = c->attach(tb.group());
  REQUIRE(g.has_value());
  auto gfd = c->backend().group_fd(tb.group());
  REQUIRE(gfd.has_value());
  auto dev = real::device::open(*gfd, tb.edu0.address);
  REQUIRE(dev.has_value());
  auto edu = real::edu::open(*dev);
  REQUIRE(edu.has_value());

  auto mem = real::page_region::anon(byte_count{64 << 10});
  REQUIRE(mem.has_value());
  auto scratch = real::page_region::anon(byte_count{page_bytes});
  REQUIRE(scratch.has_value());
  auto map = c->map(iova{0x100000}, mem->base(), byte_count{64 << 10}, prot::read_write);
  REQUIRE(map.has_value());
  auto smap = c->map(iova{0x0ffff000}, scratch->base(), byte_count{page_bytes}, prot::read_write);
  REQUIRE(smap.has_value());

  unpinning_consumer consumer;
  consumer.backend = &c->backend();
  auto reg = c->add_consumer(consumer);
  REQUIRE(reg.has_value());
  consumer.id = reg->device();
  std::vector<page_handle> h(2);
  auto lease = reg->pin(iova{0x103000}, page_count{2}, prot::read_write, h);
  REQUIRE(lease.has_value());
  REQUIRE(static_cast<void*>(h[0].bytes().data()) == static_cast<void*>(mem->bytes().data() + 0x3000));
  REQUIRE(h[0].frame().has_value());  // root in the guest: pagemap gives frames

  for (std::size_t i = 0; i < 2048; ++i) h[0].bytes()[i] = std::byte(static_cast<unsigned char>(i * 7 + 3));
  std::vector<std::byte> seen(2048);
  const real::dma_scratch s{iova{0x0ffff000}, scratch->bytes()};
  REQUIRE(edu->read_from_iova(iova{0x103000}, seen, s).has_value());
  CHECK(std::memcmp(seen.data(), h[0].bytes().data(), 2048) == 0);

  std::vector<std::byte> pattern(1024);
  for (std::size_t i = 0; i < pattern.size(); ++i) pattern[i] = std::byte(static_cast<unsigned char>(255 - i));
  REQUIRE(edu->write_to_iova(iova{0x104100}, pattern, s).has_value());
  CHECK(std::memcmp(h[1].bytes().data() + 0x100, pattern.data(), pattern.size()) == 0);
}

TEST_CASE("real: the unmap notification comes first, a BAR page is never a page handle", "[vm]") {
  testbed tb;
  auto c = open_container();
  auto g = c->attach(tb.group());
  REQUIRE(g.has_value());
  auto gfd = c->backend().group_fd(tb.group());
  REQUIRE(gfd.has_value());
  auto dev = real::device::open(*gfd, tb.edu0.address);
  REQUIRE(dev.has_value());
  auto mem = real::page_region::memfd(byte_count{64 << 10});
  REQUIRE(mem.has_value());
  unpinning_consumer consumer;
  consumer.backend = &c->backend();
  auto reg = c->add_consumer(consumer);
  REQUIRE(reg.has_value());
  consumer.id = reg->device();
  std::vector<page_handle> h(1);
  {
    auto bar = dev->map_bar(VFIO_PCI_BAR0_REGION_INDEX, byte_count{1 << 20});
    REQUIRE(bar.has_value());
    // The BAR maps for DMA (peer to peer), as QEMU maps them...
    auto bmap = c->map(iova{0x200000}, bar->base(), byte_count{1 << 20}, prot::read_write);
    REQUIRE(bmap.has_value());
    // ...but a consumer pin on it is refused at run time: it has no struct pages.
    auto pin = reg->pin(iova{0x200000}, page_count{1}, prot::read, h);
    REQUIRE_FALSE(pin.has_value());
    CHECK(pin.error() == errc::not_page_backed);
    CHECK(h[0].empty());
    // While the BAR is mmapped the group cannot leave the container.
    REQUIRE(bmap->unmap().has_value());
    auto d = g->detach();
    REQUIRE_FALSE(d.has_value());
    CHECK(d.error() == errc::busy);
  }
  auto map = c->map(iova{0x100000}, mem->base(), byte_count{64 << 10}, prot::read);
  REQUIRE(map.has_value());
  auto lease = reg->pin(iova{0x101000}, page_count{1}, prot::read, h);
  REQUIRE(lease.has_value());
  CHECK(c->backend().pinned_pages() == 1);
  auto r = map->unmap();
  REQUIRE(r.has_value());
  REQUIRE(consumer.told.size() == 1);
  CHECK(consumer.told[0].first() == iova{0x100000});
  CHECK(consumer.told[0].last() == iova{0x10ffff});
  CHECK(c->backend().pinned_pages() == 0);
}
