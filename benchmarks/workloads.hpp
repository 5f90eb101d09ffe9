// SPDX-License-Identifier: Apache-2.0
//
// benchmarks/workloads.hpp: the benchmark workloads and the list of (workload, model) cases.
//
// Theory of operation. A workload is built (setup: not measured), then run() is measured; it
// returns a checksum that every correct model of a workload reproduces (the smoke test
// compares them with the expected value), and reset() puts it back where run() can start
// again (map: a fresh, empty model; the others leave the state as they found it). All keys
// come from a fixed-seed splitmix64, so every model sees the same sequence.
//   translate           N mappings of 16 KiB at a 32 KiB iova stride, inserted in random order;
//                       measured: `lookups` translations of uniformly random iovas inside
//                       them (random mapping, random byte); op = one translation
//   map-random/map-seq  measured: N MAP_DMA of 16 KiB (random / ascending iova order) into an
//                       empty container; op = one map; memory: heap growth / N
//   pin-batch           D dmas of P pages each; measured: pin every page in 512-page calls,
//                       then unpin them all the same way; op = one page pinned and unpinned;
//                       memory: heap growth at the peak / D*P (dense frames)
//   pin-batch-scatter   the same with no two frames adjacent (worst case for run-length)
//   pin-single          the same dmas with their first halves pinned (setup); measured:
//                       `singles` times pin one uniformly random page then unpin it (half
//                       hit a pinned page: refcount 1 -> 2 -> 1; half pin afresh); op = a pair
// Every pin workload does one pin-all / unpin-all round in setup, so the mock process has
// faulted every page in (in order: dense frames) and allocators are warm for every model.
// Memory is read through heap_probe (set by the callgrind driver's counting operator new;
// null elsewhere) and through the model's own accounting (own_bytes, vfiopin models only).
#ifndef VFIOPIN_BENCHMARKS_WORKLOADS_HPP
#define VFIOPIN_BENCHMARKS_WORKLOADS_HPP

#include "benchmarks/baselines.hpp"
#include "benchmarks/models.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace vfiopin::bench {

/// The sizes of the workloads.
struct scale {
  std::uint64_t mappings = 0;   ///< translate, map: N
  std::uint64_t lookups = 0;    ///< translate: lookups
  std::uint64_t pin_dmas = 0;   ///< pin: D
  std::uint64_t dma_pages = 0;  ///< pin: P (a multiple of 1,024)
  std::uint64_t singles = 0;    ///< pin-single: pin+unpin pairs
};
/// N = 65,535 is type1's default dma_entry_limit; 8 x 64 MiB dmas = 131,072 pages.
inline constexpr scale full_scale{65535, 262144, 8, 16384, 65536};
/// For the smoke test.
inline constexpr scale tiny_scale{1024, 4096, 4, 1024, 2048};

/// Live heap as the counting allocator sees it.
struct heap_stats {
  std::int64_t requested = 0;  ///< bytes asked of operator new
  std::int64_t chunks = 0;     ///< glibc malloc chunk bytes those requests cost (estimate)
  std::int64_t blocks = 0;     ///< allocations
  friend heap_stats operator-(heap_stats a, heap_stats b) noexcept {
    return {a.requested - b.requested, a.chunks - b.chunks, a.blocks - b.blocks};
  }
};
/// Set by a binary that counts allocations; null: no memory figures.
inline heap_stats (*heap_probe)() noexcept = nullptr;
inline heap_stats probe_heap() noexcept { return heap_probe != nullptr ? heap_probe() : heap_stats{}; }

/// splitmix64: the same sequence on every platform.
class rng {
 public:
  explicit rng(std::uint64_t seed) noexcept : s_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) noexcept { return next() % n; }

 private:
  std::uint64_t s_;
};

/// 0 .. n-1 in a random order.
inline std::vector<std::uint64_t> shuffled(std::uint64_t n, std::uint64_t seed) {
  std::vector<std::uint64_t> v(static_cast<std::size_t>(n));
  for (std::uint64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  rng r(seed);
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<std::size_t>(r.below(i))]);
  return v;
}

inline constexpr std::uint64_t map_bytes = 16 * 1024;
inline constexpr std::uint64_t map_stride = 32 * 1024;
inline constexpr std::uint64_t iova_base = std::uint64_t{1} << 32;  // clear of the MSI window
inline constexpr std::uint64_t pin_call = 512;                      // VFIO_PIN_PAGES_MAX_ENTRIES
inline constexpr std::uint64_t seed = 0x5eed;

/// A workload, as the drivers see it.
class workload_base {
 public:
  virtual ~workload_base() = default;
  /// The measured part; returns the checksum.
  virtual std::uint64_t run() = 0;
  /// Makes run() repeatable (not measured).
  virtual void reset() {}
  [[nodiscard]] virtual bool needs_reset() const { return false; }
  /// The model's own consistency checks (smoke test only).
  [[nodiscard]] virtual bool consistent() const = 0;

