// SPDX-License-Identifier: Apache-2.0
//
// The VFIO device object (include/vfiopin/real/device.hpp), the edu driver (edu.hpp) and
// PCI discovery (pci_sysfs.hpp), without /dev/vfio: a fake kernel behind the syscalls seam
// answers as vfio-pci does (drivers/vfio/pci/vfio_pci_core.c): GET_REGION_INFO raises
// argsz when the capability chain does not fit and sets FLAG_CAPS with cap_offset 0, and
// otherwise puts the chain right after the 32-byte struct; config space is read and
// written with pread/pwrite at the config region's offset (index << 40). The fake edu
// follows QEMU's hw/misc/edu.c: it acts on the command register when the driver waits,
// copies between an identity-mapped "IOVA space" and its 4 KiB buffer at 0x40000, and
// clears the start bit.
#include "tests/support/catch.hpp"

#include <vfiopin/real/device.hpp>
#include <vfiopin/real/edu.hpp>
#include <vfiopin/real/pci_sysfs.hpp>

#include <linux/vfio.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace vfiopin;
using namespace vfiopin::literals;

namespace {

constexpr int group_fd = 100;
constexpr int device_fd = 101;
constexpr std::uint64_t region_offset(std::uint32_t index) { return std::uint64_t{index} << 40; }

// Little helpers building capability chains by hand, with absolute `next` offsets.
void put16(std::vector<std::byte>& b, std::size_t at, std::uint16_t v) {
  if (b.size() < at + 2) b.resize(at + 2);
  std::memcpy(b.data() + at, &v, 2);
}
void put32(std::vector<std::byte>& b, std::size_t at, std::uint32_t v) {
  if (b.size() < at + 4) b.resize(at + 4);
  std::memcpy(b.data() + at, &v, 4);
}
void put64(std::vector<std::byte>& b, std::size_t at, std::uint64_t v) {
  if (b.size() < at + 8) b.resize(at + 8);
  std::memcpy(b.data() + at, &v, 8);
}
// A capability header {id, version, next} at `at`.
void cap_header(std::vector<std::byte>& b, std::size_t at, std::uint16_t id, std::uint32_t next) {
  put16(b, at, id);
  put16(b, at + 2, 1);
  put32(b, at + 4, next);
}

struct fake_region {
  std::uint32_t flags = 0;
  std::uint64_t size = 0;
  std::vector<std::byte> caps;  // bytes from offset 32 on, with absolute `next` offsets
};

// A fake vfio-pci kernel behind the seam (see the file comment).
class fake_vfio_device final : public real::syscalls {
 public:
  std::map<std::uint32_t, fake_region> regions;
  std::array<std::byte, 256> config{};
  std::string device_name = "0000:00:01.0";
  int device_closes = 0;
  int region_info_calls = 0;
  std::vector<std::pair<void*, std::size_t>> bar_maps;

  fake_vfio_device() {
    regions[VFIO_PCI_BAR0_REGION_INDEX] = {
        VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP,
        1024 * 1024, {}};
    regions[VFIO_PCI_CONFIG_REGION_INDEX] = {
        VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE, 256, {}};
    config[0x04] = std::byte{0x00};
    config[0x05] = std::byte{0x04};  // PCI_COMMAND: INTx disable set, nothing else
  }

