// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/error.hpp: the error vocabulary.
//
// Theory of operation. The kernel reports every failure of the type1 driver as a negative
// errno, and vfiopin's mock must agree with it to the errno. So `errc` is an enumeration
// whose kernel values ARE the Linux errno numbers (as std::errc does for POSIX), which
// makes the mapping to and from errno exact and total:
//   - to_errno(errc) gives the errno the kernel would return (library-only conditions map
//     to the errno the newest kernel gives for the same situation);
//   - from_errno(int) gives back the errc for any errno in 1..4095.
// A handful of conditions have no errno of their own because the kernel either crashes or
// silently misbehaves there (a struct page handed out for memory that has none, a driver
// that keeps its pins across an unmap notification). They live above 4095, where no errno
// can collide with them.
//
// `errc` is registered with std::is_error_code_enum, so `std::error_code ec = errc::busy`
// works, and its category maps every value to a std::generic_category condition, so
// `ec == std::errc::device_or_resource_busy` is true as well.
#ifndef VFIOPIN_ERROR_HPP
#define VFIOPIN_ERROR_HPP

#include <array>
#include <cerrno>
#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

namespace vfiopin {

/// Why an operation failed. Kernel values equal their Linux errno.
enum class errc : int {
  not_permitted = EPERM,           ///< EPERM: prot mismatch on pin, missing privilege.
  no_entry = ENOENT,               ///< ENOENT: no mapping where one is required (VADDR map).
  no_such_process = ESRCH,         ///< ESRCH: the mm that owns a mapping is gone.
  interrupted = EINTR,             ///< EINTR: a system call was interrupted by a signal.
  io_error = EIO,                  ///< EIO: the IOMMU domain could not be allocated.
  too_big = E2BIG,                 ///< E2BIG: more than 512 pages in one vfio_pin_pages call.
  bad_file = EBADF,                ///< EBADF: a file descriptor is not open.
  try_again = EAGAIN,              ///< EAGAIN: a transient condition; retry.
  out_of_memory = ENOMEM,          ///< ENOMEM: RLIMIT_MEMLOCK exceeded or allocation failed.
  access_denied = EACCES,          ///< EACCES: operation needs type1v2 (pin, dirty tracking).
  bad_address = EFAULT,            ///< EFAULT: vaddr not mapped, or not writable for a write map.
  busy = EBUSY,                    ///< EBUSY: invalid vaddrs pending, or a BAR still mmapped.
  exists = EEXIST,                 ///< EEXIST: MAP_DMA overlaps an existing mapping.
  no_device = ENODEV,              ///< ENODEV: no such group or device.
  invalid_argument = EINVAL,       ///< EINVAL: malformed request (alignment, size, flags, range).
  not_tty = ENOTTY,                ///< ENOTTY: ioctl not supported by this driver.
  no_space = ENOSPC,               ///< ENOSPC: dma_entry_limit reached for this container.
  deadlock = EDEADLK,              ///< EDEADLK: a consumer kept pins across an unmap notification.
  message_size = EMSGSIZE,         ///< EMSGSIZE: a caller's buffer is too small for the answer.
  overflow = EOVERFLOW,            ///< EOVERFLOW: iova+size or vaddr+size wraps (late-2025 kernels).
  not_supported = EOPNOTSUPP,      ///< EOPNOTSUPP: an unsupported flag or mode.
  address_in_use = EADDRINUSE,     ///< EADDRINUSE: an IOVA range is reserved or already allowed.
  protocol_error = EPROTO,         ///< EPROTO: the kernel's answer is malformed (a bad capability chain).

  // Library conditions: no errno of their own. Values above MAX_ERRNO (4095).
  not_page_backed = 0x1001,  ///< Memory without struct pages was asked for a page handle.
  bogus_page = 0x1002,       ///< The modelled kernel (6.0-6.3) would hand out a bogus struct page.
  pins_retained = 0x1003,    ///< A consumer kept pins after 10 unmap notifications (kernel BUG_ON).
  unknown_errno = 0x1fff,    ///< from_errno() was given a value outside 1..4095.
};

}  // namespace vfiopin

template <>
struct std::is_error_code_enum<vfiopin::errc> : std::true_type {};

