// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/consumers/s390_ccw_format.hpp: s390 channel-command words, IDAWs and the errors of
// channel-program translation (the decoder half of the vfio-ccw consumer, s390_ccw.hpp).
//
// Theory of operation. A guest starts I/O with an ORB that names a channel program: a chain
// of channel-command words (CCWs) in guest memory, 8 bytes each, doubleword aligned and
// big-endian (z/Architecture Principles of Operation, ch. 15):
//   format 1   byte 0 command, byte 1 flags, bytes 2-3 count, bytes 4-7 data address
//              (31 bits: bit 0 of the word must be zero)
//   format 0   byte 0 command, bytes 1-3 data address (24 bits), byte 4 flags, byte 5
//              ignored, bytes 6-7 count
//   flags      CD 0x80 chain data, CC 0x40 chain command, SLI 0x20, SKIP 0x10, PCI 0x08,
//              IDA 0x04 (the address names an IDAL), S 0x02 suspend, MIDA 0x01 (modified
//              IDAWs: not supported here)
//   command    low four bits: 0000 invalid, xx01 write, xx10 read, xx11 control (0x03 is
//              the no-op), 0100 sense, 1000 transfer in channel (TIC), 1100 read backward.
//              A format-0 TIC ignores the high four bits, its flags and count; a format-1
//              TIC must have zero high bits (else invalid), and its flags and count are
//              ignored. Decoding normalises every TIC to command 0x08, flags 0, count 0,
//              as vfio-ccw's format-0 to format-1 conversion does.
// With IDA the data address names an indirect-data-address list (IDAL) of format-2 IDAWs:
// 64-bit big-endian addresses, the list doubleword aligned. The first IDAW may start
// anywhere inside a block, and each later one must start on a block boundary; the block is
// 4 KiB, or 2 KiB when the ORB asks for 2K IDAWs. A CCW of `count` bytes from address a
// uses ((a mod block) + count + block - 1) / block IDAWs. Without IDA the data area is the
// contiguous range [address, address + count - 1].
//
// Errors. A malformed or hostile program is refused with a ccw_errc, an error_code enum of
// its own category whose equivalent errno is what vfio-ccw answers (EINVAL for a malformed
// program, EOPNOTSUPP for what it does not support, EBUSY while a program is active).
// Failures of the IOMMU backend (a CCW or a data area outside guest memory: EINVAL; a
// read-only mapping for a read command: EPERM; RLIMIT_MEMLOCK: ENOMEM) keep their errc.
#ifndef VFIOPIN_CONSUMERS_S390_CCW_FORMAT_HPP
#define VFIOPIN_CONSUMERS_S390_CCW_FORMAT_HPP

#include <vfiopin/error.hpp>
#include <vfiopin/result.hpp>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>

namespace vfiopin::s390 {

/// Why a channel program was refused (errno equivalents in the header comment).
enum class ccw_errc : int {
  misaligned_ccw = 1,    ///< the ORB's program address or a TIC target is not doubleword aligned
  address_range,         ///< a CCW address at or above 2 GiB, or bit 0 of a format-1 address set
  invalid_command,       ///< a command code whose low four bits are zero
  invalid_tic,           ///< a format-1 TIC with non-zero high four command bits
  tic_to_tic,            ///< a TIC designating a TIC (itself included): a loop with no exit
  unsupported_flag,      ///< MIDA (modified IDAWs)
  misaligned_idal,       ///< an IDAL that is not doubleword aligned
  misaligned_idaw,       ///< an IDAW after the first that does not start a block
  chain_too_long,        ///< more CCWs than ccw_limits::max_ccws
  too_many_idaws,        ///< more IDAWs than ccw_limits::max_idaws
  busy,                  ///< a program is active: complete() it first
  not_attached,          ///< translate() before attach()
};
}  // namespace vfiopin::s390

template <>
struct std::is_error_code_enum<vfiopin::s390::ccw_errc> : std::true_type {};