  long open(const char*, int) noexcept override { return -ENOENT; }
  long close(int fd) noexcept override {
    if (fd == device_fd) ++device_closes;
    return 0;
  }
  long ioctl(int fd, unsigned long request, void* arg) noexcept override {
    if (fd == group_fd && request == VFIO_GROUP_GET_DEVICE_FD) {
      return device_name == static_cast<const char*>(arg) ? device_fd : -ENODEV;
    }
    if (fd != device_fd) return -EBADF;
    if (request == VFIO_DEVICE_GET_INFO) {
      auto* info = static_cast<vfio_device_info*>(arg);
      if (info->argsz < sizeof *info) return -EINVAL;
      info->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
      info->num_regions = VFIO_PCI_NUM_REGIONS;
      info->num_irqs = VFIO_PCI_NUM_IRQS;
      return 0;
    }
    if (request == VFIO_DEVICE_GET_REGION_INFO) {
      ++region_info_calls;
      auto* info = static_cast<vfio_region_info*>(arg);
      if (info->argsz < sizeof *info) return -EINVAL;
      const auto it = regions.find(info->index);
      if (it == regions.end()) return -EINVAL;
      info->flags = it->second.flags;
      info->size = it->second.size;
      info->offset = region_offset(info->index);
      info->cap_offset = 0;
      if (!it->second.caps.empty()) {
        info->flags |= VFIO_REGION_INFO_FLAG_CAPS;
        const std::size_t need = sizeof *info + it->second.caps.size();
        if (info->argsz < need) {
          info->argsz = static_cast<std::uint32_t>(need);
        } else {
          std::memcpy(reinterpret_cast<std::byte*>(info) + sizeof *info, it->second.caps.data(),
                      it->second.caps.size());
          info->cap_offset = sizeof *info;
        }
      }
      return 0;
    }
    return -ENOTTY;
  }
  long mmap(void* addr, std::size_t len, int prot, int flags, int fd, off_t offset,
            void** out) noexcept override {
    if (fd == device_fd) {
      // The BAR: plain shared memory standing in for MMIO, at the placed address.
      if (static_cast<std::uint64_t>(offset) != region_offset(VFIO_PCI_BAR0_REGION_INDEX)) {
        return -EINVAL;
      }
      bar_maps.emplace_back(addr, len);
      flags = (flags & MAP_FIXED) | MAP_SHARED | MAP_ANONYMOUS;
      fd = -1;
      offset = 0;
    }
    return real::linux_syscalls().mmap(addr, len, prot, flags, fd, offset, out);
  }
  long munmap(void* addr, std::size_t len) noexcept override {
    return real::linux_syscalls().munmap(addr, len);
  }
  long pread(int fd, void* buf, std::size_t len, off_t offset) noexcept override {
    const auto at = config_at(fd, len, offset);
    if (at < 0) return at;
    std::memcpy(buf, config.data() + at, len);
    return static_cast<long>(len);
  }
  long pwrite(int fd, const void* buf, std::size_t len, off_t offset) noexcept override {
    const auto at = config_at(fd, len, offset);
    if (at < 0) return at;
    std::memcpy(config.data() + at, buf, len);
    return static_cast<long>(len);
  }

 private:
  long config_at(int fd, std::size_t len, off_t offset) const noexcept {
    const auto base = region_offset(VFIO_PCI_CONFIG_REGION_INDEX);
    const auto off = static_cast<std::uint64_t>(offset);
    if (fd != device_fd || off < base || off - base + len > config.size()) return -EINVAL;
    return static_cast<long>(off - base);
  }
};

// The edu device model of QEMU's hw/misc/edu.c, run when the driver pauses.
struct fake_edu_device {
  struct xfer {
    std::uint64_t src, dst, count;
    bool to_ram;
    friend bool operator==(const xfer&, const xfer&) = default;
  };
  std::vector<std::byte> ram = std::vector<std::byte>(1024 * 1024);  // IOVA x is ram[x]
  std::array<std::byte, 4096> buffer{};
  std::vector<xfer> done;
  int pauses = 0;
  bool stuck = false;
  volatile std::uint64_t* regs = nullptr;  // BAR0 as 64-bit words

