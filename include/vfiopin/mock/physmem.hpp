// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/physmem.hpp: the mock's physical memory: frame numbers, struct pages, pins.
//
// Theory of operation. physmem is the frame allocator and the array of struct pages of
// the mock machine. It hands out frame numbers and keeps, per RAM frame, what the
// kernel's struct page would tell type1: who owns the frame, how many pins it holds
// (pin_user_pages' FOLL_PIN count) and whether an unpin dirtied it. It never stores page
// contents: a RAM frame's bytes are page `index` of memory object `object`
// (mock/memory_object.hpp), named by the frame's owner.
//
// Physical layout (frame numbers, 4 KiB each):
//   zero_frame        0x1000             the shared zero page: PageReserved, never
//                                        refcounted, never charged (spec §2.2)
//   mmio_first_frame  0xfe000 + 256      BAR0 of test device 0 (1 MiB of MMIO): no struct
//                                        page at all (pfn_valid false); a VM_PFNMAP mapping
//   ram_first_frame   0x100000 and up    RAM, refcounted pages
// Anything else has no memory behind it.
//
// Allocation order. RAM frames come from a counter, so pages faulted in one after the
// other are physically contiguous, as they usually are on a fresh machine, and type1
// maps them in long chunks (spec §2.2 "Chunking"). set_scatter(true) leaves one free
// frame after every 4 KiB allocation and one free 2 MiB block after every huge page, so
// no two allocations are ever adjacent: that breaks every chunk and every 2 MiB run
// (GVT-g needs 512 contiguous pages for a 2 MiB GTT entry). Huge pages are 512 frames,
// 2 MiB aligned. Frame numbers are never reused: a stale pfn can never alias a newer
// page, which keeps use-after-unpin bugs of a model visible.
//
// Frame life cycle: free -> owned (allocate) -> free (its owner drops it, no pins) or
// -> orphaned (its owner dropped it while pinned: the VMA or memfd is gone, the page
// lives on, as pinned pages do in Linux) -> free (last unpin).
//   refcount = (1 while owned) + pincount   for RAM frames
//   refcount = pincount = zero-page pins    for the zero page (see below)
//   refcount = pincount = 0                 always, for MMIO frames
//
// Zero-page pins. Before Linux 6.9 pin_user_pages() took a pin on the shared zero page like
// on any page, but type1 treats the zero page as rsvd (is_invalid_reserved_pfn): put_pfn()
// never releases it. 6.0-6.8 drop that pin in vaddr_get_pfns() at once ("vfio/type1: Unpin
// zero pages", 873aefb376bb); before 6.0 every read-only map of untouched memory leaked one.
// pin_zero()/unpin_zero() count those pins, and total_pins() includes them, so a leaked
// zero-page pin keeps the process from being quiescent. The zero page's bytes are one
// page for the whole program, but the count is this physmem's (one mm's pins), so two
// processes stay independent.
//
// Storage: 16 bytes of metadata per allocated RAM frame, in one flat vector indexed by
// frame - ram_first_frame (frames skipped by scatter or huge alignment are free entries).
//
// Thread safety: none; the owner (mock::process) serialises every call. The zero page
// and the BAR bytes never move, so their addresses may be used from any thread.
#ifndef VFIOPIN_MOCK_PHYSMEM_HPP
#define VFIOPIN_MOCK_PHYSMEM_HPP

#include <vfiopin/concepts/memory_backend.hpp>
#include <vfiopin/config.hpp>
#include <vfiopin/mock/memory_buffer.hpp>
#include <vfiopin/types/count.hpp>
#include <vfiopin/types/page.hpp>
#include <vfiopin/types/pfn.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <optional>
#include <span>
#include <vector>

