// SPDX-License-Identifier: Apache-2.0
//
// examples/vmm/dma_translator.hpp: a QEMU-style guest memory map and the IOVA-to-page
// translation an in-process device emulator uses (a vfio-user server, a virtio backend).
//
// Theory of operation. The VMM maps guest RAM (memfd) and a device BAR (VM_PFNMAP) into
// one container, at IOVA = guest physical address, as QEMU does for peer-to-peer DMA. It
// also keeps its own map of what it put where, each region added with its memory TYPE:
//   guest_memory_map::add<M>(range, host)   M declares `backing` at compile time
//                                           (real::page_region: pages; real::bar_region,
//                                           mock_bar: pfn_only); the map stores it.
// The address space as a whole is mixed, so a translation decides at run time:
//   dma_translator::map(at, len, prot)      address_space_map(): the region holding
//                                           [at, at + len) must be RAM, else
//                                           errc::not_page_backed (a BAR: no struct pages,
//                                           nothing to give the CPU) or EFAULT (a hole);
//                                           then the pages are pinned through the
//                                           container (vfio_pin_pages semantics) and a
//                                           dma_view gives the bytes, page by page.
//   dma_translator::map_ring(at, len)       the same, held for the device's lifetime (a
//                                           virtqueue ring); dropped by on_dma_unmap.
// Where the type is known at compile time the rule holds before run time: pinnable<M> is
// false for pfn-only memory, and pin_typed<M>() only accepts pinnable memory.
// A dma_view is short-lived: the emulator is single threaded and no unmap can arrive while
// a request holds a view (the notification would otherwise find its pin, and the unmap
// would end with pins_retained). The ring is the only long-lived pin, and it is tracked.
#ifndef VFIOPIN_EXAMPLES_VMM_DMA_TRANSLATOR_HPP
#define VFIOPIN_EXAMPLES_VMM_DMA_TRANSLATOR_HPP

#include <vfiopin/concepts/consumer.hpp>
#include <vfiopin/container.hpp>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace example {

using namespace vfiopin;

/// Memory a consumer may pin pages of, known from its type.
template <class M>
concept pinnable = declares_backing<M> && backing_of<M> != backing_kind::pfn_only;

/// The VMM's map of guest physical memory (QEMU's flattened AddressSpace).
class guest_memory_map {
 public:
  struct region {
    interval<iova> range;
    vaddr host;
    backing_kind backing;
  };
  /// Adds a region whose memory type is M.
  template <class M>
    requires declares_backing<M>
  void add(interval<iova> range, vaddr host) {
    regions_.push_back({range, host, backing_of<M>});
  }
  void remove(interval<iova> range) {
    std::erase_if(regions_, [&](const region& r) { return r.range == range; });
  }
  [[nodiscard]] const region* find(iova at) const noexcept {
    for (const auto& r : regions_)
      if (r.range.contains(at)) return &r;
    return nullptr;
  }

 private:
  std::vector<region> regions_;
};

/// Pinned guest pages of [at, at + len): the device emulator's window on guest memory.
template <class Backend>
class dma_view {
 public:
  dma_view(pin_lease<Backend> lease, std::vector<page_handle> pages, std::uint64_t offset,
           std::size_t len)
      : lease_(std::move(lease)), pages_(std::move(pages)), offset_(offset), len_(len) {}
  [[nodiscard]] std::size_t size() const noexcept { return len_; }
  [[nodiscard]] const std::vector<page_handle>& pages() const noexcept { return pages_; }
  /// Copies min(out.size(), size()) bytes from guest memory.
  void copy_out(std::span<std::byte> out) const { walk(out.size(), [&](std::byte* p, std::size_t o, std::size_t n) { std::memcpy(out.data() + o, p, n); }); }
  /// Copies min(in.size(), size()) bytes into guest memory.
  void copy_in(std::span<const std::byte> in) const { walk(in.size(), [&](std::byte* p, std::size_t o, std::size_t n) { std::memcpy(p, in.data() + o, n); }); }

 private:
  template <class F>
  void walk(std::size_t want, F f) const {
    const std::size_t total = std::min(want, len_);
    for (std::size_t done = 0; done < total;) {
      const std::uint64_t pos = offset_ + done;
      const std::size_t in_page = pos % page_bytes;
      const std::size_t n = std::min<std::size_t>(total - done, page_bytes - in_page);
      f(pages_[pos / page_bytes].bytes().data() + in_page, done, n);
      done += n;
    }
  }
  pin_lease<Backend> lease_;
  std::vector<page_handle> pages_;
  std::uint64_t offset_;
  std::size_t len_;
};

/// The device emulator's DMA translation, a vfiopin::consumer (see the header comment).
template <class Backend>
class dma_translator {
 public:
  using consumer_tag = vfiopin::consumer_tag;
  static constexpr bool needs_pages = true;

  static result<std::unique_ptr<dma_translator>> open(container<Backend>& c,
                                                      const guest_memory_map& map) {
    std::unique_ptr<dma_translator> t(new dma_translator(map));
    auto reg = c.add_consumer(*t);
    if (!reg) return fail(reg.error());
    t->reg_ = std::move(*reg);
    return t;
  }
  dma_translator(const dma_translator&) = delete;
  dma_translator& operator=(const dma_translator&) = delete;
  ~dma_translator() {
    ring_.reset();
    reg_ = {};
  }

  /// address_space_map(): see the header comment. len must be 1..512 pages' worth.
  result<dma_view<Backend>> map(iova at, std::size_t len, prot access) {
    const auto want = interval<iova>::from(at, byte_count(len));
    if (!want) return fail(errc::invalid_argument);
    const auto* r = map_->find(at);
    if (r == nullptr || !r->range.contains(*want)) return fail(errc::bad_address);
    if (r->backing == backing_kind::pfn_only) return fail(errc::not_page_backed);
    const iova first = align_down(at, page_bytes);
    const std::uint64_t pages = (want->last().value() >> page_shift) - (first.value() >> page_shift) + 1;
    if (pages > 512) return fail(errc::too_big);
    std::vector<page_handle> handles(pages);
    auto lease = reg_.pin(first, page_count(pages), access, handles);
    if (!lease) return fail(lease.error());
    return dma_view<Backend>(std::move(*lease), std::move(handles), page_offset(at).value(), len);
  }
  /// Maps a ring for the device's lifetime.
  result<void> map_ring(iova at, std::size_t len) {
    auto v = map(at, len, prot::read_write);
    if (!v) return fail(v.error());
    ring_.emplace(std::move(*v));
    ring_range_ = *interval<iova>::from(at, byte_count(len));
    return {};
  }
  [[nodiscard]] const std::optional<dma_view<Backend>>& ring() const noexcept { return ring_; }
  [[nodiscard]] int notifications() const noexcept { return notified_; }

  /// Rule [consumer.unpin-on-notify]: the ring goes if the range overlaps it.
  void on_dma_unmap(interval<iova> range) noexcept {
    ++notified_;
    if (ring_ && ring_range_.overlaps(range)) ring_.reset();
  }

 private:
  explicit dma_translator(const guest_memory_map& map) : map_(&map) {}
  const guest_memory_map* map_;
  consumer_registration<Backend, dma_translator> reg_;
  std::optional<dma_view<Backend>> ring_;
  interval<iova> ring_range_ = interval<iova>::single(iova{});
  int notified_ = 0;
};

}  // namespace example

#endif  // VFIOPIN_EXAMPLES_VMM_DMA_TRANSLATOR_HPP
