// SPDX-License-Identifier: Apache-2.0
//
// fuzz_ops: operation sequences on one mock type1 container (include/vfiopin/mock/).
//
// Theory of operation. The input is a run configuration and up to ops::max_ops operations
// (fuzz/op_decoder.hpp). One mock::process and one mock::type1 over it, of the kernel
// profile, IOMMU type and geometry the first byte picks, execute them: process operations
// (mmap of anon/memfd/hugetlb/bar/hole regions, read-only or not, munmap, aliases, CPU
// loads and stores, RLIMIT_MEMLOCK and CAP_IPC_LOCK), container operations (attach and
// detach of groups 0..2, MAP_DMA plain and VADDR, UNMAP_DMA plain, ALL, VADDR and
// GET_DIRTY_BITMAP, DIRTY_PAGES START/STOP/GET_BITMAP, GET_INFO, dma_entry_limit) and
// emulated devices (add_device on an emulated or a real group, pin, unpin, remove_device).
// Operands are resolved against the live mappings and regions, so most operations hit
// live state. A device is a consumer that records what it pinned and, when notified of an
// unmap, unpins every page of its that overlaps the range; a "stubborn" device keeps its
// pins (the unmap then ends in errc::pins_retained after 11 notifications). It is the
// replay's `add-device` device (tools/replay/mock_device.hpp), so reproducers share it.
//
// Properties (a violation prints what happened on stderr and traps):
//   1. after every operation, check_invariants() and check_exclusive_process() hold;
//   2. no operation answers a library condition it cannot produce: errc::bogus_page only
//      with a profile that hands out bogus pages, errc::pins_retained only once a stubborn
//      device exists or an unaligned pin's page straddled a mapping's edge (kernel bug K1 in
//      docs/fuzzing.md: its record can become unreachable, and the kernel's unmap then
//      BUGs), never not_page_backed or unknown_errno; a successful pin hands out a
//      page handle for every page; a successful UNMAP ALL leaves no mapping (but one
//      ending at 2^64 - 1 on profiles without full_address_space, spec §10 item 3);
//   3. teardown (each device unpins what it holds and is removed, UNMAP ALL, which must
//      succeed unless a stubborn device left with pins or K1 happened, every group detached, which
//      releases the driver, the container destroyed) leaves no mapping and a quiescent
//      process (no pin) whose locked_vm is the container's documented residual (spec §10
//      H1b: 0 unless unaligned pins met a replay).
// A failure prints the operations run (with operands and errnos) and the state dump;
// VFIOPIN_FUZZ_OPS_TRACE=1 prints the same for every input (to read a reproducer).
// VFIOPIN_TO_VFS=FILE writes the run as a scenario script to FILE, with the failed property
// in its header, instead of trapping (fuzz/ops_vfs.hpp; fuzz/to-vfs).
// Errnos are not checked against anything here: that is the differential targets' job.
// After every operation the harness also reports the operation, whether it failed, the
// armed fail-nth step and a coarse state summary to libFuzzer as an extra feature
// (fuzz/state_feedback.hpp), so inputs that build new states stay in the corpus.
//
// Fail-nth mode (fuzz_fail_nth.cpp compiles this file with VFIOPIN_FUZZ_OPS_FAIL_NTH): after
// the configuration byte, two bytes choose operation k (the byte modulo the number of
// operations in the input, so every k fails one of them) and step n (1..254, small n most
// often: ops::decode_fail_step). The mock's fault injector (mock/fault_injection.hpp:
// allocations, GUP batches, locked_vm charges, IOMMU maps, bitmap copies, the process's
// mmap) is armed at n for operation k only. If k has only S < n fallible steps, the input
// runs again from scratch with step (n - 1) mod S + 1 armed, so every input fails a step.
// When step n is reached, property 4: the operation fails, and the container's state_dump() (mappings, page tables, records, dirty bits, mm locked_vm and pins) equals
// the one before it (spec invariant 24); the exceptions are the kernel's own: an UNMAP
// with GET_DIRTY_BITMAP over several dmas whose later copy fails (the earlier dmas stay
// removed, as in update_user_bitmap); a GET_BITMAP whose copy fails, which leaves the bits
// update_user_bitmap set before it (all of a dma while a real group has not pinned); and a
// pin that fails under dirty tracking, whose pin_unwind leaves the bits of the pages pinned
// before the failure set (vfio_iommu_type1_pin_pages): for those two only the dirty bits may
// differ. A detach is never armed: vfio_iommu_type1_detach_group returns void and
// swallows what fails inside it, leaving the accounting as far as it got. The model's
// `quirk=` accounting note is not compared. Properties 1-3 hold as before, so nothing an unwound operation
// touched may leak.
#include "op_decoder.hpp"
#include "op_mutator.hpp"
#include "ops_common.hpp"
#include "ops_vfs.hpp"
#include "state_feedback.hpp"
#include "../tools/replay/mock_device.hpp"

