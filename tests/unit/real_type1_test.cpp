// SPDX-License-Identifier: Apache-2.0
//
// real::type1 and real/caps.hpp against a scripted kernel (tests/support/fake_vfio.hpp).
// The expected values are the test bed's kernel's answers (docs/testbed.md: pgsizes
// 0x40201000, IOVA ranges 0x0-0xfedfffff and 0xfef00000-0x7fffffffff, dma_avail 65535,
// argsz 116 on 6.1) and the uapi's layouts (include/uapi/linux/vfio.h), not this code's output.

#include "tests/support/catch.hpp"
#include "tests/support/fake_vfio.hpp"

#include <vfiopin/container.hpp>
#include <vfiopin/real/caps.hpp>
#include <vfiopin/real/proc_status.hpp>
#include <vfiopin/real/type1.hpp>

#include <sys/mman.h>

#include <cstring>
#include <vector>

using namespace vfiopin;
using vfiopin::test::fake_vfio;

namespace {

/// Appends a capability at the end of `chain` (whose byte 0 sits at buffer offset 24),
/// linking the previous one's next to it, as vfio_info_cap_add does.
struct chain_builder {
  std::vector<std::byte> bytes;
  std::size_t last_header = SIZE_MAX;
  void add(std::uint16_t id, std::uint16_t version, const void* body, std::size_t body_len,
           std::size_t pad = 0) {
    const auto at = static_cast<std::uint32_t>(24 + bytes.size());
    if (last_header != SIZE_MAX) std::memcpy(bytes.data() + last_header + 4, &at, 4);
    last_header = bytes.size();
    vfio_info_cap_header h{id, version, 0};
    const std::size_t base = bytes.size();
    bytes.resize(base + sizeof h + body_len + pad);
    std::memcpy(bytes.data() + base, &h, sizeof h);
    std::memcpy(bytes.data() + base + sizeof h, body, body_len);
  }
};

/// The test bed's 6.1 chain: IOVA ranges, migration, DMA avail: argsz 116.
std::vector<std::byte> testbed_chain(std::size_t avail_pad = 0) {
  chain_builder c;
  struct {
    std::uint32_t nr, reserved;
    vfio_iova_range r[2];
  } ranges{2, 0, {{0x0, 0xfedfffff}, {0xfef00000, 0x7fffffffff}}};
  c.add(VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 1, &ranges, sizeof ranges);
  struct {
    std::uint32_t flags, pad;
    std::uint64_t pgsize_bitmap, max_dirty;
  } mig{0, 0, 0x1000, 256ULL << 20};
  c.add(VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, 1, &mig, sizeof mig);
  const std::uint32_t avail = 65535;
  c.add(VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 1, &avail, sizeof avail, avail_pad);
  return c.bytes;
}

std::vector<std::byte> info_buffer(const std::vector<std::byte>& chain) {
  std::vector<std::byte> buf(sizeof(vfio_iommu_type1_info) + chain.size());
  vfio_iommu_type1_info info{};
  info.argsz = static_cast<std::uint32_t>(buf.size());
  info.flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS;
  info.iova_pgsizes = 0x40201000;
  info.cap_offset = chain.empty() ? 0 : sizeof info;
  std::memcpy(buf.data(), &info, sizeof info);
  std::memcpy(buf.data() + sizeof info, chain.data(), chain.size());
  return buf;
}

void set_next(std::vector<std::byte>& buf, std::size_t header_at, std::uint32_t next) {
  std::memcpy(buf.data() + header_at + 4, &next, 4);
}

void check_testbed_info(const iommu_info& info) {
  CHECK(info.iova_pgsizes == 0x40201000);
  REQUIRE(info.iova_ranges.has_value());
  REQUIRE(info.iova_ranges->size() == 2);
  CHECK((*info.iova_ranges)[0].first() == iova{0});
  CHECK((*info.iova_ranges)[0].last() == iova{0xfedfffff});
  CHECK((*info.iova_ranges)[1].first() == iova{0xfef00000});
  CHECK((*info.iova_ranges)[1].last() == iova{0x7fffffffff});
  CHECK(info.dma_avail == std::optional<std::uint32_t>(65535));
  REQUIRE(info.migration.has_value());
  CHECK(info.migration->pgsize_bitmap == 0x1000);
}

real::type1 make(fake_vfio& k, iommu_type t = iommu_type::type1v2) {
  auto fd = real::open_container(t, k);
  REQUIRE(fd.has_value());
  return real::type1(std::move(*fd), t);
}

}  // namespace

