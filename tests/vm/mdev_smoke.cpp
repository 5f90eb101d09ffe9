// SPDX-License-Identifier: Apache-2.0
//
// mdev_smoke: the kernel's external-pinning paths through the test mediated device
// (tests/kmod/vfiopin_test_mdev.c), in the guest (scripts/vfio-vm --kmod, ctest vm.mdev_smoke).
//
// Theory of operation: runs as root in the test bed with mdev and vfiopin_test_mdev loaded,
// statically linked, raw ioctls only (no vfiopin code). Expectations come from
// linux-type1-semantics.md (section numbers below):
//   1. an mdev instance is created through sysfs; its IOMMU group (an emulated group) goes
//      into a fresh container, TYPE1v2, and its device fd is opened by UUID;
//   2. emulated group only, no real domain: MAP_DMA of 64 KiB of anon memory pins and
//      charges nothing (1.4 step 3); a pin of an unmapped IOVA is EINVAL (4.3 6a); PIN of
//      the 16 pages returns 16 pages with struct pages whose pfns are pagemap's, and VmLck
//      grows by 64 kB (4.5: charged without a domain); a second PIN of the same IOVAs
//      charges nothing more (4.4) and one UNPIN leaves one reference each;
//   3. vfio_dma_rw reads what the memory holds and its writes land in the memory (4.7);
//   4. UNMAP_DMA of the pinned range: the module logs one dma_unmap callback covering the
//      whole mapping (3.3), releases its 16 pins in it, and VmLck is back at the start;
//   5. the edu device's group (0000:00:01.0) joins the same container (a real domain now):
//      its BAR0 mmap (PFNMAP) is mapped at an IOVA and pinned through the module. Kernels
//      with "vfio/type1: check pfn valid before converting to struct page" (6.4, and the
//      6.1 stable series from 6.1.32 on) answer EINVAL (4.3 6e, 4.6); older ones hand back
//      a page pointer whose pfn is the BAR's and is not pfn_valid. Which one happened is
//      printed; a kernel known to have the check must give EINVAL, others either. The
//      stable version of a Debian kernel is in uname's version ("... Debian 6.1.192-2"),
//      its release says only 6.1.0;
//   6. with the real domain, MAP_DMA of anon memory charges 64 kB and a PIN charges
//      nothing more (4.5); the unmap notification releases the pins;
//   7. the devices and groups are closed and the mdev instance removed.
// Every check prints one line ("ok" or "MISMATCH"); exit status 0 only if all passed.

#include "../kmod/vfiopin_test_mdev.h"

#include <linux/vfio.h>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t page = 4096;
constexpr std::uint64_t anon_iova = 0x100000;
constexpr std::uint64_t bar_iova = 0x400000;
constexpr std::uint64_t map_size = 64 * 1024;
constexpr int map_pages = static_cast<int>(map_size / page);
constexpr const char* instance = "6c1b8f0e-5d7a-4b2c-9e3f-a1b2c3d4e5f6";
constexpr const char* edu_address = "0000:00:01.0";
constexpr std::uint32_t prot_rw = VFIOPIN_TEST_MDEV_PROT_READ | VFIOPIN_TEST_MDEV_PROT_WRITE;

int checks = 0;
int mismatches = 0;

bool report(bool ok, const std::string& what) {
  ++checks;
  if (!ok) ++mismatches;
  std::printf("mdev_smoke: %s: %s\n", ok ? "ok" : "MISMATCH", what.c_str());
  std::fflush(stdout);
  return ok;
}

std::string err() { return std::string(std::strerror(errno)) + " (errno " + std::to_string(errno) + ")"; }

std::string hex(std::uint64_t v) {
  char text[32];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(v));
  return text;
}

bool write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text << std::flush;
  return static_cast<bool>(out);
}

// VmLck of this process, in kB.
long vm_lck_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmLck:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// The frame of the page at addr, from /proc/self/pagemap (root sees pfns).
std::optional<std::uint64_t> pagemap_pfn(const void* addr) {
  const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::uint64_t entry = 0;
  const auto offset = static_cast<off_t>(reinterpret_cast<std::uintptr_t>(addr) / page * 8);
  const bool got = ::pread(fd, &entry, sizeof entry, offset) == sizeof entry;
  ::close(fd);
  if (!got || (entry >> 63) == 0) return std::nullopt;
  return entry & ((std::uint64_t{1} << 55) - 1);
}