#include <vfiopin/mock/invariants.hpp>
#include <vfiopin/mock/memory.hpp>
#include <vfiopin/mock/type1.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using namespace vfiopin;
namespace mk = vfiopin::mock;
namespace ops = vfiopin::fuzz::ops;
using ops::max_bitmap_words, ops::max_pin_pages, ops::max_region_bytes, ops::max_touch_bytes, ops::op_names;

constexpr std::array<mk::kernel_profile, 4> profiles{mk::debian_6_1, mk::debian_6_12,
                                                     mk::linux_6_1_31, mk::upstream_2025};


[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "fuzz_ops: property violated: %s\n", what.c_str());
  std::fflush(stderr);
  __builtin_trap();
}

/// An emulated-IOMMU consumer (see the header comment): the replay's `add-device` device,
/// so that a reproducer's devices are this run's by construction.
using consumer = replay::scenario_device;

/// What one executed operation was, for the report of a failure.
struct trace_entry {
  ops::op_kind kind;
  std::uint64_t a, b, c;
  int err;
};

/// An mmap'ed region as the harness sees it.
struct region {
  std::uint64_t start;
  std::uint64_t size;
  mk::region_kind kind;
};

/// The vectors a world fills as it runs, kept from input to input (one set per thread)
/// so that no input grows them from nothing: at thousands of inputs a second, their
/// reallocations were a tenth of the harness's allocations.
struct world_buffers {
  std::vector<region> regions;
  std::vector<ops::extent> maps;
  std::vector<ops::extent> spans;
  std::vector<trace_entry> trace;

  /// This thread's set, emptied for a new world (one world at a time per thread).
  static world_buffers& fresh() {
    thread_local world_buffers b;
    b.regions.clear();
    b.maps.clear();
    b.spans.clear();
    b.trace.clear();
    return b;
  }
};

class world {
 public:
  explicit world(const ops::run_config& cfg)
      : profile_(profiles[cfg.profile % profiles.size()]), buffers_(world_buffers::fresh()) {
    const iommu_type type = cfg.type == 0   ? iommu_type::type1v2
                            : cfg.type == 1 ? iommu_type::type1
                                            : static_cast<iommu_type>(2);
    proc_.set_scatter(cfg.scatter);
    trace_.reserve(ops::max_ops);  // no reallocation per operation
    t_ = std::make_unique<mk::type1<>>(proc_, type, profile_, ops::make_geometry(cfg.geometry));
    if (auto* v = fuzz::ops_vfs::active()) v->begin("fuzz_ops", cfg, profile_.name);
  }

  void run(const ops::op& o, std::size_t step) {
    step_ = step;
    refresh_spans();  // maps_ is the one the previous check_now() left
    if (fail_at_ && fail_at_->op == step) {
      exec_failing(o, fail_at_->step);
    } else {
      exec(o);
    }
    check_now(&o, fail_at_ && fail_at_->op == step ? fail_at_->step : 0);
  }

  /// Fail-nth: operation k fails at its nth fallible step (see the header comment).
  struct fail_point {
    std::size_t op;
    std::uint64_t step;
  };
  /// Fail-nth: the fallible steps operation k took when it ended before step n (else 0).
  [[nodiscard]] std::uint64_t unreached_steps() const noexcept { return unreached_steps_; }
  void fail_nth(fail_point at) {
    fail_at_ = at;
    if (auto* v = fuzz::ops_vfs::active()) v->fail_nth(at.op, at.step);
    t_->set_fault_injector(&injector_);  // and the process's
  }

