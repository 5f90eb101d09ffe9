// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/consumers/gvt.hpp: a GVT-g style shadow GTT, a vfiopin::consumer.
//
// Theory of operation. Intel GVT-g gives a guest a virtual GPU whose graphics translation
// table (GTT) holds guest frame numbers (gfns). The GPU cannot use those: for every guest
// GTT entry the host driver pins the guest page (vfio_pin_pages at IOVA gfn * 4 KiB, spec
// §8.1, kvmgt.c gvt_pin_guest_page) and writes the host page into a shadow GTT, the table
// the GPU really walks. gvt<Backend, Memory> is that shadow table:
//   write_entry(i, {gfn, size})  the guest wrote entry i. The old shadow entry i is dropped
//                                (unpinned) first. A 4 KiB entry pins one page. A 2 MiB
//                                entry (gfn 512-aligned) pins 512 pages, one
//                                vfio_pin_pages call per page, read and write, and requires
//                                page k's frame to be frame(page 0) + k: the GPU's 2 MiB
//                                entry needs physically contiguous memory. A page that is
//                                not contiguous, or whose frame is unknown, fails the entry
//                                with EINVAL after unpinning exactly the pages pinned so
//                                far, that one included, in one unpin call; a pin that
//                                fails at page k unpins the k pages before it, and nothing
//                                (no call at all) when k is 0 (the fixes "Verify hugepages
//                                are contiguous in physical address space" and "Don't try
//                                to unpin an empty page range", spec §10 item 13). GVT-g
//                                then splits the entry into 4 KiB entries; that is the
//                                caller's choice here.
//   invalidate(i)                the guest cleared entry i: unpin.
//   on_dma_unmap(range)          every entry whose pinned IOVA range overlaps `range` (by
//                                any byte: the range is a whole mapping, larger than the
//                                caller's unmap) is dropped before returning, as
//                                intel_vgpu_dma_unmap walks every gfn of the range.
//   shadow(i), gpu_view(i, off)  what the GPU uses: the entry's page handles and bytes.
// Pins are taken through the container's consumer registration and released by IOVA
// (registration.unpin), so the pages of an entry are released in one call.
//
// Rule [consumer.pages-only]: a shadow GTT touches guest pages (the GPU reads them, the
// driver maps struct pages), so `Memory`, the memory the guest's RAM is in, must be able to
// have struct pages. gvt over pfn-only memory (a device BAR) does not compile, and the
// message names the rule. Memory is either a vfiopin::memory_backend (mock::process) or a
// real DMA memory type (real::page_region); both declare `backing`. Where the memory is
// mixed, a BAR page is refused at run time by the backend's pin (EINVAL from the kernel
// model, errc::not_page_backed from the real backend) and the entry fails.
//
// Validation: an index past the table or a gfn whose pages would pass 2^64-1 is EINVAL; a
// 2 MiB entry whose gfn is not 512-aligned is EINVAL. Nothing is pinned for those.
//
// Lifetime and threads. A gvt is registered by address, so it is neither copyable nor
// movable: open() makes one on the heap. Its destructor unpins every entry, then
// unregisters. One mutex guards the table; it is held across the backend's pin and unpin
// (lock order: gvt, then the backend's lock), never across registration or removal, so the
// backend may notify from any thread (it drops its own lock first).
#ifndef VFIOPIN_CONSUMERS_GVT_HPP
#define VFIOPIN_CONSUMERS_GVT_HPP

#include <vfiopin/concepts/consumer.hpp>
#include <vfiopin/concepts/iommu_backend.hpp>
#include <vfiopin/concepts/memory_backend.hpp>
#include <vfiopin/container.hpp>
#include <vfiopin/error.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/page.hpp>
#include <vfiopin/types/page_handle.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <vector>

