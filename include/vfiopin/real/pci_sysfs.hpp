// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/real/pci_sysfs.hpp: finding PCI functions and their IOMMU groups in sysfs.
//
// Theory of operation. /sys/bus/pci/devices holds one entry per PCI function, named by its
// address ("0000:00:01.0"), with files `vendor` and `device` ("0x1234\n") and a symlink
// `iommu_group` to /sys/kernel/iommu_groups/N when an IOMMU translates for it; N names the
// VFIO group file /dev/vfio/N. find_pci_functions() lists the functions of one vendor and
// device id, sorted by address, with their group numbers. In the test bed
// (vm-testbed.md) the two edu devices (1234:11e8) are 0000:00:01.0 and 0000:01:00.0, in
// two groups; test device 0 is the first by address.
//
// This is discovery, not VFIO: it lists directories and reads links with std::filesystem
// rather than the syscalls seam, and takes the sysfs directory as a parameter, so tests
// point it at a tree of their own. Nothing here throws: unreadable entries are skipped,
// an unreadable directory is the errno it gave.
#ifndef VFIOPIN_REAL_PCI_SYSFS_HPP
#define VFIOPIN_REAL_PCI_SYSFS_HPP

#include <vfiopin/error.hpp>
#include <vfiopin/result.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace vfiopin::real {

inline constexpr const char* pci_devices_dir = "/sys/bus/pci/devices";
/// QEMU's edu device.
inline constexpr std::uint16_t edu_vendor_id = 0x1234;
inline constexpr std::uint16_t edu_device_id = 0x11e8;

/// A PCI function found in sysfs.
struct pci_function {
  std::string address;                       ///< "0000:00:01.0"
  std::optional<std::uint32_t> iommu_group;  ///< N of /dev/vfio/N; nothing without an IOMMU
  friend bool operator==(const pci_function&, const pci_function&) = default;
};

namespace detail {
/// The whole of `s` as a number in `base`, or nothing.
[[nodiscard]] inline std::optional<std::uint32_t> parse_u32(std::string_view s, int base) noexcept {
  std::uint32_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}
/// A sysfs number file ("0x1234\n"), or nothing.
[[nodiscard]] inline std::optional<std::uint32_t> read_sysfs_hex(
    const std::filesystem::path& path) noexcept {
  try {
    std::ifstream in(path);
    std::string text;
    if (!(in >> text)) return std::nullopt;
    std::string_view s = text;
    if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2);
    return parse_u32(s, 16);
  } catch (...) {
    return std::nullopt;
  }
}
/// The group number a function's iommu_group link names, or nothing.
[[nodiscard]] inline std::optional<std::uint32_t> read_iommu_group(
    const std::filesystem::path& function_dir) noexcept {
  try {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(function_dir / "iommu_group", ec);
    if (ec) return std::nullopt;
    return parse_u32(target.filename().string(), 10);
  } catch (...) {
    return std::nullopt;
  }
}
}  // namespace detail

/// The functions with this vendor and device id under `devices_dir`, sorted by address.
[[nodiscard]] inline result<std::vector<pci_function>> find_pci_functions(
    std::uint16_t vendor, std::uint16_t device_id,
    const std::filesystem::path& devices_dir = pci_devices_dir) {
  std::vector<pci_function> found;
  std::error_code ec;
  std::filesystem::directory_iterator it(devices_dir, ec);
  if (ec) return unexpected(from_errno(ec.value()));
  for (const std::filesystem::directory_iterator end; it != end; it.increment(ec)) {
    const auto& dir = it->path();
    if (detail::read_sysfs_hex(dir / "vendor") != vendor ||
        detail::read_sysfs_hex(dir / "device") != device_id) {
      continue;
    }
    found.push_back({dir.filename().string(), detail::read_iommu_group(dir)});
  }
  if (ec) return unexpected(from_errno(ec.value()));
  std::sort(found.begin(), found.end(),
            [](const pci_function& a, const pci_function& b) { return a.address < b.address; });
  return found;
}

/// The edu devices (1234:11e8), sorted by address.
[[nodiscard]] inline result<std::vector<pci_function>> find_edu_devices(
    const std::filesystem::path& devices_dir = pci_devices_dir) {
  return find_pci_functions(edu_vendor_id, edu_device_id, devices_dir);
}

}  // namespace vfiopin::real

#endif  // VFIOPIN_REAL_PCI_SYSFS_HPP