  void step() {
    ++pauses;
    if (stuck || (regs[0x98 / 8] & 1) == 0) return;
    const xfer x{regs[0x80 / 8], regs[0x88 / 8], regs[0x90 / 8], (regs[0x98 / 8] & 2) != 0};
    done.push_back(x);
    // Outside `ram` nothing is mapped: reads give zeros, writes are dropped (the IOMMU).
    const bool mapped = (x.to_ram ? x.dst : x.src) + x.count <= ram.size();
    if (x.to_ram) {
      if (mapped) std::memcpy(ram.data() + x.dst, buffer.data() + (x.src - 0x40000), x.count);
    } else if (mapped) {
      std::memcpy(buffer.data() + (x.dst - 0x40000), ram.data() + x.src, x.count);
    } else {
      std::memset(buffer.data() + (x.dst - 0x40000), 0, x.count);
    }
    regs[0x98 / 8] = regs[0x98 / 8] & ~std::uint64_t{1};
  }
};

// A device opened on the fake kernel, with an edu driver whose pauses run the fake edu.
struct edu_fixture {
  fake_vfio_device k;
  fake_edu_device dev;
  std::optional<real::edu> e;
  explicit edu_fixture(std::chrono::milliseconds timeout) {
    auto d = real::device::open(group_fd, "0000:00:01.0", k);
    REQUIRE(d.has_value());
    real::edu_timing timing;
    timing.poll_interval = std::chrono::milliseconds(1);
    timing.timeout = timeout;
    timing.pause = [this](std::chrono::microseconds) { dev.step(); };
    auto opened = real::edu::open(*d, timing);
    REQUIRE(opened.has_value());
    e.emplace(std::move(*opened));
    dev.regs = reinterpret_cast<volatile std::uint64_t*>(e->bar().base().value());
  }
  [[nodiscard]] real::dma_scratch scratch(std::size_t size = 4096) {
    return {iova{0xff000}, std::span(dev.ram).subspan(0xff000, size)};
  }
};

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = std::byte((i * 31 + seed) % 251 + 1);
  return out;
}

}  // namespace

TEST_CASE("real device: opened from its group by name, closed once", "[real][device]") {
  fake_vfio_device k;
  {
    auto d = real::device::open(group_fd, "0000:00:01.0", k);
    REQUIRE(d.has_value());
    CHECK(d->fd() == device_fd);
    CHECK(d->name() == "0000:00:01.0");
    real::device moved = std::move(*d);
    auto info = moved.info();
    REQUIRE(info.has_value());
    CHECK(info->num_regions == VFIO_PCI_NUM_REGIONS);
    CHECK(info->num_irqs == VFIO_PCI_NUM_IRQS);
  }
  CHECK(k.device_closes == 1);
  CHECK(real::device::open(group_fd, "0000:00:02.0", k).error() == errc::no_device);
  CHECK(real::device::open(group_fd, "", k).error() == errc::invalid_argument);
  CHECK(real::device::open(group_fd, std::string_view("a\0b", 3), k).error() ==
        errc::invalid_argument);
}

TEST_CASE("real device region info: plain regions, and a chain grown through argsz",
          "[real][device]") {
  fake_vfio_device k;
  // BAR0 with a sparse-mmap capability (two areas) then a type capability, as a driver
  // with capabilities reports them: chain right after the 32-byte struct.
  std::vector<std::byte> caps;
  cap_header(caps, 0, VFIO_REGION_INFO_CAP_SPARSE_MMAP, 32 + 48);
  put32(caps, 8, 2);
  put64(caps, 16, 0);
  put64(caps, 24, 0x1000);
  put64(caps, 32, 0x8000);
  put64(caps, 40, 0x2000);
  cap_header(caps, 48, VFIO_REGION_INFO_CAP_TYPE, 0);
  put32(caps, 56, 3);
  put32(caps, 60, 9);
  k.regions[VFIO_PCI_BAR0_REGION_INDEX].caps = caps;
  auto d = real::device::open(group_fd, "0000:00:01.0", k);
  REQUIRE(d.has_value());

  auto cfg = d->region(VFIO_PCI_CONFIG_REGION_INDEX);
  REQUIRE(cfg.has_value());
  CHECK(cfg->size == 256);
  CHECK(cfg->offset == region_offset(VFIO_PCI_CONFIG_REGION_INDEX));
  CHECK(!cfg->mmappable());
  CHECK(cfg->cap_ids.empty());

  k.region_info_calls = 0;
  auto bar = d->region(VFIO_PCI_BAR0_REGION_INDEX);
  REQUIRE(bar.has_value());
  CHECK(k.region_info_calls == 2);  // asked again with the argsz the kernel wanted
  CHECK(bar->mmappable());
  CHECK(bar->cap_ids == std::vector<std::uint16_t>{VFIO_REGION_INFO_CAP_SPARSE_MMAP,
                                                   VFIO_REGION_INFO_CAP_TYPE});
  REQUIRE(bar->sparse_mmap.has_value());
  CHECK(*bar->sparse_mmap ==
        std::vector<real::sparse_mmap_area>{{0, 0x1000}, {0x8000, 0x2000}});
  CHECK(bar->type == 3u);
  CHECK(bar->subtype == 9u);
  CHECK(d->region(VFIO_PCI_ROM_REGION_INDEX).error() == errc::invalid_argument);
  // The sparse areas do not cover 64 KiB from 0: no mmap of it.
  CHECK(d->map_bar(VFIO_PCI_BAR0_REGION_INDEX, 64_KiB).error() == errc::invalid_argument);
  auto small = d->map_bar(VFIO_PCI_BAR0_REGION_INDEX, 4_KiB);
  CHECK(small.has_value());
}

