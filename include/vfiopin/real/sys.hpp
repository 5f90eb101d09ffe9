// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/real/sys.hpp: the seam between the real backend and the kernel.
//
// Theory of operation. Every system call the real backend makes (open, close, ioctl,
// mmap, munmap, pread, pwrite, and reads of /proc files through open+pread) goes through
// one `syscalls` object, so tests can record the calls, answer them from a fake kernel, or
// fail the nth one, all without /dev/vfio. The backend objects take a `syscalls&` (default:
// linux_syscalls(), the process's real system calls) and never touch the C library's
// system call wrappers themselves.
//
// Convention: no errno global. Every call returns a `long`: the call's non-negative result
// on success, or minus the errno on failure, as the kernel's own functions do. mmap puts
// the address in an out parameter. The `sys_*` helpers below add what every caller needs:
// a retry on EINTR (ioctl, pread, pwrite, open; never close, which Linux does not retry),
// and conversion of -errno into `errc` via from_errno().
#ifndef VFIOPIN_REAL_SYS_HPP
#define VFIOPIN_REAL_SYS_HPP

#include <vfiopin/error.hpp>
#include <vfiopin/result.hpp>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace vfiopin::real {

/// The system calls of the real backend (see the header comment). Results: >= 0 or -errno.
class syscalls {
 public:
  virtual ~syscalls() = default;
  virtual long open(const char* path, int flags) noexcept = 0;
  virtual long close(int fd) noexcept = 0;
  virtual long ioctl(int fd, unsigned long request, void* arg) noexcept = 0;
  /// On success *out is the mapping's address.
  virtual long mmap(void* addr, std::size_t len, int prot, int flags, int fd, off_t offset,
                    void** out) noexcept = 0;
  virtual long munmap(void* addr, std::size_t len) noexcept = 0;
  virtual long pread(int fd, void* buf, std::size_t len, off_t offset) noexcept = 0;
  virtual long pwrite(int fd, const void* buf, std::size_t len, off_t offset) noexcept = 0;
  // Memory regions (real/memory.hpp). Not pure: a fake that does not serve them answers
  // ENOSYS, so fakes written before these existed still compile.
  virtual long memfd_create(const char* /*name*/, unsigned /*flags*/) noexcept { return -ENOSYS; }
  virtual long ftruncate(int /*fd*/, off_t /*length*/) noexcept { return -ENOSYS; }
  virtual long madvise(void* /*addr*/, std::size_t /*len*/, int /*advice*/) noexcept {
    return -ENOSYS;
  }

 protected:
  syscalls() = default;
  syscalls(const syscalls&) = default;
  syscalls& operator=(const syscalls&) = default;
};

/// The process's real system calls.
class linux_syscalls_t final : public syscalls {
 public:
  long open(const char* path, int flags) noexcept override {
    return ret(::open(path, flags | O_CLOEXEC));
  }
  long close(int fd) noexcept override { return ret(::close(fd)); }
  long ioctl(int fd, unsigned long request, void* arg) noexcept override {
    return ret(::ioctl(fd, request, arg));
  }
  long mmap(void* addr, std::size_t len, int prot, int flags, int fd, off_t offset,
            void** out) noexcept override {
    void* p = ::mmap(addr, len, prot, flags, fd, offset);
    if (p == MAP_FAILED) return -errno;
    *out = p;
    return 0;
  }
  long munmap(void* addr, std::size_t len) noexcept override { return ret(::munmap(addr, len)); }
  long pread(int fd, void* buf, std::size_t len, off_t offset) noexcept override {
    return ret(::pread(fd, buf, len, offset));
  }
  long pwrite(int fd, const void* buf, std::size_t len, off_t offset) noexcept override {
    return ret(::pwrite(fd, buf, len, offset));
  }
  long memfd_create(const char* name, unsigned flags) noexcept override {
    return ret(::memfd_create(name, flags | MFD_CLOEXEC));
  }
  long ftruncate(int fd, off_t length) noexcept override { return ret(::ftruncate(fd, length)); }
  long madvise(void* addr, std::size_t len, int advice) noexcept override {
    return ret(::madvise(addr, len, advice));
  }

