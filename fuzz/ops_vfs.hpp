// SPDX-License-Identifier: Apache-2.0
//
// ops_vfs: writes a run of the op-sequence fuzzers (fuzz_ops, fuzz_fail_nth, fuzz_diff_ref)
// as a scenario script (*.vfs) that vfiopin-replay runs on the mock (fuzz/to-vfs).
//
// Theory of operation. With VFIOPIN_TO_VFS=FILE in the environment, active() returns the
// one recorder of the process (the variable is read once; unset, active() is null and the
// hooks in the fuzz targets cost one branch). The target tells it the configuration
// (begin), each operation as it is recorded in the target's trace with its resolved
// operands and errno (op), the value of the operation's result (result: a region's address,
// a device id, UNMAP's size, GET_INFO, a dirty bitmap), and at the end finish() with the
// property that failed (empty: none), which writes FILE.
//
// Each fuzz operation becomes one scenario line, `OPERATION => OUTCOME`, the outcome being
// the one the run saw, formatted by tools/replay/target_common.hpp (the same code as the
// replay's mock backend), so `vfiopin-replay --check` compares like with like. Where the
// format has the operation it is used (attach 0, map, unmap, info ...); the rest are the
// mock-only extensions of docs/fuzzing.md "Reproducers" (kernel, geometry, container-type,
// mmap, alias, touch, add-device, teardown, fail-nth ...). Names:
//   - a region is KIND + a counter (anon0, memfd3); an address inside a live region (or in
//     the 2 MiB gap after it) is written `NAME OFFSET`, any other address `va ADDRESS`
//     (`vaddr va 0` declares it);
//   - a device is numbered in the order the run added it; an id the container never handed
//     out (fuzz_ops' "unknown device") gets its own number from `device-id D N`.
// Operations that do nothing in the run (munmap or alias with no region) become comments.
#ifndef VFIOPIN_FUZZ_OPS_VFS_HPP
#define VFIOPIN_FUZZ_OPS_VFS_HPP

#include "op_decoder.hpp"
#include "ops_common.hpp"

#include "../tools/replay/target_common.hpp"

#include <vfiopin/result.hpp>
#include <vfiopin/scenario/outcome.hpp>
#include <vfiopin/types/dma.hpp>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <ostream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace vfiopin::fuzz::ops_vfs {

/// Lower-case hex with 0x.
inline std::string hex(std::uint64_t v) {
  std::string s;
  scenario::detail::append_hex(s, v);
  return s;
}

/// The first lines of every reproducer: which target wrote it, and the property that
/// failed in the run (one `#   ` line per line of it), or that none did.
inline void write_title(std::ostream& out, std::string_view target, std::string_view property) {
  out << "# " << target << " reproducer, written by fuzz/to-vfs (VFIOPIN_TO_VFS).\n#\n";
  if (property.empty()) {
    out << "# No property failed in the fuzz run.\n";
    return;
  }
  out << "# Property violated in the fuzz run:\n";
  std::size_t pos = 0;
  while (pos <= property.size()) {
    const std::size_t nl = property.find('\n', pos);
    out << "#   " << property.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos) << '\n';
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
}

class recorder {
 public:
  explicit recorder(std::string path) : path_(std::move(path)) {}

  /// A new input of `target` (fuzz_ops ...), kernel profile `profile`.
  void begin(std::string_view target, const ops::run_config& cfg, std::string_view profile) {
    *this = recorder(std::move(path_));
    target_.assign(target);
    profile_.assign(profile);
    config_ = cfg;
  }
  /// fail-nth: operation `op` fails at its step `step`.
  void fail_nth(std::size_t op, std::uint64_t step) {
    target_ = "fuzz_fail_nth";
    fail_ = {op, step};
  }

