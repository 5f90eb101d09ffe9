// SPDX-License-Identifier: Apache-2.0
//
// real_device_test: the real device, memory and edu driver against real VFIO, in the guest
// (scripts/vfio-vm, ctest vm.real_device).
//
// Theory of operation: it runs as root inside the test bed (vm-testbed.md), statically
// linked. The container is set up with raw ioctls, as vfio_probe does (the library's
// real::type1 is tested on its own); everything else is the library's:
//   1. real::find_edu_devices: the first edu device and its group; the group is put in a
//      fresh container, TYPE1v2;
//   2. real::device: GET_INFO (9 regions), region info of BAR0 (1 MiB, mmap) and config;
//   3. real::edu::open: bus mastering on, BAR0 mapped; real::classify says the BAR mmap is
//      pfn_map (VM_PFNMAP) and an anon region is pages;
//   4. MAP_DMA of 64 KiB of a filled page_region at IOVA 0x100000 and of a scratch page at
//      0x0ffff000; the mapped pages have frames in pagemap (pinned by type1);
//   5. edu DMA: a 2048-byte read and a 3000-byte read (two chunks) equal the memory; a
//      device write lands in memory; a read of the unmapped IOVA 0x300000 gives zeros;
//   6. teardown: UNMAP_DMA both, the BAR unmapped (edu destroyed) and the device closed;
//      then VFIO_GROUP_UNSET_CONTAINER succeeds (it is EBUSY while the BAR is mapped).
// Every check prints one line ("ok" or "MISMATCH"); exit status 0 only if all passed.

#include <vfiopin/real/device.hpp>
#include <vfiopin/real/edu.hpp>
#include <vfiopin/real/memory.hpp>
#include <vfiopin/real/pagemap.hpp>
#include <vfiopin/real/pci_sysfs.hpp>
#include <vfiopin/real/vma.hpp>

#include <linux/vfio.h>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace vfiopin;
using namespace vfiopin::literals;

int checks = 0;
int mismatches = 0;

bool report(bool ok, const std::string& what) {
  ++checks;
  if (!ok) ++mismatches;
  std::printf("real_device_test: %s: %s\n", ok ? "ok" : "MISMATCH", what.c_str());
  std::fflush(stdout);
  return ok;
}

template <class T>
bool report_result(const result<T>& r, const std::string& what) {
  return report(r.has_value(), what + (r.has_value() ? "" : ": " + r.error().message()));
}

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = std::byte((i * 31 + seed) % 251 + 1);
  return out;
}

bool map_dma(int container, const dma_map_request& m) {
  vfio_iommu_type1_dma_map map{};
  map.argsz = sizeof map;
  map.flags = static_cast<std::uint32_t>(m.access);  // prot values are the uAPI's flags
  map.vaddr = m.from.value();
  map.iova = m.at.value();
  map.size = m.size.value();
  const bool ok = ::ioctl(container, VFIO_IOMMU_MAP_DMA, &map) == 0;
  report(ok, "MAP_DMA iova " + std::to_string(m.at.value()) + (ok ? "" : ": " + std::string(std::strerror(errno))));
  return ok;
}

void unmap_dma(int container, iova at, byte_count size) {
  vfio_iommu_type1_dma_unmap unmap{};
  unmap.argsz = sizeof unmap;
  unmap.iova = at.value();
  unmap.size = size.value();
  const bool ok = ::ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap) == 0;
  report(ok && unmap.size == size.value(), "UNMAP_DMA iova " + std::to_string(at.value()));
}

