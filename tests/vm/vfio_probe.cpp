// SPDX-License-Identifier: Apache-2.0
//
// vfio_probe: the first guest-side test of the QEMU test bed (scripts/vfio-vm, ctest vm.probe).
//
// Theory of operation: it runs inside the guest as root, statically linked, against the
// real VFIO type1 driver, and checks the facts docs/testbed.md (and the shared
// vm-testbed.md) record for the test bed's machine: q35 + emulated Intel VT-d + two edu
// devices bound to vfio-pci by the guest's /init. In order:
//   1. /dev/vfio/vfio: VFIO_GET_API_VERSION is VFIO_API_VERSION (0); extensions TYPE1 and
//      TYPE1v2 and UNMAP_ALL are there, NOIOMMU is not;
//   2. the IOMMU groups of the edu devices (1234:11e8), found through
//      /sys/bus/pci/devices/*/iommu_group: two groups, each viable, each added to the
//      container with VFIO_GROUP_SET_CONTAINER; then VFIO_SET_IOMMU(TYPE1v2);
//   3. VFIO_IOMMU_GET_INFO, twice (the first call returns the argsz the capability chain
//      needs), walking the chain by its `next` offsets: iova_pgsizes 0x40201000, IOVA
//      ranges 0x0-0xfedfffff and 0xfef00000-0x7fffffffff, dma_avail 65535;
//   4. VFIO_IOMMU_MAP_DMA of 64 KiB of anonymous memory at IOVA 0x100000: dma_avail 65534;
//      VFIO_IOMMU_UNMAP_DMA of it unmaps 64 KiB and dma_avail is 65535 again.
// Every check prints one line ("ok" or "MISMATCH"); the exit status is 0 only if all
// passed, 1 otherwise (2 for a usage error). It uses no vfiopin code: it pins down what
// the kernel does, which the library's own VM tests then rely on.

#include <linux/vfio.h>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace fs = std::filesystem;

constexpr std::uint16_t edu_vendor = 0x1234;
constexpr std::uint16_t edu_device = 0x11e8;
constexpr std::uint64_t expected_pgsizes = 0x40201000;
constexpr std::uint32_t expected_dma_avail = 65535;
constexpr std::uint64_t map_iova = 0x100000;
constexpr std::uint64_t map_size = 64 * 1024;

struct iova_range {
  std::uint64_t first;
  std::uint64_t last;
  friend bool operator==(const iova_range&, const iova_range&) = default;
};
const std::vector<iova_range> expected_ranges{{0x0, 0xfedfffff}, {0xfef00000, 0x7fffffffff}};

int checks = 0;
int mismatches = 0;

void report(bool ok, const std::string& what) {
  ++checks;
  if (!ok) {
    ++mismatches;
  }
  std::printf("vfio_probe: %s: %s\n", ok ? "ok" : "MISMATCH", what.c_str());
  std::fflush(stdout);
}

std::string hex(std::uint64_t value) {
  char text[32];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

void expect_eq(const std::string& what, std::uint64_t got, std::uint64_t want, bool as_hex) {
  const std::string got_text = as_hex ? hex(got) : std::to_string(got);
  const std::string want_text = as_hex ? hex(want) : std::to_string(want);
  report(got == want, what + " = " + got_text + (got == want ? "" : " (expected " + want_text + ")"));
}

std::string errno_text(int err) {
  return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")";
}

// An owned file descriptor.
class fd_guard {
 public:
  explicit fd_guard(int fd) noexcept : fd_{fd} {}
  fd_guard(fd_guard&& other) noexcept : fd_{std::exchange(other.fd_, -1)} {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  fd_guard& operator=(fd_guard&&) = delete;
  ~fd_guard() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }

 private:
  int fd_;
};

std::optional<std::uint64_t> read_hex_file(const fs::path& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) {
    return std::nullopt;
  }
  try {
    return std::stoull(text, nullptr, 16);
  } catch (...) {
    return std::nullopt;
  }
}

// The IOMMU group numbers of the edu devices, sorted, without repeats.
std::vector<std::string> edu_groups() {
  std::vector<std::string> groups;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/sys/bus/pci/devices", ec)) {
    const auto vendor = read_hex_file(entry.path() / "vendor");
    const auto device = read_hex_file(entry.path() / "device");
    if (vendor != edu_vendor || device != edu_device) {
      continue;
    }
    std::error_code link_ec;
    const fs::path group = fs::read_symlink(entry.path() / "iommu_group", link_ec);
    std::printf("vfio_probe: edu %s in IOMMU group %s\n", entry.path().filename().c_str(),
                link_ec ? "(none)" : group.filename().c_str());
    if (!link_ec) {
      groups.push_back(group.filename().string());
    }
  }
  std::sort(groups.begin(), groups.end());
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  return groups;
}

struct iommu_info {
  std::uint32_t argsz_needed = 0;
  std::uint64_t pgsizes = 0;
  std::vector<iova_range> ranges;
  std::optional<std::uint32_t> dma_avail;
  std::optional<std::uint64_t> migration_pgsize;
  int caps = 0;
};

