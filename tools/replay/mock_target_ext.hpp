// SPDX-License-Identifier: Apache-2.0
//
// tools/replay/mock_target_ext.hpp: the mock target's extension lines and fuzz properties.
//
// Theory of operation. mock_target (mock_target.hpp, which includes this file at its end)
// declares every operation; this file defines the mock-only extensions of the scenario
// format (scenario/ast.hpp; docs/fuzzing.md, "Reproducers"), which run the way fuzz_ops
// runs its operations so that a fuzz reproducer replays its run exactly: the kernel
// profile and the geometry by name and number, the process's mmap/munmap/alias/touch as
// they are, fuzz_ops' devices (mock_device.hpp), raw VFIO requests (any IOMMU type, any
// bitmap page size), fail-nth with the fault injector, and fuzz_ops' teardown. After them
// come the properties --invariants checks after each line (after_operation): the model's
// self-check, the fail-nth property, and what teardown and UNMAP ALL must leave.
#ifndef VFIOPIN_TOOLS_REPLAY_MOCK_TARGET_EXT_HPP
#define VFIOPIN_TOOLS_REPLAY_MOCK_TARGET_EXT_HPP

#include "mock_target.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vfiopin::replay {

inline scenario::outcome mock_target::ext_kernel(const scenario::op_kernel& op) {
  const auto p = mock::profile_by_name(op.profile);
  if (!p || op.profile.empty()) return scenario::outcome::err(errc::invalid_argument);
  profile_ = *p;
  return scenario::outcome::ok();
}

inline scenario::outcome mock_target::ext_geometry(const scenario::op_geometry& op) {
  geometry_ = geometry_variant(static_cast<std::uint8_t>(op.variant));
  entry_limit_ = geometry_.dma_entry_limit;
  return scenario::outcome::ok();
}

inline scenario::outcome mock_target::ext_scatter(const scenario::op_scatter&) {
  proc_->set_scatter(true);
  return scenario::outcome::ok();
}

inline scenario::outcome mock_target::ext_container_type(const scenario::op_container_type& op) {
  return open_container(static_cast<iommu_type>(static_cast<std::uint32_t>(op.type)));
}

inline scenario::outcome mock_target::ext_attach_group(const scenario::op_attach_group& op) {
  return done(t_->attach_group(group_id{static_cast<std::uint32_t>(op.group)}));
}

inline scenario::outcome mock_target::ext_detach_group(const scenario::op_detach_group& op) {
  return done(t_->detach_group(group_id{static_cast<std::uint32_t>(op.group)}));
}

inline scenario::outcome mock_target::ext_mmap(const scenario::op_mmap& op) {
  auto r = proc_->map_region(static_cast<mock::region_kind>(op.kind), byte_count(op.size),
                             op.read_only);
  regions_[op.name] = region_state{r ? *r : vaddr(), op.kind, r.has_value(), false};
  return done(r);
}

inline scenario::outcome mock_target::ext_munmap(const scenario::op_munmap& op, const scenario::region&) {
  region_state& r = regions_.at(op.name);
  proc_->unmap_region(r.start);
  r.live = false;
  return scenario::outcome::ok();
}

inline scenario::outcome mock_target::ext_alias(const scenario::op_alias& op, const scenario::region&) {
  const region_state source = regions_.at(op.source);
  auto r = proc_->map_alias(source.start, op.read_only);
  regions_[op.name] = region_state{r ? *r : vaddr(), source.kind, r.has_value(), false};
  return done(r);
}

inline scenario::outcome mock_target::ext_vaddr(const scenario::op_vaddr& op) {
  regions_[op.name] = region_state{vfiopin::vaddr(op.address), scenario::mem_kind::hole, false, false};
  return scenario::outcome::ok();
}

inline scenario::outcome mock_target::ext_touch(const scenario::op_touch& op, const scenario::region&) {
  std::vector<std::byte> bytes(op.length);
  return op.write ? done(proc_->write(at(op.name, op.offset), bytes))
                  : done(proc_->read(at(op.name, op.offset), bytes));
}

