// SPDX-License-Identifier: Apache-2.0
//
// fuzz_diff_ref: the op stream of fuzz_ops on the mock type1 container AND on an independent,
// page-granular reference (fuzz/reference/), which must agree on everything observable.
//
// Theory of operation. The input is decoded by op_decoder.hpp exactly as fuzz_ops does
// (configuration byte, then up to ops::max_ops operations) and operands are resolved against
// the mock's live mappings and the process's regions. Each operation runs on both models:
//   process    mmap/munmap/alias/touch run on the mock::process (the environment); the
//              reference memory (ref_memory.hpp) is told where regions landed and which
//              stores succeeded, and from then on answers GUP itself.
//   container  attach/detach, MAP (plain, VADDR), UNMAP (plain, ALL, VADDR, GET_DIRTY_BITMAP),
//              DIRTY_PAGES START/STOP/GET, GET_INFO, dma_entry_limit, RLIMIT_MEMLOCK and
//              CAP_IPC_LOCK, emulated and real-group devices that pin, unpin and are removed.
//   devices    each device is mirrored: one holder per model records its pins and, when
//              notified of an unmap, unpins what it holds in the range (a stubborn one keeps
//              everything, so the unmap ends in pins_retained after 11 notifications).
// After every operation (and every teardown step) these must be equal, else the target
// prints the trace and both states and traps: the errno (or 0); UNMAP's reported size; the
// user dirty bitmap words; GET_INFO's pgsizes, IOVA ranges, dma_avail and migration cap;
// per pinned page "zero page or not"; the notifications each device received; whether an
// unpin WARNed; the mappings (iova, last, vaddr, iommu_mapped, vaddr_invalid); locked_vm;
// and the GUP pins the process holds (pin conservation, spec invariant 13).
// The subset (what the reference models, see ref_type1.hpp): kernel profiles debian-6.1,
// debian-6.12 and linux-6.1.31 (the byte's upstream-2025 runs as debian-6.1); geometry 2's
// 64 KiB-page group 2 is never attached, nor is a first domain whose replay would map a dma
// outside its aperture (iommu_map fails at a chunk that depends on physical contiguity);
// container requests whose range ends exactly at
// 2^64 - 1 are skipped, as are pins and unpins with a page straddling a mapping's edge or
// crossing 2^64. A skipped operation runs on neither model and shows as "skip" in the trace.
// After every operation the mock's outcome and state summary go to libFuzzer as an extra
// feature (fuzz/state_feedback.hpp), as in fuzz_ops.
// VFIOPIN_FUZZ_DIFF_TRACE=1 prints every input's trace. VFIOPIN_TO_VFS=FILE writes the run
// as a scenario script whose expectations are the reference's (fuzz/ops_vfs.hpp, to-vfs).
#include "op_decoder.hpp"
#include "op_mutator.hpp"
#include "ops_common.hpp"
#include "ops_vfs.hpp"
#include "reference/ref_type1.hpp"
#include "state_feedback.hpp"

#include <vfiopin/mock/memory.hpp>
#include <vfiopin/mock/type1.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace vfiopin;
namespace mk = vfiopin::mock;
namespace ops = vfiopin::fuzz::ops;
using ops::max_bitmap_words, ops::max_pin_pages, ops::max_region_bytes, ops::max_touch_bytes, ops::op_names;
namespace ref = vfiopin::fuzz::ref;

constexpr std::array<mk::kernel_profile, 4> profiles{mk::debian_6_1, mk::debian_6_12,
                                                     mk::linux_6_1_31, mk::debian_6_1};


unsigned prot_bits(prot p) { return (includes(p, prot::read) ? 1U : 0U) | (includes(p, prot::write) ? 2U : 0U); }

/// What one device holds in one model, and what it was told.
class holder {
 public:
  std::function<bool(std::uint64_t, std::uint64_t)> unpin;  ///< false: the kernel WARNed
  std::map<std::uint64_t, std::uint32_t> held;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> told;
  bool stubborn = false;