TEST_CASE("real caps: the test bed's 6.1 chain is 116 bytes and parses to its answers", "[real]") {
  const auto buf = info_buffer(testbed_chain());
  CHECK(buf.size() == 116);
  auto info = real::parse_iommu_info(buf);
  REQUIRE(info.has_value());
  check_testbed_info(*info);
}

TEST_CASE("real caps: a padded capability (argsz 120) and an unknown id change nothing", "[real]") {
  auto chain = testbed_chain(4);
  chain_builder extra{chain, 80};  // the DMA avail header sits at buffer offset 104
  const std::uint32_t junk[3] = {1, 2, 3};
  extra.add(0x7777, 1, junk, sizeof junk);
  const auto buf = info_buffer(extra.bytes);
  CHECK(buf.size() == 120 + 8 + 12);
  auto info = real::parse_iommu_info(buf);
  REQUIRE(info.has_value());
  check_testbed_info(*info);
}

TEST_CASE("real caps: malformed chains are protocol errors, never reads out of bounds", "[real]") {
  const auto good = info_buffer(testbed_chain());
  SECTION("a loop back to the first capability") {
    auto b = good;
    set_next(b, 104, 24);
    CHECK(real::parse_iommu_info(b).error() == errc::protocol_error);
  }
  SECTION("a self loop") {
    auto b = good;
    set_next(b, 72, 72);
    CHECK(real::parse_iommu_info(b).error() == errc::protocol_error);
  }
  SECTION("next into the fixed head") {
    auto b = good;
    set_next(b, 24, 8);
    CHECK(real::parse_iommu_info(b).error() == errc::protocol_error);
  }
  SECTION("next beyond the buffer") {
    auto b = good;
    set_next(b, 24, 4096);
    CHECK(real::parse_iommu_info(b).error() == errc::protocol_error);
  }
  SECTION("a header that does not fit in what is left") {
    auto b = good;
    set_next(b, 104, static_cast<std::uint32_t>(b.size() - 4));
    CHECK(real::parse_iommu_info(b).error() == errc::protocol_error);
  }
  SECTION("nr_iovas larger than the capability can hold") {
    auto b = good;
    const std::uint32_t nr = 1000;
    std::memcpy(b.data() + 24 + 8, &nr, 4);
    CHECK(real::parse_iommu_info(b).error() == errc::protocol_error);
  }
  SECTION("a range with start > end") {
    auto b = good;
    const std::uint64_t start = 0xffffffff;
    std::memcpy(b.data() + 24 + 16, &start, 8);
    CHECK(real::parse_iommu_info(b).error() == errc::protocol_error);
  }
  SECTION("the buffer cut inside the last capability") {
    auto b = good;
    b.resize(110);
    CHECK(real::parse_iommu_info(b).error() == errc::protocol_error);
  }
  SECTION("a head shorter than cap_offset") {
    auto b = good;
    b.resize(12);
    CHECK(real::parse_iommu_info(b).error() == errc::protocol_error);
  }
}

