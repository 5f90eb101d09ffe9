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
// The profile (--kernel, or a file's `kernel` line) selects the kernel; "" is the test bed's
// Debian 6.1. The extensions (scenario/ast.hpp; docs/fuzzing.md, "Reproducers") run the
// way fuzz_ops runs its operations, so a fuzz reproducer replays its run exactly: the
// geometry by number (mock_geometry.hpp), mmap/alias/munmap/touch on the process as is,
// fuzz_ops' devices (mock_device.hpp), its teardown, and fail-nth with a fault_injector;
// the ccw-* lines run fuzz_ccw's world (ccw_world.hpp) beside the container.
// after_operation() is --invariants: check_invariants and check_exclusive_process after
// each line, plus the fail-nth, teardown and fuzz_ccw properties. The extensions and these
// checks are defined in mock_target_ext.hpp, which this header includes at its end.
#ifndef VFIOPIN_TOOLS_REPLAY_MOCK_TARGET_HPP
#define VFIOPIN_TOOLS_REPLAY_MOCK_TARGET_HPP

#include "ccw_world.hpp"
#include "mock_device.hpp"
#include "mock_geometry.hpp"
#include "target_common.hpp"

#include <vfiopin/mock/fault_injection.hpp>
#include <vfiopin/mock/invariants.hpp>
#include <vfiopin/mock/memory.hpp>
#include <vfiopin/mock/type1.hpp>
#include <vfiopin/scenario/target.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vfiopin::replay {

/// The scenario target over the mock (see the header comment).
class mock_target final : public scenario::target {
 public:
  explicit mock_target(mock::kernel_profile profile) : base_profile_(profile), profile_(profile) {
    reset();
  }
  ~mock_target() override { close_container(); }

  void reset() override {
    close_container();
    regions_.clear();
    proc_ = std::make_unique<mock::process>();
    profile_ = base_profile_;
    geometry_ = {};
    entry_limit_ = geometry_.dma_entry_limit;
    injector_.disarm();
    armed_.reset();
    found_.clear();
    leaked_ = false;
    after_teardown_ = false;
  }