  /// The result of the operation op() reports next.
  template <class T>
  void result(const vfiopin::result<T>& r) {
    if constexpr (std::is_same_v<T, dma_unmap_reply>) {
      outcome_ = replay::unmapped(r);
    } else if constexpr (std::is_same_v<T, iommu_info>) {
      outcome_ = replay::info_outcome(r);
    } else {
      outcome_ = replay::done(r);
      if constexpr (std::is_same_v<T, vfiopin::vaddr>) value_ = r ? r->value() : 0;
      if constexpr (std::is_same_v<T, vfiopin::device_id>) value_ = r ? r->value : 0;
    }
  }
  /// The user bitmap of the next dirty operation (read after the call).
  void bitmap(std::span<const std::uint64_t> words) { bitmap_ = words; }
  /// fuzz_diff_ref: the operation run() is about to execute (reference() reports it).
  void next(const ops::op& o) { pending_ = o; }
  /// fuzz_diff_ref: a field of the reference's answer to the pending operation.
  void reference_field(scenario::field f) { ref_fields_.push_back(std::move(f)); }
  /// fuzz_diff_ref: the pending operation's trace entry; the line's expectation is the
  /// reference's outcome (errno `re`, or ok with the reference's fields).
  void reference(ops::op_kind k, std::uint64_t a, std::uint64_t b, std::uint64_t c, int me, int re) {
    if (!pending_ || pending_->kind != k || tearing_down_) return;
    const ops::op o = *std::exchange(pending_, std::nullopt);
    if (k == ops::op_kind::unmap_all) a = b;  // fuzz_diff_ref records (0, size)
    auto expected = re != 0 && k != ops::op_kind::unpin
                        ? scenario::outcome::err(std::error_code(re, vfiopin::error_category()))
                        : scenario::outcome::ok();
    if (expected.is_ok() && (k == ops::op_kind::unmap_dirty || k == ops::op_kind::dirty_get))
      ref_fields_.push_back(scenario::field::bits(replay::bitmap_digits(bitmap_, b, c)));
    for (auto& f : std::exchange(ref_fields_, {}))
      if (expected.is_ok()) expected.with(std::move(f));
    expected_ = std::move(expected);
    op(o, a, b, c, k == ops::op_kind::unpin ? 0 : me);
  }
  /// fuzz_diff_ref: an operation the reference does not model ran on neither side.
  void skipped(const ops::op& o) {
    pending_.reset();
    ref_fields_.clear();
    comment(std::string(ops::op_names[static_cast<std::size_t>(o.kind)]) +
            ": skipped (outside what the reference models; it ran on neither side)");
  }
  /// fuzz_diff_ref: the reference's GET_INFO, as the format prints it (info_outcome's order).
  template <class Ranges>
  void reference_info(std::uint64_t pgsizes, std::uint64_t avail, const Ranges& ranges) {
    reference_field(scenario::field::avail(avail));
    reference_field(scenario::field::pgsizes(pgsizes));
    if (ranges.empty()) return;
    std::vector<scenario::iova_range> r;
    for (const auto& [first, last] : ranges) r.push_back({first, last});
    reference_field(scenario::field::ranges(std::move(r)));
  }
  /// fuzz_diff_ref: the reference's locked_vm (pages), as a `locked` line to --check.
  void reference_locked(std::uint64_t pages) {
    lines_.push_back(padded("locked") + " => " +
                     scenario::to_string(scenario::outcome::ok().with(scenario::field::locked(pages << page_shift))));
  }

  /// One operation of the run, with its trace entry's operands and errno.
  void op(const ops::op& o, std::uint64_t a, std::uint64_t b, std::uint64_t c, int err);
  /// A line the run had no operation for (fuzz_diff_ref's skips): a comment.
  void comment(const std::string& text) { lines_.push_back("# " + text); }
  /// The target's teardown starts.
  void teardown() {
    tearing_down_ = true;
    plain("teardown");
  }
  /// Writes FILE: the header (with `property`, empty when every property held), the lines.
  void finish(std::string_view property) const;

 private:
  struct region {
    std::string name;
    std::uint64_t start, size;
    std::uint8_t kind;
  };
  static constexpr std::string_view kinds[] = {"anon", "memfd", "hugetlb", "bar", "hole"};