TEST_CASE("real caps: a chain out of offset order parses", "[real]") {
  // Nothing in the uapi promises ascending offsets: follow next, wherever it points.
  auto b = info_buffer(testbed_chain());
  vfio_iommu_type1_info info{};
  std::memcpy(&info, b.data(), sizeof info);
  info.cap_offset = 104;  // dma avail first, then ranges, then migration
  std::memcpy(b.data(), &info, sizeof info);
  set_next(b, 104, 24);
  set_next(b, 72, 0);
  auto parsed = real::parse_iommu_info(b);
  REQUIRE(parsed.has_value());
  check_testbed_info(*parsed);
}

TEST_CASE("real type1: GET_INFO asks again with the argsz the kernel wants", "[real]") {
  fake_vfio k;
  k.info_chain = testbed_chain();
  auto t = make(k);
  auto info = t.info();
  REQUIRE(info.has_value());
  check_testbed_info(*info);
  REQUIRE(k.count(VFIO_IOMMU_GET_INFO) == 2);
  CHECK(k.calls[k.calls.size() - 2].argsz == sizeof(vfio_iommu_type1_info));
  CHECK(k.calls.back().argsz == 116);
}

TEST_CASE("real type1: open_container checks the API version and the type", "[real]") {
  fake_vfio k;
  SECTION("a wrong API version") {
    k.answer[VFIO_GET_API_VERSION] = 1;
    CHECK(real::open_container(iommu_type::type1v2, k).error() == errc::not_supported);
  }
  SECTION("no /dev/vfio/vfio") {
    k.missing.insert("/dev/vfio/vfio");
    CHECK(real::open_container(iommu_type::type1v2, k).error() == errc::no_entry);
  }
  CHECK(k.open_fds.empty());  // nothing leaked on either error path
}

TEST_CASE("real type1: first attach sets the IOMMU type, a failing SET_IOMMU undoes it", "[real]") {
  fake_vfio k;
  {
    auto t = make(k, iommu_type::type1);
    REQUIRE(t.attach_group(group_id{7}).has_value());
    CHECK(k.set_iommu_type == VFIO_TYPE1_IOMMU);
    CHECK(k.groups_in_container == 1);
    REQUIRE(t.attach_group(group_id{8}).has_value());
    CHECK(k.count(VFIO_SET_IOMMU) == 1);  // only the first group sets it
    REQUIRE(t.group_fd(group_id{7}).has_value());
    CHECK(k.open_fds.at(*t.group_fd(group_id{7})) == "/dev/vfio/7");
  }
  CHECK(k.groups_in_container == 0);  // the destructor unset both
  CHECK(k.open_fds.empty());

  fake_vfio k2;
  k2.answer[VFIO_SET_IOMMU] = -EINVAL;
  auto t = make(k2);
  CHECK(t.attach_group(group_id{3}).error() == errc::invalid_argument);
  CHECK(k2.groups_in_container == 0);
  CHECK(k2.open_fds.size() == 1);  // only the container
  CHECK_FALSE(t.group_fd(group_id{3}).has_value());
}

TEST_CASE("real type1: a detach the kernel refuses (EBUSY: BAR mmapped) keeps the group", "[real]") {
  fake_vfio k;
  auto t = make(k);
  REQUIRE(t.attach_group(group_id{1}).has_value());
  k.answer[VFIO_GROUP_UNSET_CONTAINER] = -EBUSY;
  CHECK(t.detach_group(group_id{1}).error() == errc::busy);
  CHECK(t.group_fd(group_id{1}).has_value());
  k.answer.erase(VFIO_GROUP_UNSET_CONTAINER);
  CHECK(t.detach_group(group_id{1}).has_value());
  CHECK_FALSE(t.group_fd(group_id{1}).has_value());
  CHECK(k.open_fds.size() == 1);
}