  /// The operations run so far with their operands and errnos, on stderr.
  void print_trace(bool with_state = false) const {
    std::fprintf(stderr, "fuzz_ops: profile %s, %zu operations run:\n",
                 std::string(profile_.name).c_str(), trace_.size());
    for (std::size_t i = 0; i < trace_.size(); ++i) {
      const auto& e = trace_[i];
      const std::string_view name = errno_name(e.err);
      std::fprintf(stderr, "  %2zu %-13s 0x%llx 0x%llx 0x%llx -> %s (%d)\n", i,
                   op_names[static_cast<std::size_t>(e.kind)],
                   static_cast<unsigned long long>(e.a), static_cast<unsigned long long>(e.b),
                   static_cast<unsigned long long>(e.c),
                   e.err == 0 ? "ok" : name.empty() ? "library" : std::string(name).c_str(), e.err);
    }
    if (with_state && t_) std::fprintf(stderr, "state:\n%s", t_->state_dump().c_str());
  }

  void teardown() {
    if (auto* v = fuzz::ops_vfs::active()) v->teardown();
    step_ = trace_.size();
    for (auto& c : devices_) {
      c->comply();
      c->release();
      t_->remove_device(c->id());
      check_now();
    }
    devices_.clear();
    if (t_->with_state([](const auto& s) { return s.iommu_set; })) {
      auto r = t_->unmap_dma(dma_unmap_request{iova(0), byte_count(0), unmap_flags{.all = true}, {}, {}});
      if (r) expect_unmapped_all();
      else if (!leaked_ && !straddle_seen_)
        fail("teardown: UNMAP ALL failed: errno " + std::to_string(to_errno(r.error())));
      check_now();
    }
    for (std::uint8_t g = 0; g < 4; ++g) {
      (void)t_->detach_group(group_of(g));
      check_now();
    }
    // The last group gone, the driver is released (vfio_iommu_type1_release): nothing left.
    if (t_->with_state([](const auto& s) { return s.iommu_set; })) fail("teardown: driver still set");
    if (t_->mapping_count() != 0) fail("teardown: mappings left");
    const std::uint64_t residual = t_->with_state([](const auto& s) { return s.residual_locked; });
    t_.reset();
    if (!proc_.quiescent())
      fail("teardown: " + std::to_string(proc_.total_pins()) + " pins left in the process");
    if (proc_.locked_vm().value() != residual)
      fail("teardown: locked_vm " + std::to_string(proc_.locked_vm().value()) +
           " pages, expected the residual " + std::to_string(residual));
  }

 private:
  void refresh_spans() {
    spans_.clear();
    for (const auto& r : regions_) spans_.push_back({r.start, r.start + r.size - 1});
  }

  /// Groups 0..2, and 3: the id the first emulated group gets.
  [[nodiscard]] static group_id group_of(std::uint8_t g) { return group_id{g < 3 ? g : 0x80000000U}; }
  [[nodiscard]] std::uint64_t iova_of(const ops::address_operand& a) const {
    return ops::resolve(a, maps_, ops::fixed_iovas);
  }
  [[nodiscard]] std::uint64_t vaddr_of(const ops::address_operand& a) const {
    return ops::resolve(a, spans_, ops::fixed_vaddrs);
  }
  [[nodiscard]] consumer* device_at(std::uint8_t index) const {
    if (devices_.empty() || index >= 240) return nullptr;
    return devices_[index % devices_.size()].get();
  }
  [[nodiscard]] device_id id_of(const consumer* c, std::uint8_t index) const {
    return c != nullptr ? c->id() : device_id{index};  // an id never handed out (or gone)
  }

  void record(const ops::op& o, std::uint64_t a, std::uint64_t b, std::uint64_t c, int err) {
    trace_.push_back(trace_entry{o.kind, a, b, c, err});
    if (auto* v = fuzz::ops_vfs::active()) v->op(o, a, b, c, err);
  }
  template <class T>
  void note(const ops::op& o, const result<T>& r, std::uint64_t a = 0, std::uint64_t b = 0,
            std::uint64_t c = 0) {
    if (auto* v = fuzz::ops_vfs::active()) v->result(r);
    record(o, a, b, c, r ? 0 : r.error().value());
    if (r) return;
    const auto e = static_cast<errc>(r.error().value());
    if (e == errc::bogus_page && profile_.pfnmap_pin != mk::pfnmap_pin_behaviour::bogus_page)
      fail("bogus_page with a profile that has the pfn_valid check");
    if (e == errc::pins_retained && !stubborn_seen_ && !straddle_seen_)
      fail("pins_retained without a stubborn device or a straddling pin");
    if (e == errc::not_page_backed || e == errc::unknown_errno)
      fail("a library condition no container operation answers");
  }

