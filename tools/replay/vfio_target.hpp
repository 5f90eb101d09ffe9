// SPDX-License-Identifier: Apache-2.0
//
// tools/replay/vfio_target.hpp: the scenario backend over real VFIO (inside the test bed).
//
// Theory of operation. vfio_target runs scenario operations (scenario-format.md) on the
// kernel: a real::type1 container over /dev/vfio/vfio, real memory (real/memory.hpp) and
// the test bed's two edu devices (real/pci_sysfs.hpp finds them: test device G is the
// G-th edu function by PCI address, and test group G is its IOMMU group). How each
// operation maps onto the kernel:
//   container      munmaps live bar regions, closes the DMA devices, destroys the previous
//                  real::type1 (every group leaves; the kernel releases the mappings), and
//                  opens a new container of the type (VFIO_SET_IOMMU at the first attach)
//   entry-limit    writes /sys/module/vfio_iommu_type1/parameters/dma_entry_limit; the
//                  value found at start is written back by reset()
//   memlock        RLIMIT_MEMLOCK = BYTES and CAP_IPC_LOCK dropped (privilege.hpp)
//   attach/detach  the test group's /dev/vfio/N; detach G first closes the DMA device of G
//                  (its BAR0 mmap), so only a `mem bar` region can make the kernel say EBUSY
//   mem            anon/memfd/hugetlb page_region, placed on 2 MiB with a 2 MiB guard; bar:
//                  device 0 (group 0 attached, else EINVAL), BAR0 mmapped (<= 1 MiB, else
//                  EINVAL); hole and a failed mem: a PROT_NONE reservation of the size;
//                  hugetlb that fails for want of huge pages prints `skip no-hugetlb`
//   fill/check     the CPU writes / compares the pattern through the region's mapping
//   dma-read/write the edu device of G; the bytes cross through a scratch page mapped
//                  read-write at IOVA 0x0ffff000 for the duration of the operation
//   locked         VmLck of /proc/self/status, in bytes
//   emulated E     an instance of the project's test mediated device (tests/kmod, which
//                  scripts/vfio-vm loads by default): created through sysfs, its emulated-IOMMU group
//                  attached to the container, its device opened; without the module,
//                  `skip no-emulated-device` (user space cannot make an emulated group)
//   pin/unpin      the module's PIN/UNPIN ioctls: the kernel's vfio_pin_pages and
//                  vfio_unpin_pages. The module unpins everything it holds in a range the
//                  kernel notifies it about, as the format requires. A pin that hands back
//                  a page without a valid pfn (Linux 6.0-6.1.31 on PFNMAP) is undone and
//                  reported as errc::bogus_page, as the mock's linux-6.1.31 profile does
// Anything that is a setup problem (no /dev/vfio, no edu device) throws: the runner says so
// and exits 2.
#ifndef VFIOPIN_TOOLS_REPLAY_VFIO_TARGET_HPP
#define VFIOPIN_TOOLS_REPLAY_VFIO_TARGET_HPP

#include "privilege.hpp"
#include "tests/kmod/vfiopin_test_mdev.h"
#include "target_common.hpp"

#include <vfiopin/real/device.hpp>
#include <vfiopin/real/edu.hpp>
#include <vfiopin/real/mapping.hpp>
#include <vfiopin/real/memory.hpp>
#include <vfiopin/real/pci_sysfs.hpp>
#include <vfiopin/real/proc_status.hpp>
#include <vfiopin/real/type1.hpp>
#include <vfiopin/scenario/target.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace vfiopin::replay {

class vfio_target final : public scenario::target {
 public:
  static constexpr const char* entry_limit_path =
      "/sys/module/vfio_iommu_type1/parameters/dma_entry_limit";
  static constexpr std::uint64_t scratch_iova = 0x0ffff000;

  vfio_target() {
    auto devs = real::find_edu_devices();
    if (!devs || devs->empty()) {
      throw std::runtime_error("vfio backend: no edu device (1234:11e8) bound to an IOMMU group; "
                               "run it inside the test bed: scripts/vfio-vm run -- ...");
    }
    for (const auto& d : *devs) {
      if (!d.iommu_group) throw std::runtime_error("vfio backend: edu " + d.address + " has no IOMMU group");
      test_devices_.push_back({d.address, *d.iommu_group});
    }
    default_entry_limit_ = read_entry_limit();
    auto scratch = real::page_region::anon(byte_count{page_bytes});
    if (!scratch) throw std::runtime_error("vfio backend: cannot allocate the DMA scratch page");
    scratch_ = std::make_unique<real::page_region>(std::move(*scratch));
    reset();
  }
  ~vfio_target() override { close_container(); }