  void pinned(std::uint64_t at, std::uint64_t n) {
    for (std::uint64_t i = 0; i < n; ++i) ++held[at + i * page_bytes];
  }
  bool unpin_range(std::uint64_t at, std::uint64_t n) {
    if (!unpin(at, n)) return false;
    for (std::uint64_t i = 0; i < n; ++i) {
      auto it = held.find(at + i * page_bytes);
      if (it != held.end() && --it->second == 0) held.erase(it);
    }
    return true;
  }
  void unpin_all() {
    const auto all = std::exchange(held, {});
    for (const auto& [key, count] : all)
      for (std::uint32_t i = 0; i < count; ++i) (void)unpin(key, 1);
  }
  void unmapped(std::uint64_t first, std::uint64_t last) {
    told.emplace_back(first, last);
    if (stubborn) return;
    std::vector<std::pair<std::uint64_t, std::uint32_t>> drop;
    for (auto it = held.begin(); it != held.end();) {
      if (it->first <= last && (it->first >= first || first - it->first < page_bytes)) {
        drop.emplace_back(*it);
        it = held.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& [key, count] : drop)
      for (std::uint32_t i = 0; i < count; ++i) (void)unpin(key, 1);
  }
  void operator()(interval<iova> r) noexcept { unmapped(r.first().value(), r.last().value()); }
};

struct device {
  holder m, r;
  device_id mock_id{};
  std::uint32_t ref_id = 0;
};

struct trace_entry {
  ops::op_kind kind;
  std::uint64_t a, b, c;
  int mock_err, ref_err;
  bool skipped;
};

class world {
 public:
  explicit world(const ops::run_config& cfg)
      : profile_(profiles[cfg.profile % profiles.size()]), geometry_(cfg.geometry),
        ref_(rmem_, cfg.type, profile_, ops::make_geometry(cfg.geometry)) {
    const iommu_type type = cfg.type == 0   ? iommu_type::type1v2
                            : cfg.type == 1 ? iommu_type::type1
                                            : static_cast<iommu_type>(2);
    proc_.set_scatter(cfg.scatter);
    t_ = std::make_unique<mk::type1<>>(proc_, type, profile_, ops::make_geometry(cfg.geometry));
    if (auto* v = fuzz::ops_vfs::active()) v->begin("fuzz_diff_ref", cfg, profile_.name);
  }

  void run(const ops::op& o) {
    if (auto* v = fuzz::ops_vfs::active()) v->next(o);
    refresh();
    exec(o);
    compare_state();
    note_state(o);
  }

  void print_trace() const {
    std::fprintf(stderr, "fuzz_diff_ref: profile %s, geometry %u, %zu operations:\n",
                 std::string(profile_.name).c_str(), geometry_, trace_.size());
    for (std::size_t i = 0; i < trace_.size(); ++i) {
      const auto& e = trace_[i];
      std::fprintf(stderr, "  %2zu %-13s 0x%llx 0x%llx 0x%llx -> %s mock %d ref %d\n", i,
                   op_names[static_cast<std::size_t>(e.kind)], static_cast<unsigned long long>(e.a),
                   static_cast<unsigned long long>(e.b), static_cast<unsigned long long>(e.c),
                   e.skipped ? "skip" : "", e.mock_err, e.ref_err);
    }
  }

  void teardown() {
    if (auto* v = fuzz::ops_vfs::active()) v->teardown();
    for (auto& d : devices_) {
      d->m.stubborn = d->r.stubborn = false;
      d->m.unpin_all();
      d->r.unpin_all();
      t_->remove_device(d->mock_id);
      ref_.remove_device(d->ref_id);
      compare_state();
    }
    devices_.clear();
    auto r = t_->unmap_dma(dma_unmap_request{iova(0), byte_count(0), unmap_flags{.all = true}, {}, {}});
    const auto rr = ref_.unmap(0, 0, true, false, false, 0, {});
    record(ops::op_kind::unmap_all, 0, 0, 0, err_of(r), rr.err);
    if (r && rr.err == 0 && r->size.value() != rr.size) mismatch("teardown UNMAP ALL size");
    compare_state();
    for (std::uint8_t g = 0; g < 4; ++g) {
      const int me = err_of(t_->detach_group(group_of(g)));
      record(ops::op_kind::detach, g, 0, 0, me, ref_.detach(group_of(g).value));
      compare_state();
    }
    t_.reset();
    if (proc_.locked_vm().value() != rmem_.locked_vm()) mismatch("locked_vm after the container is gone");
  }

