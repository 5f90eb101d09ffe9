// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/real/device.hpp: a VFIO device (vfio-pci) opened from its group.
//
// Theory of operation. A device is reached through the group it belongs to:
// VFIO_GROUP_GET_DEVICE_FD(name) on the group fd, which the kernel only allows once the
// group is in a container with an IOMMU set (EINVAL otherwise, as the test bed saw). The
// device fd then answers
//   VFIO_DEVICE_GET_INFO         flags, number of regions and IRQs;
//   VFIO_DEVICE_GET_REGION_INFO  per region: flags (read/write/mmap), size, the offset of
//                                the region within the device fd, and a capability chain
//                                (sparse mmap areas, a region type, ...);
// and pread/pwrite at a region's offset access the region. The PCI config space is region
// VFIO_PCI_CONFIG_REGION_INDEX (7); enable_bus_master() sets PCI_COMMAND's memory-space
// and bus-master bits (|= 0x6), without which the device's DMA goes nowhere. map_bar()
// mmaps a BAR as a bar_region (real/bar_region.hpp), placed like every real region.
//
// Region info is asked with the bare struct first; a kernel with capabilities to report
// raises argsz, and it is asked again with that size (bounded). parse_region_info() trusts
// nothing: the chain is walked by `next` offsets, each must point past the fixed struct,
// strictly after the previous capability (so it cannot loop) and leave room for the
// capability's header and the fields of its id inside the bytes the kernel filled. A
// malformed chain is errc::protocol_error, never a crash or a read out of the buffer.
//
// Move-only; the destructor closes the device fd. All calls go through the syscalls seam.
#ifndef VFIOPIN_REAL_DEVICE_HPP
#define VFIOPIN_REAL_DEVICE_HPP

#include <vfiopin/error.hpp>
#include <vfiopin/real/bar_region.hpp>
#include <vfiopin/real/caps.hpp>
#include <vfiopin/real/mapping.hpp>
#include <vfiopin/real/sys.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/count.hpp>
#include <vfiopin/types/page.hpp>

#include <linux/vfio.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vfiopin::real {

/// PCI config space: the command register and its bits (PCI local bus spec).
inline constexpr std::uint64_t pci_command = 0x04;
inline constexpr std::uint16_t pci_command_memory = 0x2;
inline constexpr std::uint16_t pci_command_master = 0x4;

/// VFIO_DEVICE_GET_INFO.
struct device_info {
  std::uint32_t flags = 0;
  std::uint32_t num_regions = 0;
  std::uint32_t num_irqs = 0;
};

/// One area of VFIO_REGION_INFO_CAP_SPARSE_MMAP: offsets within the region.
struct sparse_mmap_area {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  friend bool operator==(const sparse_mmap_area&, const sparse_mmap_area&) = default;
};

/// VFIO_DEVICE_GET_REGION_INFO, with its capability chain parsed.
struct region_info {
  std::uint32_t index = 0;
  std::uint32_t flags = 0;
  std::uint64_t size = 0;
  std::uint64_t offset = 0;  ///< of the region within the device fd
  std::vector<std::uint16_t> cap_ids;                       ///< every capability, in chain order
  std::optional<std::vector<sparse_mmap_area>> sparse_mmap;  ///< CAP_SPARSE_MMAP
  std::optional<std::uint32_t> type;                         ///< CAP_TYPE
  std::optional<std::uint32_t> subtype;                      ///< CAP_TYPE
  [[nodiscard]] bool readable() const noexcept { return (flags & VFIO_REGION_INFO_FLAG_READ) != 0; }
  [[nodiscard]] bool writable() const noexcept { return (flags & VFIO_REGION_INFO_FLAG_WRITE) != 0; }
  [[nodiscard]] bool mmappable() const noexcept { return (flags & VFIO_REGION_INFO_FLAG_MMAP) != 0; }
};