bool map_dma(int container, const void* vaddr, std::uint64_t iova, std::uint64_t size) {
  vfio_iommu_type1_dma_map map{};
  map.argsz = sizeof map;
  map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  map.vaddr = reinterpret_cast<std::uintptr_t>(vaddr);
  map.iova = iova;
  map.size = size;
  const bool ok = ::ioctl(container, VFIO_IOMMU_MAP_DMA, &map) == 0;
  return report(ok, "MAP_DMA " + std::to_string(size) + " bytes at iova " + hex(iova) + (ok ? "" : ": " + err()));
}

void unmap_dma(int container, std::uint64_t iova, std::uint64_t size) {
  vfio_iommu_type1_dma_unmap unmap{};
  unmap.argsz = sizeof unmap;
  unmap.iova = iova;
  unmap.size = size;
  const bool ok = ::ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap) == 0;
  report(ok && unmap.size == size, "UNMAP_DMA iova " + hex(iova) + (ok ? ", " + std::to_string(unmap.size) + " bytes" : ": " + err()));
}

struct pin_outcome {
  int ioctl_errno = 0;  // 0: the ioctl succeeded
  int result = 0;       // vfio_pin_pages' return value
  std::vector<vfiopin_test_mdev_page> pages;
};

pin_outcome pin(int device, std::uint64_t iova, int npage, std::uint32_t prot) {
  pin_outcome out;
  out.pages.resize(static_cast<std::size_t>(npage > 0 ? npage : 1));
  vfiopin_test_mdev_pin arg{};
  arg.iova = iova;
  arg.npage = npage;
  arg.prot = prot;
  arg.pages = reinterpret_cast<std::uintptr_t>(out.pages.data());
  out.ioctl_errno = ::ioctl(device, VFIOPIN_TEST_MDEV_PIN, &arg) == 0 ? 0 : errno;
  out.result = arg.result;
  return out;
}

bool unpin(int device, std::uint64_t iova, int npage) {
  vfiopin_test_mdev_unpin arg{};
  arg.iova = iova;
  arg.npage = npage;
  return ::ioctl(device, VFIOPIN_TEST_MDEV_UNPIN, &arg) == 0;
}

bool dma_rw(int device, std::uint64_t iova, void* data, std::size_t len, bool write) {
  vfiopin_test_mdev_dma_rw arg{};
  arg.iova = iova;
  arg.len = len;
  arg.data = reinterpret_cast<std::uintptr_t>(data);
  arg.write = write ? 1 : 0;
  return ::ioctl(device, VFIOPIN_TEST_MDEV_DMA_RW, &arg) == 0;
}

vfiopin_test_mdev_status status(int device) {
  vfiopin_test_mdev_status s{};
  if (::ioctl(device, VFIOPIN_TEST_MDEV_STATUS, &s) != 0) report(false, "STATUS: " + err());
  return s;
}

void expect_pins(int device, std::uint64_t iovas, std::uint64_t refs, const std::string& when) {
  const auto s = status(device);
  report(s.pinned_iovas == iovas && s.pin_refs == refs,
         "module holds " + std::to_string(s.pinned_iovas) + " IOVAs / " + std::to_string(s.pin_refs) +
             " pins " + when + " (expected " + std::to_string(iovas) + " / " + std::to_string(refs) + ")");
}

void expect_vm_lck(long want, const std::string& when) {
  const long got = vm_lck_kb();
  report(got == want, "VmLck " + std::to_string(got) + " kB " + when + (got == want ? "" : " (expected " + std::to_string(want) + ")"));
}

std::vector<vfiopin_test_mdev_unmap_entry> unmap_log(int device) {
  std::vector<vfiopin_test_mdev_unmap_entry> entries(16);
  vfiopin_test_mdev_unmap_log arg{};
  arg.entries = reinterpret_cast<std::uintptr_t>(entries.data());
  arg.capacity = static_cast<std::uint32_t>(entries.size());
  arg.flags = VFIOPIN_TEST_MDEV_LOG_CLEAR;
  if (::ioctl(device, VFIOPIN_TEST_MDEV_GET_UNMAP_LOG, &arg) != 0) {
    report(false, "GET_UNMAP_LOG: " + err());
    return {};
  }
  entries.resize(std::min<std::size_t>(arg.count, entries.size()));
  return entries;
}

