// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/memory_object.hpp: what a mapping maps: anon memory, a memfd, a hugetlb file.
//
// Theory of operation. In Linux a VMA maps an object: the anonymous memory of a private
// mapping, or the page cache of a file (a memfd on shmem, a hugetlbfs file). The object
// decides which page backs an offset and what a fault does there. memory_object is that
// object for the mock; memory_objects is the table of all of them with the page fault
// handler (the part of handle_mm_fault that allocates) and the object life cycle.
//
// Faults (fault()):
//   anon     read of a page never touched: map the shared zero page (no allocation);
//            write, or write to a zero-page mapping (COW): allocate a fresh zeroed page.
//   memfd    any access to a hole allocates a page cache page (shmem has no zero page);
//            every mapping of the memfd sees the same page.
//   hugetlb  any access to a hole allocates a whole 2 MiB huge page (512 frames).
// lookup() answers what backs an offset now, without faulting (a page table walk).
//
// Storage per object: one host_buffer table of 4-byte entries, one per 4 KiB page (per
// 2 MiB page for hugetlb): 0 = nothing, zero_entry = the zero page, otherwise
// frame - ram_first_frame + 1. The table starts zeroed. The bytes of the pages (page i of
// the object at bytes + i * 4096, so a frame's contents never move) are one more
// host_buffer, allocated only when somebody first asks for the bytes of one of its pages
// (page_data(): a page handle, a device access, a CPU read or write): an object that is
// only mapped and pinned for the IOMMU never has any. Until then every installed page
// reads as zero by definition, so the allocation zeroes exactly the pages installed so far
// (all of them once no mapping is left, since only orphans remain), and from then on
// install() zeroes each page as it hands out its frame (unless the buffer is a fresh host
// mapping, zero already). Untouched pages cost nothing, and neither do untouched objects:
// under ASan a fuzz input used to allocate, poison and zero about 100 KiB of page bytes
// that nothing ever read.
//
// Life cycle: an object counts its mappings and its live frames. unmap() of the last
// mapping releases every frame (pinned ones become orphans and keep their bytes); the
// object, and with it its bytes, is destroyed once no mapping and no frame remains, i.e.
// when the last pin of its last orphan goes (frame_freed()).
//
// Thread safety: none; serialised by mock::process.
#ifndef VFIOPIN_MOCK_MEMORY_OBJECT_HPP
#define VFIOPIN_MOCK_MEMORY_OBJECT_HPP

#include <vfiopin/config.hpp>
#include <vfiopin/error.hpp>
#include <vfiopin/mock/memory_buffer.hpp>
#include <vfiopin/mock/physmem.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/count.hpp>
#include <vfiopin/types/page.hpp>
#include <vfiopin/types/pfn.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

namespace vfiopin::mock {

/// The kind of memory object behind a mapping.
enum class object_kind : std::uint8_t { anon, memfd, hugetlb };

/// One anon memory, memfd or hugetlb file: its bytes and its page table.
class memory_object {
 public:
  /// Largest object: page indexes and table entries are 32-bit.
  static constexpr std::uint64_t max_pages = std::uint64_t{1} << 31;

  /// An object of `pages` 4 KiB pages (a multiple of 512 for hugetlb), or nothing if the
  /// host refuses the memory for its table.
  [[nodiscard]] static std::optional<memory_object> create(object_kind kind, page_count pages) {
    VFIOPIN_ASSERT(pages.value() != 0 && pages.value() <= max_pages, "memory object size");
    VFIOPIN_ASSERT(kind != object_kind::hugetlb || pages.value() % physmem::huge_frames == 0,
                   "a hugetlb object holds whole huge pages");
    const std::uint64_t slots =
        kind == object_kind::hugetlb ? pages.value() / physmem::huge_frames : pages.value();
    auto table = detail::host_buffer::allocate(slots * sizeof(std::uint32_t),
                                               detail::host_buffer::contents::zeroed,
                                               alignof(std::uint32_t));
    if (!table) return std::nullopt;
    return memory_object(kind, pages, slots, std::move(*table));
  }

  [[nodiscard]] object_kind kind() const noexcept { return kind_; }
  [[nodiscard]] page_count pages() const noexcept { return pages_; }
  [[nodiscard]] std::uint64_t slots() const noexcept { return slots_; }
  /// The bytes of page `index`, allocated with those of every other page at the first
  /// call (see the header comment); nullptr if the host refuses that memory. The address
  /// never changes afterwards. Logically const: the bytes an object reads were zero before.
  [[nodiscard]] std::byte* page_data(std::uint64_t index) const noexcept {
    VFIOPIN_ASSERT(index < pages_.value(), "page index outside the object");
    if (bytes_.data() == nullptr && !allocate_bytes()) return nullptr;
    return bytes_.data() + index * page_bytes;
  }
  /// Whether page bytes exist, and whether install() must zero a page it hands out.
  [[nodiscard]] bool has_bytes() const noexcept { return bytes_.data() != nullptr; }
  [[nodiscard]] bool bytes_zeroed() const noexcept { return bytes_.zeroed(); }
  /// The raw table entry of slot `s` (see the header comment).
  [[nodiscard]] std::uint32_t& entry(std::uint64_t s) const noexcept {
    VFIOPIN_ASSERT(s < slots_, "slot outside the object");
    return table_.as<std::uint32_t>()[s];
  }

