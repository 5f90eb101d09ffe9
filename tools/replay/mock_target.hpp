// SPDX-License-Identifier: Apache-2.0
//
// tools/replay/mock_target.hpp: the scenario backend over the mock type1 container.
//
// Theory of operation. mock_target runs scenario operations (docs: scenario-format.md) on a
// mock::process (the tool's own process: regions, fill/check, RLIMIT_MEMLOCK, VmLck) and a
// mock::type1 (the container), with the test bed's geometry: both test groups are in one
// VT-d domain (vm-testbed.md). How each operation maps onto the model:
//   container      unmaps live bar regions, destroys the previous container (releasing
//                  everything, vfio_iommu_type1_release) and its emulated devices, makes a
//                  new one of the type; the IOMMU type is applied by the first attach
//   entry-limit    the dma_entry_limit module parameter (read when the type is next set)
//   memlock        RLIMIT_MEMLOCK = BYTES and CAP_IPC_LOCK dropped
//   attach/detach  real groups 0 and 1; detach 0 is EBUSY while a bar region is live (the
//                  device is held open: VFIO_GROUP_UNSET_CONTAINER)
//   mem            mmap of the region kind; a bar needs group 0 attached (EINVAL, getting
//                  the device) and at most 1 MiB; a failed mem leaves a hole of its size
//   dma-read/write the edu device of group G through its domain's page table (the IOMMU):
//                  an unmapped IOVA reads zeros (a write-only one reads: the test bed's
//                  VT-d allows it, docs/kernel-differences.md), an unwritable one is not
//                  written; a group that is not attached: EINVAL (getting the device)
//   emulated E     add_device: device E (its own emulated group) with a dma_unmap callback
//                  that unpins every page it holds in the range before returning
//   pin/unpin      vfio_pin_pages / vfio_unpin_pages of device E; a device that was never
//                  registered cannot pin (EINVAL) and unpinning with it does nothing
// The profile (--kernel) selects the kernel; "" is the test bed's Debian 6.1.
#ifndef VFIOPIN_TOOLS_REPLAY_MOCK_TARGET_HPP
#define VFIOPIN_TOOLS_REPLAY_MOCK_TARGET_HPP

#include "target_common.hpp"

#include <vfiopin/mock/memory.hpp>
#include <vfiopin/mock/type1.hpp>
#include <vfiopin/scenario/target.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace vfiopin::replay {

/// An emulated-IOMMU device of a scenario: it remembers what it pinned, per page key.
class scenario_device {
 public:
  scenario_device(mock::type1<>& t, device_id id) : t_(&t), id_(id) {}
  scenario_device(const scenario_device&) = delete;
  scenario_device& operator=(const scenario_device&) = delete;

  void set_id(device_id id) noexcept { id_ = id; }
  [[nodiscard]] device_id id() const noexcept { return id_; }

  void pinned(std::uint64_t at, std::uint64_t n) {
    std::lock_guard lk(m_);
    for (std::uint64_t i = 0; i < n; ++i) ++held_[at + i * page_bytes];
  }
  void unpinned(std::uint64_t at, std::uint64_t n) {
    std::lock_guard lk(m_);
    for (std::uint64_t i = 0; i < n; ++i) {
      auto it = held_.find(at + i * page_bytes);
      if (it != held_.end() && --it->second == 0) held_.erase(it);
    }
  }
  /// The driver's close: everything it holds goes back, one unpin per reference.
  void release() {
    std::map<std::uint64_t, std::uint64_t> held;
    {
      std::lock_guard lk(m_);
      held.swap(held_);
    }
    for (const auto& [key, count] : held)
      for (std::uint64_t i = 0; i < count; ++i) t_->unpin_pages(id_, iova(key), page_count(1));
  }
  /// dma_unmap: unpin everything held in [first, last] before returning.
  void operator()(interval<iova> range) noexcept {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> drop;
    {
      std::lock_guard lk(m_);
      for (auto it = held_.lower_bound(range.first().value());
           it != held_.end() && it->first <= range.last().value();) {
        drop.emplace_back(*it);
        it = held_.erase(it);
      }
    }
    for (const auto& [key, count] : drop)
      for (std::uint64_t i = 0; i < count; ++i) t_->unpin_pages(id_, iova(key), page_count(1));
  }

 private:
  mock::type1<>* t_;
  device_id id_;
  std::mutex m_;
  std::map<std::uint64_t, std::uint64_t> held_;
};

/// The scenario target over the mock (see the header comment).
class mock_target final : public scenario::target {
 public:
  explicit mock_target(mock::kernel_profile profile) : profile_(profile) { reset(); }
  ~mock_target() override { close_container(); }