TEST_CASE("real region info: malformed capability chains are errors, never crashes",
          "[real][device]") {
  constexpr std::size_t head = sizeof(vfio_region_info);
  auto buffer = [&](std::uint32_t cap_offset, std::size_t size) {
    std::vector<std::byte> b(size);
    put32(b, 0, static_cast<std::uint32_t>(size));
    put32(b, 4, VFIO_REGION_INFO_FLAG_CAPS);
    put32(b, 12, cap_offset);
    return b;
  };
  SECTION("out of order: the second capability points back to the first") {
    auto b = buffer(head, head + 32);
    cap_header(b, head, 99, head + 16);
    cap_header(b, head + 16, 98, head);
    CHECK(real::parse_region_info(b).error() == errc::protocol_error);
  }
  SECTION("a capability pointing at itself") {
    auto b = buffer(head, head + 16);
    cap_header(b, head, 99, head);
    CHECK(real::parse_region_info(b).error() == errc::protocol_error);
  }
  SECTION("the first capability inside the fixed struct") {
    auto b = buffer(8, head + 16);
    CHECK(real::parse_region_info(b).error() == errc::protocol_error);
  }
  SECTION("next beyond the buffer, or a header cut short") {
    auto b = buffer(head, head + 16);
    cap_header(b, head, 99, head + 4096);
    CHECK(real::parse_region_info(b).error() == errc::protocol_error);
    auto c = buffer(head, head + 4);
    CHECK(real::parse_region_info(c).error() == errc::protocol_error);
  }
  SECTION("a sparse-mmap capability claiming more areas than fit") {
    auto b = buffer(head, head + 32);
    cap_header(b, head, VFIO_REGION_INFO_CAP_SPARSE_MMAP, 0);
    put32(b, head + 8, 0xffffffff);
    CHECK(real::parse_region_info(b).error() == errc::protocol_error);
  }
  SECTION("a type capability cut short by the next one") {
    auto b = buffer(head, head + 40);
    cap_header(b, head, VFIO_REGION_INFO_CAP_TYPE, head + 8);
    cap_header(b, head + 8, 99, 0);
    CHECK(real::parse_region_info(b).error() == errc::protocol_error);
  }
  SECTION("a buffer shorter than the fixed struct") {
    std::vector<std::byte> b(head - 1);
    CHECK(real::parse_region_info(b).error() == errc::protocol_error);
  }
  SECTION("unknown capabilities are skipped, their ids kept") {
    auto b = buffer(head, head + 24);
    cap_header(b, head, 0x77, head + 16);
    cap_header(b, head + 16, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 0);
    auto r = real::parse_region_info(b);
    REQUIRE(r.has_value());
    CHECK(r->cap_ids == std::vector<std::uint16_t>{0x77, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE});
  }
  SECTION("random chains") {
    std::mt19937 rng(4);
    for (int round = 0; round < 20000; ++round) {
      auto b = buffer(static_cast<std::uint32_t>(rng() % 96), head + rng() % 96);
      for (std::size_t i = head; i < b.size(); ++i) {
        b[i] = std::byte(rng() % 4 == 0 ? rng() % 128 : rng() % 4);
      }
      auto r = real::parse_region_info(b);
      CHECK((r.has_value() || r.error() == errc::protocol_error));
    }
  }
}

