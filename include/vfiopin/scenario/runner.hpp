// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/scenario/runner.hpp: runs a parsed script on a target and prints the results.
//
// Theory of operation. run() gives the target a fresh state (target::reset), then executes
// the statements in order, printing exactly one line per operation on `out`:
//   - the result (outcome.hpp's to_string), or with --echo `<canonical text> => <result>`,
//     so the echo output is itself a checked scenario;
//   - with --check, every statement that carries `=> expected` is compared with its result
//     as text, and each mismatch is reported on `diag` as
//     `FILE:LINE: expected 'X', got 'Y'`; running goes on after a mismatch, so one run
//     shows them all.
//   - after every statement target::after_operation(); with --invariants each line it
//     returns (the model's self-check) is reported on `diag` as `FILE:LINE: invariant: TEXT`, and the run
//     counts as a mismatch (exit 1).
// After the last statement the target is reset again (the default dma_entry_limit is
// restored after each file).
//
// The runner owns the backend-independent conventions of the format:
//   - region bookkeeping: each `mem` name gets a status from its own result (ok -> live,
//     err -> failed, skip -> skipped) and every later use is handed to the target with a
//     `region` view; a `container` line releases live bar regions;
//   - skip propagation: a use of a name whose `mem` printed `skip WORD` prints the same
//     `skip WORD` without reaching the target. The runner extends this to emulated
//     devices: `pin`/`unpin` of a device whose `emulated` line printed `skip WORD` print
//     that word too (the format leaves this case open; a skipped device cannot pin).
// A target that throws (it cannot run at all, e.g. no /dev/vfio) ends the run: the message
// goes to `diag` as `FILE:LINE: backend failure: ...` and the status is `failed`.
#ifndef VFIOPIN_SCENARIO_RUNNER_HPP
#define VFIOPIN_SCENARIO_RUNNER_HPP

#include <vfiopin/scenario/ast.hpp>
#include <vfiopin/scenario/outcome.hpp>
#include <vfiopin/scenario/target.hpp>

#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace vfiopin::scenario {

/// The command-line switches that change what run() prints.
struct options {
  bool echo = false;   ///< print `<operation> => <result>` instead of the bare result
  bool check = false;  ///< compare results with `=> expected` and report mismatches
  bool invariants = false;  ///< report target::after_operation() findings after each operation
};

/// How a run ended, ordered by severity; exit_code() gives the process status.
enum class run_status : std::uint8_t {
  ok = 0,        ///< everything ran (and, with --check, matched)
  mismatch = 1,  ///< --check found at least one result that differs from its expectation
  failed = 2,    ///< the backend could not run the file
};

[[nodiscard]] constexpr int exit_code(run_status s) noexcept { return static_cast<int>(s); }

/// The more severe of two statuses.
[[nodiscard]] constexpr run_status worst(run_status a, run_status b) noexcept {
  return static_cast<std::uint8_t>(a) >= static_cast<std::uint8_t>(b) ? a : b;
}

namespace detail {

/// Executes one statement at a time and keeps the region and device tables of one file.
class executor {
 public:
  explicit executor(target& t) : target_(t) {}

  outcome operator()(const op_container& op) { return (*this)(op, target_.container(op)); }
  outcome operator()(const op_entry_limit& op) { return target_.entry_limit(op); }
  outcome operator()(const op_memlock& op) { return target_.memlock(op); }
  outcome operator()(const op_attach& op) { return target_.attach(op); }
  outcome operator()(const op_detach& op) { return target_.detach(op); }
  outcome operator()(const op_mem& op) { return declare(op, target_.mem(op)); }
  outcome operator()(const op_fill& op) { return use(op, &target::fill); }
  outcome operator()(const op_map& op) { return use(op, &target::map); }
  outcome operator()(const op_map_vaddr& op) { return use(op, &target::map_vaddr); }
  outcome operator()(const op_unmap& op) { return target_.unmap(op); }
  outcome operator()(const op_unmap_all& op) { return target_.unmap_all(op); }
  outcome operator()(const op_unmap_vaddr& op) { return target_.unmap_vaddr(op); }
  outcome operator()(const op_unmap_dirty& op) { return target_.unmap_dirty(op); }
  outcome operator()(const op_info& op) { return target_.info(op); }
  outcome operator()(const op_locked& op) { return target_.locked(op); }
  outcome operator()(const op_dirty_start& op) { return target_.dirty_start(op); }
  outcome operator()(const op_dirty_stop& op) { return target_.dirty_stop(op); }
  outcome operator()(const op_dirty_get& op) { return target_.dirty_get(op); }
  outcome operator()(const op_dma_read& op) { return use(op, &target::dma_read); }
  outcome operator()(const op_dma_write& op) { return target_.dma_write(op); }
  outcome operator()(const op_check& op) { return use(op, &target::check); }
  outcome operator()(const op_emulated& op) { return new_device(op.device, target_.emulated(op)); }
  outcome operator()(const op_pin& op) { return device(op, &target::pin); }
  outcome operator()(const op_unpin& op) { return device(op, &target::unpin); }