namespace vfiopin::s390 {

/// The CCW format the ORB selects (its F bit).
enum class ccw_format : std::uint8_t { format0, format1 };

/// The data block of a format-2 IDAW (ORB: 4K, or 2K with the i2k bit).
enum class idaw_block : std::uint32_t { k4 = 4096, k2 = 2048 };

[[nodiscard]] constexpr std::uint64_t block_bytes(idaw_block b) noexcept {
  return static_cast<std::uint64_t>(b);
}

/// CCW flag bits (format-1 byte 1, format-0 byte 4).
namespace ccw_flag {
inline constexpr std::uint8_t cd = 0x80;
inline constexpr std::uint8_t cc = 0x40;
inline constexpr std::uint8_t sli = 0x20;
inline constexpr std::uint8_t skip = 0x10;
inline constexpr std::uint8_t pci = 0x08;
inline constexpr std::uint8_t ida = 0x04;
inline constexpr std::uint8_t suspend = 0x02;
inline constexpr std::uint8_t mida = 0x01;
}  // namespace ccw_flag

inline constexpr std::uint8_t ccw_cmd_tic = 0x08;
inline constexpr std::uint8_t ccw_cmd_noop = 0x03;
inline constexpr std::uint64_t ccw_bytes = 8;
inline constexpr std::uint64_t idaw_bytes = 8;
/// CCWs and format-1 data addresses live below 2 GiB; format-0 data addresses below 16 MiB.
inline constexpr std::uint64_t ccw_address_limit = std::uint64_t{1} << 31;
inline constexpr std::uint64_t ccw0_address_limit = std::uint64_t{1} << 24;


[[nodiscard]] constexpr const char* describe(ccw_errc e) noexcept {
  switch (e) {
    case ccw_errc::misaligned_ccw: return "CCW address not on a doubleword boundary";
    case ccw_errc::address_range: return "CCW or data address outside the 31-bit (24-bit) range";
    case ccw_errc::invalid_command: return "invalid CCW command code (low four bits zero)";
    case ccw_errc::invalid_tic: return "format-1 TIC with non-zero high command bits";
    case ccw_errc::tic_to_tic: return "TIC designates a TIC: loop without exit";
    case ccw_errc::unsupported_flag: return "unsupported CCW flag (MIDA)";
    case ccw_errc::misaligned_idal: return "IDAL not on a doubleword boundary";
    case ccw_errc::misaligned_idaw: return "IDAW after the first not on a block boundary";
    case ccw_errc::chain_too_long: return "channel program longer than the CCW limit";
    case ccw_errc::too_many_idaws: return "channel program needs more IDAWs than the limit";
    case ccw_errc::busy: return "a channel program is already active";
    case ccw_errc::not_attached: return "the translator is not registered with a container";
  }
  return "unknown ccw error";
}

namespace detail {
class ccw_category_impl final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "vfiopin.ccw"; }
  [[nodiscard]] std::string message(int v) const override {
    return describe(static_cast<ccw_errc>(v));
  }
  [[nodiscard]] std::error_condition default_error_condition(int v) const noexcept override {
    switch (static_cast<ccw_errc>(v)) {
      case ccw_errc::unsupported_flag: return {EOPNOTSUPP, std::generic_category()};
      case ccw_errc::busy: return {EBUSY, std::generic_category()};
      case ccw_errc::not_attached: return {ENODEV, std::generic_category()};
      default: return {EINVAL, std::generic_category()};
    }
  }
};
}  // namespace detail

[[nodiscard]] inline const std::error_category& ccw_category() noexcept {
  static const detail::ccw_category_impl instance;
  return instance;
}
[[nodiscard]] inline std::error_code make_error_code(ccw_errc e) noexcept {
  return {static_cast<int>(e), ccw_category()};
}

/// One decoded CCW, in format-1 terms.
struct ccw {
  std::uint8_t cmd = 0;
  std::uint8_t flags = 0;
  std::uint16_t count = 0;
  std::uint32_t cda = 0;

  [[nodiscard]] constexpr bool is_tic() const noexcept { return cmd == ccw_cmd_tic; }
  [[nodiscard]] constexpr bool has(std::uint8_t f) const noexcept { return (flags & f) != 0; }
  /// CD or CC: the channel fetches the next CCW.
  [[nodiscard]] constexpr bool chains() const noexcept {
    return has(ccw_flag::cd) || has(ccw_flag::cc);
  }
  friend constexpr bool operator==(const ccw&, const ccw&) noexcept = default;
};

/// Where a command moves data.
enum class ccw_direction : std::uint8_t { none, to_memory, from_memory };

/// The direction of command `cmd` (none for the invalid codes and TIC).
[[nodiscard]] constexpr ccw_direction direction_of(std::uint8_t cmd) noexcept {
  switch (cmd & 0x0F) {
    case 0x0: case 0x8: return ccw_direction::none;
    case 0x4: case 0xC: return ccw_direction::to_memory;  // sense, read backward
    default: break;
  }
  return (cmd & 0x3) == 0x2 ? ccw_direction::to_memory : ccw_direction::from_memory;
}

