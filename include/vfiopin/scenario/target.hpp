// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/scenario/target.hpp: the interface a backend implements to run scenarios.
//
// Theory of operation. `target` is the seam between the backend-independent scenario
// machinery (parser, runner, result formatting) and a backend: the mock (an executable
// model of the kernel's type1 driver) or the real VFIO backend. It has one function per
// operation of the format's table; each receives the parsed operation and returns the
// operation's `outcome` (outcome.hpp), never a formatted string.
//
// Division of labour with the runner (runner.hpp):
//   - reset() puts the backend in the state every file starts from: no container, no
//     regions, no emulated devices, the default dma_entry_limit, and a privileged mapper
//     (CAP_IPC_LOCK, no RLIMIT_MEMLOCK). The runner calls it before and after each file,
//     so the default limit is also restored after the file. It must not fail; a backend
//     that cannot restore its state throws, and the run stops.
//   - The runner keeps the table of `mem` regions and their state, and hands the backend a
//     `region` view with every operation that names one (fill, map, map-vaddr, dma-read,
//     check). A region whose `mem` printed `skip WORD` is never handed to the backend: the
//     runner prints `skip WORD` for every later use itself (likewise `pin`/`unpin` of an
//     emulated device whose `emulated` was skipped). A region whose `mem` printed `err`
//     comes with status `failed`, and a bar region after a later `container` with status
//     `released`: in both cases the format says it "behaves as a hole" of its size, which
//     region::is_hole() answers. The backend still owns the address it gave the region:
//     when mem() fails it must reserve a hole of op.size at an address of its own, so that
//     later maps of the name have a vaddr (lazy maps in an emulated-only container succeed).
//   - container() must unmap live bar regions before closing the previous container (the
//     runner marks them released afterwards).
// Extensions (ast.hpp: the mock's knobs and fuzz_ops' operations) have default bodies that
// answer `skip mock-only`, so a backend implements only those it can run; the runner then
// skips later uses of a region or device whose declaration was skipped. after_operation()
// runs after each operation; with --invariants it returns the model's self-check findings.
// Anything the backend cannot do at all (a hardware or setup problem, not a result of the
// operation) is reported by throwing; the runner prints the message and exits 2.
#ifndef VFIOPIN_SCENARIO_TARGET_HPP
#define VFIOPIN_SCENARIO_TARGET_HPP

#include <vfiopin/scenario/ast.hpp>
#include <vfiopin/scenario/outcome.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vfiopin::scenario {

/// Where a region stands, as the runner tracks it.
enum class region_status : std::uint8_t {
  live,      ///< its `mem` succeeded and nothing has released it
  failed,    ///< its `mem` printed `err`: it behaves as a hole of its size
  released,  ///< a bar region after a later `container`: it behaves as a hole
};

/// What the runner knows about a named region, handed to the operations that use one.
struct region {
  std::string_view name;
  mem_kind kind = mem_kind::anon;
  std::uint64_t size = 0;
  bool read_only = false;
  region_status status = region_status::live;

  /// True when the region has nothing mapped: a `hole`, a failed `mem`, a released bar.
  [[nodiscard]] constexpr bool is_hole() const noexcept {
    return kind == mem_kind::hole || status != region_status::live;
  }
};

/// A backend that runs scenario operations. See the header comment for the contract.
class target {
 public:
  virtual ~target() = default;

  /// Back to the state every file starts from. Called before and after each file.
  virtual void reset() = 0;

  virtual outcome container(const op_container& op) = 0;
  virtual outcome entry_limit(const op_entry_limit& op) = 0;
  virtual outcome memlock(const op_memlock& op) = 0;
  virtual outcome attach(const op_attach& op) = 0;
  virtual outcome detach(const op_detach& op) = 0;
  /// On err, reserve a hole of op.size for the name (see the header comment).
  virtual outcome mem(const op_mem& op) = 0;
  virtual outcome fill(const op_fill& op, const region& r) = 0;
  virtual outcome map(const op_map& op, const region& r) = 0;
  virtual outcome map_vaddr(const op_map_vaddr& op, const region& r) = 0;
  /// ok fields: size.
  virtual outcome unmap(const op_unmap& op) = 0;
  /// ok fields: size.
  virtual outcome unmap_all(const op_unmap_all& op) = 0;
  /// ok fields: size.
  virtual outcome unmap_vaddr(const op_unmap_vaddr& op) = 0;
  /// ok fields: size, bits.
  virtual outcome unmap_dirty(const op_unmap_dirty& op) = 0;
  /// ok fields: avail (if DMA_AVAIL), pgsizes, ranges (if IOVA_RANGE).
  virtual outcome info(const op_info& op) = 0;
  /// ok fields: locked.
  virtual outcome locked(const op_locked& op) = 0;
  virtual outcome dirty_start(const op_dirty_start& op) = 0;
  virtual outcome dirty_stop(const op_dirty_stop& op) = 0;
  /// ok fields: bits.
  virtual outcome dirty_get(const op_dirty_get& op) = 0;
  /// ok same / ok differ.
  virtual outcome dma_read(const op_dma_read& op, const region& r) = 0;
  virtual outcome dma_write(const op_dma_write& op) = 0;
  /// ok same / ok differ.
  virtual outcome check(const op_check& op, const region& r) = 0;
  virtual outcome emulated(const op_emulated& op) = 0;
  virtual outcome pin(const op_pin& op) = 0;
  virtual outcome unpin(const op_unpin& op) = 0;