  void reset() override {
    close_container();
    regions_.clear();
    write_entry_limit(default_entry_limit_);
    privilege_.restore();
  }

  scenario::outcome container(const scenario::op_container& op) override {
    close_container();
    const iommu_type type =
        op.type == scenario::container_type::type1 ? iommu_type::type1 : iommu_type::type1v2;
    auto fd = real::open_container(type);
    if (!fd) throw std::runtime_error("vfio backend: cannot open /dev/vfio/vfio: " + fd.error().message());
    t_ = std::make_unique<real::type1>(std::move(*fd), type);
    return scenario::outcome::ok();
  }
  scenario::outcome entry_limit(const scenario::op_entry_limit& op) override {
    write_entry_limit(op.limit);
    return scenario::outcome::ok();
  }
  scenario::outcome memlock(const scenario::op_memlock& op) override {
    privilege_.drop(op.bytes);
    return scenario::outcome::ok();
  }
  scenario::outcome attach(const scenario::op_attach& op) override {
    return done(t_->attach_group(group_of(op.group)));
  }
  scenario::outcome detach(const scenario::op_detach& op) override {
    dma_devices_.erase(op.group);
    return done(t_->detach_group(group_of(op.group)));
  }
  scenario::outcome mem(const scenario::op_mem& op) override {
    auto r = make_region(op);
    if (std::holds_alternative<scenario::outcome>(r)) {
      const auto& o = std::get<scenario::outcome>(r);
      if (o.is_err()) regions_[op.name] = hole(op.size);  // behaves as a hole of its size
      return o;
    }
    regions_[op.name] = std::move(std::get<region_state>(r));
    return scenario::outcome::ok();
  }
  scenario::outcome fill(const scenario::op_fill& op, const scenario::region& r) override {
    std::byte* p = cpu(op.name);
    for (std::uint64_t i = 0; i < r.size; ++i) p[i] = std::byte{scenario::fill_byte(i, op.seed)};
    return scenario::outcome::ok();
  }
  scenario::outcome map(const scenario::op_map& op, const scenario::region&) override {
    return done(t_->map_dma(dma_map_request{iova(op.iova), at(op.name, op.offset), byte_count(op.size),
                                            scenario::to_library_prot(op.prot), false}));
  }
  scenario::outcome map_vaddr(const scenario::op_map_vaddr& op, const scenario::region&) override {
    return done(t_->map_dma(
        dma_map_request{iova(op.iova), at(op.name, op.offset), byte_count(op.size), prot::none, true}));
  }
  scenario::outcome unmap(const scenario::op_unmap& op) override { return run_unmap(*t_, op); }
  scenario::outcome unmap_all(const scenario::op_unmap_all&) override { return run_unmap_all(*t_); }
  scenario::outcome unmap_vaddr(const scenario::op_unmap_vaddr& op) override {
    return run_unmap_vaddr(*t_, op);
  }
  scenario::outcome unmap_dirty(const scenario::op_unmap_dirty& op) override {
    return run_unmap_dirty(*t_, op);
  }
  scenario::outcome info(const scenario::op_info&) override { return info_outcome(t_->info()); }
  scenario::outcome locked(const scenario::op_locked&) override {
    return scenario::outcome::ok().with(scenario::field::locked(vm_lck_bytes()));
  }
  scenario::outcome dirty_start(const scenario::op_dirty_start&) override { return done(t_->dirty_start()); }
  scenario::outcome dirty_stop(const scenario::op_dirty_stop&) override { return done(t_->dirty_stop()); }
  scenario::outcome dirty_get(const scenario::op_dirty_get& op) override { return run_dirty_get(*t_, op); }
  scenario::outcome dma_read(const scenario::op_dma_read& op, const scenario::region& r) override {
    std::vector<std::byte> dev(op.length);
    auto o = with_edu(op.group, [&](real::edu& e, const real::dma_scratch& s) {
      return e.read_from_iova(iova(op.iova), dev, s);
    });
    if (!o.is_ok()) return o;
    if (r.is_hole()) return scenario::outcome::differ();
    return scenario::outcome::compared(std::memcmp(dev.data(), cpu(op.name) + op.offset, op.length) == 0);
  }
  scenario::outcome dma_write(const scenario::op_dma_write& op) override {
    std::vector<std::byte> bytes(op.length);
    for (std::uint64_t i = 0; i < op.length; ++i) bytes[i] = std::byte{scenario::fill_byte(i, op.seed)};
    return with_edu(op.group, [&](real::edu& e, const real::dma_scratch& s) {
      return e.write_to_iova(iova(op.iova), bytes, s);
    });
  }
  scenario::outcome check(const scenario::op_check& op, const scenario::region& r) override {
    if (r.is_hole()) return scenario::outcome::differ();
    const std::byte* p = cpu(op.name) + op.offset;
    for (std::uint64_t i = 0; i < op.length; ++i) {
      if (p[i] != std::byte{scenario::fill_byte(i, op.seed)}) return scenario::outcome::differ();
    }
    return scenario::outcome::same();
  }
  scenario::outcome emulated(const scenario::op_emulated& op) override {
    if (!std::filesystem::exists(mdev_type_dir())) return scenario::outcome::skip("no-emulated-device");
    if (!t_) return scenario::outcome::err(errc::invalid_argument);  // no container to join
    drop_emulated(op.device);
    auto e = std::make_unique<emulated_device>();
    e->uuid = instance_uuid(op.device);
    if (!write_sysfs(mdev_type_dir() / "create", e->uuid)) {
      throw std::runtime_error("vfio backend: cannot create mdev instance " + e->uuid);
    }
    e->created = true;
    std::error_code ec;
    const auto link = std::filesystem::read_symlink(mdev_dir(e->uuid) / "iommu_group", ec);
    if (ec) throw std::runtime_error("vfio backend: mdev " + e->uuid + " has no IOMMU group");
    e->group = group_id{static_cast<std::uint32_t>(std::stoul(link.filename().string()))};
    if (auto a = t_->attach_group(e->group); !a) {
      remove_instance(*e);
      return scenario::outcome::err(a.error());
    }
    auto dev = real::device::open(*t_->group_fd(e->group), e->uuid);
    if (!dev) throw std::runtime_error("vfio backend: cannot open mdev " + e->uuid + ": " + dev.error().message());
    e->dev.emplace(std::move(*dev));
    emulated_[op.device] = std::move(e);
    return scenario::outcome::ok();
  }
  scenario::outcome pin(const scenario::op_pin& op) override {
    const auto it = emulated_.find(op.device);
    if (it == emulated_.end()) return scenario::outcome::err(errc::invalid_argument);
    const auto n = static_cast<std::int32_t>(std::min<std::uint64_t>(op.npages, VFIOPIN_TEST_MDEV_MAX_PIN + 1));
    std::vector<vfiopin_test_mdev_page> pages(static_cast<std::size_t>(std::max(n, 1)));
    vfiopin_test_mdev_pin arg{};
    arg.iova = op.iova;
    arg.npage = n;
    arg.prot = static_cast<std::uint32_t>(scenario::to_library_prot(op.prot));
    arg.pages = reinterpret_cast<std::uintptr_t>(pages.data());
    auto r = real::sys_ioctl(real::linux_syscalls(), it->second->dev->fd(), VFIOPIN_TEST_MDEV_PIN, &arg);
    if (!r) return scenario::outcome::err(r.error());  // the module's own refusal
    if (arg.result < 0) return scenario::outcome::err(-arg.result);
    for (std::int32_t k = 0; k < arg.result; ++k) {
      if ((pages[static_cast<std::size_t>(k)].flags & VFIOPIN_TEST_MDEV_PAGE_PFN_VALID) == 0) {
        unpin_pages(*it->second, op.iova, arg.result);  // never keep a bogus page
        return scenario::outcome::err(errc::bogus_page);
      }
    }
    return scenario::outcome::ok();
  }
  scenario::outcome unpin(const scenario::op_unpin& op) override {
    const auto it = emulated_.find(op.device);
    if (it != emulated_.end()) unpin_pages(*it->second, op.iova, static_cast<std::int64_t>(op.npages));
    return scenario::outcome::ok();
  }