void expect_one_unmap(int device, std::uint64_t iova, std::uint64_t length, std::uint32_t unpinned) {
  const auto log = unmap_log(device);
  std::string text;
  for (const auto& e : log) text += " {" + hex(e.iova) + ", " + hex(e.length) + ", unpinned " + std::to_string(e.unpinned) + "}";
  report(log.size() == 1 && log[0].iova == iova && log[0].length == length && log[0].unpinned == unpinned,
         "dma_unmap log:" + (text.empty() ? std::string(" (empty)") : text) + " (expected {" + hex(iova) + ", " +
             hex(length) + ", unpinned " + std::to_string(unpinned) + "})");
}

int open_group(const std::string& number, int container) {
  const std::string path = "/dev/vfio/" + number;
  const int group = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (!report(group >= 0, "open " + path + (group >= 0 ? "" : ": " + err()))) return -1;
  vfio_group_status gs{};
  gs.argsz = sizeof gs;
  report(::ioctl(group, VFIO_GROUP_GET_STATUS, &gs) == 0 && (gs.flags & VFIO_GROUP_FLAGS_VIABLE) != 0,
         "group " + number + " viable");
  int cfd = container;
  const bool set = ::ioctl(group, VFIO_GROUP_SET_CONTAINER, &cfd) == 0;
  report(set, "GROUP_SET_CONTAINER group " + number + (set ? "" : ": " + err()));
  return set ? group : -1;
}

std::string group_of(const fs::path& device_dir) {
  std::error_code ec;
  return fs::read_symlink(device_dir / "iommu_group", ec).filename().string();
}