  void exec(const ops::op& o) {
    using ops::op_kind;
    switch (o.kind) {
      case op_kind::attach: note(o, t_->attach_group(group_of(o.group)), o.group); break;
      case op_kind::detach: note(o, t_->detach_group(group_of(o.group)), o.group); break;
      case op_kind::mmap: {
        const auto kind = static_cast<mk::region_kind>(o.region);
        std::uint64_t size = ops::resolve(o.size, 0, {});
        if (kind != mk::region_kind::hole && size > max_region_bytes &&
            size <= mk::process::max_region_size.value())
          size = max_region_bytes;  // bounded work; past 64 GiB stays (ENOMEM)
        auto r = proc_.map_region(kind, byte_count(size), o.read_only);
        note(o, r, size, o.region, o.read_only);
        if (r) regions_.push_back({r->value(), proc_.region_at(*r)->size.value(), kind});
        break;
      }
      case op_kind::munmap:
      case op_kind::alias: {
        if (regions_.empty()) { record(o, 0, 0, 0, 0); break; }
        const auto index = o.from.index % regions_.size();
        const region r = regions_[index];
        if (o.kind == op_kind::munmap) {
          proc_.unmap_region(vaddr(r.start));
          regions_.erase(regions_.begin() + static_cast<std::ptrdiff_t>(index));
          record(o, r.start, 0, 0, 0);
          break;
        }
        auto a = proc_.map_alias(vaddr(r.start), o.read_only);
        note(o, a, r.start);
        if (a) regions_.push_back({a->value(), r.size, r.kind});
        break;
      }
      case op_kind::touch: {
        static const std::vector<std::byte> zeros(max_touch_bytes);
        static std::vector<std::byte> sink(max_touch_bytes);
        const std::uint64_t va = vaddr_of(o.from);
        const std::size_t len = static_cast<std::size_t>(
            std::min<std::uint64_t>(ops::resolve(o.size, va, spans_), max_touch_bytes));
        if (o.flag) note(o, proc_.write(vaddr(va), std::span(zeros).first(len)), va, len);
        else note(o, proc_.read(vaddr(va), std::span(sink).first(len)), va, len);
        break;
      }
      case op_kind::map: {
        const std::uint64_t at = iova_of(o.at);
        const std::uint64_t va = vaddr_of(o.from);
        const std::uint64_t size = ops::resolve(o.size, va, spans_);
        note(o, t_->map_dma(dma_map_request{iova(at), vaddr(va), byte_count(size), o.access, false}),
             at, va, size);
        break;
      }
      case op_kind::map_vaddr: {
        const std::uint64_t at = iova_of(o.at);
        const std::uint64_t va = vaddr_of(o.from);
        const std::uint64_t size = ops::resolve(o.size, at, maps_);
        const prot p = o.flag ? prot::read_write : prot::none;
        note(o, t_->map_dma(dma_map_request{iova(at), vaddr(va), byte_count(size), p, true}), at,
             va, size);
        break;
      }
      case op_kind::unmap:
      case op_kind::unmap_vaddr: {
        const std::uint64_t at = iova_of(o.at);
        const std::uint64_t size = ops::resolve(o.size, at, maps_);
        const unmap_flags f{.vaddr = o.kind == op_kind::unmap_vaddr};
        note(o, t_->unmap_dma(dma_unmap_request{iova(at), byte_count(size), f, {}, {}}), at, size);
        break;
      }
      case op_kind::unmap_all: {
        const std::uint64_t size = o.flag ? page_bytes : 0;
        auto r = t_->unmap_dma(dma_unmap_request{iova(0), byte_count(size), unmap_flags{.all = true}, {}, {}});
        note(o, r, size);
        if (r) expect_unmapped_all();
        break;
      }
      case op_kind::unmap_dirty:
      case op_kind::dirty_get: {
        static std::vector<std::uint64_t> bitmap(max_bitmap_words);
        const std::uint64_t at = iova_of(o.at);
        const std::uint64_t size = ops::resolve(o.size, at, maps_);
        const std::uint64_t shift = o.value == 0 ? 0 : static_cast<std::uint64_t>(std::countr_zero(o.value));
        std::size_t words = static_cast<std::size_t>(
            std::min<std::uint64_t>(((size >> shift) + 63) / 64, max_bitmap_words));
        if (o.flag && words > 0) --words;
        std::fill_n(bitmap.begin(), words, 0);
        const std::span<std::uint64_t> out(bitmap.data(), words);
        if (auto* v = fuzz::ops_vfs::active()) v->bitmap(out);
        if (o.kind == op_kind::dirty_get) {
          note(o, t_->dirty_bitmap(iova(at), byte_count(size), byte_count(o.value), out), at, size, o.value);
        } else {
          note(o, t_->unmap_dma(dma_unmap_request{iova(at), byte_count(size),
                                                  unmap_flags{.get_dirty_bitmap = true},
                                                  byte_count(o.value), out}),
               at, size, o.value);
        }
        break;
      }
      case op_kind::dirty_start: note(o, t_->dirty_start()); break;
      case op_kind::dirty_stop: note(o, t_->dirty_stop()); break;
      case op_kind::entry_limit:
        t_->set_dma_entry_limit(static_cast<std::uint32_t>(o.value));
        record(o, o.value, 0, 0, 0);
        break;
      case op_kind::memlock:
        proc_.set_memlock_limit(o.flag ? std::nullopt
                                       : std::optional(byte_count(o.value * page_bytes)));
        proc_.set_cap_ipc_lock(false);
        record(o, o.flag ? ~std::uint64_t{0} : o.value, 0, 0, 0);
        break;
      case op_kind::cap_restore:
        proc_.set_cap_ipc_lock(true);
        if (o.flag) proc_.set_memlock_limit(std::nullopt);
        record(o, o.flag, 0, 0, 0);
        break;
      case op_kind::add_emulated:
      case op_kind::add_real: {
        auto c = std::make_unique<consumer>(*t_, device_id{}, consumer::kind::fuzz, o.stubborn);
        auto r = o.kind == op_kind::add_emulated
                     ? t_->add_device(dma_unmap_callback(*c))
                     : t_->add_device(group_of(o.group), dma_unmap_callback(*c));
        note(o, r, o.group, o.stubborn);
        if (r) {
          c->set_id(*r);
          stubborn_seen_ |= o.stubborn;
          devices_.push_back(std::move(c));
        }
        break;
      }
      case op_kind::remove_device: {
        consumer* c = device_at(o.device);
        if (c == nullptr) {
          t_->remove_device(device_id{o.device});  // unknown: a warning, nothing else
          record(o, o.device, 0, 0, 0);
          break;
        }
        if (c->stubborn()) leaked_ |= c->holds_pins();
        else c->release();
        t_->remove_device(c->id());
        record(o, c->id().value, 0, 0, 0);
        std::erase_if(devices_, [&](const auto& p) { return p.get() == c; });
        break;
      }
      case op_kind::pin: {
        static std::vector<page_handle> handles(max_pin_pages);
        consumer* c = device_at(o.device);
        const std::uint64_t at = iova_of(o.at);
        const std::uint64_t n = o.value;
        const std::span<page_handle> out(handles.data(), std::min<std::uint64_t>(n, max_pin_pages));
        std::fill(out.begin(), out.end(), page_handle{});
        auto r = t_->pin_pages(id_of(c, o.device), iova(at), page_count(n), o.access, out);
        note(o, r, at, n, id_of(c, o.device).value);
        if (r) {
          if (c == nullptr) fail("pin_pages succeeded for an unknown device");
          for (std::uint64_t i = 0; i < n; ++i)
            if (out[i].empty()) fail_with("pin_pages succeeded without a handle for page ", i);
          c->pinned(at, n);
          straddle_seen_ |= straddles(at, n);
        }
        break;
      }
      case op_kind::unpin: {
        consumer* c = device_at(o.device);
        std::uint64_t at = iova_of(o.at);
        if (o.flag && c != nullptr) at = c->nth_key(o.from.index).value_or(at);
        if (c != nullptr) c->unpin(at, o.value);
        else t_->unpin_pages(device_id{o.device}, iova(at), page_count(o.value));
        record(o, at, o.value, id_of(c, o.device).value, 0);
        break;
      }
      case op_kind::info: note(o, t_->info()); break;
    }
  }