/// Parses a GET_REGION_INFO answer (`buf`: the bytes the kernel filled). See the header.
[[nodiscard]] inline result<region_info> parse_region_info(std::span<const std::byte> buf) {
  using detail::load;
  constexpr std::size_t head = sizeof(vfio_region_info);
  constexpr std::size_t hdr = sizeof(vfio_info_cap_header);
  if (buf.size() < head) return detail::malformed();
  const auto raw = load<vfio_region_info>(buf, 0);
  region_info info{raw.index, raw.flags, raw.size, raw.offset, {}, {}, {}, {}};
  if ((raw.flags & VFIO_REGION_INFO_FLAG_CAPS) == 0) return info;
  std::size_t at = raw.cap_offset;
  std::size_t min_at = head;  // the next capability must start here or later
  while (at != 0) {
    if (at < min_at || at > buf.size() || buf.size() - at < hdr) return detail::malformed();
    const auto h = load<vfio_info_cap_header>(buf, at);
    if (h.next != 0 && h.next < at + hdr) return detail::malformed();  // backwards: a loop
    // The capability's bytes: up to the next one, or to the end of the buffer.
    const std::size_t room = (h.next != 0 && h.next < buf.size() ? h.next : buf.size()) - at;
    info.cap_ids.push_back(h.id);
    switch (h.id) {
      case VFIO_REGION_INFO_CAP_SPARSE_MMAP: {
        constexpr std::size_t fixed = sizeof(vfio_region_info_cap_sparse_mmap);
        constexpr std::size_t each = sizeof(vfio_region_sparse_mmap_area);
        if (room < fixed) return detail::malformed();
        const auto nr =
            load<std::uint32_t>(buf, at + offsetof(vfio_region_info_cap_sparse_mmap, nr_areas));
        if (nr > (room - fixed) / each) return detail::malformed();
        if (info.sparse_mmap) break;  // the first one wins
        std::vector<sparse_mmap_area> areas;
        areas.reserve(nr);
        for (std::uint32_t k = 0; k < nr; ++k) {
          const auto a = load<vfio_region_sparse_mmap_area>(buf, at + fixed + k * each);
          areas.push_back({a.offset, a.size});
        }
        info.sparse_mmap = std::move(areas);
        break;
      }
      case VFIO_REGION_INFO_CAP_TYPE: {
        if (room < sizeof(vfio_region_info_cap_type)) return detail::malformed();
        if (info.type) break;
        const auto t = load<vfio_region_info_cap_type>(buf, at);
        info.type = t.type;
        info.subtype = t.subtype;
        break;
      }
      default:
        break;  // known to exist (MSIX_MAPPABLE, ...) or not: only its id is kept
    }
    min_at = at + hdr;
    at = h.next;
  }
  return info;
}

/// An open VFIO device (see the header comment).
class device {
 public:
  /// VFIO_GROUP_GET_DEVICE_FD(name) on `group_fd` (e.g. "0000:00:01.0").
  [[nodiscard]] static result<device> open(int group_fd, std::string_view name,
                                           syscalls& sys = linux_syscalls()) {
    if (name.empty() || name.find('\0') != std::string_view::npos) {
      return unexpected(errc::invalid_argument);
    }
    std::string z(name);
    auto fd = sys_ioctl(sys, group_fd, VFIO_GROUP_GET_DEVICE_FD, z.data());
    if (!fd) return unexpected(fd.error());
    return device(unique_fd(sys, static_cast<int>(*fd)), std::move(z));
  }