  scenario::outcome container(const scenario::op_container& op) override {
    return open_container(op.type == scenario::container_type::type1 ? iommu_type::type1
                                                                     : iommu_type::type1v2);
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
      regions_[op.name] = region_state{h ? *h : vaddr(), op.kind, false, true};
      return scenario::outcome::err(r.error());
    }
    regions_[op.name] = region_state{*r, op.kind, true, true};
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
    unmap_dirty_ = true;
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
    return adopt(op.device, std::make_unique<scenario_device>(*t_, device_id{}),
                 [&](dma_unmap_callback cb) { return t_->add_device(std::move(cb)); });
  }
  scenario::outcome pin(const scenario::op_pin& op) override {
    const auto it = devices_.find(op.device);
    if (it == devices_.end()) return scenario::outcome::err(errc::invalid_argument);
    std::vector<page_handle> out(it->second->handles_for(op.npages));
    auto r = t_->pin_pages(it->second->id(), iova(op.iova), page_count(op.npages),
                           scenario::to_library_prot(op.prot), out);
    if (!r) return scenario::outcome::err(r.error());
    it->second->pinned(op.iova, op.npages);
    return scenario::outcome::ok();
  }
  scenario::outcome unpin(const scenario::op_unpin& op) override {
    const auto it = devices_.find(op.device);
    if (it == devices_.end()) return scenario::outcome::ok();
    it->second->unpin(op.iova, op.npages);
    return scenario::outcome::ok();
  }

  // ---- extensions (scenario/ast.hpp; fuzz_ops' operations, docs/fuzzing.md) ----

  scenario::outcome ext_kernel(const scenario::op_kernel& op) override;
  scenario::outcome ext_geometry(const scenario::op_geometry& op) override;
  scenario::outcome ext_scatter(const scenario::op_scatter&) override;
  scenario::outcome ext_container_type(const scenario::op_container_type& op) override;
  scenario::outcome ext_attach_group(const scenario::op_attach_group& op) override;
  scenario::outcome ext_detach_group(const scenario::op_detach_group& op) override;
  scenario::outcome ext_mmap(const scenario::op_mmap& op) override;
  scenario::outcome ext_munmap(const scenario::op_munmap& op, const scenario::region&) override;
  scenario::outcome ext_alias(const scenario::op_alias& op, const scenario::region&) override;
  scenario::outcome ext_vaddr(const scenario::op_vaddr& op) override;
  scenario::outcome ext_touch(const scenario::op_touch& op, const scenario::region&) override;
  scenario::outcome ext_map_vaddr_prot(const scenario::op_map_vaddr_prot& op, const scenario::region&) override;
  scenario::outcome ext_memlock_unlimited(const scenario::op_memlock_unlimited&) override;
  scenario::outcome ext_cap_restore(const scenario::op_cap_restore& op) override;
  scenario::outcome ext_unmap_all_range(const scenario::op_unmap_all_range& op) override;
  scenario::outcome ext_dirty_bitmap(const scenario::op_dirty_bitmap& op) override;
  scenario::outcome ext_unmap_dirty_bitmap(const scenario::op_unmap_dirty_bitmap& op) override;
  scenario::outcome ext_add_device(const scenario::op_add_device& op) override;
  scenario::outcome ext_remove_device(const scenario::op_remove_device& op) override;
  scenario::outcome ext_device_id(const scenario::op_device_id& op) override;
  scenario::outcome ext_fail_nth(const scenario::op_fail_nth& op) override;
  scenario::outcome ext_teardown(const scenario::op_teardown&) override;
  // fuzz_ccw's world (ccw_world.hpp); its broken properties count as invariant findings.
  scenario::outcome ext_ccw_setup(const scenario::op_ccw_setup&) override { return ccw(ccw_.setup()); }
  scenario::outcome ext_ccw_write(const scenario::op_ccw_write& op) override { return ccw(ccw_.write(op)); }
  scenario::outcome ext_ccw_translate(const scenario::op_ccw_translate& op) override {
    return ccw(ccw_.translate(op));
  }
  scenario::outcome ext_ccw_notify(const scenario::op_ccw_notify& op) override { return ccw(ccw_.notify(op)); }
  scenario::outcome ext_ccw_complete(const scenario::op_ccw_complete&) override { return ccw(ccw_.complete()); }

  std::vector<std::string> after_operation(const scenario::outcome& result,
                                           bool invariants) override;

 private:
  /// fail-nth: the step armed, and the state before the operation it fails.
  struct armed_step {
    std::uint64_t step = 0;
    std::string before;
    bool pending = true;  ///< the `fail-nth` line itself has not finished yet
  };
  struct region_state {
    vaddr start{};
    scenario::mem_kind kind = scenario::mem_kind::anon;
    bool live = false;
    bool from_mem = false;  ///< made by `mem` (a bar holds the device open), not `mmap`
  };

  /// Registers `dev` with `add` (its callback) as device `number`.
  template <class Add>
  scenario::outcome adopt(std::uint64_t number, std::unique_ptr<scenario_device> dev, Add add) {
    auto r = add(dma_unmap_callback(*dev));
    if (!r) return scenario::outcome::err(r.error());
    dev->set_id(*r);
    devices_[number] = std::move(dev);
    return scenario::outcome::ok();
  }

  scenario::outcome open_container(iommu_type type) {
    for (auto& [name, r] : regions_)
      if (r.kind == scenario::mem_kind::bar && r.live && r.from_mem) {
        proc_->unmap_region(r.start);
        r.live = false;
      }
    close_container();
    type_ = type;
    t_ = std::make_unique<mock::type1<>>(*proc_, type, profile_, geometry_);
    t_->set_dma_entry_limit(entry_limit_);
    return scenario::outcome::ok();
  }

  /// The container and its devices go; every mapping, pin and charge is released.
  void close_container() {
    t_.reset();
    devices_.clear();
  }
  void expect_unmapped_all();
  [[nodiscard]] bool live_bar() const {
    for (const auto& [name, r] : regions_)
      if (r.kind == scenario::mem_kind::bar && r.live && r.from_mem) return true;
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

  mock::kernel_profile base_profile_;  ///< --kernel
  mock::kernel_profile profile_;       ///< --kernel, or the file's `kernel` line
  mock::geometry geometry_;
  iommu_type type_ = iommu_type::type1v2;
  mock::fault_injector injector_;  // before proc_ and t_, which may point to it
  std::unique_ptr<mock::process> proc_;
  std::unique_ptr<mock::type1<>> t_;
  std::map<std::uint64_t, std::unique_ptr<scenario_device>> devices_;
  std::map<std::string, region_state, std::less<>> regions_;
  std::uint32_t entry_limit_ = 65535;
  bool unmap_dirty_ = false;         ///< the last operation was an UNMAP with the bitmap
  std::optional<armed_step> armed_;  ///< fail-nth: the operation in progress may fail
  std::vector<std::string> found_;   ///< violations not reported yet
  bool leaked_ = false;              ///< a stubborn device left with pins
  bool after_teardown_ = false;      ///< a second container on the process: not exclusive
  ccw_lines ccw_;                    ///< the ccw-* lines' world, after the rest

  scenario::outcome ccw(scenario::outcome o) {
    for (auto& v : ccw_.take_violations()) found_.push_back("ccw: " + std::move(v));
    return o;
  }
};

}  // namespace vfiopin::replay

#include "mock_target_ext.hpp"  // the extension lines' definitions

#endif  // VFIOPIN_TOOLS_REPLAY_MOCK_TARGET_HPP