  /// After a successful UNMAP ALL no mapping is left, except one ending at 2^64 - 1 on a
  /// kernel whose lookups compute iova + size in 64 bits (profile full_address_space off:
  /// such a mapping is invisible to vfio_find_dma_first_node, spec §10 item 3).
  void expect_unmapped_all() {
    const bool ok = t_->with_state([&](const auto& s) {
      bool all_gone = true;
      s.dmas.for_each([&](std::uint64_t, const auto& d) {
        all_gone &= !profile_.full_address_space && d.last() == ~std::uint64_t{0};
      });
      return all_gone;
    });
    if (!ok) fail("UNMAP ALL succeeded and left mappings");
  }

  /// Known kernel bug K1 (docs/fuzzing.md): an unaligned pin whose page [key, key + 4 KiB)
  /// is not inside one mapping. Its record may later be out of reach of vfio_find_dma
  /// (another dma qualifies first), so no unpin releases it and the unmap BUGs; the mock
  /// answers pins_retained there. From then on pins_retained is no property violation.
  [[nodiscard]] bool straddles(std::uint64_t at, std::uint64_t n) const {
    if ((at & (page_bytes - 1)) == 0) return false;
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t key = at + i * page_bytes;
      const bool inside = std::any_of(maps_.begin(), maps_.end(), [&](const ops::extent& m) {
        return m.first <= key && key <= m.last && m.last - key >= page_bytes - 1;
      });
      if (!inside) return true;
    }
    return false;
  }

  void exec_failing(const ops::op& o, std::uint64_t n) {
    // vfio_iommu_type1_detach_group returns void: what fails inside it (a charge of the
    // reaccounting, a map of the replay's unwind) is swallowed and leaves the accounting as
    // far as it got, so no property of the model could hold after it. A detach runs unarmed.
    if (o.kind == ops::op_kind::detach) {
      exec(o);
      return;
    }
    const std::string before = t_->state_dump();
    const std::size_t regions = regions_.size();
    injector_.arm(n);
    exec(o);
    const bool fired = injector_.fired();
    const std::uint64_t steps = injector_.steps();
    injector_.disarm();
    if (!fired) {
      unreached_steps_ = steps;
      return;
    }
    if (trace_.back().err == 0) fail_with("an operation whose step ", n, " failed succeeded");
    if (o.kind == ops::op_kind::unmap_dirty) return;  // the kernel's own partial case
    if (regions_.size() != regions) fail("a failed mmap added a region");
    std::string after = t_->state_dump();
    std::string was = before;
    // `quirk=` is the model's note that a dma's accounting follows the kernel's unaligned
    // record counting (it relaxes invariant 14), not kernel state: a replay that charged such
    // records and then failed leaves the note set.
    without_quirk_note(was);
    without_quirk_note(after);
    if (o.kind == ops::op_kind::dirty_get || o.kind == ops::op_kind::pin) {  // the kernel's own
      without_dirty_lines(was);
      without_dirty_lines(after);
      if (after != was)
        fail("state changed by a pin or GET_BITMAP that failed at step " + std::to_string(n) +
             ":\nbefore:\n" + before + "after:\n" + after);
      return;
    }
    if (after != was)
      fail("state changed by an operation that failed at step " + std::to_string(n) +
           ":\nbefore:\n" + before + "after:\n" + after);
  }

  /// Turns every " quirk=1" of a state dump into " quirk=0".
  static void without_quirk_note(std::string& dump) {
    for (std::size_t at = dump.find(" quirk=1"); at != std::string::npos; at = dump.find(" quirk=1", at))
      dump[at + 7] = '0';
  }

  /// Removes a state dump's dirty-bit lines ("  dirty ...").
  static void without_dirty_lines(std::string& dump) {
    std::string out;
    std::size_t at = 0;
    while (at < dump.size()) {
      std::size_t end = dump.find('\n', at);
      end = end == std::string::npos ? dump.size() : end + 1;
      if (dump.compare(at, 8, "  dirty ") != 0) out.append(dump, at, end - at);
      at = end;
    }
    dump = std::move(out);
  }

  /// Property 1, under the one container lock that also reads what the next operation
  /// needs: the live mappings its operands resolve against (maps_) and, after operation o,
  /// the state summary of the state feedback (fuzz/state_feedback.hpp), marked with o, its
  /// outcome and the fail-nth step it was armed with.
  void check_now(const ops::op* o = nullptr, std::uint64_t armed_step = 0) {
    if (!t_) return;
    fuzz::state_summary summary;
    const auto v = mk::check_invariants_exclusive(*t_, [&](const auto& s) {
      ops::mapping_extents_of(s, maps_);
      if (o != nullptr) summary = fuzz::container_summary_of(s);
    });
    if (o != nullptr) {
      const bool pins = std::any_of(devices_.begin(), devices_.end(),
                                    [](const auto& c) { return c->holds_pins(); });
      fuzz::note_state(summary, static_cast<unsigned>(o->kind), trace_.back().err != 0,
                       armed_step, devices_.size(), pins);
    }
    if (!v.empty()) fail_invariants(v);
  }

  // The failure paths are out of line and take no std::string from their callers: a
  // std::string temporary in exec() or check_now() would give their frames ASan redzones
  // and a fake stack frame on every call, not only when something fails.
  [[noreturn, gnu::cold, gnu::noinline]] void fail_invariants(const std::vector<std::string>& v) {
    std::string all = "invariants after step " + std::to_string(step_) + ":";
    for (const auto& line : v) all += "\n  " + line;
    fail(all);
  }
  /// fail(what + n in decimal + rest).
  [[noreturn, gnu::cold, gnu::noinline]] void fail_with(const char* what, std::uint64_t n,
                                                        const char* rest = "") {
    fail(std::string(what) + std::to_string(n) + rest);
  }
  [[noreturn, gnu::cold, gnu::noinline]] void fail(const char* what) { fail(std::string(what)); }
  [[noreturn, gnu::cold, gnu::noinline]] void fail(const std::string& what) {
    if (auto* v = fuzz::ops_vfs::active()) v->finish(what), std::_Exit(0);  // to-vfs: no trap
    print_trace(true);
    die(what);
  }


  mk::kernel_profile profile_;
  mk::fault_injector injector_;  // before proc_ and t_, which point to it
  mk::process proc_;
  std::unique_ptr<mk::type1<>> t_;
  std::vector<std::unique_ptr<consumer>> devices_;
  world_buffers& buffers_;
  std::vector<region>& regions_ = buffers_.regions;
  std::vector<ops::extent>& maps_ = buffers_.maps;
  std::vector<ops::extent>& spans_ = buffers_.spans;
  std::vector<trace_entry>& trace_ = buffers_.trace;
  std::size_t step_ = 0;
  bool stubborn_seen_ = false;
  bool straddle_seen_ = false;  // see straddles()
  bool leaked_ = false;
  std::optional<fail_point> fail_at_;
  std::uint64_t unreached_steps_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vfiopin::fuzz::fuzz_input in(data, size);
  const ops::run_config cfg = ops::decode_config(in);
  static const bool trace = std::getenv("VFIOPIN_FUZZ_OPS_TRACE") != nullptr;