TEST_CASE("real type1: ioctls interrupted by a signal are retried", "[real]") {
  fake_vfio k;
  auto t = make(k);
  REQUIRE(t.attach_group(group_id{1}).has_value());
  k.eintr[VFIO_IOMMU_MAP_DMA] = 2;
  std::vector<std::byte> mem(1 << 16);
  const dma_map_request req{iova{0x100000}, vaddr{reinterpret_cast<std::uintptr_t>(mem.data())},
                            byte_count{0x10000}, prot::read_write, false};
  REQUIRE(t.map_dma(req).has_value());
  CHECK(k.count(VFIO_IOMMU_MAP_DMA) == 3);
  REQUIRE(k.maps.size() == 1);
  CHECK(k.maps[0].argsz == sizeof(vfio_iommu_type1_dma_map));
  CHECK(k.maps[0].flags == (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE));
  CHECK(k.maps[0].iova == 0x100000);
  CHECK(k.maps[0].size == 0x10000);
}

TEST_CASE("real type1: errno comes back as errc, unchanged", "[real]") {
  fake_vfio k;
  auto t = make(k);
  REQUIRE(t.attach_group(group_id{1}).has_value());
  k.answer[VFIO_IOMMU_MAP_DMA] = -EEXIST;
  CHECK(t.map_dma({iova{0}, vaddr{0x1000}, byte_count{0x1000}, prot::read, false}).error() ==
        errc::exists);
  k.answer[VFIO_IOMMU_UNMAP_DMA] = -EINVAL;
  CHECK(t.unmap_dma({iova{0}, byte_count{0x1000}, {}, {}, {}}).error() == errc::invalid_argument);
}

TEST_CASE("real type1: UNMAP with the dirty bitmap passes a vfio_bitmap after the head", "[real]") {
  fake_vfio k;
  auto t = make(k);
  REQUIRE(t.attach_group(group_id{1}).has_value());
  std::vector<std::uint64_t> bits(1);
  dma_unmap_request req{iova{0x100000}, byte_count{0x10000}, {}, byte_count{4096}, bits};
  req.flags.get_dirty_bitmap = true;
  auto r = t.unmap_dma(req);
  REQUIRE(r.has_value());
  CHECK(r->size == byte_count{0x10000});
  REQUIRE(k.unmap_bitmaps.size() == 1);
  CHECK(k.unmaps[0].argsz == sizeof(vfio_iommu_type1_dma_unmap) + sizeof(vfio_bitmap));
  CHECK(k.unmaps[0].flags == VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP);
  CHECK(k.unmap_bitmaps[0].pgsize == 4096);
  CHECK(k.unmap_bitmaps[0].size == 8);
  CHECK(k.unmap_bitmaps[0].data == reinterpret_cast<__u64*>(bits.data()));
}