// Part 2-4: anon memory, emulated group only. Returns false if it could not go on.
bool anon_no_domain(int container, int device) {
  void* mem = ::mmap(nullptr, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (!report(mem != MAP_FAILED, "mmap 64 KiB anon")) return false;
  auto* bytes = static_cast<unsigned char*>(mem);
  for (std::uint64_t i = 0; i < map_size; ++i) bytes[i] = static_cast<unsigned char>((i * 7 + 3) % 251);
  const long base = vm_lck_kb();
  std::printf("mdev_smoke: VmLck at start: %ld kB\n", base);
  if (!map_dma(container, mem, anon_iova, map_size)) return false;
  expect_vm_lck(base, "after MAP_DMA without a real domain");

  const auto stray = pin(device, 0x900000, 1, prot_rw);
  report(stray.ioctl_errno == EINVAL && stray.result == -EINVAL,
         "PIN of an unmapped IOVA: result " + std::to_string(stray.result) + " (expected -EINVAL)");

  const auto first = pin(device, anon_iova, map_pages, prot_rw);
  report(first.ioctl_errno == 0 && first.result == map_pages,
         "PIN 16 pages: result " + std::to_string(first.result));
  int good = 0;
  for (int k = 0; first.ioctl_errno == 0 && k < map_pages; ++k) {
    const auto& p = first.pages[static_cast<std::size_t>(k)];
    const auto want = pagemap_pfn(bytes + static_cast<std::size_t>(k) * page);
    const bool ok = p.flags == (VFIOPIN_TEST_MDEV_PAGE_NONNULL | VFIOPIN_TEST_MDEV_PAGE_PFN_VALID) && want && p.pfn == *want;
    if (!ok) {
      std::printf("mdev_smoke: page %d: flags %u pfn %s, pagemap %s\n", k, p.flags, hex(p.pfn).c_str(),
                  want ? hex(*want).c_str() : "(none)");
    }
    good += ok ? 1 : 0;
  }
  report(good == map_pages, std::to_string(good) + " of 16 pages: a struct page, pfn_valid, pfn = pagemap's");
  expect_vm_lck(base + 64, "after PIN of 16 pages (no real domain: charged)");
  const auto again = pin(device, anon_iova, map_pages, prot_rw);
  report(again.ioctl_errno == 0 && again.result == map_pages, "second PIN of the same 16 pages");
  expect_vm_lck(base + 64, "after the second PIN (same records: not charged again)");
  expect_pins(device, 16, 32, "after two PINs");
  report(unpin(device, anon_iova, map_pages), "UNPIN 16 pages");
  expect_pins(device, 16, 16, "after one UNPIN");
  expect_vm_lck(base + 64, "after one UNPIN (one reference left)");

  std::vector<unsigned char> out(5000, 0);
  report(dma_rw(device, anon_iova + 100, out.data(), out.size(), false) &&
             std::memcmp(out.data(), bytes + 100, out.size()) == 0,
         "DMA_RW read of 5000 bytes at iova+100 equals the memory");
  std::vector<unsigned char> in(3000);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<unsigned char>(i * 13 + 1);
  report(dma_rw(device, anon_iova + 0x3000 - 10, in.data(), in.size(), true) &&
             std::memcmp(bytes + 0x3000 - 10, in.data(), in.size()) == 0,
         "DMA_RW write of 3000 bytes at iova+0x2ff6 landed in the memory");
  report(!dma_rw(device, 0x900000, out.data(), 16, false) && errno == EINVAL, "DMA_RW of an unmapped IOVA: EINVAL");

  report(unmap_log(device).empty(), "no dma_unmap callback yet");
  unmap_dma(container, anon_iova, map_size);
  expect_one_unmap(device, anon_iova, map_size, 16);
  expect_pins(device, 0, 0, "after UNMAP_DMA");
  expect_vm_lck(base, "after UNMAP_DMA");
  ::munmap(mem, map_size);
  return true;
}

// Part 5-6: the edu group in the same container; its BAR pinned; anon with a real domain.
void with_real_domain(int container, int device, bool has_pfn_valid_check, const std::string& kernel) {
  const fs::path edu_dir = fs::path("/sys/bus/pci/devices") / edu_address;
  const int group = open_group(group_of(edu_dir), container);
  if (group < 0) return;
  const int edu = ::ioctl(group, VFIO_GROUP_GET_DEVICE_FD, edu_address);
  if (!report(edu >= 0, std::string("GET_DEVICE_FD ") + edu_address + (edu >= 0 ? "" : ": " + err()))) return;
  vfio_region_info region{};
  region.argsz = sizeof region;
  region.index = VFIO_PCI_BAR0_REGION_INDEX;
  if (!report(::ioctl(edu, VFIO_DEVICE_GET_REGION_INFO, &region) == 0 && region.size >= map_size, "BAR0 region info")) return;
  void* bar = ::mmap(nullptr, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, edu, static_cast<off_t>(region.offset));
  if (!report(bar != MAP_FAILED, "mmap 64 KiB of BAR0" + (bar != MAP_FAILED ? "" : ": " + err()))) return;
  std::uint64_t bar_phys = 0;
  {
    std::ifstream res(edu_dir / "resource");
    std::string start;
    res >> start;
    bar_phys = std::stoull(start, nullptr, 16);
  }
  const long base = vm_lck_kb();
  if (map_dma(container, bar, bar_iova, map_size)) {
    const auto p = pin(device, bar_iova, 2, prot_rw);
    std::string pages;
    for (int k = 0; p.result > 0 && k < p.result && k < 2; ++k) {
      pages += " {flags " + std::to_string(p.pages[static_cast<std::size_t>(k)].flags) + ", pfn " +
               hex(p.pages[static_cast<std::size_t>(k)].pfn) + "}";
    }
    std::printf("mdev_smoke: PFNMAP PIN of 2 BAR pages (BAR0 at %s, pfn %s): result %d%s\n", hex(bar_phys).c_str(),
                hex(bar_phys / page).c_str(), p.result, pages.c_str());
    const bool einval = p.ioctl_errno == EINVAL && p.result == -EINVAL;
    const bool raw_pfn = p.ioctl_errno == 0 && p.result == 2 &&
                         p.pages[0].flags == VFIOPIN_TEST_MDEV_PAGE_NONNULL && p.pages[0].pfn == bar_phys / page &&
                         p.pages[1].flags == VFIOPIN_TEST_MDEV_PAGE_NONNULL && p.pages[1].pfn == bar_phys / page + 1;
    if (has_pfn_valid_check) {
      report(einval, "PFNMAP PIN on " + kernel + ": EINVAL (the pfn_valid check)");
    } else {
      report(einval || raw_pfn, "PFNMAP PIN on " + kernel + " (not known to have the pfn_valid check): " +
                                    (einval ? "EINVAL (the pfn_valid check is there, backported)"
                                            : raw_pfn ? "a page pointer for the BAR's pfns, not pfn_valid (no pfn_valid check)"
                                                      : "neither EINVAL nor the BAR's pfns"));
    }
    if (p.ioctl_errno == 0 && p.result > 0) report(unpin(device, bar_iova, p.result), "UNPIN the BAR pages");
    expect_vm_lck(base, "after the BAR MAP_DMA and PIN (PFNMAP: never charged)");
    unmap_dma(container, bar_iova, map_size);
    unmap_log(device);  // a notification only if a pin had been left: none expected, not checked
  }
  ::munmap(bar, map_size);
  ::close(edu);

  void* mem = ::mmap(nullptr, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (report(mem != MAP_FAILED, "mmap 64 KiB anon") && map_dma(container, mem, anon_iova, map_size)) {
    expect_vm_lck(base + 64, "after MAP_DMA with a real domain (charged by MAP)");
    const auto p = pin(device, anon_iova + 4 * page, 4, prot_rw);
    report(p.ioctl_errno == 0 && p.result == 4, "PIN 4 pages with a real domain");
    expect_vm_lck(base + 64, "after PIN with a real domain (not charged again)");
    unmap_dma(container, anon_iova, map_size);
    expect_one_unmap(device, anon_iova, map_size, 4);
    expect_pins(device, 0, 0, "after UNMAP_DMA");
    expect_vm_lck(base, "after UNMAP_DMA");
  }
  if (mem != MAP_FAILED) ::munmap(mem, map_size);
  ::close(group);
}

// Whether the kernel has "vfio/type1: check pfn valid before converting to struct page":
// mainline 6.4, stable 6.1.32 (Debian's changelog lists it under ChangeLog-6.1.32).
bool has_pfn_valid_check(const utsname& uts, std::string& kernel) {
  int major = 0, minor = 0, sub = 0;
  std::sscanf(uts.release, "%d.%d.%d", &major, &minor, &sub);
  if (const char* debian = std::strstr(uts.version, "Debian ")) {
    std::sscanf(debian + 7, "%d.%d.%d", &major, &minor, &sub);
  }
  kernel = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(sub);
  return major > 6 || (major == 6 && minor >= 4) || (major == 6 && minor == 1 && sub >= 32);
}

int run() {
  utsname uts{};
  if (::uname(&uts) != 0) return 1;
  std::string kernel;
  const bool pfn_check = has_pfn_valid_check(uts, kernel);
  std::printf("mdev_smoke: kernel %s (%s), stable version %s\n", uts.release, uts.version, kernel.c_str());
  const fs::path types = fs::path("/sys/class/mdev_bus") / VFIOPIN_TEST_MDEV_PARENT / "mdev_supported_types";
  const fs::path type = types / (std::string(VFIOPIN_TEST_MDEV_PARENT) + "-" + VFIOPIN_TEST_MDEV_TYPE);
  if (!report(fs::exists(type), "mdev type " + type.string())) return 1;
  if (!report(write_file(type / "create", instance), std::string("create mdev ") + instance)) return 1;
  const fs::path mdev_dir = fs::path("/sys/bus/mdev/devices") / instance;
  const std::string group_number = group_of(mdev_dir);
  if (!report(!group_number.empty(), "mdev IOMMU group " + group_number)) return 1;

  const int container = ::open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
  if (!report(container >= 0, "open /dev/vfio/vfio")) return 1;
  const int group = open_group(group_number, container);
  if (group < 0) return 1;
  if (!report(::ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) == 0, "SET_IOMMU TYPE1v2")) return 1;
  const int device = ::ioctl(group, VFIO_GROUP_GET_DEVICE_FD, instance);
  if (!report(device >= 0, std::string("GET_DEVICE_FD ") + instance + (device >= 0 ? "" : ": " + err()))) return 1;
  expect_pins(device, 0, 0, "at open");

  if (anon_no_domain(container, device)) with_real_domain(container, device, pfn_check, kernel);

  ::close(device);
  ::close(group);
  ::close(container);
  report(write_file(mdev_dir / "remove", "1") && !fs::exists(mdev_dir), "remove the mdev instance");
  return 0;
}

// --keep-pins: a device that keeps its pins across the unmap notification. The kernel
// (vfio_dma_do_unmap, 6.1 and 6.12) notifies the same dma again and again and executes
// BUG_ON(++retries > 10) on the 12th visit, i.e. after 11 notifications, with iommu->lock
// held: the task dies in an oops and the container is unusable from then on (its release
// blocks on that lock). So the unmap runs in a child; the parent watches the kernel log for
// the BUG and never touches the container. The mock predicts the same point
// (errc::pins_retained after 11 notifications: tests/unit/mock_type1_unmap_test.cpp).
std::size_t kernel_log_count(const std::string& needle) {
  std::string buf(1 << 20, '\0');
  const int n = ::klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf.data(), static_cast<int>(buf.size()));
  if (n <= 0) return 0;
  buf.resize(static_cast<std::size_t>(n));
  std::size_t count = 0;
  for (auto at = buf.find(needle); at != std::string::npos; at = buf.find(needle, at + 1)) ++count;
  return count;
}
bool kernel_log_has(const std::string& needle) { return kernel_log_count(needle) != 0; }

