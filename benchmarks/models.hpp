// SPDX-License-Identifier: Apache-2.0
//
// benchmarks/models.hpp: vfiopin's side of the benchmarks, with the baselines' interface.
//
// Theory of operation. Two kinds of model stand for vfiopin (the interface is the one of
// benchmarks/baselines.hpp: map, translate, pin, unpin, records, own_bytes, consistent):
//   structure_model   vfiopin's mock structures alone, driven like the baselines: the dma
//                     index (mock::detail::ordered_index<dma_record>, what type1 searches for
//                     every operation) and each dma's pin records (mock::detail::pin_records,
//                     run-length), over the same GUP stand-in and without a lock. Its pin and
//                     unpin follow mock/type1_pin.hpp's stretch loop (one dma lookup and one
//                     record operation per stretch of pages, not per page) minus the parts
//                     that are not data structures: front-end checks, the unwind list, page
//                     handles and dirty bits.
//   type1_model       the real mock::type1<M> container, as shipped (one std::mutex per call,
//                     every check, page handles): with M = light_memory ("type1-light": the
//                     baselines' GUP stand-in) or M = mock::process ("type1": the emulated
//                     process, whose GUP faults, pins struct-page counters and issues page
//                     handles). Without RealDomain the container has only an emulated-IOMMU
//                     device (MAP pins nothing, pins are charged); with it a real group is
//                     attached first, so MAP pins and maps every page into the mock domain
//                     and translate() reads the domain's page table (iova -> pfn).
#ifndef VFIOPIN_BENCHMARKS_MODELS_HPP
#define VFIOPIN_BENCHMARKS_MODELS_HPP

#include "benchmarks/baselines.hpp"
#include "benchmarks/light_memory.hpp"

#include <vfiopin/mock/dma_index.hpp>
#include <vfiopin/mock/dma_record.hpp>
#include <vfiopin/mock/invariants.hpp>
#include <vfiopin/mock/pin_records.hpp>
#include <vfiopin/mock/process.hpp>
#include <vfiopin/mock/type1.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

namespace vfiopin::bench {

/// Stops the benchmark: a setup step that must succeed did not.
[[noreturn]] inline void setup_failed(const char* what) noexcept {
  std::fprintf(stderr, "vfiopin benchmarks: setup failed: %s\n", what);
  std::abort();
}

/// vfiopin's dma index and pin records alone (see the header comment).
class structure_model {
  using dma_record = mock::detail::dma_record;
  using pin_run_view = mock::detail::pin_run_view;
  using index = mock::detail::ordered_index<dma_record, 64>;

 public:
  using out_type = std::uint64_t;
  explicit structure_model(const model_config& c) : mm_(c.pages, c.scatter) {}
  structure_model(const structure_model&) = delete;
  structure_model& operator=(const structure_model&) = delete;
  ~structure_model() {
    dmas_.for_each_mut([](std::uint64_t, dma_record& d) { d.release_ext(); });
  }

  [[nodiscard]] static std::uint64_t va_base() noexcept { return light_memory::va_base; }

  bool map(std::uint64_t iova, std::uint64_t size, std::uint64_t va) {
    const std::uint64_t last = iova + (size - 1);
    // One descent, as mock/type1_map.hpp: the floor and the next dma answer the overlap
    // question, and the new dma goes between them.
    const auto at = dmas_.locate(iova);
    if (auto p = dmas_.floor_at(at); p && dmas_.value(*p).last() >= iova) return false;
    if (auto q = dmas_.above_at(at); q && dmas_.key(*q) <= last) return false;
    dmas_.insert_at(at, iova, dma_record(last, va, prot::read_write, true));
    return true;
  }

  [[nodiscard]] std::uint64_t translate(std::uint64_t iova) const noexcept {
    const auto e = dmas_.floor_entry(iova);
    if (e.value == nullptr || e.value->last() < iova) return 0;
    return e.value->vaddr() + (iova - e.key);
  }

  bool pin(std::uint64_t iova0, std::uint64_t n, out_type* out) {
    std::uint64_t k = 0;
    while (k < n) {
      const std::uint64_t iova = iova0 + k * page_bytes;
      const auto p = dmas_.floor(iova);
      if (!p || dmas_.value(*p).last() < iova) {
        unpin(iova0, k);
        return false;
      }
      const std::uint64_t first = dmas_.key(*p);
      dma_record& d = dmas_.value(*p);
      const std::uint64_t span = std::min(n - k, (d.last() - iova) / page_bytes + 1);
      if (d.has_pins()) {
        if (auto rec = d.ext()->pins.covering(iova)) {
          const std::uint64_t m = std::min(span, (rec->last_key() - iova) / page_bytes + 1);
          d.ext()->pins.add_ref(iova, m);
          const std::uint64_t f0 = rec->frame + (iova - rec->key) / page_bytes;
          for (std::uint64_t i = 0; i < m; ++i) out[k + i] = f0 + i;
          k += m;
          continue;
        }
      }
      const std::uint64_t gap = d.has_pins() ? d.ext()->pins.gap_pages(iova, span) : span;
      const frame_run r = mm_.gup(d.vaddr() + (iova - first), std::min<std::uint64_t>(gap, 512));
      mm_.charge(r.pages);
      d.ext_or_make().pins.insert(iova, r.frame, r.pages, frame_kind::page);
      for (std::uint64_t i = 0; i < r.pages; ++i) out[k + i] = r.frame + i;
      k += r.pages;
    }
    return true;
  }