namespace {
/// A consumer that unpins what it is told about, or, when stubborn, keeps everything.
struct test_consumer {
  explicit test_consumer(real::type1* b) : backend(b) {}
  real::type1* backend = nullptr;
  device_id id{};
  bool stubborn = false;
  std::vector<interval<iova>> told;
  void operator()(interval<iova> r) noexcept {
    told.push_back(r);
    if (!stubborn) {
      backend->unpin_pages(id, r.first(), page_count{(r.last().value() - r.first().value() + 1) / 4096});
    }
  }
};

struct pin_fixture {
  fake_vfio k;
  real::type1 t = make(k);
  void* mem = nullptr;
  std::uintptr_t base = 0;
  pin_fixture() {
    mem = ::mmap(nullptr, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    std::memset(mem, 0x5a, 16 * 4096);
    base = reinterpret_cast<std::uintptr_t>(mem);
    REQUIRE(t.attach_group(group_id{1}).has_value());
  }
  ~pin_fixture() { ::munmap(mem, 16 * 4096); }
  pin_fixture(const pin_fixture&) = delete;
  pin_fixture& operator=(const pin_fixture&) = delete;
};
}  // namespace

TEST_CASE("real type1 pins: handles point at the mapping's memory, all or nothing", "[real]") {
  pin_fixture f;
  REQUIRE(f.t.map_dma({iova{0x100000}, vaddr{f.base}, byte_count{8 * 4096}, prot::read, false}));
  test_consumer c(&f.t);
  auto d = f.t.add_device(dma_unmap_callback(c));
  REQUIRE(d.has_value());
  c.id = *d;
  std::vector<page_handle> out(4);
  REQUIRE(f.t.pin_pages(*d, iova{0x102000}, page_count{2}, prot::read, out).has_value());
  CHECK(static_cast<void*>(out[0].bytes().data()) == static_cast<void*>(reinterpret_cast<std::byte*>(f.base + 0x2000)));
  CHECK(out[1].bytes()[0] == std::byte{0x5a});
  CHECK(f.t.pinned_pages() == 2);
  // Prot the mapping does not have: EPERM, nothing pinned, out cleared.
  CHECK(f.t.pin_pages(*d, iova{0x100000}, page_count{1}, prot::write, out).error() == errc::not_permitted);
  // Runs past the mapping's end on the third page: EINVAL, the first two unwound.
  CHECK(f.t.pin_pages(*d, iova{0x106000}, page_count{3}, prot::read, out).error() == errc::invalid_argument);
  CHECK(out[0].empty());
  CHECK(f.t.pinned_pages() == 2);
  // 513 pages: E2BIG; 0 pages: EINVAL.
  std::vector<page_handle> big(513);
  CHECK(f.t.pin_pages(*d, iova{0x100000}, page_count{513}, prot::read, big).error() == errc::too_big);
  CHECK(f.t.pin_pages(*d, iova{0x100000}, page_count{0}, prot::read, big).error() == errc::invalid_argument);
  // A device that was never added: EINVAL.
  CHECK(f.t.pin_pages(device_id{99}, iova{0x100000}, page_count{1}, prot::read, out).error() == errc::invalid_argument);
  f.t.unpin_pages(*d, iova{0x102000}, page_count{2});
  CHECK(f.t.pinned_pages() == 0);
  f.t.remove_device(*d);
}

TEST_CASE("real type1 pins: a v1 container refuses pins with EACCES", "[real]") {
  fake_vfio k;
  auto t = make(k, iommu_type::type1);
  REQUIRE(t.attach_group(group_id{1}).has_value());
  test_consumer c(&t);
  auto d = t.add_device(dma_unmap_callback(c));
  REQUIRE(d.has_value());
  std::vector<page_handle> out(1);
  CHECK(t.pin_pages(*d, iova{0}, page_count{1}, prot::read, out).error() == errc::access_denied);
  t.remove_device(*d);
}

TEST_CASE("real type1 pins: the unmap notification comes before the kernel's unmap", "[real]") {
  pin_fixture f;
  REQUIRE(f.t.map_dma({iova{0x100000}, vaddr{f.base}, byte_count{8 * 4096}, prot::read_write, false}));
  test_consumer c(&f.t);
  auto d = f.t.add_device(dma_unmap_callback(c));
  REQUIRE(d.has_value());
  c.id = *d;
  std::vector<page_handle> out(1);
  REQUIRE(f.t.pin_pages(*d, iova{0x101000}, page_count{1}, prot::write, out).has_value());

  SECTION("a cooperative device unpins, then the kernel is asked") {
    auto r = f.t.unmap_dma({iova{0x100000}, byte_count{8 * 4096}, {}, {}, {}});
    REQUIRE(r.has_value());
    REQUIRE(c.told.size() == 1);
    CHECK(c.told[0].first() == iova{0x100000});
    CHECK(c.told[0].last() == iova{0x107fff});
    CHECK(f.k.unmaps.size() == 1);
    CHECK(f.t.pinned_pages() == 0);
  }
  SECTION("a device that keeps its pins: pins_retained after 11 notifications, no unmap") {
    c.stubborn = true;
    auto r = f.t.unmap_dma({iova{0x100000}, byte_count{8 * 4096}, {}, {}, {}});
    CHECK(r.error() == errc::pins_retained);
    CHECK(c.told.size() == 11);
    CHECK(f.k.unmaps.empty());
    CHECK(f.t.pinned_pages() == 1);
    c.stubborn = false;
    f.t.unpin_pages(*d, iova{0x101000}, page_count{1});
  }
  SECTION("an unmap the kernel will refuse (bisecting, v2) tells nobody") {
    f.k.answer[VFIO_IOMMU_UNMAP_DMA] = -EINVAL;
    CHECK(f.t.unmap_dma({iova{0x101000}, byte_count{4096}, {}, {}, {}}).error() == errc::invalid_argument);
    CHECK(c.told.empty());
    f.t.unpin_pages(*d, iova{0x101000}, page_count{1});
  }
  f.t.remove_device(*d);
}

TEST_CASE("real type1 pins: PFNMAP memory is refused with not_page_backed", "[real]") {
  pin_fixture f;
  // The vma the kernel would report for a BAR mmap: VmFlags with pf (VM_PFNMAP) and io.
  char line[160];
  std::snprintf(line, sizeof line, "%lx-%lx rw-s 00000000 00:05 10 /dev/vfio/devices/x\n",
                static_cast<unsigned long>(f.base), static_cast<unsigned long>(f.base + 16 * 4096));
  f.k.files["/proc/self/smaps"] =
      std::string(line) + "Size:                 64 kB\nVmFlags: rd wr sh mr mw me ms io pf dd\n";
  REQUIRE(f.t.map_dma({iova{0x100000}, vaddr{f.base}, byte_count{4096}, prot::read_write, false}));
  test_consumer c(&f.t);
  auto d = f.t.add_device(dma_unmap_callback(c));
  REQUIRE(d.has_value());
  std::vector<page_handle> out(1);
  CHECK(f.t.pin_pages(*d, iova{0x100000}, page_count{1}, prot::read, out).error() ==
        errc::not_page_backed);
  CHECK(out[0].empty());
  CHECK(f.t.pinned_pages() == 0);
  f.t.remove_device(*d);
}

TEST_CASE("real type1: the container API runs on the real backend", "[real]") {
  fake_vfio k;
  auto fd = real::open_container(iommu_type::type1v2, k);
  REQUIRE(fd.has_value());
  {
    container<real::type1> c(std::in_place, std::move(*fd), iommu_type::type1v2);
    auto g = c.attach(group_id{4});
    REQUIRE(g.has_value());
    auto m = c.map(iova{0x100000}, vaddr{0x7f0000000000}, byte_count{0x2000}, prot::read);
    REQUIRE(m.has_value());
  }
  CHECK(k.unmaps.size() == 1);  // the mapping's handle unmapped it
  CHECK(k.groups_in_container == 0);
  CHECK(k.open_fds.empty());
}

TEST_CASE("real proc_status: VmLck in kB becomes bytes, anything else is a protocol error", "[real]") {
  CHECK(real::parse_vm_locked("Name:\tx\nVmLck:\t     128 kB\nVmPin:\t0 kB\n") == byte_count{128 * 1024});
  CHECK(real::parse_vm_locked("VmLck:\t0 kB\n") == byte_count{0});
  CHECK(real::parse_vm_locked("VmPin:\t0 kB\n").error() == errc::protocol_error);
  CHECK(real::parse_vm_locked("VmLck:\t12 MB\n").error() == errc::protocol_error);
  CHECK(real::parse_vm_locked("VmLck:\t99999999999999999999 kB\n").error() == errc::protocol_error);
  // locked_vm one page below zero: the kernel prints (2^64 - 1) * 4 kB modulo 2^64.
  CHECK(real::parse_vm_locked("VmLck:\t18446744073709551612 kB\n") == byte_count{0xfffffffffffff000});
  auto mine = real::vm_locked();  // this process: root or not, the line is there
  CHECK(mine.has_value());
}