namespace vfiopin::consumers {

namespace detail {
/// Rule [consumer.pages-only] for memory a consumer's pages come from: a memory backend or
/// real DMA memory, either way declaring `backing`, which must not be pfn_only.
template <class M>
consteval bool page_capable_memory_rule() {
  static_assert(declares_backing<M>,
                "vfiopin rule [memory.concept]: the memory type declares no "
                "`static constexpr vfiopin::backing_kind backing`");
  if constexpr (declares_backing<M>) {
    static_assert(backing_of<M> != backing_kind::pfn_only,
                  "vfiopin rule [consumer.pages-only]: this consumer needs struct-page-backed "
                  "memory, but the memory is pfn-only (no struct page, e.g. a VM_PFNMAP device "
                  "BAR). pfn-only memory may be mapped for DMA; it can never be pinned for a "
                  "consumer.");
    return backing_of<M> != backing_kind::pfn_only;
  }
  return false;
}
}  // namespace detail

/// The size of a guest GTT entry.
enum class gtt_page : std::uint8_t { size_4k, size_2m };

/// The 4 KiB pages an entry of size s covers (1 or 512).
[[nodiscard]] constexpr page_count pages_of(gtt_page s) noexcept {
  return page_count(s == gtt_page::size_2m ? huge_page_size.value() / page_bytes : 1);
}

/// A guest GTT entry as the guest wrote it: the IOVA is gfn * 4 KiB (GVT-g pins
/// gfn << PAGE_SHIFT).
struct gtt_entry {
  std::uint64_t gfn = 0;
  gtt_page size = gtt_page::size_4k;
  friend constexpr bool operator==(const gtt_entry&, const gtt_entry&) noexcept = default;
};

/// A valid shadow entry: the guest entry, its IOVA range and the host page of its start
/// (for a 2 MiB entry, the first of 512 physically contiguous pages).
struct shadow_entry {
  gtt_entry guest;
  interval<iova> range;
  page_handle first;
};

/// A GVT-g style shadow GTT (see the header comment).
template <pins_for_consumers Backend, class Memory>
class gvt {
  static_assert(detail::page_capable_memory_rule<Memory>());

 public:
  using consumer_tag = vfiopin::consumer_tag;
  static constexpr bool needs_pages = true;

  /// A shadow GTT of `entries` entries, registered with c as an emulated-IOMMU device.
  [[nodiscard]] static result<std::unique_ptr<gvt>> open(container<Backend>& c,
                                                         std::size_t entries) {
    static_assert(consumer<gvt>);
    std::unique_ptr<gvt> g;
    try {
      g.reset(new gvt(entries));
    } catch (const std::bad_alloc&) {
      return fail(errc::out_of_memory);
    }
    auto reg = c.add_consumer(*g);
    if (!reg) return fail(reg.error());
    g->reg_ = std::move(*reg);
    return g;
  }

  gvt(const gvt&) = delete;
  gvt& operator=(const gvt&) = delete;
  gvt(gvt&&) = delete;
  gvt& operator=(gvt&&) = delete;
  ~gvt() {
    {
      std::lock_guard l(m_);
      for (auto& s : slots_) drop(s);
    }
    reg_ = {};  // unregister without holding m_ (removal waits for notifications)
  }

  [[nodiscard]] std::size_t size() const noexcept { return slots_.size(); }
  [[nodiscard]] device_id device() const noexcept { return reg_.device(); }

  /// The guest wrote entry `index`: drop the old shadow entry, pin and shadow the new one.
  [[nodiscard]] result<void> write_entry(std::size_t index, gtt_entry e) {
    std::lock_guard l(m_);
    if (index >= slots_.size()) return fail(errc::invalid_argument);
    const page_count n = pages_of(e.size);
    constexpr std::uint64_t max_gfn = ~std::uint64_t{0} >> page_shift;
    if (e.gfn > max_gfn - (n.value() - 1)) return fail(errc::invalid_argument);
    if (e.gfn % n.value() != 0) return fail(errc::invalid_argument);
    slot& s = slots_[index];
    drop(s);
    try {
      s.pages.assign(n.value(), page_handle{});
    } catch (const std::bad_alloc&) {
      return fail(errc::out_of_memory);
    }
    const iova base(e.gfn << page_shift);
    std::optional<page_frame> base_frame;
    for (std::uint64_t k = 0; k < n.value(); ++k) {
      auto lease = reg_.pin(base + bytes_in(page_count(k)), page_count(1), prot::read_write,
                            std::span<page_handle>(&s.pages[k], 1));
      if (!lease) return unwind(s, base, page_count(k), lease.error());
      lease->release();  // released by IOVA, all of the entry's pages in one call
      const auto f = s.pages[k].frame();
      if (k == 0) {
        base_frame = f;
      } else if (!f || !base_frame || base_frame->number() > ~std::uint64_t{0} - k ||
                 f->number() != base_frame->number() + k) {
        return unwind(s, base, page_count(k + 1), make_error_code(errc::invalid_argument));
      }
    }
    s.guest = e;
    s.valid = true;
    return {};
  }