inline scenario::outcome mock_target::ext_map_vaddr_prot(const scenario::op_map_vaddr_prot& op, const scenario::region&) {
  return done(t_->map_dma(dma_map_request{iova(op.iova), at(op.name, op.offset), byte_count(op.size),
                                          scenario::to_library_prot(op.prot), true}));
}

inline scenario::outcome mock_target::ext_memlock_unlimited(const scenario::op_memlock_unlimited&) {
  proc_->set_memlock_limit(std::nullopt);
  proc_->set_cap_ipc_lock(false);
  return scenario::outcome::ok();
}

inline scenario::outcome mock_target::ext_cap_restore(const scenario::op_cap_restore& op) {
  proc_->set_cap_ipc_lock(true);
  if (op.unlimited) proc_->set_memlock_limit(std::nullopt);
  return scenario::outcome::ok();
}

inline scenario::outcome mock_target::ext_unmap_all_range(const scenario::op_unmap_all_range& op) {
  return unmapped(t_->unmap_dma(dma_unmap_request{iova(op.iova), byte_count(op.size),
                                                  unmap_flags{.all = true}, {}, {}}));
}

inline scenario::outcome mock_target::ext_dirty_bitmap(const scenario::op_dirty_bitmap& op) {
  std::vector<std::uint64_t> words(op.words);
  auto r = t_->dirty_bitmap(iova(op.iova), byte_count(op.size), byte_count(op.pgsize), words);
  if (!r) return scenario::outcome::err(r.error());
  return scenario::outcome::ok().with(scenario::field::bits(bitmap_digits(words, op.size, op.pgsize)));
}

inline scenario::outcome mock_target::ext_unmap_dirty_bitmap(const scenario::op_unmap_dirty_bitmap& op) {
  std::vector<std::uint64_t> words(op.words);
  unmap_dirty_ = true;
  auto r = t_->unmap_dma(dma_unmap_request{iova(op.iova), byte_count(op.size),
                                           unmap_flags{.get_dirty_bitmap = true},
                                           byte_count(op.pgsize), words});
  return unmapped_with_digits(r, bitmap_digits(words, op.size, op.pgsize));
}

inline scenario::outcome mock_target::ext_add_device(const scenario::op_add_device& op) {
  if (devices_.contains(op.device)) return scenario::outcome::err(errc::exists);
  return adopt(op.device,
               std::make_unique<scenario_device>(*t_, device_id{}, scenario_device::kind::fuzz, op.stubborn),
               [&](dma_unmap_callback cb) {
                 return op.group ? t_->add_device(group_id{static_cast<std::uint32_t>(*op.group)}, std::move(cb))
                                 : t_->add_device(std::move(cb));
               });
}

inline scenario::outcome mock_target::ext_remove_device(const scenario::op_remove_device& op) {
  const auto it = devices_.find(op.device);
  if (it == devices_.end()) return scenario::outcome::ok();
  scenario_device& d = *it->second;
  if (d.what() != scenario_device::kind::raw) {
    if (d.stubborn()) leaked_ |= d.holds_pins();
    else d.release();
  }
  t_->remove_device(d.id());
  devices_.erase(it);
  return scenario::outcome::ok();
}

inline scenario::outcome mock_target::ext_device_id(const scenario::op_device_id& op) {
  if (devices_.contains(op.device)) return scenario::outcome::err(errc::exists);
  devices_[op.device] = std::make_unique<scenario_device>(
      *t_, vfiopin::device_id{static_cast<std::uint32_t>(op.id)}, scenario_device::kind::raw);
  return scenario::outcome::ok();
}

inline scenario::outcome mock_target::ext_fail_nth(const scenario::op_fail_nth& op) {
  t_->set_fault_injector(&injector_);
  armed_ = armed_step{op.step, t_->state_dump()};
  unmap_dirty_ = false;
  injector_.arm(op.step);
  return scenario::outcome::ok();
}