 private:
  struct test_device {
    std::string address;
    std::uint32_t group = 0;
  };
  /// An instance of the test mdev: its group is in the container, its device open.
  struct emulated_device {
    std::string uuid;
    group_id group{};
    bool created = false;
    std::optional<real::device> dev;
  };

  static std::filesystem::path mdev_type_dir() {
    return std::filesystem::path("/sys/class/mdev_bus") / VFIOPIN_TEST_MDEV_PARENT /
           "mdev_supported_types" /
           (std::string(VFIOPIN_TEST_MDEV_PARENT) + "-" + VFIOPIN_TEST_MDEV_TYPE);
  }
  static std::filesystem::path mdev_dir(const std::string& uuid) {
    return std::filesystem::path("/sys/bus/mdev/devices") / uuid;
  }
  /// A UUID per (process, device E), so that reruns never collide.
  static std::string instance_uuid(std::uint64_t e) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "5f1e0000-0000-4000-8000-%06x%06x",
                  static_cast<unsigned>(::getpid()) & 0xffffffU, static_cast<unsigned>(e) & 0xffffffU);
    return buf;
  }
  static bool write_sysfs(const std::filesystem::path& p, const std::string& v) {
    std::ofstream out(p);
    out << v;
    out.flush();
    return static_cast<bool>(out);
  }
  /// The module's UNPIN in chunks of at most 512 pages (it refuses more, as the kernel WARNs).
  static void unpin_pages(emulated_device& e, std::uint64_t iova0, std::int64_t npages) {
    if (npages <= 0 || npages > 512) return;  // vfio_unpin_pages WARNs and does nothing
    vfiopin_test_mdev_unpin arg{};
    arg.iova = iova0;
    arg.npage = static_cast<std::int32_t>(npages);
    (void)real::sys_ioctl(real::linux_syscalls(), e.dev->fd(), VFIOPIN_TEST_MDEV_UNPIN, &arg);
  }
  /// Closes the device (the module drops its pins), detaches the group, removes the mdev.
  void drop_emulated(std::uint64_t e) {
    auto it = emulated_.find(e);
    if (it == emulated_.end()) return;
    it->second->dev.reset();
    if (t_) (void)t_->detach_group(it->second->group);
    remove_instance(*it->second);
    emulated_.erase(it);
  }
  static void remove_instance(emulated_device& e) noexcept {
    if (e.created) (void)write_sysfs(mdev_dir(e.uuid) / "remove", "1");
    e.created = false;
  }
  /// A device opened for DMA, with its edu driver (which owns a BAR0 mmap).
  struct dma_device {
    real::device dev;
    std::optional<real::edu> edu;
  };
  /// A `mem` region: page memory, a BAR (with the device held open), or a hole.
  struct region_state {
    std::optional<real::page_region> pages;
    std::unique_ptr<real::device> bar_device;
    std::optional<real::bar_region> bar;
    std::optional<real::placed_mapping> hole;
    [[nodiscard]] std::byte* data() const noexcept {
      if (pages) return pages->bytes().data();
      if (bar) return reinterpret_cast<std::byte*>(bar->base().value());
      return hole ? hole->data() : nullptr;
    }
  };

  [[nodiscard]] group_id group_of(std::uint64_t g) const {
    if (g >= test_devices_.size()) throw std::runtime_error("vfio backend: no test device " + std::to_string(g));
    return group_id{test_devices_[g].group};
  }

  std::variant<scenario::outcome, region_state> make_region(const scenario::op_mem& op) {
    region_state st;
    const real::region_options opts{op.read_only};
    switch (op.kind) {
      case scenario::mem_kind::anon:
      case scenario::mem_kind::memfd:
      case scenario::mem_kind::hugetlb: {
        const auto kind = op.kind == scenario::mem_kind::anon    ? real::page_region_kind::anon
                          : op.kind == scenario::mem_kind::memfd ? real::page_region_kind::memfd
                                                                 : real::page_region_kind::hugetlb;
        auto r = real::page_region::create(kind, byte_count(op.size), opts);
        if (!r) {
          if (kind == real::page_region_kind::hugetlb && op.size != 0 && !hugetlb_available()) {
            return scenario::outcome::skip("no-hugetlb");
          }
          return scenario::outcome::err(r.error());
        }
        st.pages.emplace(std::move(*r));
        return st;
      }
      case scenario::mem_kind::bar: {
        const auto gfd = t_ ? t_->group_fd(group_of(0)) : std::nullopt;
        if (!gfd) return scenario::outcome::err(errc::invalid_argument);
        if (op.size > (1U << 20) || op.size == 0) return scenario::outcome::err(errc::invalid_argument);
        auto dev = real::device::open(*gfd, test_devices_[0].address);
        if (!dev) return scenario::outcome::err(dev.error());
        st.bar_device = std::make_unique<real::device>(std::move(*dev));
        auto bar = st.bar_device->map_bar(VFIO_PCI_BAR0_REGION_INDEX, byte_count(op.size));
        if (!bar) return scenario::outcome::err(bar.error());
        if (op.read_only &&  // `ro`: a PROT_READ mapping of the BAR
            ::mprotect(reinterpret_cast<void*>(bar->base().value()), bar->size().value(), PROT_READ) != 0) {
          throw std::runtime_error("vfio backend: mprotect of the bar region failed");
        }
        st.bar.emplace(std::move(*bar));
        return st;
      }
      case scenario::mem_kind::hole:
        return hole(op.size);
    }
    return scenario::outcome::err(errc::invalid_argument);
  }

  /// A PROT_NONE reservation of `size` (at least a page), placed like every region.
  static region_state hole(std::uint64_t size) {
    region_state st;
    const std::uint64_t bytes = size == 0 ? page_bytes : (size + page_bytes - 1) & ~(page_bytes - 1);
    auto m = real::placed_mapping::create(real::linux_syscalls(), byte_count(bytes), PROT_NONE,
                                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (!m) throw std::runtime_error("vfio backend: cannot reserve a hole: " + m.error().message());
    st.hole.emplace(std::move(*m));
    return st;
  }

  static bool hugetlb_available() {
    std::ifstream in("/proc/meminfo");
    std::string key;
    std::uint64_t value = 0;
    while (in >> key >> value) {
      if (key == "HugePages_Free:") return value > 0;
      in.ignore(256, '\n');
    }
    return false;
  }

  /// Runs f(edu, scratch) with the scratch page mapped at scratch_iova.
  template <class F>
  scenario::outcome with_edu(std::uint64_t g, F&& f) {
    const auto gfd = t_ ? t_->group_fd(group_of(g)) : std::nullopt;
    if (!gfd) return scenario::outcome::err(errc::invalid_argument);
    auto it = dma_devices_.find(g);
    if (it == dma_devices_.end()) {
      auto dev = real::device::open(*gfd, test_devices_[g].address);
      if (!dev) return scenario::outcome::err(dev.error());
      auto d = std::make_unique<dma_device>(dma_device{std::move(*dev), std::nullopt});
      auto e = real::edu::open(d->dev);
      if (!e) return scenario::outcome::err(e.error());
      d->edu.emplace(std::move(*e));
      it = dma_devices_.emplace(g, std::move(d)).first;
    }
    const dma_map_request sm{iova(scratch_iova), scratch_->base(), byte_count(page_bytes),
                             prot::read_write, false};
    if (auto m = t_->map_dma(sm); !m) {
      throw std::runtime_error("vfio backend: cannot map the DMA scratch page at 0x0ffff000: " +
                               m.error().message());
    }
    const real::dma_scratch s{iova(scratch_iova), scratch_->bytes()};
    const result<void> r = f(*it->second->edu, s);
    (void)t_->unmap_dma(dma_unmap_request{iova(scratch_iova), byte_count(page_bytes), {}, {}, {}});
    if (!r) throw std::runtime_error("vfio backend: edu DMA failed: " + r.error().message());
    return scenario::outcome::ok();
  }

  void close_container() {
    for (auto& [name, r] : regions_) {
      if (r.bar) {  // munmap first: the kernel refuses to let the group go while it lives
        r.bar.reset();
        r.bar_device.reset();
        r = hole(0);
      }
    }
    dma_devices_.clear();
    for (auto& [id, e] : emulated_) e->dev.reset();  // the module releases its pins
    t_.reset();  // every group leaves; the kernel releases the container
    for (auto& [id, e] : emulated_) remove_instance(*e);
    emulated_.clear();
  }

  [[nodiscard]] std::byte* cpu(const std::string& name) const { return regions_.at(name).data(); }
  [[nodiscard]] vaddr at(const std::string& name, std::uint64_t offset) const {
    return vaddr(reinterpret_cast<std::uintptr_t>(cpu(name)) + offset);
  }

  static std::uint64_t read_entry_limit() {
    std::ifstream in(entry_limit_path);
    std::uint64_t v = 0;
    if (!(in >> v)) throw std::runtime_error(std::string("vfio backend: cannot read ") + entry_limit_path);
    return v;
  }
  static void write_entry_limit(std::uint64_t v) {
    std::ofstream out(entry_limit_path);
    out << v << '\n';
    out.flush();
    if (!out) throw std::runtime_error(std::string("vfio backend: cannot write ") + entry_limit_path);
  }
  static std::uint64_t vm_lck_bytes() {
    auto v = real::vm_locked();
    if (!v) throw std::runtime_error("vfio backend: cannot read VmLck: " + v.error().message());
    return v->value();
  }

  std::vector<test_device> test_devices_;
  std::uint64_t default_entry_limit_ = 65535;
  privilege_guard privilege_;
  std::unique_ptr<real::page_region> scratch_;
  std::unique_ptr<real::type1> t_;
  std::map<std::uint64_t, std::unique_ptr<dma_device>> dma_devices_;
  std::map<std::uint64_t, std::unique_ptr<emulated_device>> emulated_;
  std::map<std::string, region_state, std::less<>> regions_;
};

}  // namespace vfiopin::replay

#endif  // VFIOPIN_TOOLS_REPLAY_VFIO_TARGET_HPP