 private:
  struct region {
    std::uint64_t start, size;
  };

  template <class T>
  static int err_of(const result<T>& r) { return r ? 0 : r.error().value(); }
  static group_id group_of(std::uint8_t g) { return group_id{g < 3 ? g : 0x80000000U}; }

  void refresh() {
    ops::mapping_extents(*t_, maps_);
    spans_.clear();
    for (const auto& r : regions_) spans_.push_back({r.start, r.start + r.size - 1});
  }
  [[nodiscard]] std::uint64_t iova_of(const ops::address_operand& a) const { return ops::resolve(a, maps_, ops::fixed_iovas); }
  [[nodiscard]] std::uint64_t vaddr_of(const ops::address_operand& a) const { return ops::resolve(a, spans_, ops::fixed_vaddrs); }
  [[nodiscard]] device* device_at(std::uint8_t index) const {
    if (devices_.empty() || index >= 240) return nullptr;
    return devices_[index % devices_.size()].get();
  }
  static bool ends_at_top(std::uint64_t at, std::uint64_t size) { return size != 0 && at + size == 0; }
  /// A pin/unpin the reference models: no page crosses 2^64 or straddles a mapping's edge.
  [[nodiscard]] bool pages_modelled(std::uint64_t at, std::uint64_t n) const {
    if (n == 0 || n > 512) return true;
    for (std::uint64_t k = 0; k < n; ++k) {
      const std::uint64_t key = at + k * page_bytes;
      if (key < at || key + (page_bytes - 1) < key) return false;
      for (const auto& m : maps_) {
        const bool overlaps = m.first <= key + (page_bytes - 1) && m.last >= key;
        if (overlaps && (key < m.first || key + (page_bytes - 1) > m.last)) return false;
      }
    }
    return true;
  }

  void record(ops::op_kind k, std::uint64_t a, std::uint64_t b, std::uint64_t c, int me, int re) {
    trace_.push_back({k, a, b, c, me, re, false});
    if (auto* v = fuzz::ops_vfs::active()) v->reference(k, a, b, c, me, re);
    if (me != re) mismatch("errno differs");
  }
  void skip(const ops::op& o, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
    trace_.push_back({o.kind, a, b, c, 0, 0, true});
    if (auto* v = fuzz::ops_vfs::active()) v->skipped(o);
  }

  [[noreturn]] void mismatch(const std::string& what) {
    if (auto* v = fuzz::ops_vfs::active()) v->reference_locked(rmem_.locked_vm()), v->finish("MISMATCH: " + what), std::_Exit(0);
    print_trace();
    std::fprintf(stderr, "mock state:\n%s", t_ ? t_->state_dump().c_str() : "(gone)\n");
    std::fprintf(stderr, "reference: locked_vm %llu, pins %llu, mappings:\n",
                 static_cast<unsigned long long>(rmem_.locked_vm()),
                 static_cast<unsigned long long>(ref_.pins_held()));
    for (const auto& [k, d] : ref_.mappings())
      std::fprintf(stderr, "  [0x%llx, 0x%llx] vaddr 0x%llx mapped %d invalid %d records %zu\n",
                   static_cast<unsigned long long>(d.iova), static_cast<unsigned long long>(d.last()),
                   static_cast<unsigned long long>(d.vaddr), d.mapped, d.vaddr_invalid, d.recs.size());
    std::fprintf(stderr, "fuzz_diff_ref: MISMATCH: %s\n", what.c_str());
    std::fflush(stderr);
    __builtin_trap();
  }

  /// State feedback (fuzz/state_feedback.hpp): the operation, the mock's errno, what it left.
  void note_state(const ops::op& o) const {
    if (!t_ || trace_.empty()) return;
    const bool pins = std::any_of(devices_.begin(), devices_.end(),
                                  [](const auto& d) { return !d->m.held.empty(); });
    fuzz::note_state(*t_, static_cast<unsigned>(o.kind), trace_.back().mock_err != 0, 0,
                     devices_.size(), pins);
  }

