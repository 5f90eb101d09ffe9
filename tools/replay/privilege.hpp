// SPDX-License-Identifier: Apache-2.0
//
// tools/replay/privilege.hpp: RLIMIT_MEMLOCK and CAP_IPC_LOCK of the replay process.
//
// Theory of operation. The scenario format's `memlock BYTES` makes the mapper an
// unprivileged one: RLIMIT_MEMLOCK = BYTES and no CAP_IPC_LOCK, which is what type1 reads
// (rlimit and capable() of the task at MAP_DMA time). privilege_guard saves the limit and
// the effective capability set when constructed and restores both on restore() and on
// destruction, so every file starts privileged. CAP_IPC_LOCK is dropped from the effective
// set only (it stays permitted, so it can be raised again). Uses the raw capget/capset
// system calls: no libcap, and the tool links statically for the guest.
#ifndef VFIOPIN_TOOLS_REPLAY_PRIVILEGE_HPP
#define VFIOPIN_TOOLS_REPLAY_PRIVILEGE_HPP

#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>

namespace vfiopin::replay {

class privilege_guard {
 public:
  privilege_guard() {
    if (::getrlimit(RLIMIT_MEMLOCK, &limit_) != 0) throw std::runtime_error("getrlimit failed");
    if (!get(caps_)) throw std::runtime_error("capget failed");
  }
  privilege_guard(const privilege_guard&) = delete;
  privilege_guard& operator=(const privilege_guard&) = delete;
  ~privilege_guard() { (void)restore_noexcept(); }

  /// RLIMIT_MEMLOCK = bytes, CAP_IPC_LOCK dropped from the effective set.
  void drop(std::uint64_t bytes) {
    const rlimit r{bytes, bytes};
    if (::setrlimit(RLIMIT_MEMLOCK, &r) != 0) throw std::runtime_error("setrlimit failed");
    cap_data d[2];
    if (!get(d)) throw std::runtime_error("capget failed");
    d[CAP_TO_INDEX(CAP_IPC_LOCK)].effective &= ~CAP_TO_MASK(CAP_IPC_LOCK);
    if (!set(d)) throw std::runtime_error("capset failed");
  }
  /// Back to what the process had at construction.
  void restore() {
    if (!restore_noexcept()) throw std::runtime_error("cannot restore RLIMIT_MEMLOCK or capabilities");
  }

 private:
  using cap_data = __user_cap_data_struct;
  static bool get(cap_data (&d)[2]) noexcept {
    __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
    return ::syscall(SYS_capget, &h, d) == 0;
  }
  static bool set(cap_data (&d)[2]) noexcept {
    __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
    return ::syscall(SYS_capset, &h, d) == 0;
  }
  bool restore_noexcept() noexcept {
    cap_data d[2] = {caps_[0], caps_[1]};
    const bool caps_ok = set(d);
    return ::setrlimit(RLIMIT_MEMLOCK, &limit_) == 0 && caps_ok;
  }

  rlimit limit_{};
  cap_data caps_[2]{};
};

}  // namespace vfiopin::replay

#endif  // VFIOPIN_TOOLS_REPLAY_PRIVILEGE_HPP