template <class T>
T load(const std::vector<std::byte>& buffer, std::size_t offset) {
  T value{};
  std::memcpy(&value, buffer.data() + offset, sizeof value);
  return value;
}

// VFIO_IOMMU_GET_INFO with its capability chain; prints errors, nullopt on failure.
std::optional<iommu_info> get_info(int container) {
  vfio_iommu_type1_info head{};
  head.argsz = sizeof head;
  if (::ioctl(container, VFIO_IOMMU_GET_INFO, &head) != 0) {
    report(false, "VFIO_IOMMU_GET_INFO: " + errno_text(errno));
    return std::nullopt;
  }
  iommu_info info;
  info.argsz_needed = head.argsz;
  const std::size_t size = std::max<std::size_t>(head.argsz, sizeof head);
  std::vector<std::byte> buffer(size);
  head.argsz = static_cast<std::uint32_t>(size);
  std::memcpy(buffer.data(), &head, sizeof head);
  if (::ioctl(container, VFIO_IOMMU_GET_INFO, buffer.data()) != 0) {
    report(false, "VFIO_IOMMU_GET_INFO (argsz " + std::to_string(size) + "): " + errno_text(errno));
    return std::nullopt;
  }
  head = load<vfio_iommu_type1_info>(buffer, 0);
  info.pgsizes = head.iova_pgsizes;
  if ((head.flags & VFIO_IOMMU_INFO_CAPS) == 0) {
    return info;
  }
  std::size_t offset = head.cap_offset;
  while (offset != 0) {
    if (offset + sizeof(vfio_info_cap_header) > size || info.caps > 64) {
      report(false, "capability chain leaves the buffer at offset " + std::to_string(offset));
      return std::nullopt;
    }
    const auto cap = load<vfio_info_cap_header>(buffer, offset);
    ++info.caps;
    switch (cap.id) {
      case VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE: {
        // header, __u32 nr_iovas, __u32 reserved, struct vfio_iova_range iova_ranges[]
        const std::size_t count_at = offset + sizeof(vfio_info_cap_header);
        const auto count = load<std::uint32_t>(buffer, count_at);
        const std::size_t ranges_at = count_at + 2 * sizeof(std::uint32_t);
        if (ranges_at + std::size_t{count} * sizeof(vfio_iova_range) > size) {
          report(false, "IOVA range capability larger than the buffer");
          return std::nullopt;
        }
        for (std::size_t i = 0; i < count; ++i) {
          const auto range = load<vfio_iova_range>(buffer, ranges_at + i * sizeof(vfio_iova_range));
          info.ranges.push_back({range.start, range.end});
        }
        break;
      }
      case VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION:
        info.migration_pgsize =
            load<vfio_iommu_type1_info_cap_migration>(buffer, offset).pgsize_bitmap;
        break;
      case VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL:
        info.dma_avail = load<vfio_iommu_type1_info_dma_avail>(buffer, offset).avail;
        break;
      default:
        std::printf("vfio_probe: unknown capability id %u version %u\n", unsigned{cap.id},
                    unsigned{cap.version});
        break;
    }
    offset = cap.next;
  }
  return info;
}

void print_info(const iommu_info& info) {
  std::printf("vfio_probe: GET_INFO: argsz needed %u, %d capabilities, iova_pgsizes %s\n",
              info.argsz_needed, info.caps, hex(info.pgsizes).c_str());
  for (const auto& range : info.ranges) {
    std::printf("vfio_probe: GET_INFO: IOVA range %s-%s\n", hex(range.first).c_str(),
                hex(range.last).c_str());
  }
  if (info.migration_pgsize) {
    std::printf("vfio_probe: GET_INFO: migration pgsize_bitmap %s\n",
                hex(*info.migration_pgsize).c_str());
  }
  if (info.dma_avail) {
    std::printf("vfio_probe: GET_INFO: dma_avail %u\n", *info.dma_avail);
  }
}

std::string ranges_text(const std::vector<iova_range>& ranges) {
  std::string text;
  for (const auto& range : ranges) {
    text += (text.empty() ? "" : ", ") + hex(range.first) + "-" + hex(range.last);
  }
  return text.empty() ? "(none)" : text;
}

void expect_dma_avail(const std::optional<iommu_info>& info, std::uint32_t want,
                      const std::string& when) {
  if (!info) {
    report(false, "dma_avail " + when + ": no GET_INFO");
  } else if (!info->dma_avail) {
    report(false, "dma_avail " + when + ": no DMA_AVAIL capability");
  } else {
    expect_eq("dma_avail " + when, *info->dma_avail, want, false);
  }
}