TEST_CASE("real device config space and bus mastering", "[real][device]") {
  fake_vfio_device k;
  auto d = real::device::open(group_fd, "0000:00:01.0", k);
  REQUIRE(d.has_value());
  REQUIRE(d->enable_bus_master().has_value());
  // PCI_COMMAND: memory space (bit 1) and bus master (bit 2) set; INTx disable kept.
  CHECK(k.config[4] == std::byte{0x06});
  CHECK(k.config[5] == std::byte{0x04});
  CHECK(*d->config_read16(real::pci_command) == 0x0406);
  REQUIRE(d->config_write16(0x10, 0xbeef).has_value());
  CHECK(k.config[0x10] == std::byte{0xef});
  CHECK(k.config[0x11] == std::byte{0xbe});
  std::array<std::byte, 4> four{};
  CHECK(d->config_read(254, four).error() == errc::invalid_argument);
  CHECK(d->config_read(~std::uint64_t{0}, four).error() == errc::invalid_argument);
}

TEST_CASE("real device map_bar: placed, RAII, bounded by the region", "[real][device]") {
  fake_vfio_device k;
  auto d = real::device::open(group_fd, "0000:00:01.0", k);
  REQUIRE(d.has_value());
  CHECK(d->map_bar(VFIO_PCI_BAR0_REGION_INDEX, 2_MiB).error() == errc::invalid_argument);
  CHECK(d->map_bar(VFIO_PCI_BAR0_REGION_INDEX, 0_B).error() == errc::invalid_argument);
  CHECK(d->map_bar(VFIO_PCI_CONFIG_REGION_INDEX, 256_B).error() == errc::invalid_argument);
  {
    auto bar = d->map_bar(VFIO_PCI_BAR0_REGION_INDEX, 1_MiB);
    REQUIRE(bar.has_value());
    CHECK(bar->base().value() % (2 * 1024 * 1024) == 0);
    CHECK(bar->size() == 1_MiB);
    REQUIRE(k.bar_maps.size() == 1);
    CHECK(k.bar_maps[0].first == reinterpret_cast<void*>(bar->base().value()));
    bar->write64(byte_count{0x80}, 0x1122334455667788);
    CHECK(bar->read64(byte_count{0x80}) == 0x1122334455667788);
    CHECK(bar->read32(byte_count{0x84}) == 0x11223344);
    auto req = bar->map_request(iova{0x400000}, 0_B, 1_MiB, prot::read_write);
    REQUIRE(req.has_value());
    CHECK(req->from == bar->base());
  }
}

TEST_CASE("edu driver: chunked reads and writes through a scratch area", "[real][edu]") {
  edu_fixture f(std::chrono::milliseconds(50));
  auto& dev = f.dev;
  auto& e = f.e;
  CHECK((f.k.config[4] & std::byte{0x06}) == std::byte{0x06});
  const real::dma_scratch scratch = f.scratch();
  const auto data = pattern(5000, 7);
  std::memcpy(dev.ram.data() + 0x1000, data.data(), data.size());
  std::vector<std::byte> out(5000);
  REQUIRE(e->read_from_iova(iova{0x1000}, out, scratch).has_value());
  CHECK(out == data);
  using x = fake_edu_device::xfer;
  const std::vector<x> reads{
      {0x1000, 0x40000, 2048, false}, {0x40000, 0xff000, 2048, true},
      {0x1800, 0x40000, 2048, false}, {0x40000, 0xff000, 2048, true},
      {0x2000, 0x40000, 904, false},  {0x40000, 0xff000, 904, true}};
  CHECK(dev.done == reads);

  dev.done.clear();
  const auto bytes = pattern(3000, 99);
  REQUIRE(e->write_to_iova(iova{0x20000}, bytes, scratch).has_value());
  CHECK(std::memcmp(dev.ram.data() + 0x20000, bytes.data(), bytes.size()) == 0);
  const std::vector<x> writes{{0xff000, 0x40000, 2048, false},
                              {0x40000, 0x20000, 2048, true},
                              {0xff000, 0x40000, 952, false},
                              {0x40000, 0x20800, 952, true}};
  CHECK(dev.done == writes);
}