namespace vfiopin::mock {

/// Where a RAM frame stands in its life cycle.
enum class frame_state : std::uint8_t {
  free,      ///< not allocated (never, or no longer)
  owned,     ///< held by a memory object (a page of an anon region, memfd or hugetlb file)
  orphaned,  ///< its owner is gone; only pins keep it
};

/// What the mock knows about one frame (for tests and invariant checks).
struct frame_info {
  frame_kind kind = frame_kind::page;
  std::uint32_t pincount = 0;  ///< pins held (the zero page: its pins; MMIO frames: 0)
  std::uint32_t refcount = 0;  ///< (1 while owned) + pincount; 0 for MMIO frames
  bool dirty = false;          ///< an unpin with write access dirtied it
  bool orphaned = false;       ///< unmapped while pinned
  friend constexpr bool operator==(const frame_info&, const frame_info&) noexcept = default;
};

/// The mock machine's frames: RAM allocator, struct pages, zero page and device BAR.
class physmem {
 public:
  static constexpr std::uint64_t zero_frame = 0x1000;
  static constexpr std::uint64_t mmio_first_frame = 0xfe000;
  static constexpr byte_count bar_size{std::uint64_t{1} << 20};
  static constexpr std::uint64_t bar_frames = bar_size.value() >> page_shift;
  static constexpr std::uint64_t ram_first_frame = 0x100000;
  static constexpr std::uint64_t huge_frames = huge_page_size.value() >> page_shift;

  /// The owner of a RAM frame: page `index` (4 KiB units) of memory object `object`.
  struct owner {
    std::uint32_t object = 0;
    std::uint32_t index = 0;
  };

  /// Maps the zero page and the BAR; throws std::bad_alloc if the host refuses.
  physmem() = default;

  // ---- allocation order ----
  void set_scatter(bool on) noexcept { scatter_ = on; }
  [[nodiscard]] bool scatter() const noexcept { return scatter_; }

  // ---- allocation (strong guarantee; std::bad_alloc if the frame table cannot grow) ----

  /// One 4 KiB frame for page o.index of object o.object.
  [[nodiscard]] pfn allocate(owner o) {
    const std::uint64_t f = next_;
    claim(f, 1, scatter_ ? 1 : 0, o);
    return pfn(f);
  }
  /// A 2 MiB block (512 frames, 2 MiB aligned); frame i is page o.index + i of o.object.
  [[nodiscard]] pfn allocate_huge(owner o) {
    const std::uint64_t f = (next_ + huge_frames - 1) / huge_frames * huge_frames;
    claim(f, huge_frames, scatter_ ? huge_frames : 0, o);
    return pfn(f);
  }

  // ---- pins and release (noexcept; misuse is a bug of the caller and traps) ----

  /// pin_user_pages' reference on a RAM frame.
  void pin(pfn f) noexcept {
    frame_meta& m = live(f, "pin of a frame that is not live RAM");
    VFIOPIN_ASSERT(m.pincount != std::numeric_limits<std::uint32_t>::max(), "pincount overflow");
    if (m.pincount++ == 0) ++pinned_frames_;
    ++total_pins_;
  }
  /// pin() of the frames first .. first + n - 1.
  void pin_run(pfn first, std::uint64_t n) noexcept {
    if (n == 0) return;
    frame_meta* m = &live(first, "pin of a frame that is not live RAM");
    VFIOPIN_ASSERT(n <= frames_.size() - static_cast<std::size_t>(first.value() - ram_first_frame),
                   "pin of a frame that is not live RAM");
    for (std::uint64_t i = 0; i < n; ++i, ++m) {
      VFIOPIN_ASSERT(m->state != frame_state::free, "pin of a frame that is not live RAM");
      VFIOPIN_ASSERT(m->pincount != std::numeric_limits<std::uint32_t>::max(), "pincount overflow");
      if (m->pincount++ == 0) ++pinned_frames_;
    }
    total_pins_ += n;
  }
  /// unpin_user_page(s)(_dirty_lock): the owner of the frame if this freed it (an orphan's
  /// last pin), otherwise nothing.
  [[nodiscard]] std::optional<owner> unpin(pfn f, bool make_dirty) noexcept {
    frame_meta& m = live(f, "unpin of a frame that is not live RAM");
    VFIOPIN_ASSERT(m.pincount > 0, "unpin of a frame that holds no pin");
    m.dirty = m.dirty || make_dirty;
    --total_pins_;
    if (--m.pincount != 0) return std::nullopt;
    --pinned_frames_;
    if (m.state != frame_state::orphaned) return std::nullopt;
    return free_frame(m);
  }
  /// pin_user_pages' pin on the shared zero page (kernels before 6.9; see the header).
  void pin_zero() noexcept {
    VFIOPIN_ASSERT(zero_pins_ != std::numeric_limits<std::uint32_t>::max(), "pincount overflow");
    ++zero_pins_;
    ++total_pins_;
  }
  /// unpin_user_page() of the zero page: drops a pin pin_zero() took.
  void unpin_zero() noexcept {
    VFIOPIN_ASSERT(zero_pins_ > 0, "unpin of the zero page, which holds no pin");
    --zero_pins_;
    --total_pins_;
  }
  /// The owner lets go: a pinned frame becomes an orphan, an unpinned one is freed
  /// (answer: true).
  [[nodiscard]] bool release(pfn f) noexcept {
    frame_meta& m = live(f, "release of a frame that is not live RAM");
    VFIOPIN_ASSERT(m.state == frame_state::owned, "release of a frame that has no owner");
    if (m.pincount != 0) {
      m.state = frame_state::orphaned;
      return false;
    }
    static_cast<void>(free_frame(m));
    return true;
  }