int keep_pins() {
  const fs::path type = fs::path("/sys/class/mdev_bus") / VFIOPIN_TEST_MDEV_PARENT / "mdev_supported_types" /
                        (std::string(VFIOPIN_TEST_MDEV_PARENT) + "-" + VFIOPIN_TEST_MDEV_TYPE);
  if (!report(write_file(type / "create", instance), std::string("create mdev ") + instance)) return 1;
  const std::string group_number = group_of(fs::path("/sys/bus/mdev/devices") / instance);
  if (!report(!group_number.empty(), "mdev IOMMU group " + group_number)) return 1;
  const std::string bug = "kernel BUG at drivers/vfio/vfio_iommu_type1.c";
  report(!kernel_log_has(bug), "no vfio_iommu_type1 BUG in the kernel log before the test");
  std::fflush(stdout);
  const pid_t child = ::fork();
  if (child == 0) {
    const int container = ::open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
    const int group = container >= 0 ? open_group(group_number, container) : -1;
    if (group < 0 || ::ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) != 0) ::_exit(3);
    const int device = ::ioctl(group, VFIO_GROUP_GET_DEVICE_FD, instance);
    void* mem = ::mmap(nullptr, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    std::uint32_t mode = VFIOPIN_TEST_MDEV_MODE_KEEP_PINS;
    if (device < 0 || mem == MAP_FAILED || !map_dma(container, mem, anon_iova, map_size) ||
        ::ioctl(device, VFIOPIN_TEST_MDEV_SET_MODE, &mode) != 0 ||
        pin(device, anon_iova, 1, VFIOPIN_TEST_MDEV_PROT_READ).result != 1) {
      ::_exit(4);
    }
    std::printf("mdev_smoke: child: one page pinned, device keeps pins; UNMAP_DMA now\n");
    std::fflush(stdout);
    vfio_iommu_type1_dma_unmap unmap{};
    unmap.argsz = sizeof unmap;
    unmap.iova = anon_iova;
    unmap.size = map_size;
    const int r = ::ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap);
    std::printf("mdev_smoke: child: UNMAP_DMA returned %d (%s)\n", r, r == 0 ? "ok" : std::strerror(errno));
    std::fflush(stdout);
    ::_exit(r == 0 ? 0 : 5);
  }
  if (!report(child > 0, "fork")) return 1;
  bool seen = false;
  int wstatus = 0;
  pid_t done = 0;
  for (int i = 0; i < 300 && !seen; ++i) {  // up to 30 s
    ::usleep(100000);
    seen = kernel_log_has(bug);
    if (done == 0) done = ::waitpid(child, &wstatus, WNOHANG);
  }
  report(seen, "the kernel executed BUG_ON(++retries > 10) in vfio_dma_do_unmap (" + bug + ")");
  // Every notification the device received before the BUG (the module logs each one in
  // this mode): the mock's count, from the same kernel rule, is 11.
  const std::size_t notified = kernel_log_count("vfiopin_test_mdev: dma_unmap 0x100000+0x10000: pins kept");
  report(notified == 11, "the device was notified " + std::to_string(notified) + " times before the BUG (expected 11)");
  report(done == 0 || !WIFEXITED(wstatus),
         "the unmapping task did not return from UNMAP_DMA (it died in the oops)");
  return 0;  // the container is wedged: the guest powers off without cleaning up
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--keep-pins") {
    const int status = keep_pins();
    std::printf("mdev_smoke --keep-pins: %d of %d checks failed\n", mismatches, checks);
    return status == 0 && mismatches == 0 ? 0 : 1;
  }
  if (argc > 1) {
    std::fprintf(stderr, "usage: mdev_smoke [--keep-pins] (runs in the vfio-vm guest, test mdev loaded)\n");
    return 2;
  }
  const int status = run();
  std::printf("mdev_smoke: %d of %d checks failed\n", mismatches, checks);
  return status == 0 && mismatches == 0 ? 0 : 1;
}