  void reset() override {
    close_container();
    regions_.clear();
    proc_ = std::make_unique<mock::process>();
    entry_limit_ = mock::geometry{}.dma_entry_limit;
  }

  scenario::outcome container(const scenario::op_container& op) override {
    for (auto& [name, r] : regions_)
      if (r.kind == scenario::mem_kind::bar && r.live) {
        proc_->unmap_region(r.start);
        r.live = false;
      }
    close_container();
    const iommu_type type =
        op.type == scenario::container_type::type1 ? iommu_type::type1 : iommu_type::type1v2;
    t_ = std::make_unique<mock::type1<>>(*proc_, type, profile_);
    t_->set_dma_entry_limit(entry_limit_);
    return scenario::outcome::ok();
  }
  scenario::outcome entry_limit(const scenario::op_entry_limit& op) override {
    entry_limit_ = static_cast<std::uint32_t>(op.limit);
    if (t_) t_->set_dma_entry_limit(entry_limit_);
    return scenario::outcome::ok();
  }
  scenario::outcome memlock(const scenario::op_memlock& op) override {
    proc_->set_memlock_limit(byte_count(op.bytes));
    proc_->set_cap_ipc_lock(false);
    return scenario::outcome::ok();
  }
  scenario::outcome attach(const scenario::op_attach& op) override {
    return done(t_->attach_group(group_id{static_cast<std::uint32_t>(op.group)}));
  }
  scenario::outcome detach(const scenario::op_detach& op) override {
    if (op.group == 0 && live_bar()) return scenario::outcome::err(errc::busy);
    return done(t_->detach_group(group_id{static_cast<std::uint32_t>(op.group)}));
  }
  scenario::outcome mem(const scenario::op_mem& op) override {
    const auto kind = static_cast<mock::region_kind>(op.kind);
    std::optional<errc> refused;
    if (op.kind == scenario::mem_kind::bar && !group_attached(0)) refused = errc::invalid_argument;
    result<vaddr> r = refused ? result<vaddr>(fail(*refused))
                              : proc_->map_region(kind, byte_count(op.size), op.read_only);
    if (!r) {
      // A failed mem behaves as a hole of its size: reserve one.
      const std::uint64_t hole = op.size == 0 ? page_bytes : op.size;
      auto h = proc_->map_region(mock::region_kind::hole, byte_count(hole), false);
      regions_[op.name] = region_state{h ? *h : vaddr(), op.kind, false};
      return scenario::outcome::err(r.error());
    }
    regions_[op.name] = region_state{*r, op.kind, true};
    return scenario::outcome::ok();
  }
  scenario::outcome fill(const scenario::op_fill& op, const scenario::region& r) override {
    std::vector<std::byte> data(r.size);
    for (std::uint64_t i = 0; i < r.size; ++i) data[i] = std::byte{scenario::fill_byte(i, op.seed)};
    auto w = proc_->write(start_of(op.name), data);
    return w ? scenario::outcome::ok() : scenario::outcome::err(w.error());
  }
  scenario::outcome map(const scenario::op_map& op, const scenario::region&) override {
    if (!t_) return scenario::outcome::err(errc::invalid_argument);
    return done(t_->map_dma(dma_map_request{iova(op.iova), at(op.name, op.offset),
                                            byte_count(op.size),
                                            scenario::to_library_prot(op.prot), false}));
  }
  scenario::outcome map_vaddr(const scenario::op_map_vaddr& op, const scenario::region&) override {
    return done(t_->map_dma(dma_map_request{iova(op.iova), at(op.name, op.offset),
                                            byte_count(op.size), prot::none, true}));
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
    // VmLck in bytes, modulo 2^64 like the kernel's own figure (locked_vm can wrap below zero).
    return scenario::outcome::ok().with(
        scenario::field::locked(proc_->locked_vm().value() << page_shift));
  }
  scenario::outcome dirty_start(const scenario::op_dirty_start&) override { return done(t_->dirty_start()); }
  scenario::outcome dirty_stop(const scenario::op_dirty_stop&) override { return done(t_->dirty_stop()); }
  scenario::outcome dirty_get(const scenario::op_dirty_get& op) override { return run_dirty_get(*t_, op); }
  scenario::outcome dma_read(const scenario::op_dma_read& op, const scenario::region&) override {
    if (!group_attached(op.group)) return scenario::outcome::err(errc::invalid_argument);
    std::vector<std::byte> dev(op.length);
    for (std::uint64_t i = 0; i < op.length; ++i) {
      const auto t = t_->translate(group_id{static_cast<std::uint32_t>(op.group)}, iova(op.iova + i));
      // IOMMU fault: zeros. The test bed's VT-d lets a device read through a write-only
      // mapping (seen on real VFIO: docs/kernel-differences.md), so only prot none faults.
      if (!t || t->access == prot::none) continue;
      const auto bytes = proc_->frame_bytes(pfn(t->frame));
      if (!bytes.empty()) dev[i] = bytes[(op.iova + i) % page_bytes];
    }
    std::vector<std::byte> cpu(op.length);
    if (!proc_->read(at(op.name, op.offset), cpu)) return scenario::outcome::differ();
    return scenario::outcome::compared(dev == cpu);
  }
  scenario::outcome dma_write(const scenario::op_dma_write& op) override {
    if (!group_attached(op.group)) return scenario::outcome::err(errc::invalid_argument);
    for (std::uint64_t i = 0; i < op.length; ++i) {
      const auto t = t_->translate(group_id{static_cast<std::uint32_t>(op.group)}, iova(op.iova + i));
      if (!t || !includes(t->access, prot::write)) continue;  // IOMMU fault: no change
      const auto bytes = proc_->frame_bytes(pfn(t->frame));
      if (!bytes.empty()) bytes[(op.iova + i) % page_bytes] = std::byte{scenario::fill_byte(i, op.seed)};
    }
    return scenario::outcome::ok();
  }
  scenario::outcome check(const scenario::op_check& op, const scenario::region&) override {
    std::vector<std::byte> cpu(op.length);
    if (!proc_->read(at(op.name, op.offset), cpu)) return scenario::outcome::differ();
    for (std::uint64_t i = 0; i < op.length; ++i)
      if (cpu[i] != std::byte{scenario::fill_byte(i, op.seed)}) return scenario::outcome::differ();
    return scenario::outcome::same();
  }
  scenario::outcome emulated(const scenario::op_emulated& op) override {
    if (!t_) return scenario::outcome::err(errc::invalid_argument);  // no container to join
    // A second `emulated E`: the old device E is closed and removed first, as the vfio
    // backend removes its mdev instance (and the container must not keep a callback into
    // a device object that is about to be destroyed).
    if (const auto old = devices_.find(op.device); old != devices_.end()) {
      old->second->release();
      t_->remove_device(old->second->id());
      devices_.erase(old);
    }
    auto dev = std::make_unique<scenario_device>(*t_, device_id{});
    auto r = t_->add_device(dma_unmap_callback(*dev));
    if (!r) return scenario::outcome::err(r.error());
    dev->set_id(*r);
    devices_[op.device] = std::move(dev);
    return scenario::outcome::ok();
  }
  scenario::outcome pin(const scenario::op_pin& op) override {
    const auto it = devices_.find(op.device);
    if (it == devices_.end()) return scenario::outcome::err(errc::invalid_argument);
    std::vector<page_handle> out(op.npages);
    auto r = t_->pin_pages(it->second->id(), iova(op.iova), page_count(op.npages),
                           scenario::to_library_prot(op.prot), out);
    if (!r) return scenario::outcome::err(r.error());
    it->second->pinned(op.iova, op.npages);
    return scenario::outcome::ok();
  }
  scenario::outcome unpin(const scenario::op_unpin& op) override {
    const auto it = devices_.find(op.device);
    if (it == devices_.end()) return scenario::outcome::ok();
    t_->unpin_pages(it->second->id(), iova(op.iova), page_count(op.npages));
    it->second->unpinned(op.iova, op.npages);
    return scenario::outcome::ok();
  }

