// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/real/type1.hpp: real::type1, the IOMMU backend over the kernel's VFIO type1 driver.
//
// Theory of operation. One real::type1 is one open /dev/vfio/vfio container. It answers
// the same typed requests as mock::type1 (concepts/iommu_backend.hpp) by making the ioctls,
// so the kernel's answers, errno for errno, come back as errc values:
//   attach_group(g)   opens /dev/vfio/<g> (the kernel allows one open per group: a group
//                     attached elsewhere is EBUSY), VFIO_GROUP_SET_CONTAINER, and for the
//                     first group VFIO_SET_IOMMU with the type chosen at construction. A
//                     group this container already holds is asked SET_CONTAINER again and
//                     the kernel answers (EINVAL). When SET_IOMMU fails, the group leaves.
//   detach_group(g)   VFIO_GROUP_UNSET_CONTAINER. The kernel answers EBUSY while a BAR of
//                     the group's device is still mmapped (munmap first); the group then
//                     stays attached. A group this container does not hold is opened and
//                     asked, so the kernel answers that too. When the last group leaves, the
//                     kernel releases the IOMMU driver and every mapping with it.
//   map_dma, unmap_dma (every flag, with the dirty bitmap), info (real/caps.hpp: the chain
//                     is walked by `next` offsets, argsz is never assumed), dirty_start,
//                     dirty_stop, dirty_bitmap.
// Every ioctl is retried on EINTR (real/sys.hpp); every system call goes through the
// `syscalls` seam, so tests run this class against a fake kernel.
//
// Consumer pins. add_device/pin_pages/unpin_pages/remove_device give in-process emulated
// devices the vfio_pin_pages contract over real VFIO (real/pin_shadow.hpp): page handles
// only for IOVAs mapped with that prot, never for PFNMAP memory (errc::not_page_backed), and
// before any UNMAP_DMA (and before the last group leaves) every registered device is told
// about each mapping in the range that holds pins and must unpin; a device that keeps its
// pins through 11 notifications of one mapping gets errc::pins_retained (the kernel's
// BUG_ON(++retries > 10)), and nothing more is unmapped.
//
// Locking is mock::type1's: lock_ is held by every public operation; the notification
// drops it, takes dev_lock_, calls the callbacks (which may unpin on their own thread,
// re-entrantly), and retakes lock_, after which the unmap re-validates from the start.
// Lock order: dev_lock_ before lock_.
//
// Teardown never fails: the destructor detaches every group (ignoring EBUSY: closing the
// group fd then releases it once the BAR is unmapped) and closes the container.
#ifndef VFIOPIN_REAL_TYPE1_HPP
#define VFIOPIN_REAL_TYPE1_HPP

#include <vfiopin/concepts/iommu_backend.hpp>
#include <vfiopin/error.hpp>
#include <vfiopin/real/caps.hpp>
#include <vfiopin/real/pin_shadow.hpp>
#include <vfiopin/real/sys.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/dma.hpp>

#include <linux/vfio.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace vfiopin::real {

/// Where the VFIO character devices are (tests point this at a fake tree).
struct vfio_paths {
  std::string container = "/dev/vfio/vfio";
  std::string group_dir = "/dev/vfio";
};

/// Opens a container: checks VFIO_GET_API_VERSION and that `type` is supported.
[[nodiscard]] inline result<unique_fd> open_container(iommu_type type,
                                                      syscalls& sys = linux_syscalls(),
                                                      const vfio_paths& paths = {}) {
  auto fd = open_fd(sys, paths.container.c_str(), O_RDWR);
  if (!fd) return unexpected(fd.error());
  auto api = sys_ioctl(sys, fd->get(), VFIO_GET_API_VERSION, nullptr);
  if (!api) return unexpected(api.error());
  if (*api != VFIO_API_VERSION) return unexpected(errc::not_supported);
  auto ext = sys.ioctl(fd->get(), VFIO_CHECK_EXTENSION,
                       reinterpret_cast<void*>(static_cast<std::uintptr_t>(type)));
  if (ext < 0) return unexpected(sys_error(ext));
  if (ext == 0) return unexpected(errc::not_supported);
  return std::move(*fd);
}

/// The real VFIO type1 container (see the header comment).
class type1 {
 public:
  using iommu_backend_tag = vfiopin::iommu_backend_tag;