  /// `TEXT => OUTCOME`, the outcome `seen` unless reference() gave the expectation.
  void line(const std::string& text, const scenario::outcome& seen) {
    lines_.push_back(padded(text) + " => " + scenario::to_string(expected_ ? *expected_ : seen));
    expected_.reset();
  }
  /// A line of the script's own (a declaration, fail-nth): `TEXT => ok`.
  void plain(const std::string& text) { lines_.push_back(padded(text) + " => ok"); }
  static std::string padded(std::string text) {
    if (text.size() < 44) text.resize(44, ' ');
    return text;
  }
  /// `NAME OFFSET` for a vaddr (see the header comment).
  std::string where(std::uint64_t va) {
    const region* best = nullptr;
    for (const region& r : regions_)
      if (r.start <= va && (va - r.start < r.size || va - r.start - r.size < (std::uint64_t{2} << 20)) &&
          (best == nullptr || r.start > best->start))
        best = &r;
    if (best != nullptr) return best->name + ' ' + hex(va - best->start);
    uses_va_ = true;
    return "va " + hex(va);
  }
  const region* region_at(std::uint64_t start) const {
    for (const region& r : regions_)
      if (r.start == start) return &r;
    return nullptr;
  }
  std::string new_region(std::uint8_t kind) {
    return std::string(kinds[kind % std::size(kinds)]) + std::to_string(next_region_++);
  }
  /// The script's number for device id `id`; an unknown id is declared with device-id.
  std::string device(std::uint64_t id) {
    if (const auto it = live_devices_.find(id); it != live_devices_.end()) return std::to_string(it->second);
    auto it = raw_devices_.find(id);
    if (it == raw_devices_.end()) {
      it = raw_devices_.emplace(id, next_device_++).first;
      declarations_.push_back("device-id " + std::to_string(it->second) + ' ' + std::to_string(id));
    }
    return std::to_string(it->second);
  }
  std::string bitmap_op(std::string_view plain, std::string_view ext, std::uint64_t at,
                        std::uint64_t size, std::uint64_t pgsize) {
    const bool four_k = pgsize == scenario::bitmap_page_size && bitmap_.size() == replay::bitmap_words(size);
    if (outcome_ && outcome_->is_ok())
      outcome_->with(scenario::field::bits(replay::bitmap_digits(bitmap_, size, pgsize)));
    if (four_k) return std::string(plain) + ' ' + hex(at) + ' ' + hex(size);
    return std::string(ext) + ' ' + hex(at) + ' ' + hex(size) + ' ' + hex(pgsize) + ' ' +
           std::to_string(bitmap_.size());
  }

  std::string path_;
  std::string target_, profile_;
  ops::run_config config_{};
  std::optional<std::pair<std::size_t, std::uint64_t>> fail_;
  std::vector<std::string> lines_, declarations_;
  std::vector<region> regions_;
  std::map<std::uint64_t, unsigned> live_devices_, raw_devices_;
  std::optional<scenario::outcome> outcome_, expected_;
  std::optional<ops::op> pending_;
  std::vector<scenario::field> ref_fields_;
  bool tearing_down_ = false;
  std::uint64_t value_ = 0;
  std::span<const std::uint64_t> bitmap_;
  std::size_t ops_ = 0;
  unsigned next_region_ = 0, next_device_ = 0;
  bool uses_va_ = false;
};

