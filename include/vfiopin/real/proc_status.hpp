// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/real/proc_status.hpp: the process's locked memory, as the kernel counts it.
//
// Theory of operation. type1 charges the pages it pins to the mapping process's
// mm->locked_vm (vfio_lock_acct), which /proc/self/status shows as VmLck in kB. That is the
// figure RLIMIT_MEMLOCK is held against, so it is the one to compare with a model's
// accounting or to watch for leaks. Read through the syscalls seam (real/vma.hpp's
// read_proc_file); a status file without a VmLck line is errc::protocol_error.
//
// The kernel prints locked_vm (an unsigned long page count) times 4 as kB, in unsigned long
// arithmetic. When a kernel accounting bug takes locked_vm below zero (it WARNs in
// __account_locked_vm and lets it wrap; Debian 6.1 does so in zero_page_pin_replay.vfs),
// VmLck reads 2^64 - 4n kB. The bytes are returned modulo 2^64 as well, so such a value
// reads as 2^64 - n * 4096: the same wrapped count the mock keeps.
#ifndef VFIOPIN_REAL_PROC_STATUS_HPP
#define VFIOPIN_REAL_PROC_STATUS_HPP

#include <vfiopin/error.hpp>
#include <vfiopin/real/sys.hpp>
#include <vfiopin/real/vma.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/count.hpp>

#include <charconv>
#include <cstdint>
#include <string_view>

namespace vfiopin::real {

/// VmLck of a /proc/<pid>/status text, in bytes.
[[nodiscard]] inline result<byte_count> parse_vm_locked(std::string_view status) noexcept {
  constexpr std::string_view key = "VmLck:";
  for (std::size_t at = 0; at < status.size();) {
    const std::size_t end = std::min(status.find('\n', at), status.size());
    std::string_view line = status.substr(at, end - at);
    at = end + 1;
    if (!line.starts_with(key)) continue;
    line.remove_prefix(key.size());
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    std::uint64_t kib = 0;
    const auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), kib);
    if (ec != std::errc{} || std::string_view(p, static_cast<std::size_t>(line.data() + line.size() - p)) != " kB") {
      return unexpected(errc::protocol_error);
    }
    return byte_count{kib << 10};  // modulo 2^64, as the kernel computed kib
  }
  return unexpected(errc::protocol_error);
}

/// The calling process's VmLck, in bytes.
[[nodiscard]] inline result<byte_count> vm_locked(syscalls& sys = linux_syscalls()) {
  auto text = read_proc_file(sys, "/proc/self/status");
  if (!text) return unexpected(text.error());
  return parse_vm_locked(*text);
}

}  // namespace vfiopin::real

#endif  // VFIOPIN_REAL_PROC_STATUS_HPP