  device(device&&) noexcept = default;
  device& operator=(device&&) noexcept = default;
  device(const device&) = delete;
  device& operator=(const device&) = delete;
  ~device() = default;

  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] syscalls& sys() const noexcept { return fd_.sys(); }

  /// VFIO_DEVICE_GET_INFO (the fixed fields; its capabilities are not read).
  [[nodiscard]] result<device_info> info() const {
    vfio_device_info raw{};
    raw.argsz = sizeof raw;
    if (auto r = sys_ioctl(sys(), fd(), VFIO_DEVICE_GET_INFO, &raw); !r) return unexpected(r.error());
    return device_info{raw.flags, raw.num_regions, raw.num_irqs};
  }

  /// VFIO_DEVICE_GET_REGION_INFO of region `index`, with its capability chain.
  [[nodiscard]] result<region_info> region(std::uint32_t index) const {
    constexpr std::uint32_t max_argsz = 1U << 20;
    std::uint32_t argsz = sizeof(vfio_region_info);
    std::vector<std::byte> buf;
    for (int attempt = 0; attempt < 4; ++attempt) {
      buf.assign(argsz, std::byte{0});
      vfio_region_info head{};
      head.argsz = argsz;
      head.index = index;
      std::memcpy(buf.data(), &head, sizeof head);
      if (auto r = sys_ioctl(sys(), fd(), VFIO_DEVICE_GET_REGION_INFO, buf.data()); !r) {
        return unexpected(r.error());
      }
      const auto wanted = detail::load<std::uint32_t>(buf, 0);
      if (wanted <= argsz) return parse_region_info(buf);  // the chain fit
      if (wanted > max_argsz) return detail::malformed();
      argsz = wanted;
    }
    return detail::malformed();
  }

  /// Reads out.size() bytes of PCI config space at `offset`. EINVAL past the region.
  [[nodiscard]] result<void> config_read(std::uint64_t offset, std::span<std::byte> out) const {
    auto at = config_offset(offset, out.size());
    if (!at) return unexpected(at.error());
    return sys_pread_all(sys(), fd(), out.data(), out.size(), *at);
  }
  /// Writes bytes to PCI config space at `offset`. EINVAL past the region.
  [[nodiscard]] result<void> config_write(std::uint64_t offset,
                                          std::span<const std::byte> bytes) const {
    auto at = config_offset(offset, bytes.size());
    if (!at) return unexpected(at.error());
    return sys_pwrite_all(sys(), fd(), bytes.data(), bytes.size(), *at);
  }
  [[nodiscard]] result<std::uint16_t> config_read16(std::uint64_t offset) const {
    std::uint16_t v = 0;
    if (auto r = config_read(offset, std::as_writable_bytes(std::span(&v, 1))); !r) {
      return unexpected(r.error());
    }
    return v;  // config space is little-endian, as is x86-64
  }
  [[nodiscard]] result<void> config_write16(std::uint64_t offset, std::uint16_t v) const {
    return config_write(offset, std::as_bytes(std::span(&v, 1)));
  }

  /// PCI_COMMAND |= memory space | bus master (0x6), so the device can do DMA.
  [[nodiscard]] result<void> enable_bus_master() const {
    auto cmd = config_read16(pci_command);
    if (!cmd) return unexpected(cmd.error());
    const auto want = static_cast<std::uint16_t>(*cmd | pci_command_memory | pci_command_master);
    if (want == *cmd) return {};
    return config_write16(pci_command, want);
  }

  /// mmaps the first `size` bytes (rounded up to 4 KiB) of BAR `index`. EINVAL if the
  /// region cannot be mmapped, size is 0 or above the region, or a sparse-mmap capability
  /// leaves part of it out; the seam's errno otherwise.
  [[nodiscard]] result<bar_region> map_bar(std::uint32_t index, byte_count size) const {
    if (index > VFIO_PCI_BAR5_REGION_INDEX) return unexpected(errc::invalid_argument);
    auto reg = region(index);
    if (!reg) return unexpected(reg.error());
    const auto rounded = align_up(size, page_bytes);
    if (size.value() == 0 || !rounded || !reg->mmappable() || rounded->value() > reg->size) {
      return unexpected(errc::invalid_argument);
    }
    if (reg->sparse_mmap) {
      bool covered = false;
      for (const auto& a : *reg->sparse_mmap) {
        covered = covered || (a.offset == 0 && a.size >= rounded->value());
      }
      if (!covered) return unexpected(errc::invalid_argument);
    }
    if (reg->offset > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
      return unexpected(errc::protocol_error);
    }
    const int prot = (reg->readable() ? PROT_READ : 0) | (reg->writable() ? PROT_WRITE : 0);
    auto m = placed_mapping::create(sys(), *rounded, prot, MAP_SHARED, fd(),
                                    static_cast<off_t>(reg->offset));
    if (!m) return unexpected(m.error());
    return bar_region(index, std::move(*m));
  }

 private:
  device(unique_fd fd, std::string name) noexcept : fd_(std::move(fd)), name_(std::move(name)) {}

  [[nodiscard]] result<off_t> config_offset(std::uint64_t offset, std::size_t len) const {
    auto reg = region(VFIO_PCI_CONFIG_REGION_INDEX);
    if (!reg) return unexpected(reg.error());
    if (offset > reg->size || len > reg->size - offset) return unexpected(errc::invalid_argument);
    const auto at = checked_add(byte_count{reg->offset}, byte_count{offset});
    if (!at || at->value() > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
      return unexpected(errc::protocol_error);
    }
    return static_cast<off_t>(at->value());
  }

  unique_fd fd_;
  std::string name_;
};

}  // namespace vfiopin::real

#endif  // VFIOPIN_REAL_DEVICE_HPP