/// IDAWs needed for `count` bytes from `first` (0 for count 0).
[[nodiscard]] constexpr std::uint64_t idaw_count(std::uint64_t first, std::uint64_t count,
                                                 idaw_block b) noexcept {
  const std::uint64_t bs = block_bytes(b);
  return count == 0 ? 0 : ((first % bs) + count + bs - 1) / bs;
}

namespace detail {
[[nodiscard]] constexpr std::uint64_t load_be(std::span<const std::byte> b) noexcept {
  std::uint64_t v = 0;
  for (const std::byte x : b) v = (v << 8) | std::to_integer<std::uint64_t>(x);
  return v;
}
constexpr void store_be(std::span<std::byte> b, std::uint64_t v) noexcept {
  for (std::size_t i = b.size(); i-- > 0; v >>= 8) b[i] = static_cast<std::byte>(v & 0xff);
}
}  // namespace detail

/// Decodes the 8 bytes of a CCW in `fmt`; a TIC comes back normalised (header comment).
/// Refuses what no CCW of that format can be: MIDA, a format-1 address with bit 0 set, a
/// format-1 TIC with high command bits. Command validity depends on chaining: the caller's.
[[nodiscard]] inline result<ccw> decode_ccw(std::span<const std::byte, ccw_bytes> raw,
                                            ccw_format fmt) noexcept {
  ccw c;
  c.cmd = std::to_integer<std::uint8_t>(raw[0]);
  if (fmt == ccw_format::format1) {
    c.flags = std::to_integer<std::uint8_t>(raw[1]);
    c.count = static_cast<std::uint16_t>(detail::load_be(raw.subspan(2, 2)));
    const std::uint64_t cda = detail::load_be(raw.subspan(4, 4));
    if ((c.cmd & 0x0F) == ccw_cmd_tic && c.cmd != ccw_cmd_tic) return fail(make_error_code(ccw_errc::invalid_tic));
    if (cda >= ccw_address_limit) return fail(make_error_code(ccw_errc::address_range));
    c.cda = static_cast<std::uint32_t>(cda);
  } else {
    c.cda = static_cast<std::uint32_t>(detail::load_be(raw.subspan(1, 3)));
    c.flags = std::to_integer<std::uint8_t>(raw[4]);
    c.count = static_cast<std::uint16_t>(detail::load_be(raw.subspan(6, 2)));
    if ((c.cmd & 0x0F) == ccw_cmd_tic) c.cmd = ccw_cmd_tic;
  }
  if (c.is_tic()) {
    c.flags = 0;
    c.count = 0;
    return c;
  }
  if (c.has(ccw_flag::mida)) return fail(make_error_code(ccw_errc::unsupported_flag));
  return c;
}

/// The 8 bytes of `c` in `fmt` (for guests, tests and examples that build programs).
/// Address bits that do not fit the format are dropped.
[[nodiscard]] constexpr std::array<std::byte, ccw_bytes> encode_ccw(const ccw& c,
                                                                    ccw_format fmt) noexcept {
  std::array<std::byte, ccw_bytes> out{};
  const std::span<std::byte> s(out);
  out[0] = static_cast<std::byte>(c.cmd);
  if (fmt == ccw_format::format1) {
    out[1] = static_cast<std::byte>(c.flags);
    detail::store_be(s.subspan(2, 2), c.count);
    detail::store_be(s.subspan(4, 4), c.cda);
  } else {
    detail::store_be(s.subspan(1, 3), c.cda & 0xFFFFFFU);
    out[4] = static_cast<std::byte>(c.flags);
    detail::store_be(s.subspan(6, 2), c.count);
  }
  return out;
}

/// A format-2 IDAW as stored in memory.
[[nodiscard]] constexpr std::array<std::byte, idaw_bytes> encode_idaw(std::uint64_t a) noexcept {
  std::array<std::byte, idaw_bytes> out{};
  detail::store_be(out, a);
  return out;
}
[[nodiscard]] constexpr std::uint64_t decode_idaw(std::span<const std::byte, idaw_bytes> raw) noexcept {
  return detail::load_be(raw);
}

}  // namespace vfiopin::s390

#endif  // VFIOPIN_CONSUMERS_S390_CCW_FORMAT_HPP