/// fuzz_ops' teardown (fuzz/fuzz_ops.cpp, property 3): every device unpins what it holds
/// and is removed, UNMAP ALL, every group detached (which releases the driver), the
/// container destroyed; then no mapping, no pin, and locked_vm equal to the documented
/// residual. A fresh container of the same kind follows, so later lines have one.
inline scenario::outcome mock_target::ext_teardown(const scenario::op_teardown&) {
  const auto check = [&] {
    auto v = mock::check_invariants(*t_);
    const auto w = mock::check_exclusive_process(*t_);
    v.insert(v.end(), w.begin(), w.end());
    for (auto& line : v) found_.push_back("teardown: " + line);
  };
  for (auto& [number, d] : devices_) {
    if (d->what() == scenario_device::kind::raw) continue;
    d->comply();
    d->release();
    t_->remove_device(d->id());
    check();
  }
  devices_.clear();
  if (t_->with_state([](const auto& s) { return s.iommu_set; })) {
    auto r = t_->unmap_dma(dma_unmap_request{iova(0), byte_count(0), unmap_flags{.all = true}, {}, {}});
    if (r) expect_unmapped_all();
    else if (!leaked_) found_.push_back("teardown: UNMAP ALL failed: " + scenario::to_string(unmapped(r)));
    check();
  }
  for (const std::uint32_t g : {0U, 1U, 2U, 0x80000000U}) {
    (void)t_->detach_group(group_id{g});
    check();
  }
  if (t_->with_state([](const auto& s) { return s.iommu_set; })) found_.emplace_back("teardown: driver still set");
  if (t_->mapping_count() != 0) found_.emplace_back("teardown: mappings left");
  const std::uint64_t residual = t_->with_state([](const auto& s) { return s.residual_locked; });
  t_.reset();
  if (!proc_->quiescent())
    found_.push_back("teardown: " + std::to_string(proc_->total_pins()) + " pins left in the process");
  if (proc_->locked_vm().value() != residual)
    found_.push_back("teardown: locked_vm " + std::to_string(proc_->locked_vm().value()) +
                     " pages, expected the residual " + std::to_string(residual));
  leaked_ = false;
  open_container(type_);
  after_teardown_ = true;  // the process keeps the old container's residual
  return scenario::outcome::ok();
}

/// After a successful UNMAP ALL no mapping is left, except one ending at 2^64 - 1 on a
/// kernel whose lookups compute iova + size in 64 bits (spec §10 item 3).
inline void mock_target::expect_unmapped_all() {
  const bool ok = t_->with_state([&](const auto& s) {
    bool all_gone = true;
    s.dmas.for_each([&](std::uint64_t, const auto& d) {
      all_gone &= !profile_.full_address_space && d.last() == ~std::uint64_t{0};
    });
    return all_gone;
  });
  if (!ok) found_.emplace_back("UNMAP ALL succeeded and left mappings");
}

/// fail-nth bookkeeping (always) and, with --invariants, the checks fuzz_ops makes after
/// each operation: check_invariants, check_exclusive_process and, after an operation whose
/// armed step failed, that it failed and left state_dump() as before (spec invariant 24;
/// not for UNMAP with the bitmap, the kernel's own partial case).
inline std::vector<std::string> mock_target::after_operation(const scenario::outcome& result,
                                                             bool invariants) {
  std::vector<std::string> out = std::exchange(found_, {});
  if (armed_ && armed_->pending) {
    armed_->pending = false;
    unmap_dirty_ = false;
  } else if (armed_) {
    const bool fired = injector_.fired();
    injector_.disarm();
    const armed_step step = *std::exchange(armed_, std::nullopt);
    if (fired && result.is_ok())
      out.push_back("an operation whose step " + std::to_string(step.step) + " failed succeeded");
    if (fired && !unmap_dirty_ && t_ && t_->state_dump() != step.before)
      out.push_back("state changed by an operation that failed at step " + std::to_string(step.step));
  }
  unmap_dirty_ = false;
  if (!invariants) return {};
  if (t_) {
    auto v = mock::check_invariants(*t_);
    out.insert(out.end(), v.begin(), v.end());
    if (!after_teardown_) {
      const auto w = mock::check_exclusive_process(*t_);
      out.insert(out.end(), w.begin(), w.end());
    }
  }
  return out;
}

}  // namespace vfiopin::replay

#endif  // VFIOPIN_TOOLS_REPLAY_MOCK_TARGET_EXT_HPP