  std::uint64_t ops = 0;       ///< operations per run()
  std::uint64_t expected = 0;  ///< the checksum a correct model gives
  std::uint64_t units = 0;     ///< what memory is divided by (mappings, pinned pages); 0: none
  heap_stats heap{};           ///< heap growth measured by the last run()
  std::uint64_t own = 0;       ///< growth of the model's own byte accounting
};

template <class Model>
class translate_workload final : public workload_base {
 public:
  explicit translate_workload(const scale& s)
      : model_(model_config{s.mappings * (map_bytes / page_bytes), false}) {
    const std::uint64_t va0 = model_.va_base();
    for (const std::uint64_t i : shuffled(s.mappings, seed))
      if (!model_.map(iova_base + i * map_stride, map_bytes, va0 + i * map_bytes))
        setup_failed("translate: map");
    rng r(seed + 1);
    queries_.reserve(static_cast<std::size_t>(s.lookups));
    for (std::uint64_t q = 0; q < s.lookups; ++q) {
      const std::uint64_t i = r.below(s.mappings);
      const std::uint64_t off = r.below(map_bytes);
      queries_.push_back(iova_base + i * map_stride + off);
      expected += va0 + i * map_bytes + off;
    }
    ops = s.lookups;
  }
  std::uint64_t run() override {
    std::uint64_t sum = 0;
    for (const std::uint64_t q : queries_) sum += model_.translate(q);
    return sum;
  }
  [[nodiscard]] bool consistent() const override { return model_.consistent(); }

 private:
  Model model_;
  std::vector<std::uint64_t> queries_;
};

template <class Model, bool Sequential>
class map_workload final : public workload_base {
 public:
  explicit map_workload(const scale& s) : n_(s.mappings) {
    if (Sequential) {
      for (std::uint64_t i = 0; i < n_; ++i) order_.push_back(i);
    } else {
      order_ = shuffled(n_, seed);
    }
    ops = units = expected = n_;
    reset();
  }
  std::uint64_t run() override {
    const heap_stats h0 = probe_heap();
    const std::uint64_t own0 = model_->own_bytes();
    const std::uint64_t va0 = model_->va_base();
    std::uint64_t ok = 0;
    for (const std::uint64_t i : order_)
      ok += model_->map(iova_base + i * map_stride, map_bytes, va0 + i * map_bytes) ? 1U : 0U;
    heap = probe_heap() - h0;
    own = model_->own_bytes() - own0;
    return ok;
  }
  void reset() override {
    model_.reset();
    model_.emplace(model_config{});
  }
  [[nodiscard]] bool needs_reset() const override { return true; }
  [[nodiscard]] bool consistent() const override { return model_->consistent(); }

 private:
  std::uint64_t n_;
  std::vector<std::uint64_t> order_;
  std::optional<Model> model_;
};

/// The dmas of the pin workloads and the calls that pin them.
template <class Model>
class pin_base : public workload_base {
 protected:
  pin_base(const scale& s, bool scatter)
      : dmas_(s.pin_dmas), pages_(s.dma_pages), model_(model_config{dmas_ * pages_, scatter}),
        out_(static_cast<std::size_t>(pin_call)) {
    const std::uint64_t va0 = model_.va_base();
    for (std::uint64_t d = 0; d < dmas_; ++d)
      if (!model_.map(dma_iova(d), pages_ * page_bytes, va0 + d * pages_ * page_bytes))
        setup_failed("pin: map");
    if (pin_all(pages_) != 0) setup_failed("pin: warm-up pin");
    unpin_all(pages_);
  }
  [[nodiscard]] std::uint64_t dma_iova(std::uint64_t d) const noexcept {
    return iova_base + d * 2 * pages_ * page_bytes;
  }
  /// Pins the first `first_pages` pages of every dma in 512-page calls; returns the failures.
  std::uint64_t pin_all(std::uint64_t first_pages) {
    std::uint64_t failed = 0;
    for (std::uint64_t d = 0; d < dmas_; ++d)
      for (std::uint64_t p = 0; p < first_pages; p += pin_call)
        failed += model_.pin(dma_iova(d) + p * page_bytes, std::min(pin_call, first_pages - p), out_.data()) ? 0U : 1U;
    return failed;
  }
  void unpin_all(std::uint64_t first_pages) {
    for (std::uint64_t d = 0; d < dmas_; ++d)
      for (std::uint64_t p = 0; p < first_pages; p += pin_call)
        model_.unpin(dma_iova(d) + p * page_bytes, std::min(pin_call, first_pages - p));
  }
  [[nodiscard]] bool consistent() const override { return model_.consistent(); }

  std::uint64_t dmas_;
  std::uint64_t pages_;
  Model model_;
  std::vector<typename Model::out_type> out_;
};