int probe() {
  utsname uts{};
  if (::uname(&uts) == 0) {
    std::printf("vfio_probe: kernel %s\n", uts.release);
  }

  const fd_guard container(::open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC));
  if (!container.valid()) {
    report(false, "open /dev/vfio/vfio: " + errno_text(errno));
    return 1;
  }
  expect_eq("VFIO_GET_API_VERSION", static_cast<std::uint64_t>(::ioctl(container.get(), VFIO_GET_API_VERSION)),
            VFIO_API_VERSION, false);
  const std::pair<const char*, unsigned long> extensions[] = {
      {"TYPE1", VFIO_TYPE1_IOMMU},
      {"TYPE1v2", VFIO_TYPE1v2_IOMMU},
      {"UNMAP_ALL", VFIO_UNMAP_ALL},
      {"NOIOMMU", VFIO_NOIOMMU_IOMMU},
  };
  for (const auto& [name, extension] : extensions) {
    const int got = ::ioctl(container.get(), VFIO_CHECK_EXTENSION, extension);
    const int want = extension == VFIO_NOIOMMU_IOMMU ? 0 : 1;
    report(got == want, std::string("VFIO_CHECK_EXTENSION ") + name + " = " + std::to_string(got) +
                            (got == want ? "" : " (expected " + std::to_string(want) + ")"));
  }

  const std::vector<std::string> groups = edu_groups();
  expect_eq("IOMMU groups of the edu devices", groups.size(), 2, false);
  std::vector<fd_guard> group_fds;
  group_fds.reserve(groups.size());
  for (const auto& group : groups) {
    const std::string path = "/dev/vfio/" + group;
    group_fds.emplace_back(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    const int fd = group_fds.back().get();
    if (fd < 0) {
      report(false, "open " + path + ": " + errno_text(errno));
      continue;
    }
    vfio_group_status status{};
    status.argsz = sizeof status;
    const bool got_status = ::ioctl(fd, VFIO_GROUP_GET_STATUS, &status) == 0;
    report(got_status && (status.flags & VFIO_GROUP_FLAGS_VIABLE) != 0,
           "group " + group + " viable" + (got_status ? "" : ": " + errno_text(errno)));
    int container_fd = container.get();
    const bool set = ::ioctl(fd, VFIO_GROUP_SET_CONTAINER, &container_fd) == 0;
    report(set, "VFIO_GROUP_SET_CONTAINER group " + group + (set ? "" : ": " + errno_text(errno)));
  }

  const bool iommu_set = ::ioctl(container.get(), VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) == 0;
  report(iommu_set, std::string("VFIO_SET_IOMMU TYPE1v2") + (iommu_set ? "" : ": " + errno_text(errno)));
  if (!iommu_set) {
    return 1;
  }

  const auto info = get_info(container.get());
  if (info) {
    print_info(*info);
    expect_eq("iova_pgsizes", info->pgsizes, expected_pgsizes, true);
    report(info->ranges == expected_ranges,
           "IOVA ranges " + ranges_text(info->ranges) +
               (info->ranges == expected_ranges ? "" : " (expected " + ranges_text(expected_ranges) + ")"));
  }
  expect_dma_avail(info, expected_dma_avail, "before MAP_DMA");

  void* memory = ::mmap(nullptr, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    report(false, "mmap 64 KiB: " + errno_text(errno));
    return 1;
  }
  std::memset(memory, 0x5a, map_size);

  vfio_iommu_type1_dma_map map{};
  map.argsz = sizeof map;
  map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  map.vaddr = reinterpret_cast<std::uintptr_t>(memory);
  map.iova = map_iova;
  map.size = map_size;
  const bool mapped = ::ioctl(container.get(), VFIO_IOMMU_MAP_DMA, &map) == 0;
  report(mapped, "VFIO_IOMMU_MAP_DMA 64 KiB at iova " + hex(map_iova) + (mapped ? "" : ": " + errno_text(errno)));
  if (mapped) {
    expect_dma_avail(get_info(container.get()), expected_dma_avail - 1, "after one MAP_DMA");

    vfio_iommu_type1_dma_unmap unmap{};
    unmap.argsz = sizeof unmap;
    unmap.iova = map_iova;
    unmap.size = map_size;
    const bool unmapped = ::ioctl(container.get(), VFIO_IOMMU_UNMAP_DMA, &unmap) == 0;
    report(unmapped, "VFIO_IOMMU_UNMAP_DMA" + (unmapped ? "" : ": " + errno_text(errno)));
    if (unmapped) {
      expect_eq("bytes unmapped", unmap.size, map_size, false);
    }
    expect_dma_avail(get_info(container.get()), expected_dma_avail, "after UNMAP_DMA");
  }
  ::munmap(memory, map_size);
  return mismatches == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    std::fprintf(stderr, "usage: %s\n(no arguments; runs inside the vfio-vm guest)\n", argv[0]);
    return 2;
  }
  const int status = probe();
  if (mismatches == 0 && status == 0) {
    std::printf("vfio_probe: all %d checks passed\n", checks);
    return 0;
  }
  std::printf("vfio_probe: %d of %d checks failed\n", mismatches, checks);
  return 1;
}