int run() {
  auto edus = real::find_edu_devices();
  if (!report_result(edus, "find_edu_devices") || !report(edus->size() == 2, "two edu devices") ||
      !report((*edus)[0].iommu_group.has_value(), "edu 0 has an IOMMU group")) {
    return 1;
  }
  const std::string address = (*edus)[0].address;
  const std::string group_path = "/dev/vfio/" + std::to_string(*(*edus)[0].iommu_group);
  std::printf("real_device_test: edu 0 is %s, %s\n", address.c_str(), group_path.c_str());

  const int container = ::open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
  const int group = ::open(group_path.c_str(), O_RDWR | O_CLOEXEC);
  if (!report(container >= 0 && group >= 0, "open container and group")) return 1;
  int cfd = container;
  if (!report(::ioctl(group, VFIO_GROUP_SET_CONTAINER, &cfd) == 0, "GROUP_SET_CONTAINER") ||
      !report(::ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) == 0, "SET_IOMMU TYPE1v2")) {
    return 1;
  }

  {
    auto dev = real::device::open(group, address);
    if (!report_result(dev, "device::open " + address)) return 1;
    auto info = dev->info();
    if (report_result(info, "device info")) report(info->num_regions == 9, "9 regions");
    auto bar0 = dev->region(VFIO_PCI_BAR0_REGION_INDEX);
    if (report_result(bar0, "region info BAR0")) {
      report(bar0->size == 1024 * 1024, "BAR0 is 1 MiB");
      report(bar0->mmappable() && bar0->readable() && bar0->writable(), "BAR0 read|write|mmap");
    }
    auto cfg = dev->region(VFIO_PCI_CONFIG_REGION_INDEX);
    if (report_result(cfg, "region info config")) report(cfg->size >= 256, "config space >= 256 bytes");
    auto vendor = dev->config_read16(0);
    if (report_result(vendor, "config read")) report(*vendor == real::edu_vendor_id, "vendor 0x1234");

    auto edu = real::edu::open(*dev);
    if (!report_result(edu, "edu::open")) return 1;
    auto command = dev->config_read16(real::pci_command);
    report(command && (*command & 0x6) == 0x6, "PCI_COMMAND has memory and bus master");
    auto& sys = real::linux_syscalls();
    auto bar_kind = real::classify(sys, edu->bar().range());
    report(bar_kind && *bar_kind == real::range_backing::pfn_map, "the BAR mmap is pfn_map");

    auto mem = real::page_region::anon(1_MiB);
    auto scratch_mem = real::page_region::anon(4_KiB);
    if (!report_result(mem, "anon region") || !report_result(scratch_mem, "scratch region")) return 1;
    auto mem_kind = real::classify(sys, mem->range());
    report(mem_kind && *mem_kind == real::range_backing::pages, "the anon region is pages");
    const auto fill = pattern(mem->size().value(), 7);
    std::memcpy(mem->bytes().data(), fill.data(), fill.size());

    const iova at{0x100000};
    const real::dma_scratch scratch{iova{0x0ffff000}, scratch_mem->bytes()};
    if (!map_dma(container, *mem->map_request(at, 0_B, 64_KiB, prot::read_write)) ||
        !map_dma(container, *scratch_mem->map_request(scratch.at, 0_B, 4_KiB, prot::read_write))) {
      return 1;
    }
    auto page = mem->page_at(4_KiB);
    report(page && page->frame().has_value(), "a mapped page has a frame in pagemap");

    std::vector<std::byte> out(2048);
    if (report_result(edu->read_from_iova(at, out, scratch), "DMA read 2048 bytes")) {
      report(std::memcmp(out.data(), fill.data(), out.size()) == 0, "DMA read equals memory");
    }
    out.assign(3000, std::byte{0});
    if (report_result(edu->read_from_iova(at + 0x800_B, out, scratch), "DMA read 3000 bytes")) {
      report(std::memcmp(out.data(), fill.data() + 0x800, out.size()) == 0,
             "chunked DMA read equals memory");
    }
    const auto written = pattern(2048, 99);
    if (report_result(edu->write_to_iova(at + 4_KiB, written, scratch), "DMA write 2048 bytes")) {
      report(std::memcmp(mem->bytes().data() + 4096, written.data(), written.size()) == 0,
             "DMA write landed in memory");
    }
    out.assign(2048, std::byte{0x5a});
    if (report_result(edu->read_from_iova(iova{0x300000}, out, scratch), "DMA read unmapped")) {
      report(out == std::vector<std::byte>(2048), "unmapped IOVA reads zeros");
    }
    unmap_dma(container, at, 64_KiB);
    unmap_dma(container, scratch.at, 4_KiB);
  }  // the BAR is unmapped and the device closed here
  report(::ioctl(group, VFIO_GROUP_UNSET_CONTAINER) == 0,
         "GROUP_UNSET_CONTAINER after the BAR is unmapped");
  ::close(group);
  ::close(container);
  return 0;
}

}  // namespace

int main(int argc, char**) {
  if (argc > 1) {
    std::fprintf(stderr, "usage: real_device_test (no arguments; runs inside the vfio-vm guest)\n");
    return 2;
  }
  const int status = run();
  std::printf("real_device_test: %d of %d checks failed\n", mismatches, checks);
  return status == 0 && mismatches == 0 ? 0 : 1;
}