  // ---- extensions: `skip mock-only` unless the backend runs them ----
  virtual outcome ext_kernel(const op_kernel&) { return mock_only(); }
  virtual outcome ext_geometry(const op_geometry&) { return mock_only(); }
  virtual outcome ext_scatter(const op_scatter&) { return mock_only(); }
  virtual outcome ext_container_type(const op_container_type&) { return mock_only(); }
  virtual outcome ext_attach_group(const op_attach_group&) { return mock_only(); }
  virtual outcome ext_detach_group(const op_detach_group&) { return mock_only(); }
  virtual outcome ext_mmap(const op_mmap&) { return mock_only(); }
  virtual outcome ext_munmap(const op_munmap&, const region&) { return mock_only(); }
  virtual outcome ext_alias(const op_alias&, const region&) { return mock_only(); }
  virtual outcome ext_vaddr(const op_vaddr&) { return mock_only(); }
  virtual outcome ext_touch(const op_touch&, const region&) { return mock_only(); }
  virtual outcome ext_map_vaddr_prot(const op_map_vaddr_prot&, const region&) { return mock_only(); }
  virtual outcome ext_memlock_unlimited(const op_memlock_unlimited&) { return mock_only(); }
  virtual outcome ext_cap_restore(const op_cap_restore&) { return mock_only(); }
  /// ok fields: size.
  virtual outcome ext_unmap_all_range(const op_unmap_all_range&) { return mock_only(); }
  /// ok fields: bits.
  virtual outcome ext_dirty_bitmap(const op_dirty_bitmap&) { return mock_only(); }
  /// ok fields: size, bits.
  virtual outcome ext_unmap_dirty_bitmap(const op_unmap_dirty_bitmap&) { return mock_only(); }
  virtual outcome ext_add_device(const op_add_device&) { return mock_only(); }
  virtual outcome ext_remove_device(const op_remove_device&) { return mock_only(); }
  virtual outcome ext_device_id(const op_device_id&) { return mock_only(); }
  virtual outcome ext_teardown(const op_teardown&) { return mock_only(); }
  virtual outcome ext_fail_nth(const op_fail_nth&) { return mock_only(); }
  /// fuzz_ccw's world (op_ccw_setup) and its steps. ccw-translate's ok fields: ccws, idaws,
  /// pins (the consumer's page pins); a refusal is the backend's errno or `err ccw-NAME`.
  /// ccw-notify's ok fields: active (0 or 1), pins.
  virtual outcome ext_ccw_setup(const op_ccw_setup&) { return mock_only(); }
  virtual outcome ext_ccw_write(const op_ccw_write&) { return mock_only(); }
  virtual outcome ext_ccw_translate(const op_ccw_translate&) { return mock_only(); }
  virtual outcome ext_ccw_notify(const op_ccw_notify&) { return mock_only(); }
  virtual outcome ext_ccw_complete(const op_ccw_complete&) { return mock_only(); }

  /// Called after every operation with its result. With `invariants` (--invariants) it
  /// returns what the backend's self-check finds wrong now (each line is reported).
  [[nodiscard]] virtual std::vector<std::string> after_operation(const outcome& /*result*/,
                                                                 bool /*invariants*/) {
    return {};
  }

 protected:
  [[nodiscard]] static outcome mock_only() { return outcome::skip("mock-only"); }
  target() = default;
  target(const target&) = default;
  target& operator=(const target&) = default;
};

}  // namespace vfiopin::scenario

#endif  // VFIOPIN_SCENARIO_TARGET_HPP