  // ---- extensions ----
  outcome operator()(const op_kernel& op) { return target_.ext_kernel(op); }
  outcome operator()(const op_geometry& op) { return target_.ext_geometry(op); }
  outcome operator()(const op_scatter& op) { return target_.ext_scatter(op); }
  outcome operator()(const op_container_type& op) { return (*this)(op_container{}, target_.ext_container_type(op)); }
  outcome operator()(const op_attach_group& op) { return target_.ext_attach_group(op); }
  outcome operator()(const op_detach_group& op) { return target_.ext_detach_group(op); }
  outcome operator()(const op_mmap& op) {
    return declare(op_mem{op.name, op.kind, op.size, op.read_only}, target_.ext_mmap(op));
  }
  outcome operator()(const op_munmap& op) { return use(op, &target::ext_munmap); }
  outcome operator()(const op_alias& op) {
    const op_alias source{op.source, op.source, op.read_only};
    const auto it = regions_.find(op.source);
    const outcome o = use(source, &target::ext_alias, &op);
    op_mem decl = it != regions_.end() ? it->second.decl : op_mem{};
    decl.name = op.name;
    decl.read_only = op.read_only;
    return declare(decl, o);
  }
  outcome operator()(const op_vaddr& op) {
    return declare(op_mem{op.name, mem_kind::hole, 0, false}, target_.ext_vaddr(op));
  }
  outcome operator()(const op_touch& op) { return use(op, &target::ext_touch); }
  outcome operator()(const op_memlock_unlimited& op) { return target_.ext_memlock_unlimited(op); }
  outcome operator()(const op_cap_restore& op) { return target_.ext_cap_restore(op); }
  outcome operator()(const op_unmap_all_range& op) { return target_.ext_unmap_all_range(op); }
  outcome operator()(const op_dirty_bitmap& op) { return target_.ext_dirty_bitmap(op); }
  outcome operator()(const op_unmap_dirty_bitmap& op) { return target_.ext_unmap_dirty_bitmap(op); }
  outcome operator()(const op_add_device& op) { return new_device(op.device, target_.ext_add_device(op)); }
  outcome operator()(const op_remove_device& op) { return device(op, &target::ext_remove_device); }
  outcome operator()(const op_device_id& op) { return new_device(op.device, target_.ext_device_id(op)); }
  outcome operator()(const op_teardown& op) { return target_.ext_teardown(op); }
  outcome operator()(const op_fail_nth& op) { return target_.ext_fail_nth(op); }
  outcome operator()(const op_map_vaddr_prot& op) { return use(op, &target::ext_map_vaddr_prot); }
  outcome operator()(const op_ccw_setup& op) { return target_.ext_ccw_setup(op); }
  outcome operator()(const op_ccw_write& op) { return target_.ext_ccw_write(op); }
  outcome operator()(const op_ccw_translate& op) { return target_.ext_ccw_translate(op); }
  outcome operator()(const op_ccw_notify& op) { return target_.ext_ccw_notify(op); }
  outcome operator()(const op_ccw_complete& op) { return target_.ext_ccw_complete(op); }

 private:
  enum class state : std::uint8_t { live, failed, released, skipped };
  struct entry {
    op_mem decl;
    state status = state::live;
    std::string skip_word;
  };