  void compare_state() {
    for (const auto& d : devices_) {
      if (d->m.told != d->r.told) mismatch("unmap notifications differ");
      if (d->m.held != d->r.held) mismatch("device pin bookkeeping differs");
      d->m.told.clear();
      d->r.told.clear();
    }
    if (!t_) return;
    std::vector<std::array<std::uint64_t, 5>> mock_maps, ref_maps;
    t_->with_state([&](const auto& s) {
      s.dmas.for_each([&](std::uint64_t first, const auto& d) {
        mock_maps.push_back({first, d.last(), d.vaddr(), d.iommu_mapped(), d.vaddr_invalid()});
      });
    });
    for (const auto& [k, d] : ref_.mappings())
      ref_maps.push_back({d.iova, d.last(), d.vaddr, d.mapped, d.vaddr_invalid});
    if (mock_maps != ref_maps) mismatch("mappings differ");
    if (proc_.locked_vm().value() != rmem_.locked_vm()) mismatch("locked_vm differs");
    if (proc_.total_pins() != ref_.pins_held()) mismatch("GUP pins held differ");
  }

  void exec(const ops::op& o);
  void exec_pin(const ops::op& o);
  void exec_bitmap(const ops::op& o);

  mk::kernel_profile profile_;
  unsigned geometry_;
  mk::process proc_;
  std::unique_ptr<mk::type1<>> t_;
  ref::memory rmem_;
  ref::type1 ref_;
  std::vector<std::unique_ptr<device>> devices_;
  std::vector<region> regions_;
  std::vector<ops::extent> maps_, spans_;
  std::vector<trace_entry> trace_;
};


void world::exec(const ops::op& o) {
  using ops::op_kind;
  switch (o.kind) {
    case op_kind::attach:
    case op_kind::detach: {
      if (o.kind == op_kind::attach &&
          ((geometry_ == 2 && o.group == 2) || ref_.replay_leaves_aperture(group_of(o.group).value))) {
        skip(o, o.group, 0, 0);
        break;
      }
      const group_id g = group_of(o.group);
      if (o.kind == op_kind::attach) record(o.kind, o.group, 0, 0, err_of(t_->attach_group(g)), ref_.attach(g.value));
      else record(o.kind, o.group, 0, 0, err_of(t_->detach_group(g)), ref_.detach(g.value));
      break;
    }
    case op_kind::mmap: {
      const auto kind = static_cast<mk::region_kind>(o.region);
      std::uint64_t size = ops::resolve(o.size, 0, {});
      if (kind != mk::region_kind::hole && size > max_region_bytes && size <= mk::process::max_region_size.value())
        size = max_region_bytes;
      auto r = proc_.map_region(kind, byte_count(size), o.read_only);
      if (auto* v = fuzz::ops_vfs::active()) v->result(r);
      record(o.kind, size, o.region, o.read_only, err_of(r), err_of(r));
      if (!r) break;
      const std::uint64_t bytes = proc_.region_at(*r)->size.value();
      static constexpr std::array<ref::vm_kind, 5> kinds{ref::vm_kind::anon, ref::vm_kind::file, ref::vm_kind::file,
                                                         ref::vm_kind::bar, ref::vm_kind::hole};
      rmem_.add(r->value(), bytes, kinds[o.region % kinds.size()], o.read_only);
      regions_.push_back({r->value(), bytes});
      break;
    }
    case op_kind::munmap:
    case op_kind::alias: {
      if (regions_.empty()) { record(o.kind, 0, 0, 0, 0, 0); break; }
      const auto index = o.from.index % regions_.size();
      const region r = regions_[index];
      if (o.kind == op_kind::munmap) {
        proc_.unmap_region(vaddr(r.start));
        rmem_.remove(r.start);
        regions_.erase(regions_.begin() + static_cast<std::ptrdiff_t>(index));
        record(o.kind, r.start, 0, 0, 0, 0);
        break;
      }
      auto a = proc_.map_alias(vaddr(r.start), o.read_only);
      if (auto* v = fuzz::ops_vfs::active()) v->result(a);
      record(o.kind, r.start, 0, 0, err_of(a), err_of(a));
      if (!a) break;
      rmem_.add(a->value(), r.size, ref::vm_kind::file, o.read_only);
      regions_.push_back({a->value(), r.size});
      break;
    }
    case op_kind::touch: {
      static const std::vector<std::byte> zeros(max_touch_bytes);
      static std::vector<std::byte> sink(max_touch_bytes);
      const std::uint64_t va = vaddr_of(o.from);
      const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(ops::resolve(o.size, va, spans_), max_touch_bytes));
      const int e = o.flag ? err_of(proc_.write(vaddr(va), std::span(zeros).first(len)))
                           : err_of(proc_.read(vaddr(va), std::span(sink).first(len)));
      if (e == 0 && o.flag) rmem_.stored(va, len);
      record(o.kind, va, len, o.flag, e, e);
      break;
    }
    case op_kind::map:
    case op_kind::map_vaddr: {
      const std::uint64_t at = iova_of(o.at);
      const std::uint64_t va = vaddr_of(o.from);
      const bool vflag = o.kind == op_kind::map_vaddr;
      const std::uint64_t size = vflag ? ops::resolve(o.size, at, maps_) : ops::resolve(o.size, va, spans_);
      if (ends_at_top(at, size)) { skip(o, at, va, size); break; }
      const prot p = vflag ? (o.flag ? prot::read_write : prot::none) : o.access;
      const int me = err_of(t_->map_dma(dma_map_request{iova(at), vaddr(va), byte_count(size), p, vflag}));
      record(o.kind, at, va, size, me, ref_.map(at, va, size, prot_bits(p), vflag));
      break;
    }
    case op_kind::unmap:
    case op_kind::unmap_vaddr:
    case op_kind::unmap_all: {
      const bool all = o.kind == op_kind::unmap_all;
      const std::uint64_t at = all ? 0 : iova_of(o.at);
      const std::uint64_t size = all ? (o.flag ? page_bytes : 0) : ops::resolve(o.size, at, maps_);
      if (!all && ends_at_top(at, size)) { skip(o, at, size, 0); break; }
      const unmap_flags f{.all = all, .vaddr = o.kind == op_kind::unmap_vaddr};
      auto r = t_->unmap_dma(dma_unmap_request{iova(at), byte_count(size), f, {}, {}});
      const auto rr = ref_.unmap(at, size, all, f.vaddr, false, 0, {});
      if (auto* v = fuzz::ops_vfs::active()) v->reference_field(scenario::field::size(rr.size));
      record(o.kind, at, size, 0, err_of(r), rr.err);
      if (r && r->size.value() != rr.size) mismatch("unmapped size differs");
      break;
    }
    case op_kind::unmap_dirty:
    case op_kind::dirty_get: exec_bitmap(o); break;
    case op_kind::dirty_start: record(o.kind, 0, 0, 0, err_of(t_->dirty_start()), ref_.dirty_start()); break;
    case op_kind::dirty_stop: record(o.kind, 0, 0, 0, err_of(t_->dirty_stop()), ref_.dirty_stop()); break;
    case op_kind::entry_limit:
      t_->set_dma_entry_limit(static_cast<std::uint32_t>(o.value));
      ref_.set_entry_limit(static_cast<std::uint32_t>(o.value));
      record(o.kind, o.value, 0, 0, 0, 0);
      break;
    case op_kind::memlock:
      proc_.set_memlock_limit(o.flag ? std::nullopt : std::optional(byte_count(o.value * page_bytes)));
      proc_.set_cap_ipc_lock(false);
      rmem_.set_limit_pages(o.flag ? std::nullopt : std::optional(o.value));
      rmem_.set_cap(false);
      record(o.kind, o.flag ? ~std::uint64_t{0} : o.value, 0, 0, 0, 0);
      break;
    case op_kind::cap_restore:
      proc_.set_cap_ipc_lock(true);
      rmem_.set_cap(true);
      if (o.flag) {
        proc_.set_memlock_limit(std::nullopt);
        rmem_.set_limit_pages(std::nullopt);
      }
      record(o.kind, o.flag, 0, 0, 0, 0);
      break;
    case op_kind::add_emulated:
    case op_kind::add_real: {
      if (o.kind == op_kind::add_real && geometry_ == 2 && o.group == 2) { skip(o, o.group, 0, 0); break; }
      auto d = std::make_unique<device>();
      d->m.stubborn = d->r.stubborn = o.stubborn;
      device* raw = d.get();
      d->m.unpin = [this, raw](std::uint64_t at, std::uint64_t n) {
        const std::size_t before = t_->warnings().size();
        t_->unpin_pages(raw->mock_id, iova(at), page_count(n));
        return t_->warnings().size() == before;
      };
      d->r.unpin = [this, raw](std::uint64_t at, std::uint64_t n) { return ref_.unpin(raw->ref_id, at, n); };
      auto cb = [raw](std::uint64_t first, std::uint64_t last) { raw->r.unmapped(first, last); };
      const bool emu = o.kind == op_kind::add_emulated;
      auto r = emu ? t_->add_device(dma_unmap_callback(d->m)) : t_->add_device(group_of(o.group), dma_unmap_callback(d->m));
      const std::int64_t rr = emu ? ref_.add_emulated(cb) : ref_.add_real(group_of(o.group).value, cb);
      if (auto* v = fuzz::ops_vfs::active()) v->result(r);
      record(o.kind, o.group, o.stubborn, 0, err_of(r), rr < 0 ? static_cast<int>(-rr) : 0);
      if (r && rr >= 0) {
        d->mock_id = *r;
        d->ref_id = static_cast<std::uint32_t>(rr);
        devices_.push_back(std::move(d));
      }
      break;
    }
    case op_kind::remove_device: {
      device* d = device_at(o.device);
      if (d == nullptr) {
        t_->remove_device(device_id{o.device});
        ref_.remove_device(0xffff0000U + o.device);
        record(o.kind, o.device, 0, 0, 0, 0);
        break;
      }
      if (!d->m.stubborn) {
        d->m.unpin_all();
        d->r.unpin_all();
      }
      t_->remove_device(d->mock_id);
      ref_.remove_device(d->ref_id);
      record(o.kind, d->mock_id.value, 0, 0, 0, 0);
      compare_state();
      std::erase_if(devices_, [&](const auto& p) { return p.get() == d; });
      break;
    }
    case op_kind::pin: exec_pin(o); break;
    case op_kind::unpin: {
      device* d = device_at(o.device);
      std::uint64_t at = iova_of(o.at);
      if (o.flag && d != nullptr && !d->m.held.empty()) {
        auto it = d->m.held.begin();
        std::advance(it, static_cast<std::ptrdiff_t>(o.from.index % d->m.held.size()));
        at = it->first;
      }
      if (!pages_modelled(at, o.value)) { skip(o, at, o.value, 0); break; }
      if (d == nullptr) {
        t_->unpin_pages(device_id{o.device}, iova(at), page_count(o.value));
        (void)ref_.unpin(0xffff0000U + o.device, at, o.value);
        record(o.kind, at, o.value, 0, 0, 0);
        break;
      }
      const bool mw = d->m.unpin_range(at, o.value);
      const bool rw = d->r.unpin_range(at, o.value);
      record(o.kind, at, o.value, d->mock_id.value, mw ? 0 : 1, rw ? 0 : 1);
      break;
    }
    case op_kind::info: {
      auto r = t_->info();
      const auto rr = ref_.info();
      if (auto* v = fuzz::ops_vfs::active()) v->reference_info(rr.pgsizes, rr.avail, rr.ranges);
      record(o.kind, 0, 0, 0, err_of(r), rr.err);
      if (!r || rr.err != 0) break;
      if (r->iova_pgsizes != rr.pgsizes) mismatch("GET_INFO iova_pgsizes differ");
      if (r->dma_avail != std::optional<std::uint32_t>(rr.avail)) mismatch("GET_INFO dma_avail differs");
      std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
      for (const auto& i : r->iova_ranges.value_or(std::vector<interval<iova>>{}))
        ranges.emplace_back(i.first().value(), i.last().value());
      if (ranges != rr.ranges || r->iova_ranges.has_value() != !rr.ranges.empty())
        mismatch("GET_INFO iova ranges differ");
      if (!r->migration || r->migration->pgsize_bitmap != rr.migration_pgsize ||
          r->migration->max_dirty_bitmap_size != rr.migration_max)
        mismatch("GET_INFO migration capability differs");
      break;
    }
  }
}