inline void recorder::op(const ops::op& o, std::uint64_t a, std::uint64_t b, std::uint64_t c, int err) {
  using ops::op_kind;
  const auto n = [](std::uint64_t v) { return std::to_string(v); };
  const auto group = [&](std::uint64_t g) { return g < 3 ? n(g) : hex(0x80000000U); };
  if (!outcome_) {
    outcome_ = err == 0 ? scenario::outcome::ok()
                        : scenario::outcome::err(std::error_code(err, vfiopin::error_category()));
  }
  const bool fails = fail_ && fail_->first == ops_++;
  std::string text;
  switch (o.kind) {
    case op_kind::attach: text = a < 2 ? "attach " + n(a) : "attach-group " + group(a); break;
    case op_kind::detach: text = a < 2 ? "detach " + n(a) : "detach-group " + group(a); break;
    case op_kind::mmap: {
      const std::string name = new_region(static_cast<std::uint8_t>(b));
      text = "mmap " + name + ' ' + std::string(kinds[b % std::size(kinds)]) + ' ' + hex(a) + (c != 0 ? " ro" : "");
      const std::uint64_t unit = b == 2 ? std::uint64_t{2} << 20 : page_bytes;
      if (outcome_->is_ok()) regions_.push_back({name, value_, (a + unit - 1) / unit * unit, static_cast<std::uint8_t>(b)});
      break;
    }
    case op_kind::munmap:
    case op_kind::alias: {
      const region* r = regions_.empty() ? nullptr : region_at(a);
      if (r == nullptr) {
        comment(std::string(ops::op_names[static_cast<std::size_t>(o.kind)]) + ": no region (nothing done)");
        outcome_.reset();
        return;
      }
      if (o.kind == op_kind::munmap) {
        text = "munmap " + r->name;
        std::erase_if(regions_, [&](const region& x) { return x.start == a; });
        break;
      }
      const region source = *r;
      const std::string name = new_region(source.kind);
      text = "alias " + name + ' ' + source.name + (o.read_only ? " ro" : "");
      if (outcome_->is_ok()) regions_.push_back({name, value_, source.size, source.kind});
      break;
    }
    case op_kind::touch: text = "touch " + where(a) + ' ' + hex(b) + (o.flag ? " write" : " read"); break;
    case op_kind::map:
      text = "map " + hex(a) + ' ' + where(b) + ' ' + hex(c) + ' ' +
             std::string(scenario::to_string(static_cast<scenario::prot>(static_cast<std::uint8_t>(o.access))));
      break;
    case op_kind::map_vaddr:
      text = (o.flag ? "map-vaddr-prot " : "map-vaddr ") + hex(a) + ' ' + where(b) + ' ' + hex(c) + (o.flag ? " rw" : "");
      break;
    case op_kind::unmap: text = "unmap " + hex(a) + ' ' + hex(b); break;
    case op_kind::unmap_vaddr: text = "unmap-vaddr " + hex(a) + ' ' + hex(b); break;
    case op_kind::unmap_all: text = a == 0 ? "unmap-all" : "unmap-all-range 0x0 " + hex(a); break;
    case op_kind::unmap_dirty: text = bitmap_op("unmap-dirty", "unmap-dirty-bitmap", a, b, c); break;
    case op_kind::dirty_get: text = bitmap_op("dirty get", "dirty-bitmap", a, b, c); break;
    case op_kind::dirty_start: text = "dirty start"; break;
    case op_kind::dirty_stop: text = "dirty stop"; break;
    case op_kind::entry_limit: text = "entry-limit " + n(a); break;
    case op_kind::memlock: text = o.flag ? "memlock unlimited" : "memlock " + hex(a * page_bytes); break;
    case op_kind::cap_restore: text = a != 0 ? "cap-restore unlimited" : "cap-restore"; break;
    case op_kind::add_emulated:
    case op_kind::add_real: {
      const unsigned d = next_device_++;
      text = "add-device " + n(d) + (o.kind == op_kind::add_emulated ? " emulated" : " group " + group(a)) +
             (b != 0 ? " stubborn" : "");
      if (outcome_->is_ok()) live_devices_[value_] = d;
      break;
    }
    case op_kind::remove_device: {
      text = "remove-device " + device(a);
      live_devices_.erase(a);
      raw_devices_.erase(a);
      break;
    }
    case op_kind::pin:
      text = "pin " + device(c) + ' ' + hex(a) + ' ' + n(b) + ' ' +
             std::string(scenario::to_string(static_cast<scenario::prot>(static_cast<std::uint8_t>(o.access))));
      break;
    case op_kind::unpin: text = "unpin " + device(c) + ' ' + hex(a) + ' ' + n(b); break;
    case op_kind::info: text = "info"; break;
  }
  for (const std::string& d : std::exchange(declarations_, {})) plain(d);
  if (fails) plain("fail-nth " + n(fail_->second));
  line(text, *outcome_);
  outcome_.reset();
}

inline void recorder::finish(std::string_view property) const {
  std::ofstream out(path_);
  write_title(out, target_, property);
  if (target_ == "fuzz_diff_ref") {
    out << "#\n# Every `=> ...` is the REFERENCE model's outcome (fuzz/reference/); the replay runs the\n"
           "# mock, so --check prints each line where the mock answers otherwise. State that no\n"
           "# line prints (mappings, pins) is in the property above; locked_vm is a `locked` line.\n";
  } else {
    out << "#\n# Every `=> ...` is the outcome the fuzz run saw.\n";
  }
  out << "# Replay on the mock, with its self-check after each operation (mock-only extensions:\n"
         "# docs/fuzzing.md, Reproducers):\n"
         "#   vfiopin-replay --check --invariants FILE\n#\n"
      << "# profile: " << profile_ << "\n";
  const auto put = [&](const std::string& text) { out << padded(text) << " => ok\n"; };
  put("kernel " + profile_);
  put("geometry " + std::to_string(config_.geometry));
  if (config_.scatter) put("scatter");
  put(config_.type == 0 ? "container type1v2" : config_.type == 1 ? "container type1" : "container-type 2");
  if (uses_va_) put("vaddr va 0x0");
  for (const std::string& l : lines_) out << l << '\n';
}

/// The recorder when VFIOPIN_TO_VFS is set (read once), else null.
inline recorder* active() {
  static recorder* const r = [] {
    const char* path = std::getenv("VFIOPIN_TO_VFS");
    return path != nullptr && *path != 0 ? new recorder(path) : nullptr;  // NOLINT: lives as long as the process
  }();
  return r;
}

}  // namespace vfiopin::fuzz::ops_vfs

#endif  // VFIOPIN_FUZZ_OPS_VFS_HPP