 private:
  struct region_state {
    vaddr start{};
    scenario::mem_kind kind = scenario::mem_kind::anon;
    bool live = false;
  };

  /// The container and its devices go; every mapping, pin and charge is released.
  void close_container() {
    t_.reset();
    devices_.clear();
  }
  [[nodiscard]] bool live_bar() const {
    for (const auto& [name, r] : regions_)
      if (r.kind == scenario::mem_kind::bar && r.live) return true;
    return false;
  }
  [[nodiscard]] bool group_attached(std::uint64_t g) const {
    return t_ && t_->with_state([&](const auto& s) {
      return s.find_group(group_id{static_cast<std::uint32_t>(g)}) != nullptr;
    });
  }
  [[nodiscard]] vaddr start_of(const std::string& name) const { return regions_.at(name).start; }
  [[nodiscard]] vaddr at(const std::string& name, std::uint64_t offset) const {
    return vaddr(start_of(name).value() + offset);  // may run past the region: GUP decides
  }

  mock::kernel_profile profile_;
  std::unique_ptr<mock::process> proc_;
  std::unique_ptr<mock::type1<>> t_;
  std::map<std::uint64_t, std::unique_ptr<scenario_device>> devices_;
  std::map<std::string, region_state, std::less<>> regions_;
  std::uint32_t entry_limit_ = 65535;
};

}  // namespace vfiopin::replay

#endif  // VFIOPIN_TOOLS_REPLAY_MOCK_TARGET_HPP