void world::exec_pin(const ops::op& o) {
  static std::vector<page_handle> handles(max_pin_pages);
  device* d = device_at(o.device);
  const std::uint64_t at = iova_of(o.at);
  const std::uint64_t n = o.value;
  if (!pages_modelled(at, n)) { skip(o, at, n, 0); return; }
  const std::span<page_handle> out(handles.data(), std::min<std::uint64_t>(n, max_pin_pages));
  std::fill(out.begin(), out.end(), page_handle{});
  const device_id mid = d != nullptr ? d->mock_id : device_id{o.device};
  std::vector<ref::frame> frames;
  auto r = t_->pin_pages(mid, iova(at), page_count(n), o.access, out);
  const int re = ref_.pin(d != nullptr ? d->ref_id : 0xffff0000U + o.device, at, n, prot_bits(o.access), out.size(), frames);
  record(o.kind, at, n, mid.value, err_of(r), re);
  if (!r) return;
  if (frames.size() != n) mismatch("reference pinned a different page count");
  for (std::uint64_t i = 0; i < n; ++i) {
    if (out[i].empty()) mismatch("pin succeeded without a page handle");
    const bool zero = out[i].frame() && out[i].frame()->number() == mk::physmem::zero_frame;
    if (zero != (frames[i] == ref::frame::zero)) mismatch("pinned page " + std::to_string(i) + ": zero page or not differs");
  }
  d->m.pinned(at, n);
  d->r.pinned(at, n);
}