  /// Takes an open container (open_container()); the type is set by the first attach.
  type1(unique_fd container, iommu_type type, vfio_paths paths = {}) noexcept
      : sys_(&container.sys()), fd_(std::move(container)), type_(type), paths_(std::move(paths)) {}
  type1(const type1&) = delete;
  type1& operator=(const type1&) = delete;
  ~type1() {
    for (auto& [g, fd] : groups_) {
      int cfd = fd_.get();
      (void)sys_->ioctl(fd.get(), VFIO_GROUP_UNSET_CONTAINER, &cfd);
    }
    groups_.clear();
  }

  [[nodiscard]] iommu_type type() const noexcept { return type_; }
  [[nodiscard]] int container_fd() const noexcept { return fd_.get(); }
  /// The fd of an attached group (to open its devices), if this container holds it.
  [[nodiscard]] std::optional<int> group_fd(group_id g) const {
    std::lock_guard l(lock_);
    auto it = groups_.find(g.value);
    if (it == groups_.end()) return std::nullopt;
    return it->second.get();
  }

  result<void> attach_group(group_id g) {
    std::lock_guard l(lock_);
    int cfd = fd_.get();
    if (auto it = groups_.find(g.value); it != groups_.end()) {
      auto r = sys_ioctl(*sys_, it->second.get(), VFIO_GROUP_SET_CONTAINER, &cfd);
      if (!r) return unexpected(r.error());
      return {};  // not reached on Linux: a group is in one container at a time
    }
    const std::string path = paths_.group_dir + "/" + std::to_string(g.value);
    auto gfd = open_fd(*sys_, path.c_str(), O_RDWR);
    if (!gfd) return unexpected(gfd.error());
    if (auto r = sys_ioctl(*sys_, gfd->get(), VFIO_GROUP_SET_CONTAINER, &cfd); !r) {
      return unexpected(r.error());
    }
    if (groups_.empty()) {
      auto r = sys_ioctl(*sys_, fd_.get(), VFIO_SET_IOMMU,
                         reinterpret_cast<void*>(static_cast<std::uintptr_t>(type_)));
      if (!r) {
        (void)sys_->ioctl(gfd->get(), VFIO_GROUP_UNSET_CONTAINER, &cfd);
        return unexpected(r.error());
      }
    }
    groups_.emplace(g.value, std::move(*gfd));
    return {};
  }

  result<void> detach_group(group_id g) {
    std::unique_lock l(lock_);
    int cfd = fd_.get();
    auto it = groups_.find(g.value);
    if (it == groups_.end()) {
      // Not ours: let the kernel answer for the group as it is.
      const std::string path = paths_.group_dir + "/" + std::to_string(g.value);
      auto gfd = open_fd(*sys_, path.c_str(), O_RDWR);
      if (!gfd) return unexpected(gfd.error());
      if (auto r = sys_ioctl(*sys_, gfd->get(), VFIO_GROUP_UNSET_CONTAINER, &cfd); !r) {
        return unexpected(r.error());
      }
      return {};
    }
    if (groups_.size() == 1) {
      // The driver goes with the last group: consumers are told as for an unmap of all.
      if (auto r = notify_until_unpinned(l, 0, ~std::uint64_t{0}); !r) return r;
      it = groups_.find(g.value);
      if (it == groups_.end()) return unexpected(errc::invalid_argument);
    }
    if (auto r = sys_ioctl(*sys_, it->second.get(), VFIO_GROUP_UNSET_CONTAINER, &cfd); !r) {
      return unexpected(r.error());
    }
    groups_.erase(it);
    if (groups_.empty()) shadow_.clear();
    return {};
  }

  result<void> map_dma(const dma_map_request& req) {
    std::lock_guard l(lock_);
    vfio_iommu_type1_dma_map m{};
    m.argsz = sizeof m;
    m.flags = (includes(req.access, prot::read) ? VFIO_DMA_MAP_FLAG_READ : 0U) |
              (includes(req.access, prot::write) ? VFIO_DMA_MAP_FLAG_WRITE : 0U) |
              (req.vaddr_update ? VFIO_DMA_MAP_FLAG_VADDR : 0U);
    m.vaddr = req.from.value();
    m.iova = req.at.value();
    m.size = req.size.value();
    if (auto r = sys_ioctl(*sys_, fd_.get(), VFIO_IOMMU_MAP_DMA, &m); !r) {
      return unexpected(r.error());
    }
    shadow_.on_map(req);
    return {};
  }