  // ---- queries ----

  [[nodiscard]] static constexpr bool is_zero(pfn f) noexcept { return f.value() == zero_frame; }
  [[nodiscard]] static constexpr bool is_mmio(pfn f) noexcept {
    return f.value() >= mmio_first_frame && f.value() - mmio_first_frame < bar_frames;
  }
  /// An allocated (owned or orphaned) RAM frame.
  [[nodiscard]] bool is_live_ram(pfn f) const noexcept { return meta(f) != nullptr; }

  /// The kind of a frame that exists now (live RAM, the zero page, BAR MMIO).
  [[nodiscard]] std::optional<frame_kind> kind_of(pfn f) const noexcept {
    if (is_zero(f)) return frame_kind::reserved_page;
    if (is_mmio(f)) return frame_kind::no_page;
    if (is_live_ram(f)) return frame_kind::page;
    return std::nullopt;
  }
  /// The owner of a live RAM frame.
  [[nodiscard]] std::optional<owner> owner_of(pfn f) const noexcept {
    const frame_meta* m = meta(f);
    if (m == nullptr) return std::nullopt;
    return m->who;
  }
  /// Everything about a frame that exists now.
  [[nodiscard]] std::optional<frame_info> info(pfn f) const noexcept {
    const auto k = kind_of(f);
    if (!k) return std::nullopt;
    frame_info out;
    out.kind = *k;
    if (is_zero(f)) {
      out.pincount = zero_pins_;
      out.refcount = zero_pins_;
    } else if (const frame_meta* m = meta(f)) {
      out.pincount = m->pincount;
      out.refcount = m->pincount + (m->state == frame_state::owned ? 1U : 0U);
      out.dirty = m->dirty;
      out.orphaned = m->state == frame_state::orphaned;
    }
    return out;
  }

  /// The first frame of [first, first + n) that holds fewer than `need` pins (need >= 1),
  /// or nothing. A frame that is not live RAM or the zero page holds none. One pass over
  /// the frame table: the self-check (mock/invariants.hpp) asks this for every pinned run
  /// after every step.
  [[nodiscard]] std::optional<pfn> first_short_of_pins(pfn first, std::uint64_t n,
                                                       std::uint32_t need) const noexcept {
    for (std::uint64_t k = 0; k < n;) {
      const std::uint64_t f = first.value() + k;
      if (f < ram_first_frame || f - ram_first_frame >= frames_.size()) {
        if (!is_zero(pfn(f)) || zero_pins_ < need) return pfn(f);
        ++k;
        continue;
      }
      // A stretch inside the frame table: a plain loop over the metadata.
      const std::uint64_t base = f - ram_first_frame;
      const std::uint64_t stop = std::min<std::uint64_t>(n - k, frames_.size() - base);
      for (std::uint64_t i = 0; i < stop; ++i) {
        const frame_meta& m = frames_[static_cast<std::size_t>(base + i)];
        if (m.state == frame_state::free || m.pincount < need) return pfn(f + i);
      }
      k += stop;
    }
    return std::nullopt;
  }