  /// The guest cleared entry `index` (no-op for an invalid entry or index).
  void invalidate(std::size_t index) noexcept {
    std::lock_guard l(m_);
    if (index < slots_.size()) drop(slots_[index]);
  }

  /// The shadow of entry `index`, if valid.
  [[nodiscard]] std::optional<shadow_entry> shadow(std::size_t index) const {
    std::lock_guard l(m_);
    if (index >= slots_.size() || !slots_[index].valid) return std::nullopt;
    const slot& s = slots_[index];
    return shadow_entry{s.guest, range_of(s.guest), s.pages.front()};
  }

  /// What the GPU sees at byte `offset` of the memory entry `index` maps: the bytes from
  /// there to the end of that 4 KiB page. Empty for an invalid entry or an offset past it.
  /// The bytes stay valid while the entry is.
  [[nodiscard]] std::span<std::byte> gpu_view(std::size_t index, byte_count offset) const {
    std::lock_guard l(m_);
    if (index >= slots_.size() || !slots_[index].valid) return {};
    const slot& s = slots_[index];
    const std::uint64_t page = offset.value() >> page_shift;
    if (page >= s.pages.size()) return {};
    return std::span<std::byte>(s.pages[page].bytes()).subspan(offset.value() & (page_bytes - 1));
  }

  /// Pages this table holds pinned (each valid entry's pages).
  [[nodiscard]] page_count pinned_pages() const {
    std::lock_guard l(m_);
    std::uint64_t n = 0;
    for (const auto& s : slots_) n += s.valid ? s.pages.size() : 0;
    return page_count(n);
  }
  /// Unmap notifications received.
  [[nodiscard]] std::uint64_t notifications() const {
    std::lock_guard l(m_);
    return notified_;
  }

  /// Rule [consumer.unpin-on-notify]: drops every entry overlapping `range`.
  void on_dma_unmap(interval<iova> range) noexcept {
    std::lock_guard l(m_);
    ++notified_;
    for (auto& s : slots_) {
      if (s.valid && range_of(s.guest).overlaps(range)) drop(s);
    }
  }

 private:
  struct slot {
    bool valid = false;
    gtt_entry guest{};
    std::vector<page_handle> pages;  // one per 4 KiB page while valid
  };

  explicit gvt(std::size_t entries) : slots_(entries) {}

  [[nodiscard]] static interval<iova> range_of(const gtt_entry& e) noexcept {
    // write_entry validated the gfn: the range cannot wrap.
    return *interval<iova>::from(iova(e.gfn << page_shift), bytes_in(pages_of(e.size)));
  }

  /// Unpins the `pinned` pages from base of a failed entry (no call for none).
  [[nodiscard]] result<void> unwind(slot& s, iova base, page_count pinned, std::error_code e) noexcept {
    if (pinned.value() != 0) reg_.unpin(base, pinned);
    s.pages.clear();
    return fail(e);
  }

  void drop(slot& s) noexcept {
    if (!s.valid) return;
    const auto r = range_of(s.guest);
    reg_.unpin(r.first(), pages_of(s.guest.size));
    s.valid = false;
    s.pages.clear();
  }

  mutable std::mutex m_;
  consumer_registration<Backend, gvt> reg_;
  std::vector<slot> slots_;
  std::uint64_t notified_ = 0;
};

}  // namespace vfiopin::consumers

#endif  // VFIOPIN_CONSUMERS_GVT_HPP