#if defined(VFIOPIN_FUZZ_OPS_FAIL_NTH)
  // Every k names an operation of the input: decode them all first (decoding reads bytes
  // only, so this changes no operation's meaning). If operation k ends before step n (it
  // has S < n fallible steps), that run was a plain fuzz_ops run, checked as such; a
  // second run, from scratch, fails step (n - 1) mod S + 1 of it, so every input injects.
  const auto k = in.draw<std::uint8_t>();
  std::uint64_t n = ops::decode_fail_step(in.draw<std::uint8_t>());
  std::vector<ops::op> list;
  list.reserve(ops::max_ops);
  while (list.size() < ops::max_ops && !in.empty()) list.push_back(ops::decode_op(in));
  for (int attempt = 0; attempt < 2; ++attempt) {
    world w(cfg);
    if (!list.empty()) w.fail_nth({k % list.size(), n});
    for (std::size_t i = 0; i < list.size(); ++i) w.run(list[i], i);
    if (trace) w.print_trace(true);
    w.teardown();
    const std::uint64_t steps = w.unreached_steps();
    if (steps == 0) break;  // step n failed, or operation k has no fallible step
    n = (n - 1) % steps + 1;
  }
#else
  world w(cfg);
  for (std::size_t i = 0; i < ops::max_ops && !in.empty(); ++i) w.run(ops::decode_op(in), i);
  if (trace) w.print_trace(true);
  w.teardown();
#endif
  if (auto* v = vfiopin::fuzz::ops_vfs::active()) v->finish({});
  return 0;
}

/// Whole-operation mutations besides libFuzzer's own (fuzz/op_mutator.hpp).
extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size,
                                               std::size_t max_size, unsigned seed) {
#if defined(VFIOPIN_FUZZ_OPS_FAIL_NTH)
  return ops::mutate_ops_input(data, size, max_size, seed, 2);  // k and n
#else
  return ops::mutate_ops_input(data, size, max_size, seed);
#endif
}