namespace vfiopin {

/// The errno the kernel returns for `e` (library conditions: the nearest kernel answer).
[[nodiscard]] constexpr int to_errno(errc e) noexcept {
  switch (e) {
    case errc::not_page_backed: return EINVAL;  // what 6.4+ answers for a PFNMAP pin
    case errc::bogus_page: return EFAULT;
    case errc::pins_retained: return EDEADLK;   // what iommufd answers
    case errc::unknown_errno: return EINVAL;
    default: return static_cast<int>(e);
  }
}

/// The errc for errno `e` (positive or negated); unknown_errno outside 1..4095.
[[nodiscard]] constexpr errc from_errno(int e) noexcept {
  if (e < 0 && e > -4096) e = -e;
  if (e <= 0 || e >= 4096) return errc::unknown_errno;
  return static_cast<errc>(e);
}

namespace detail {
// Index = errno number; "" where Linux defines no symbol of its own.
inline constexpr std::array<std::string_view, 134> errno_symbols{
    "", "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF",
    "ECHILD", "EAGAIN", "ENOMEM", "EACCES", "EFAULT", "ENOTBLK", "EBUSY", "EEXIST", "EXDEV",
    "ENODEV", "ENOTDIR", "EISDIR", "EINVAL", "ENFILE", "EMFILE", "ENOTTY", "ETXTBSY",
    "EFBIG", "ENOSPC", "ESPIPE", "EROFS", "EMLINK", "EPIPE", "EDOM", "ERANGE", "EDEADLK",
    "ENAMETOOLONG", "ENOLCK", "ENOSYS", "ENOTEMPTY", "ELOOP", "", "ENOMSG", "EIDRM",
    "ECHRNG", "EL2NSYNC", "EL3HLT", "EL3RST", "ELNRNG", "EUNATCH", "ENOCSI", "EL2HLT",
    "EBADE", "EBADR", "EXFULL", "ENOANO", "EBADRQC", "EBADSLT", "", "EBFONT", "ENOSTR",
    "ENODATA", "ETIME", "ENOSR", "ENONET", "ENOPKG", "EREMOTE", "ENOLINK", "EADV", "ESRMNT",
    "ECOMM", "EPROTO", "EMULTIHOP", "EDOTDOT", "EBADMSG", "EOVERFLOW", "ENOTUNIQ", "EBADFD",
    "EREMCHG", "ELIBACC", "ELIBBAD", "ELIBSCN", "ELIBMAX", "ELIBEXEC", "EILSEQ", "ERESTART",
    "ESTRPIPE", "EUSERS", "ENOTSOCK", "EDESTADDRREQ", "EMSGSIZE", "EPROTOTYPE",
    "ENOPROTOOPT", "EPROTONOSUPPORT", "ESOCKTNOSUPPORT", "EOPNOTSUPP", "EPFNOSUPPORT",
    "EAFNOSUPPORT", "EADDRINUSE", "EADDRNOTAVAIL", "ENETDOWN", "ENETUNREACH", "ENETRESET",
    "ECONNABORTED", "ECONNRESET", "ENOBUFS", "EISCONN", "ENOTCONN", "ESHUTDOWN",
    "ETOOMANYREFS", "ETIMEDOUT", "ECONNREFUSED", "EHOSTDOWN", "EHOSTUNREACH", "EALREADY",
    "EINPROGRESS", "ESTALE", "EUCLEAN", "ENOTNAM", "ENAVAIL", "EISNAM", "EREMOTEIO",
    "EDQUOT", "ENOMEDIUM", "EMEDIUMTYPE", "ECANCELED", "ENOKEY", "EKEYEXPIRED",
    "EKEYREVOKED", "EKEYREJECTED", "EOWNERDEAD", "ENOTRECOVERABLE", "ERFKILL", "EHWPOISON",
};
}  // namespace detail

/// The largest errno number errno_name() knows.
inline constexpr int max_named_errno = static_cast<int>(detail::errno_symbols.size()) - 1;

/// The Linux symbol of errno `e` ("EINVAL"), or "" where Linux has none or `e` is out of
/// range (negative values included).
[[nodiscard]] constexpr std::string_view errno_name(int e) noexcept {
  if (e <= 0 || e > max_named_errno) return {};
  return detail::errno_symbols[static_cast<std::size_t>(e)];
}

/// A short description of `e`, for error_code::message().
[[nodiscard]] constexpr std::string_view describe(errc e) noexcept {
  switch (e) {
    case errc::not_page_backed:
      return "memory without struct pages cannot be pinned for CPU access (pfn-only memory)";
    case errc::bogus_page:
      return "the modelled kernel would return a struct page for a pfn that has none";
    case errc::pins_retained:
      return "a consumer kept its pins across 10 unmap notifications (kernel would BUG)";
    case errc::unknown_errno: return "unknown errno value";
    default: return {};
  }
}

namespace detail {
class error_category_impl final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "vfiopin"; }
  [[nodiscard]] std::string message(int v) const override {
    const auto e = static_cast<errc>(v);
    if (const auto text = describe(e); !text.empty()) return std::string(text);
    std::string out(errno_name(v));
    if (out.empty()) out = "errno " + std::to_string(v);
    return out + ": " + std::generic_category().message(v);
  }
  [[nodiscard]] std::error_condition default_error_condition(int v) const noexcept override {
    return {to_errno(static_cast<errc>(v)), std::generic_category()};
  }
};
}  // namespace detail

/// The registered category of vfiopin::errc.
[[nodiscard]] inline const std::error_category& error_category() noexcept {
  static const detail::error_category_impl instance;
  return instance;
}

[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

/// The errno of any error_code: vfiopin's own, or a system/generic one (errno as is).
[[nodiscard]] inline int to_errno(const std::error_code& ec) noexcept {
  if (ec.category() == error_category()) return to_errno(static_cast<errc>(ec.value()));
  return ec.default_error_condition().value();
}

}  // namespace vfiopin

#endif  // VFIOPIN_ERROR_HPP