  result<dma_unmap_reply> unmap_dma(const dma_unmap_request& req) {
    std::unique_lock l(lock_);
    const std::uint64_t first = req.flags.all ? 0 : req.at.value();
    const std::uint64_t last =
        req.flags.all ? ~std::uint64_t{0}
                      : (req.size.value() == 0 ? first : first + (req.size.value() - 1));
    if (removes_pinned(req, first, last)) {
      if (auto r = notify_until_unpinned(l, first, last); !r) return unexpected(r.error());
    }
    vfio_iommu_type1_dma_unmap head{};
    head.argsz = sizeof head;
    head.flags = (req.flags.all ? VFIO_DMA_UNMAP_FLAG_ALL : 0U) |
                 (req.flags.vaddr ? VFIO_DMA_UNMAP_FLAG_VADDR : 0U) |
                 (req.flags.get_dirty_bitmap ? VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP : 0U);
    head.iova = req.at.value();
    head.size = req.size.value();
    vfio_bitmap bitmap{};
    if (req.flags.get_dirty_bitmap) {
      head.argsz = sizeof head + sizeof bitmap;
      bitmap.pgsize = req.bitmap_pgsize.value();
      bitmap.size = req.bitmap.size_bytes();
      bitmap.data = reinterpret_cast<__u64*>(req.bitmap.data());
    }
    // The head has a flexible array: the bitmap follows it in one buffer.
    alignas(8) std::byte buf[sizeof head + sizeof bitmap]{};
    std::memcpy(buf, &head, sizeof head);
    std::memcpy(buf + sizeof head, &bitmap, sizeof bitmap);
    if (auto r = sys_ioctl(*sys_, fd_.get(), VFIO_IOMMU_UNMAP_DMA, buf); !r) {
      return unexpected(r.error());
    }
    std::memcpy(&head, buf, sizeof head);
    if (req.flags.all || head.size != 0) shadow_.on_unmap(first, last, req.flags.vaddr);
    return dma_unmap_reply{byte_count{head.size}};
  }

  result<iommu_info> info() {
    std::lock_guard l(lock_);
    return get_iommu_info(*sys_, fd_.get());
  }

  result<void> dirty_start() { return dirty_flag(VFIO_IOMMU_DIRTY_PAGES_FLAG_START); }
  result<void> dirty_stop() { return dirty_flag(VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP); }

  /// GET_BITMAP of [range]; out is zeroed by the caller, one bit per pgsize.
  result<void> dirty_bitmap(interval<iova> range, byte_count pgsize, std::span<std::uint64_t> out) {
    const std::uint64_t size = range.last().value() - range.first().value() + 1;  // 0 = 2^64
    return dirty_bitmap(range.first(), byte_count{size}, pgsize, out);
  }
  /// The raw form: any at and size, validated by the kernel.
  result<void> dirty_bitmap(iova at, byte_count size, byte_count pgsize,
                            std::span<std::uint64_t> out) {
    std::lock_guard l(lock_);
    vfio_iommu_type1_dirty_bitmap head{};
    vfio_iommu_type1_dirty_bitmap_get get{};
    head.argsz = sizeof head + sizeof get;
    head.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
    get.iova = at.value();
    get.size = size.value();
    get.bitmap.pgsize = pgsize.value();
    get.bitmap.size = out.size_bytes();
    get.bitmap.data = reinterpret_cast<__u64*>(out.data());
    alignas(8) std::byte buf[sizeof head + sizeof get]{};
    std::memcpy(buf, &head, sizeof head);
    std::memcpy(buf + sizeof head, &get, sizeof get);
    if (auto r = sys_ioctl(*sys_, fd_.get(), VFIO_IOMMU_DIRTY_PAGES, buf); !r) {
      return unexpected(r.error());
    }
    return {};
  }

  // ---- consumer pins (see the header comment) ------------------------------------------

