// SPDX-License-Identifier: Apache-2.0
//
// tests/support/fake_vfio.hpp: a scripted stand-in for the kernel behind real::syscalls.
//
// Theory of operation. fake_vfio answers the system calls real::type1 makes the way the
// VFIO documentation (include/uapi/linux/vfio.h) and the test bed's kernel (docs/testbed.md)
// say the kernel does, for what a unit test needs: /dev/vfio/vfio and /dev/vfio/<n> open,
// API version 0, TYPE1/TYPE1v2 extensions, SET_CONTAINER / SET_IOMMU / UNSET_CONTAINER,
// GET_INFO with a caller-supplied capability chain (argsz handshake included), and MAP /
// UNMAP / DIRTY_PAGES recorded with their raw arguments. It is not a model of type1: a
// test scripts the answer it wants with `answer` (path, request -> -errno), and can make
// the next N calls of a request fail with EINTR. Every open descriptor is tracked, so a
// test can assert that nothing leaked. Paths it does not know go to the real system calls
// (so /proc/self/smaps and /proc/self/pagemap of the test process are real), unless a test
// puts a file's contents in `files`.
#ifndef VFIOPIN_TESTS_SUPPORT_FAKE_VFIO_HPP
#define VFIOPIN_TESTS_SUPPORT_FAKE_VFIO_HPP

#include <vfiopin/real/sys.hpp>

#include <linux/vfio.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace vfiopin::test {

class fake_vfio final : public real::syscalls {
 public:
  struct call {
    std::string path;  ///< of the fd
    unsigned long request = 0;
    std::uint32_t flags = 0;  ///< first flags word of the argument, where there is one
    std::uint32_t argsz = 0;
  };

  // ---- the script ------------------------------------------------------------------------
  std::vector<std::byte> info_chain;         ///< GET_INFO caps, placed at offset 24
  std::uint64_t iova_pgsizes = 0x40201000;
  std::map<unsigned long, long> answer;      ///< request -> forced result (-errno)
  std::map<unsigned long, int> eintr;        ///< request -> this many -EINTR first
  std::map<std::string, std::string> files;  ///< fake file contents by path
  std::set<std::string> missing;             ///< paths that give -ENOENT

  // ---- what happened ---------------------------------------------------------------------
  std::vector<call> calls;
  std::map<int, std::string> open_fds;
  std::vector<vfio_iommu_type1_dma_map> maps;
  std::vector<vfio_iommu_type1_dma_unmap> unmaps;
  std::vector<vfio_bitmap> unmap_bitmaps;
  std::uint32_t set_iommu_type = 0;
  int groups_in_container = 0;

  [[nodiscard]] std::size_t count(unsigned long request) const {
    return static_cast<std::size_t>(std::count_if(
        calls.begin(), calls.end(), [&](const call& c) { return c.request == request; }));
  }