  /// A new region name: its state comes from the outcome of the line that declared it.
  outcome declare(const op_mem& decl, outcome o) {
    entry& e = regions_[decl.name];
    e.decl = decl;
    e.status = o.is_ok() ? state::live : o.is_err() ? state::failed : state::skipped;
    e.skip_word = o.is_skip() ? o.skip_word() : std::string();
    return o;
  }
  /// `container-type` is a `container` line to the runner: live bar regions are released.
  outcome operator()(const op_container&, outcome o) {
    for (auto& named : regions_) {
      entry& e = named.second;
      if (e.decl.kind == mem_kind::bar && e.status == state::live) e.status = state::released;
    }
    return o;
  }
  /// A device number's skip state follows the outcome of the line that made it.
  outcome new_device(std::uint64_t device, outcome o) {
    if (o.is_skip()) {
      skipped_devices_[device] = o.skip_word();
    } else {
      skipped_devices_.erase(device);
    }
    return o;
  }

  /// A use of region op.name; `as` (when given) is the operation handed to the target.
  template <class Op>
  outcome use(const Op& op, outcome (target::*call)(const Op&, const region&),
              const Op* as = nullptr) {
    const auto it = regions_.find(op.name);
    if (it == regions_.end()) {
      throw std::logic_error("region '" + op.name + "' used before its 'mem' line");
    }
    const entry& e = it->second;
    if (e.status == state::skipped) return outcome::skip(e.skip_word);
    const region r{it->first, e.decl.kind, e.decl.size, e.decl.read_only,
                   e.status == state::live     ? region_status::live
                   : e.status == state::failed ? region_status::failed
                                               : region_status::released};
    return (target_.*call)(as != nullptr ? *as : op, r);
  }

  template <class Op>
  outcome device(const Op& op, outcome (target::*call)(const Op&)) {
    if (const auto it = skipped_devices_.find(op.device); it != skipped_devices_.end()) {
      return outcome::skip(it->second);
    }
    return (target_.*call)(op);
  }

  target& target_;
  std::map<std::string, entry, std::less<>> regions_;
  std::map<std::uint64_t, std::string> skipped_devices_;
};

/// After a failure: one more reset, so the next file (if any) starts clean; its own
/// failure is not reported again.
inline void reset_quietly(target& t) noexcept {
  try {
    t.reset();
  } catch (...) {  // NOLINT(bugprone-empty-catch): the first failure was already reported
  }
}

}  // namespace detail

/// Runs one script on `t` (see the header comment). Never throws for a throwing target.
inline run_status run(const script& s, target& t, const options& opt, std::ostream& out,
                      std::ostream& diag) {
  run_status status = run_status::ok;
  std::size_t line = 0;
  try {
    t.reset();
    detail::executor exec(t);
    for (const statement& st : s.statements) {
      line = st.line;
      const outcome done = std::visit(exec, st.op);
      const std::string result = to_string(done);
      if (opt.echo) out << st.text << " => ";
      out << result << '\n';
      if (opt.check && st.expected && *st.expected != result) {
        diag << s.file_name << ':' << st.line << ": expected '" << *st.expected << "', got '"
             << result << "'\n";
        status = run_status::mismatch;
      }
      for (const std::string& v : t.after_operation(done, opt.invariants)) {
        diag << s.file_name << ':' << st.line << ": invariant: " << v << '\n';
        status = run_status::mismatch;
      }
    }
    line = 0;
    t.reset();
  } catch (const std::exception& e) {
    diag << s.file_name << ':' << line << ": backend failure: " << e.what() << '\n';
    detail::reset_quietly(t);
    return run_status::failed;
  } catch (...) {
    diag << s.file_name << ':' << line << ": backend failure: unknown exception\n";
    detail::reset_quietly(t);
    return run_status::failed;
  }
  return status;
}

/// Runs several scripts in order, outputs concatenated; stops at the first failed one.
inline run_status run_all(const std::vector<script>& scripts, target& t, const options& opt,
                          std::ostream& out, std::ostream& diag) {
  run_status status = run_status::ok;
  for (const script& s : scripts) {
    status = worst(status, run(s, t, opt, out, diag));
    if (status == run_status::failed) break;
  }
  return status;
}

}  // namespace vfiopin::scenario

#endif  // VFIOPIN_SCENARIO_RUNNER_HPP