template <class Model, bool Scatter>
class pin_batch_workload final : public pin_base<Model> {
  using base = pin_base<Model>;

 public:
  explicit pin_batch_workload(const scale& s) : base(s, Scatter) {
    this->ops = this->units = this->expected = this->dmas_ * this->pages_;
  }
  /// Records at the peak + (records after << 32) + (failed calls << 48).
  std::uint64_t run() override {
    const heap_stats h0 = probe_heap();
    const std::uint64_t own0 = this->model_.own_bytes();
    const std::uint64_t failed = this->pin_all(this->pages_);
    this->heap = probe_heap() - h0;
    this->own = this->model_.own_bytes() - own0;
    const std::uint64_t peak = this->model_.records();
    this->unpin_all(this->pages_);
    return peak + (this->model_.records() << 32) + (failed << 48);
  }
};

template <class Model>
class pin_single_workload final : public pin_base<Model> {
  using base = pin_base<Model>;

 public:
  explicit pin_single_workload(const scale& s) : base(s, false) {
    if (this->pin_all(this->pages_ / 2) != 0) setup_failed("pin-single: background");
    rng r(seed + 2);
    for (std::uint64_t q = 0; q < s.singles; ++q)
      queries_.push_back(this->dma_iova(r.below(this->dmas_)) + r.below(this->pages_) * page_bytes);
    this->ops = s.singles;
    this->expected = this->dmas_ * (this->pages_ / 2);
  }
  /// Records after + (failed calls << 48).
  std::uint64_t run() override {
    std::uint64_t failed = 0;
    for (const std::uint64_t q : queries_) {
      failed += this->model_.pin(q, 1, this->out_.data()) ? 0U : 1U;
      this->model_.unpin(q, 1);
    }
    return this->model_.records() + (failed << 48);
  }

 private:
  std::vector<std::uint64_t> queries_;
};

// ---- the cases ----

using type1_light = type1_model<light_memory, false>;
using type1_process = type1_model<mock::process, false>;
using type1_domain = type1_model<mock::process, true>;

/// One (workload, model) pair.
struct bench_case {
  std::string_view workload;
  std::string_view impl;
  std::unique_ptr<workload_base> (*make)(const scale&);
  /// The checksum is comparable (type1-domain translate answers pfns, not vaddrs).
  bool comparable = true;
};

template <class W>
std::unique_ptr<workload_base> make_workload(const scale& s) {
  return std::make_unique<W>(s);
}

template <class M>
using pin_batch_dense = pin_batch_workload<M, false>;

/// The six models of a pin workload.
template <template <class> class W>
void add_pin_cases(std::vector<bench_case>& v, std::string_view name) {
  v.push_back({name, "b0", make_workload<W<b0_model>>});
  v.push_back({name, "b1", make_workload<W<b1_model>>});
  v.push_back({name, "vfiopin", make_workload<W<structure_model>>});
  v.push_back({name, "type1-light", make_workload<W<type1_light>>});
  v.push_back({name, "type1", make_workload<W<type1_process>>});
  v.push_back({name, "type1-domain", make_workload<W<type1_domain>>});
}

/// Every case, workload by workload, baselines first.
inline const std::vector<bench_case>& all_cases() {
  static const std::vector<bench_case> cases = [] {
    std::vector<bench_case> v = {
        {"translate", "b0", make_workload<translate_workload<b0_model>>},
        {"translate", "b1", make_workload<translate_workload<b1_model>>},
        {"translate", "vfiopin", make_workload<translate_workload<structure_model>>},
        {"translate", "type1-domain", make_workload<translate_workload<type1_domain>>, false},
        {"map-random", "b0", make_workload<map_workload<b0_model, false>>},
        {"map-random", "b1", make_workload<map_workload<b1_model, false>>},
        {"map-random", "vfiopin", make_workload<map_workload<structure_model, false>>},
        {"map-random", "type1", make_workload<map_workload<type1_process, false>>},
        {"map-seq", "b0", make_workload<map_workload<b0_model, true>>},
        {"map-seq", "b1", make_workload<map_workload<b1_model, true>>},
        {"map-seq", "vfiopin", make_workload<map_workload<structure_model, true>>},
        {"map-seq", "type1", make_workload<map_workload<type1_process, true>>},
    };
    add_pin_cases<pin_batch_dense>(v, "pin-batch");
    add_pin_cases<pin_single_workload>(v, "pin-single");
    v.push_back({"pin-batch-scatter", "vfiopin", make_workload<pin_batch_workload<structure_model, true>>});
    v.push_back({"pin-batch-scatter", "type1", make_workload<pin_batch_workload<type1_process, true>>});
    return v;
  }();
  return cases;
}

}  // namespace vfiopin::bench

#endif  // VFIOPIN_BENCHMARKS_WORKLOADS_HPP