void world::exec_bitmap(const ops::op& o) {
  static std::vector<std::uint64_t> mbits(max_bitmap_words), rbits(max_bitmap_words);
  const std::uint64_t at = iova_of(o.at);
  const std::uint64_t size = ops::resolve(o.size, at, maps_);
  if (o.kind == ops::op_kind::unmap_dirty && ends_at_top(at, size)) { skip(o, at, size, o.value); return; }
  const std::uint64_t shift = o.value == 0 ? 0 : static_cast<std::uint64_t>(std::countr_zero(o.value));
  auto words = static_cast<std::size_t>(std::min<std::uint64_t>(((size >> shift) + 63) / 64, max_bitmap_words));
  if (o.flag && words > 0) --words;
  std::fill_n(mbits.begin(), words, 0);
  std::fill_n(rbits.begin(), words, 0);
  const std::span<std::uint64_t> mo(mbits.data(), words), ro(rbits.data(), words);
  if (auto* v = fuzz::ops_vfs::active()) v->bitmap(ro);
  int me = 0, re = 0;
  if (o.kind == ops::op_kind::dirty_get) {
    me = err_of(t_->dirty_bitmap(iova(at), byte_count(size), byte_count(o.value), mo));
    re = ref_.dirty_get(at, size, o.value, ro);
  } else {
    auto r = t_->unmap_dma(dma_unmap_request{iova(at), byte_count(size), unmap_flags{.get_dirty_bitmap = true},
                                             byte_count(o.value), mo});
    const auto rr = ref_.unmap(at, size, false, false, true, o.value, ro);
    if (auto* v = fuzz::ops_vfs::active()) v->reference_field(scenario::field::size(rr.size));
    me = err_of(r);
    re = rr.err;
    if (r && rr.err == 0 && r->size.value() != rr.size) mismatch("unmapped size differs");
  }
  record(o.kind, at, size, o.value, me, re);
  if (me == 0 && !std::equal(mo.begin(), mo.end(), ro.begin())) mismatch("dirty bitmaps differ");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vfiopin::fuzz::fuzz_input in(data, size);
  world w(ops::decode_config(in));
  for (std::size_t i = 0; i < ops::max_ops && !in.empty(); ++i) w.run(ops::decode_op(in));
  static const bool trace = std::getenv("VFIOPIN_FUZZ_DIFF_TRACE") != nullptr;
  w.teardown();
  if (trace) w.print_trace();
  if (auto* v = vfiopin::fuzz::ops_vfs::active()) v->finish({});
  return 0;
}

/// Whole-operation mutations besides libFuzzer's own (fuzz/op_mutator.hpp).
extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size,
                                               std::size_t max_size, unsigned seed) {
  return ops::mutate_ops_input(data, size, max_size, seed);
}