  std::uint32_t mappings = 0;     ///< VMAs mapping it
  std::uint64_t live_frames = 0;  ///< its frames that are owned or orphaned

 private:
  memory_object(object_kind kind, page_count pages, std::uint64_t slots,
                detail::host_buffer table) noexcept
      : kind_(kind), pages_(pages), slots_(slots), table_(std::move(table)) {}

  /// The first page_data(): the bytes of every page, with the installed ones zeroed.
  bool allocate_bytes() const noexcept {
    auto bytes = detail::host_buffer::allocate(pages_.value() * page_bytes,
                                               detail::host_buffer::contents::unspecified);
    if (!bytes) return false;
    if (!bytes->zeroed()) {
      const std::uint64_t per_slot = kind_ == object_kind::hugetlb ? physmem::huge_frames : 1;
      if (mappings == 0) {  // only orphans are left, and their table entries are gone
        std::memset(bytes->data(), 0, bytes->size());
      } else {
        for (std::uint64_t s = 0; s < slots_; ++s) {
          const std::uint32_t e = entry(s);
          if (e != 0 && e != std::numeric_limits<std::uint32_t>::max())  // a frame, not zero
            std::memset(bytes->data() + s * per_slot * page_bytes, 0, per_slot * page_bytes);
        }
      }
    }
    bytes_ = std::move(*bytes);
    return true;
  }

  object_kind kind_;
  page_count pages_;
  std::uint64_t slots_;
  detail::host_buffer table_;
  mutable detail::host_buffer bytes_;  ///< empty until the first page_data()
};

/// Every memory object of a process, the fault handler and the object life cycle.
class memory_objects {
 public:
  static constexpr std::uint32_t zero_entry = std::numeric_limits<std::uint32_t>::max();

  /// A new object with one mapping; ENOMEM if the host refuses its memory.
  [[nodiscard]] result<std::uint32_t> create(object_kind kind, page_count pages) {
    auto obj = memory_object::create(kind, pages);
    if (!obj) return fail(errc::out_of_memory);
    obj->mappings = 1;
    std::uint32_t id = 0;
    if (!free_.empty()) {
      id = free_.back();
      slots_[id].emplace(std::move(*obj));
      free_.pop_back();
    } else {
      VFIOPIN_ASSERT(slots_.size() < std::numeric_limits<std::uint32_t>::max(), "object ids");
      id = static_cast<std::uint32_t>(slots_.size());
      if (free_.capacity() < slots_.size() + 1)  // room for every id: destroy never allocates
        free_.reserve(std::max<std::size_t>(2 * free_.capacity(), 8));
      slots_.emplace_back(std::move(*obj));  // may throw: nothing observable changed
    }
    return id;
  }

  [[nodiscard]] memory_object& at(std::uint32_t id) noexcept { return *checked(id); }
  [[nodiscard]] const memory_object& at(std::uint32_t id) const noexcept { return *checked(id); }
  /// Objects alive now (mapped, or kept by orphaned frames).
  [[nodiscard]] std::size_t count() const noexcept { return slots_.size() - free_.size(); }

  /// Another mapping of object `id` (a second mmap of the same memfd).
  void map(std::uint32_t id) noexcept { ++at(id).mappings; }

  /// One mapping of `id` goes. At the last one every frame is released: unpinned frames
  /// are freed, pinned ones become orphans; the object goes once no frame is left.
  void unmap(physmem& pm, std::uint32_t id) noexcept {
    memory_object& o = at(id);
    VFIOPIN_ASSERT(o.mappings > 0, "unmap of an object that is not mapped");
    if (--o.mappings != 0) return;
    const std::uint64_t per_slot = o.kind() == object_kind::hugetlb ? physmem::huge_frames : 1;
    for (std::uint64_t s = 0; s < o.slots(); ++s) {
      std::uint32_t& e = o.entry(s);
      if (e == 0 || e == zero_entry) {
        e = 0;
        continue;
      }
      const pfn base = decode(e);
      for (std::uint64_t i = 0; i < per_slot; ++i) {
        if (pm.release(base + page_count(i))) --o.live_frames;
      }
      e = 0;
    }
    destroy_if_unused(id);
  }

  /// The last pin of an orphaned frame of object `id` went: the frame is free.
  void frame_freed(std::uint32_t id) noexcept {
    memory_object& o = at(id);
    VFIOPIN_ASSERT(o.live_frames > 0, "frame accounting of a memory object");
    --o.live_frames;
    destroy_if_unused(id);
  }