  result<device_id> add_device(dma_unmap_callback cb) {
    if (cb.empty()) return unexpected(errc::invalid_argument);
    std::lock_guard dl(dev_lock_);
    std::lock_guard l(lock_);
    const device_id d{next_device_++};
    devices_.emplace(d.value, cb);
    return d;
  }
  void remove_device(device_id d) noexcept {
    std::lock_guard dl(dev_lock_);  // waits for callbacks in flight
    std::lock_guard l(lock_);
    devices_.erase(d.value);
  }
  result<void> pin_pages(device_id d, iova at, page_count n, prot p, std::span<page_handle> out) {
    if (out.size() < n.value() || n.value() == 0) return unexpected(errc::invalid_argument);
    std::lock_guard l(lock_);
    if (!devices_.contains(d.value)) return unexpected(errc::invalid_argument);
    if (n.value() > max_pin_pages) return unexpected(errc::too_big);
    return shadow_.pin(*sys_, this, type_ == iommu_type::type1v2, at.value(), n.value(), p,
                       out.first(n.value()));
  }
  void unpin_pages(device_id d, iova at, page_count n) noexcept {
    std::lock_guard l(lock_);
    if (!devices_.contains(d.value) || n.value() == 0 || n.value() > max_pin_pages) return;
    shadow_.unpin(at.value(), n.value());
  }

  /// Pages pinned by consumers (all devices), and the mappings the shadow knows.
  [[nodiscard]] std::uint64_t pinned_pages() const {
    std::lock_guard l(lock_);
    return shadow_.pinned_pages();
  }

  static constexpr std::uint64_t max_pin_pages = 512;  // VFIO_PIN_PAGES_MAX_ENTRIES
  static constexpr std::uint32_t notify_retries_max = 10;

 private:
  result<void> dirty_flag(std::uint32_t flag) {
    std::lock_guard l(lock_);
    vfio_iommu_type1_dirty_bitmap d{};
    d.argsz = sizeof d;
    d.flags = flag;
    if (auto r = sys_ioctl(*sys_, fd_.get(), VFIO_IOMMU_DIRTY_PAGES, &d); !r) {
      return unexpected(r.error());
    }
    return {};
  }

  /// True when the kernel would get as far as removing mappings that hold consumer pins:
  /// no VADDR flag, aligned, non-empty, and on type1v2 not bisecting a mapping (the checks
  /// vfio_dma_do_unmap makes before it notifies), so that devices are not told about an
  /// unmap the kernel then refuses.
  bool removes_pinned(const dma_unmap_request& req, std::uint64_t first, std::uint64_t last) {
    if (req.flags.vaddr) return false;
    if (!req.flags.all) {
      const std::uint64_t size = req.size.value();
      if (size == 0 || ((first | size) & (page_bytes - 1)) != 0 || last < first) return false;
      if (type_ == iommu_type::type1v2) {
        auto [b, e] = shadow_.overlapping(first, last);
        if (b != e && b->first < first) return false;
        if (b != e && std::prev(e)->second.last > last) return false;
      }
    }
    return shadow_.first_pinned(first, last).has_value();
  }

  /// Tells every device about each pinned mapping in [first, last] until none is left;
  /// called and returns with lock_ held (it drops it around the callbacks).
  result<void> notify_until_unpinned(std::unique_lock<std::mutex>& l, std::uint64_t first,
                                     std::uint64_t last) {
    std::optional<interval<iova>> previous;
    std::uint32_t retries = 0;
    while (auto pinned = shadow_.first_pinned(first, last)) {
      if (previous && *previous == *pinned) {
        if (++retries > notify_retries_max) return unexpected(errc::pins_retained);
      } else {
        retries = 0;
      }
      previous = pinned;
      l.unlock();
      {
        std::lock_guard dl(dev_lock_);
        for (const auto& [id, cb] : devices_) cb(*pinned);
      }
      l.lock();
    }
    return {};
  }

  syscalls* sys_;
  unique_fd fd_;
  iommu_type type_;
  vfio_paths paths_;
  mutable std::mutex lock_;
  std::mutex dev_lock_;
  std::map<std::uint32_t, unique_fd> groups_;
  std::map<std::uint32_t, dma_unmap_callback> devices_;
  std::uint32_t next_device_ = 1;
  detail::pin_shadow shadow_;
};

static_assert(iommu_backend<type1>);
static_assert(tracks_dirty_pages<type1>);
static_assert(pins_for_consumers<type1>);

}  // namespace vfiopin::real

#endif  // VFIOPIN_REAL_TYPE1_HPP
