// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/consumers/s390_ccw_program.hpp: the host channel program a vfio-ccw translation
// produces (s390_ccw.hpp builds it; s390_ccw_format.hpp decodes the guest's).
//
// Theory of operation. The host program mirrors the guest program CCW for CCW, in format 1:
//   host_ccw    one guest CCW: its guest address, command, flags and count as the guest
//               wrote them, its effective data direction (a data-chained CCW inherits the
//               command of its chain), and either its IDAL (first_idaw, idaws) or, for a
//               TIC, the index of the host CCW it transfers to. Every CCW that moves data
//               carries an IDAL and the IDA flag, whether or not the guest used IDA (as
//               vfio-ccw always hands the channel subsystem IDAWs); one that moves none
//               (count 0, the no-op, SKIP on a read) has no IDAL and no IDA flag.
//   host_idaw   one data block: the guest address it came from, the page handle of the
//               pinned page holding it, its offset in that page and its length. The word
//               the channel subsystem reads is page_to_phys(page) + offset (word(), where
//               the backend knows the frame); the CPU reaches the same bytes as bytes().
// The guest's layout is kept: CCWs of one guest segment (a run of consecutive CCWs) stay
// consecutive, so a status-modifier skip (CCW + 16) lands where it would in the guest.
// A host_program is a plain value; the pins behind its handles belong to the translator
// and live until complete() or an unmap notification.
#ifndef VFIOPIN_CONSUMERS_S390_CCW_PROGRAM_HPP
#define VFIOPIN_CONSUMERS_S390_CCW_PROGRAM_HPP

#include <vfiopin/concepts/iommu_backend.hpp>
#include <vfiopin/consumers/s390_ccw_format.hpp>
#include <vfiopin/types/address.hpp>
#include <vfiopin/types/page_handle.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace vfiopin::s390 {

template <pinning_iommu_backend Backend>
class ccw_translator;

/// One data block of a host IDAL.
struct host_idaw {
  iova guest{};
  page_handle page{};
  std::uint32_t offset = 0;
  std::uint32_t length = 0;

  /// The block's bytes for the CPU.
  [[nodiscard]] std::span<std::byte> bytes() const noexcept {
    return page.bytes().subspan(offset, length);
  }
  /// The format-2 IDAW word: the host physical address of the block, where known.
  [[nodiscard]] std::optional<std::uint64_t> word() const noexcept {
    if (const auto f = page.frame()) return f->phys_addr() + offset;
    return std::nullopt;
  }
};

/// One host CCW (format 1).
struct host_ccw {
  iova guest{};
  std::uint8_t cmd = 0;
  std::uint8_t flags = 0;
  std::uint16_t count = 0;
  ccw_direction direction = ccw_direction::none;
  std::uint32_t first_idaw = 0;
  std::uint32_t idaws = 0;
  std::uint32_t tic_target = 0;

  [[nodiscard]] constexpr bool is_tic() const noexcept { return cmd == ccw_cmd_tic; }
};

/// A translated channel program (see the header comment).
class host_program {
 public:
  [[nodiscard]] std::span<const host_ccw> ccws() const noexcept { return ccws_; }
  [[nodiscard]] std::span<const host_idaw> idaws() const noexcept { return idaws_; }
  /// The IDAL of c (empty for a CCW that moves no data).
  [[nodiscard]] std::span<const host_idaw> idal(const host_ccw& c) const noexcept {
    return std::span<const host_idaw>(idaws_).subspan(c.first_idaw, c.idaws);
  }
  [[nodiscard]] idaw_block block() const noexcept { return block_; }
  [[nodiscard]] bool empty() const noexcept { return ccws_.empty(); }

 private:
  template <pinning_iommu_backend>
  friend class ccw_translator;
  void clear() noexcept {
    ccws_.clear();
    idaws_.clear();
  }
  std::vector<host_ccw> ccws_;
  std::vector<host_idaw> idaws_;
  idaw_block block_ = idaw_block::k4;
};

}  // namespace vfiopin::s390

#endif  // VFIOPIN_CONSUMERS_S390_CCW_PROGRAM_HPP