  void unpin(std::uint64_t iova0, std::uint64_t n) {
    std::uint64_t k = 0;
    while (k < n) {
      const std::uint64_t iova = iova0 + k * page_bytes;
      const auto p = dmas_.floor(iova);
      if (!p || dmas_.value(*p).last() < iova) return;
      dma_record& d = dmas_.value(*p);
      const std::uint64_t span = std::min(n - k, (d.last() - iova) / page_bytes + 1);
      if (d.has_pins()) {
        d.ext()->pins.drop_ref(iova, span, [&](const pin_run_view& v) {
          mm_.put(v.frame, v.pages);
          mm_.uncharge(v.pages);
        });
        d.trim();
      }
      k += span;
    }
  }

  [[nodiscard]] std::uint64_t records() const noexcept {
    std::uint64_t n = 0;
    dmas_.for_each([&](std::uint64_t, const dma_record& d) {
      if (d.ext() != nullptr) n += d.ext()->pins.node_count();
    });
    return n;
  }
  /// The structures' own accounting, as mock::type1::heap_bytes() counts it.
  [[nodiscard]] std::uint64_t own_bytes() const noexcept {
    std::uint64_t b = dmas_.heap_bytes();
    dmas_.for_each([&](std::uint64_t, const dma_record& d) {
      if (d.ext() != nullptr) b += sizeof(mock::detail::dma_ext) + d.ext()->pins.heap_bytes();
    });
    return b;
  }
  [[nodiscard]] bool consistent() const { return mm_.total_pins() == records(); }

 private:
  light_memory mm_;
  index dmas_;
};

/// The memory a type1_model<M> owns, and the vaddrs its maps use.
template <class M>
struct model_memory;

template <>
struct model_memory<light_memory> {
  light_memory mem;
  explicit model_memory(const model_config& c) : mem(c.pages, c.scatter) {}
  [[nodiscard]] static std::uint64_t va_base() noexcept { return light_memory::va_base; }
};

template <>
struct model_memory<mock::process> {
  mock::process mem;
  std::uint64_t base = light_memory::va_base;  // maps without a real domain check no vaddr
  explicit model_memory(const model_config& c) {
    if (c.scatter) mem.set_scatter(true);
    if (c.pages != 0) {
      auto r = mem.map_region(mock::region_kind::anon, byte_count(c.pages * page_bytes), false);
      if (!r) setup_failed("mock::process::map_region");
      base = r->value();
    }
  }
  [[nodiscard]] std::uint64_t va_base() const noexcept { return base; }
};

/// A mock::type1<M> container with one emulated-IOMMU device and, if RealDomain, a real
/// group attached before it (see the header comment).
template <class M, bool RealDomain>
class type1_model {
  struct consumer {
    void operator()(interval<iova>) noexcept {}
  };

 public:
  using out_type = page_handle;
  static constexpr group_id real_group{1};

  explicit type1_model(const model_config& c) : memory_(c), t_(memory_.mem) {
    if (RealDomain && !t_.attach_group(real_group)) setup_failed("type1::attach_group");
    auto d = t_.add_device(dma_unmap_callback(consumer_));
    if (!d) setup_failed("type1::add_device");
    dev_ = *d;
  }

  [[nodiscard]] std::uint64_t va_base() const noexcept { return memory_.va_base(); }

  bool map(std::uint64_t at, std::uint64_t size, std::uint64_t va) {
    return t_.map_dma(dma_map_request{iova(at), vaddr(va), byte_count(size), prot::read_write, false})
        .has_value();
  }
  /// The pfn a device of the real group reaches at `at` (0 if none): the domain's page table.
  [[nodiscard]] std::uint64_t translate(std::uint64_t at) const {
    const auto r = t_.translate(real_group, iova(at));
    return r ? r->frame : 0;
  }
  bool pin(std::uint64_t at, std::uint64_t n, out_type* out) {
    return t_.pin_pages(dev_, iova(at), page_count(n), prot::read_write,
                        std::span<page_handle>(out, static_cast<std::size_t>(n)))
        .has_value();
  }
  void unpin(std::uint64_t at, std::uint64_t n) { t_.unpin_pages(dev_, iova(at), page_count(n)); }

  [[nodiscard]] std::uint64_t records() const {
    return t_.with_state([](const auto& s) {
      std::uint64_t n = 0;
      s.dmas.for_each([&](std::uint64_t, const mock::detail::dma_record& d) {
        if (d.ext() != nullptr) n += d.ext()->pins.node_count();
      });
      return n;
    });
  }
  [[nodiscard]] std::uint64_t own_bytes() const { return t_.heap_bytes(); }
  /// The mock's own invariant checks (spec §9), with this process used by this container only.
  [[nodiscard]] bool consistent() const {
    return mock::check_invariants(t_).empty() && mock::check_exclusive_process(t_).empty();
  }

 private:
  model_memory<M> memory_;
  consumer consumer_;
  mock::type1<M> t_;
  device_id dev_{};
};

}  // namespace vfiopin::bench

#endif  // VFIOPIN_BENCHMARKS_MODELS_HPP