  /// The zero page's bytes (must stay zero: nothing may write them).
  /// One zero page serves every physmem of the program, as the kernel's serves every mm.
  [[nodiscard]] std::byte* zero_page() const noexcept { return shared_zero_page(); }
  [[nodiscard]] bool zero_page_intact() const noexcept {
    const std::byte* p = shared_zero_page();
    return std::all_of(p, p + page_bytes, [](std::byte b) { return b == std::byte{0}; });
  }
  /// Gives the device's BAR0 its bytes, once: most processes never map the BAR, so they
  /// never pay for it. The owner calls it before the first mapping of the BAR; false if
  /// the host refuses the memory (ENOMEM).
  [[nodiscard]] bool ensure_bar() noexcept {
    if (bar_.data() == nullptr) {
      auto b = detail::host_buffer::allocate(bar_size.value());
      if (!b) return false;
      bar_ = std::move(*b);
    }
    return true;
  }
  /// The device's BAR0 bytes (MMIO behind frames mmio_first_frame...), after ensure_bar();
  /// the address never changes after that and may be used from any thread.
  [[nodiscard]] std::span<std::byte> bar_bytes() const noexcept {
    VFIOPIN_ASSERT(bar_.data() != nullptr, "BAR bytes used before the BAR was mapped");
    return {bar_.data(), bar_size.value()};
  }

  /// RAM frames allocated now (owned or orphaned).
  [[nodiscard]] page_count live_frames() const noexcept { return page_count(live_frames_); }
  /// RAM frames with at least one pin.
  [[nodiscard]] page_count pinned_frames() const noexcept { return page_count(pinned_frames_); }
  /// The sum of all pincounts, the zero page's included.
  [[nodiscard]] std::uint64_t total_pins() const noexcept { return total_pins_; }
  /// Pins held on the shared zero page by this physmem's GUP calls.
  [[nodiscard]] std::uint32_t zero_pins() const noexcept { return zero_pins_; }

 private:
  struct frame_meta {
    owner who{};
    std::uint32_t pincount = 0;
    frame_state state = frame_state::free;
    bool dirty = false;
  };
  static_assert(sizeof(frame_meta) <= 16, "16 bytes of metadata per frame");

  static std::byte* shared_zero_page() {
    static const detail::host_buffer zero = must_allocate(page_bytes);
    return zero.data();
  }

  static detail::host_buffer must_allocate(std::uint64_t bytes) {
    auto b = detail::host_buffer::allocate(bytes);
    if (!b) throw std::bad_alloc();
    return std::move(*b);
  }

  /// Marks frames [f, f+n) owned by o (index o.index + i), then moves the counter past
  /// them and `gap` more frames. Grows the table first: nothing changes if that throws.
  void claim(std::uint64_t f, std::uint64_t n, std::uint64_t gap, owner o) {
    VFIOPIN_ASSERT(f + n + gap - ram_first_frame <= std::numeric_limits<std::uint32_t>::max(),
                   "mock physical memory exhausted (2^32 frames allocated in this process)");
    VFIOPIN_ASSERT(o.index <= std::numeric_limits<std::uint32_t>::max() - n,
                   "owner index overflow");
    const std::size_t end = static_cast<std::size_t>(f + n - ram_first_frame);
    if (frames_.size() < end) frames_.resize(end);  // may throw: nothing changed yet
    for (std::uint64_t i = 0; i < n; ++i) {
      frame_meta& m = frames_[static_cast<std::size_t>(f - ram_first_frame + i)];
      m = frame_meta{owner{o.object, o.index + static_cast<std::uint32_t>(i)}, 0,
                     frame_state::owned, false};
    }
    live_frames_ += n;
    next_ = f + n + gap;
  }

  [[nodiscard]] const frame_meta* meta(pfn f) const noexcept {
    if (f.value() < ram_first_frame) return nullptr;
    const std::uint64_t i = f.value() - ram_first_frame;
    if (i >= frames_.size()) return nullptr;
    const frame_meta& m = frames_[static_cast<std::size_t>(i)];
    return m.state == frame_state::free ? nullptr : &m;
  }
  frame_meta& live(pfn f, const char* msg) noexcept {
    const frame_meta* m = meta(f);
    VFIOPIN_ASSERT(m != nullptr, msg);
    return const_cast<frame_meta&>(*m);
  }
  owner free_frame(frame_meta& m) noexcept {
    const owner o = m.who;
    m = frame_meta{};
    --live_frames_;
    return o;
  }

  detail::host_buffer bar_;
  std::vector<frame_meta> frames_;
  std::uint64_t next_ = ram_first_frame;
  std::uint64_t live_frames_ = 0;
  std::uint64_t pinned_frames_ = 0;
  std::uint64_t total_pins_ = 0;
  std::uint32_t zero_pins_ = 0;
  bool scatter_ = false;
};

}  // namespace vfiopin::mock

#endif  // VFIOPIN_MOCK_PHYSMEM_HPP