TEST_CASE("edu driver: limits of the device are refused, a stuck device times out",
          "[real][edu]") {
  edu_fixture f(std::chrono::milliseconds(10));
  auto& dev = f.dev;
  auto& e = f.e;
  const real::dma_scratch scratch = f.scratch();
  std::vector<std::byte> out(64);

  // Addresses at or above 256 MiB (the 28-bit DMA mask), empty or oversized transfers.
  CHECK(e->read_from_iova(iova{0x0ffffff0}, out, scratch).error() == errc::invalid_argument);
  CHECK(e->read_from_iova(iova{0x10000000}, out, scratch).error() == errc::invalid_argument);
  // The last 64 bytes below 256 MiB are reachable (the fake has no RAM there: zeros).
  std::fill(out.begin(), out.end(), std::byte{1});
  REQUIRE(e->read_from_iova(iova{0x0fffffc0}, out, scratch).has_value());
  CHECK(out == std::vector<std::byte>(64));
  dev.done.clear();
  CHECK(e->read_from_iova(iova{0x1000}, std::span<std::byte>{}, scratch).error() ==
        errc::invalid_argument);
  CHECK(e->to_device(iova{0x1000}, byte_count{2049}).error() == errc::invalid_argument);
  CHECK(e->to_device(iova{0x1000}, byte_count{0}).error() == errc::invalid_argument);
  CHECK(e->from_device(iova{0x0ffff801}, byte_count{2048}).error() == errc::invalid_argument);
  // The scratch area must hold a chunk and be reachable.
  const real::dma_scratch tiny = f.scratch(32);
  CHECK(e->read_from_iova(iova{0x1000}, out, tiny).error() == errc::invalid_argument);
  const real::dma_scratch far{iova{0x10000000}, std::span(dev.ram).subspan(0xff000, 4096)};
  CHECK(e->write_to_iova(iova{0x1000}, out, far).error() == errc::invalid_argument);
  CHECK(dev.done.empty());

  // A device that is busy when asked is waited for before it is programmed.
  dev.regs[0x98 / 8] = 1;
  dev.regs[0x80 / 8] = 0x5000;
  dev.regs[0x88 / 8] = 0x40000;
  dev.regs[0x90 / 8] = 16;
  REQUIRE(e->to_device(iova{0x3000}, byte_count{64}).has_value());
  REQUIRE(dev.done.size() == 2);
  CHECK(dev.done[0].src == 0x5000);
  CHECK(dev.done[1].src == 0x3000);

  // A transfer that never finishes: io_error after timeout / poll_interval polls.
  dev.stuck = true;
  dev.pauses = 0;
  CHECK(e->to_device(iova{0x3000}, byte_count{64}).error() == errc::io_error);
  CHECK(dev.pauses == 10);
}

TEST_CASE("pci sysfs discovery: edu functions sorted by address, with groups", "[real][sysfs]") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("vfiopin-sysfs-" + std::to_string(::getpid()));
  fs::remove_all(root);
  auto function = [&](const std::string& name, const char* vendor, const char* device,
                      const char* group) {
    fs::create_directories(root / "devices" / name);
    std::ofstream(root / "devices" / name / "vendor") << vendor << "\n";
    std::ofstream(root / "devices" / name / "device") << device << "\n";
    if (group != nullptr) {
      fs::create_directories(root / "groups" / group);
      fs::create_directory_symlink(fs::path("../../groups") / group,
                                   root / "devices" / name / "iommu_group");
    }
  };
  function("0000:01:00.0", "0x1234", "0x11e8", "7");
  function("0000:00:01.0", "0x1234", "0x11e8", "3");
  function("0000:00:02.0", "0x8086", "0x11e8", "4");
  function("0000:00:03.0", "0x1234", "0x1111", "5");
  function("0000:02:00.0", "0x1234", "0x11e8", nullptr);
  function("0000:03:00.0", "junk", "0x11e8", "8");
  auto found = real::find_edu_devices(root / "devices");
  REQUIRE(found.has_value());
  const std::vector<real::pci_function> want{
      {"0000:00:01.0", 3u}, {"0000:01:00.0", 7u}, {"0000:02:00.0", std::nullopt}};
  CHECK(*found == want);
  CHECK(real::find_edu_devices(root / "absent").error() == errc::no_entry);
  fs::remove_all(root);
}