  /// What backs page `index` of `id` now (a frame, the zero page), without faulting.
  [[nodiscard]] std::optional<pfn> lookup(std::uint32_t id, std::uint64_t index) const noexcept {
    const memory_object& o = at(id);
    const bool huge = o.kind() == object_kind::hugetlb;
    const std::uint32_t e = o.entry(huge ? index / physmem::huge_frames : index);
    if (e == 0) return std::nullopt;
    if (e == zero_entry) return pfn(physmem::zero_frame);
    return decode(e) + page_count(huge ? index % physmem::huge_frames : 0);
  }

  /// How many pages from `index` (at most max) are present RAM frames first, first + 1, ...
  /// (a page table walk; 0 for hugetlb objects, whose table has one entry per huge page).
  [[nodiscard]] std::uint64_t present_run(std::uint32_t id, std::uint64_t index, std::uint64_t max,
                                          pfn first) const noexcept {
    const memory_object& o = at(id);
    if (o.kind() == object_kind::hugetlb || max == 0) return 0;
    VFIOPIN_ASSERT(index + max <= o.slots(), "present_run outside the object");
    const std::uint32_t* e = &o.entry(index);
    const std::uint64_t want = first.value() - physmem::ram_first_frame + 1;  // encode(first)
    std::uint64_t n = 0;
    while (n < max && e[n] != zero_entry && e[n] == want + n) ++n;
    return n;
  }

  /// The fault handler: the frame backing page `index` of `id` after a read (write=false)
  /// or write access, allocating as the header comment says. std::bad_alloc if the frame
  /// table cannot grow (nothing changed then).
  [[nodiscard]] pfn fault(physmem& pm, std::uint32_t id, std::uint64_t index, bool write) {
    memory_object& o = at(id);
    VFIOPIN_ASSERT(index < o.pages().value(), "fault outside the object");
    const auto idx32 = static_cast<std::uint32_t>(index);
    switch (o.kind()) {
      case object_kind::anon: {
        std::uint32_t& e = o.entry(index);
        if (e != 0 && e != zero_entry) return decode(e);
        if (!write) {  // do_anonymous_page, read: the shared zero page
          e = zero_entry;
          return pfn(physmem::zero_frame);
        }
        return install(pm, o, id, e, idx32, false);  // first write, or COW of the zero page
      }
      case object_kind::memfd: {
        std::uint32_t& e = o.entry(index);
        if (e != 0) return decode(e);
        return install(pm, o, id, e, idx32, false);
      }
      case object_kind::hugetlb: {
        const std::uint64_t in_huge = index % physmem::huge_frames;
        std::uint32_t& e = o.entry(index / physmem::huge_frames);
        if (e != 0) return decode(e) + page_count(in_huge);
        return install(pm, o, id, e, static_cast<std::uint32_t>(index - in_huge), true) +
               page_count(in_huge);
      }
    }
    VFIOPIN_ASSERT(false, "unknown object kind");
    return pfn();
  }

  /// The bytes of a live RAM frame's page (the first ask allocates the object's: nullptr
  /// if the host refuses them).
  [[nodiscard]] std::byte* bytes_of(physmem::owner who) const noexcept {
    return at(who.object).page_data(who.index);
  }

 private:
  [[nodiscard]] static pfn decode(std::uint32_t e) noexcept {
    return pfn(physmem::ram_first_frame + e - 1);
  }
  [[nodiscard]] static std::uint32_t encode(pfn f) noexcept {
    const std::uint64_t e = f.value() - physmem::ram_first_frame + 1;
    VFIOPIN_ASSERT(e < zero_entry, "frame number too large for a table entry");
    return static_cast<std::uint32_t>(e);
  }
  static pfn install(physmem& pm, memory_object& o, std::uint32_t id, std::uint32_t& e,
                     std::uint32_t index, bool huge) {
    const physmem::owner who{id, index};
    const pfn f = huge ? pm.allocate_huge(who) : pm.allocate(who);
    // A slot is installed once per object life (0 only before): its bytes, if the object
    // has any yet, are fresh.
    if (o.has_bytes() && !o.bytes_zeroed())
      std::memset(o.page_data(index), 0, (huge ? physmem::huge_frames : 1) * page_bytes);
    o.live_frames += huge ? physmem::huge_frames : 1;
    e = encode(f);
    return f;
  }

  [[nodiscard]] memory_object* checked(std::uint32_t id) const noexcept {
    VFIOPIN_ASSERT(id < slots_.size() && slots_[id].has_value(), "no such memory object");
    return const_cast<memory_object*>(&*slots_[id]);
  }
  void destroy_if_unused(std::uint32_t id) noexcept {
    const memory_object& o = at(id);
    if (o.mappings != 0 || o.live_frames != 0) return;
    slots_[id].reset();
    // Never allocates: free_ has room for every id (reserved when the slot was created).
    free_.push_back(id);
  }

  std::vector<std::optional<memory_object>> slots_;
  std::vector<std::uint32_t> free_;
};

}  // namespace vfiopin::mock

#endif  // VFIOPIN_MOCK_MEMORY_OBJECT_HPP
