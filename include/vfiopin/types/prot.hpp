// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/types/prot.hpp: the DMA protection flag set.
//
// Theory of operation. `prot` is the set {read, write} of what a device may do through a
// mapping or a pin. The numeric values equal VFIO_DMA_MAP_FLAG_READ (1) and
// VFIO_DMA_MAP_FLAG_WRITE (2), and IOMMU_READ/IOMMU_WRITE, so the real backend passes
// them through unchanged. includes(have, want) is the kernel's `(dma->prot & prot) == prot`
// check for pins (spec §4.3 step 6b).
#ifndef VFIOPIN_TYPES_PROT_HPP
#define VFIOPIN_TYPES_PROT_HPP

#include <cstdint>
#include <string_view>

namespace vfiopin {

/// DMA access rights: a set of read and write.
enum class prot : std::uint8_t {
  none = 0,        ///< neither (MAP_DMA refuses it; VADDR updates pass it)
  read = 1,        ///< the device may read memory
  write = 2,       ///< the device may write memory
  read_write = 3,  ///< both
};

[[nodiscard]] constexpr prot operator|(prot a, prot b) noexcept {
  return static_cast<prot>(static_cast<std::uint8_t>(a) | static_cast<std::uint8_t>(b));
}
[[nodiscard]] constexpr prot operator&(prot a, prot b) noexcept {
  return static_cast<prot>(static_cast<std::uint8_t>(a) & static_cast<std::uint8_t>(b));
}
constexpr prot& operator|=(prot& a, prot b) noexcept { return a = a | b; }
constexpr prot& operator&=(prot& a, prot b) noexcept { return a = a & b; }

/// True when every right in `want` is in `have`.
[[nodiscard]] constexpr bool includes(prot have, prot want) noexcept {
  return (have & want) == want;
}
/// True when p is one of the four defined values.
[[nodiscard]] constexpr bool is_valid(prot p) noexcept {
  return static_cast<std::uint8_t>(p) <= 3;
}
/// "none", "r", "w" or "rw" (the scenario spelling).
[[nodiscard]] constexpr std::string_view to_string(prot p) noexcept {
  switch (p) {
    case prot::none: return "none";
    case prot::read: return "r";
    case prot::write: return "w";
    case prot::read_write: return "rw";
  }
  return "?";
}

}  // namespace vfiopin

#endif  // VFIOPIN_TYPES_PROT_HPP