 private:
  static long ret(long r) noexcept { return r < 0 ? -static_cast<long>(errno) : r; }
};

/// The process-wide instance of the real system calls.
[[nodiscard]] inline syscalls& linux_syscalls() noexcept {
  static linux_syscalls_t instance;
  return instance;
}

/// An error code from a -errno result.
[[nodiscard]] inline std::error_code sys_error(long r) noexcept {
  return make_error_code(from_errno(static_cast<int>(-r)));
}

/// ioctl, retried on EINTR. Returns the ioctl's non-negative result.
[[nodiscard]] inline result<long> sys_ioctl(syscalls& sys, int fd, unsigned long request,
                                            void* arg) noexcept {
  for (;;) {
    const long r = sys.ioctl(fd, request, arg);
    if (r >= 0) return r;
    if (r != -EINTR) return unexpected(sys_error(r));
  }
}

/// open, retried on EINTR. Returns the new descriptor (O_CLOEXEC is always added).
[[nodiscard]] inline result<int> sys_open(syscalls& sys, const char* path, int flags) noexcept {
  for (;;) {
    const long r = sys.open(path, flags);
    if (r >= 0) return static_cast<int>(r);
    if (r != -EINTR) return unexpected(sys_error(r));
  }
}

namespace detail {
/// Calls io(p, len, offset) until `len` bytes moved: retries EINTR, continues short
/// transfers, and reports 0 bytes (EOF) as EIO.
template <class Byte, class Io>
[[nodiscard]] result<void> transfer_all(Byte* p, std::size_t len, off_t offset, Io io) noexcept {
  while (len > 0) {
    const long r = io(p, len, offset);
    if (r == -EINTR) continue;
    if (r < 0) return unexpected(sys_error(r));
    if (r == 0) return unexpected(make_error_code(errc::io_error));
    p += r;
    len -= static_cast<std::size_t>(r);
    offset += r;
  }
  return {};
}
}  // namespace detail

/// pread of exactly `len` bytes (short reads continue; EOF before `len` is EIO).
[[nodiscard]] inline result<void> sys_pread_all(syscalls& sys, int fd, void* buf, std::size_t len,
                                                off_t offset) noexcept {
  return detail::transfer_all(static_cast<unsigned char*>(buf), len, offset,
                              [&](unsigned char* p, std::size_t n, off_t o) noexcept {
                                return sys.pread(fd, p, n, o);
                              });
}

/// pwrite of exactly `len` bytes (short writes continue).
[[nodiscard]] inline result<void> sys_pwrite_all(syscalls& sys, int fd, const void* buf,
                                                 std::size_t len, off_t offset) noexcept {
  return detail::transfer_all(static_cast<const unsigned char*>(buf), len, offset,
                              [&](const unsigned char* p, std::size_t n, off_t o) noexcept {
                                return sys.pwrite(fd, p, n, o);
                              });
}

/// An owned file descriptor: move-only, closed on destruction (close errors are ignored:
/// Linux releases the descriptor even when close reports one).
class unique_fd {
 public:
  unique_fd() noexcept = default;
  unique_fd(syscalls& sys, int fd) noexcept : sys_(&sys), fd_(fd) {}
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  unique_fd(unique_fd&& o) noexcept : sys_(o.sys_), fd_(o.fd_) { o.fd_ = -1; }
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) {
      reset();
      sys_ = o.sys_;
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  ~unique_fd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }
  [[nodiscard]] syscalls& sys() const noexcept { return *sys_; }
  void reset() noexcept {
    if (fd_ >= 0) (void)sys_->close(fd_);
    fd_ = -1;
  }

 private:
  syscalls* sys_ = &linux_syscalls();
  int fd_ = -1;
};

/// open() into a unique_fd.
[[nodiscard]] inline result<unique_fd> open_fd(syscalls& sys, const char* path, int flags) noexcept {
  auto fd = sys_open(sys, path, flags);
  if (!fd) return unexpected(fd.error());
  return unique_fd(sys, *fd);
}

}  // namespace vfiopin::real

#endif  // VFIOPIN_REAL_SYS_HPP