  // ---- syscalls --------------------------------------------------------------------------
  long open(const char* path, int flags) noexcept override {
    const std::string p(path);
    if (missing.contains(p)) return -ENOENT;
    if (p.rfind("/dev/vfio/", 0) != 0 && !files.contains(p)) {
      const long r = real::linux_syscalls().open(path, flags);
      if (r >= 0) real_fds_.insert(static_cast<int>(r));
      return r;
    }
    const int fd = next_fd_++;
    open_fds[fd] = p;
    return fd;
  }
  long close(int fd) noexcept override {
    if (real_fds_.erase(fd) != 0) return real::linux_syscalls().close(fd);
    return open_fds.erase(fd) != 0 ? 0 : -EBADF;
  }
  long mmap(void* addr, std::size_t len, int prot, int flags, int fd, off_t off,
            void** out) noexcept override {
    return real::linux_syscalls().mmap(addr, len, prot, flags, fd, off, out);
  }
  long munmap(void* addr, std::size_t len) noexcept override {
    return real::linux_syscalls().munmap(addr, len);
  }
  long pread(int fd, void* buf, std::size_t len, off_t off) noexcept override {
    if (real_fds_.contains(fd)) return real::linux_syscalls().pread(fd, buf, len, off);
    auto it = open_fds.find(fd);
    if (it == open_fds.end()) return -EBADF;
    auto f = files.find(it->second);
    if (f == files.end()) return -EINVAL;
    const auto o = static_cast<std::size_t>(off);
    if (o >= f->second.size()) return 0;
    const std::size_t n = std::min(len, f->second.size() - o);
    std::memcpy(buf, f->second.data() + o, n);
    return static_cast<long>(n);
  }
  long pwrite(int fd, const void* buf, std::size_t len, off_t off) noexcept override {
    if (real_fds_.contains(fd)) return real::linux_syscalls().pwrite(fd, buf, len, off);
    return -EINVAL;
  }
  long ioctl(int fd, unsigned long request, void* arg) noexcept override {
    auto it = open_fds.find(fd);
    if (it == open_fds.end()) return -EBADF;
    call c{it->second, request, 0, 0};
    if (arg != nullptr && request != VFIO_CHECK_EXTENSION && request != VFIO_SET_IOMMU &&
        request != VFIO_GROUP_SET_CONTAINER && request != VFIO_GROUP_UNSET_CONTAINER) {
      std::memcpy(&c.argsz, arg, 4);
      std::memcpy(&c.flags, static_cast<const std::byte*>(arg) + 4, 4);
    }
    calls.push_back(c);
    if (auto e = eintr.find(request); e != eintr.end() && e->second > 0) {
      --e->second;
      return -EINTR;
    }
    if (auto a = answer.find(request); a != answer.end()) return a->second;
    switch (request) {
      case VFIO_GET_API_VERSION: return VFIO_API_VERSION;
      case VFIO_CHECK_EXTENSION: {
        const auto ext = reinterpret_cast<std::uintptr_t>(arg);
        return ext == VFIO_TYPE1_IOMMU || ext == VFIO_TYPE1v2_IOMMU || ext == VFIO_UNMAP_ALL;
      }
      case VFIO_GROUP_SET_CONTAINER: ++groups_in_container; return 0;
      case VFIO_GROUP_UNSET_CONTAINER: --groups_in_container; return 0;
      case VFIO_SET_IOMMU:
        set_iommu_type = static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(arg));
        return 0;
      case VFIO_IOMMU_GET_INFO: return get_info(arg);
      case VFIO_IOMMU_MAP_DMA: {
        vfio_iommu_type1_dma_map m{};
        std::memcpy(&m, arg, sizeof m);
        maps.push_back(m);
        return 0;
      }
      case VFIO_IOMMU_UNMAP_DMA: {
        vfio_iommu_type1_dma_unmap u{};
        std::memcpy(&u, arg, sizeof u);
        unmaps.push_back(u);
        if ((u.flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) != 0) {
          if (u.argsz < sizeof u + sizeof(vfio_bitmap)) return -EINVAL;
          vfio_bitmap b{};
          std::memcpy(&b, static_cast<const std::byte*>(arg) + sizeof u, sizeof b);
          unmap_bitmaps.push_back(b);
        }
        return 0;  // size left as requested: "everything asked was unmapped"
      }
      case VFIO_IOMMU_DIRTY_PAGES: return 0;
      default: return -ENOTTY;
    }
  }

 private:
  long get_info(void* arg) noexcept {
    vfio_iommu_type1_info info{};
    std::memcpy(&info, arg, offsetof(vfio_iommu_type1_info, flags) + 4);
    const std::uint32_t need = static_cast<std::uint32_t>(sizeof info + info_chain.size());
    info.flags = VFIO_IOMMU_INFO_PGSIZES;
    info.iova_pgsizes = iova_pgsizes;
    if (!info_chain.empty()) {
      info.flags |= VFIO_IOMMU_INFO_CAPS;
      if (info.argsz < need) {
        info.argsz = need;  // as vfio_iommu_type1_get_info: say how much, copy no caps
      } else {
        std::memcpy(static_cast<std::byte*>(arg) + sizeof info, info_chain.data(), info_chain.size());
        info.cap_offset = sizeof info;
      }
    }
    std::memcpy(arg, &info, offsetof(vfio_iommu_type1_info, cap_offset) + 4);
    return 0;
  }

  int next_fd_ = 1000;
  std::set<int> real_fds_;
};

}  // namespace vfiopin::test

#endif  // VFIOPIN_TESTS_SUPPORT_FAKE_VFIO_HPP
