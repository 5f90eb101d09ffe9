// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/process.hpp: the mock mm of the mapping process, a vfiopin::memory_backend.
//
// Theory of operation. mock::process is what type1 sees of `current->mm` / `dma->mm`: the
// regions of the process (mock/memory_region.hpp), the memory behind them
// (mock/memory_object.hpp, mock/physmem.hpp), the mm's locked_vm with RLIMIT_MEMLOCK and
// CAP_IPC_LOCK, and GUP. It is a `backing_kind::mixed` memory backend: a region may be RAM with
// struct pages or a VM_PFNMAP BAR, decided per frame at run time.
//
// The rules it models (spec: linux-type1-semantics.md §2.2, §4.3e, §4.6):
//   CPU access     read()/write() fault pages in as loads and stores do; all or nothing:
//                  a range that is not wholly accessible (hole, past the end, a store to a
//                  read-only region) is EFAULT and touches nothing. A `bar` accesses the
//                  device's MMIO bytes.
//   GUP            pin_frames(va, max, prot) is pin_user_pages_remote(FOLL_LONGTERM |
//                  FOLL_WRITE iff prot has write) followed by vfio's chunking: it answers
//                  the longest run (1..max pages, never past the region) of physically
//                  contiguous frames of one kind from va. Pages: one pin each. An untouched
//                  anon page read without FOLL_WRITE is the shared zero page (a run of 1,
//                  reserved_page, no pin: FOLL_LONGTERM does not pin the zero page, 6.9+;
//                  with gup_options::pin_zero_page one pin, as before 6.9, which only
//                  unpin_zero_page() drops); a write pin allocates (or COWs the zero
//                  page). A bar follows the pfn
//                  (follow_fault_pfn): no_page frames, no reference, a run to the end of the
//                  BAR mapping (T1-6.x returns 1 pfn per call: pass max 1 to model that).
//                  Hole, unmapped, or write to a read-only mapping: EFAULT.
//                  fault_in(va, max, prot) is the rest of a GUP batch: the faults of up to
//                  max pages, across adjacent regions, without pins (vfio pins a batch of
//                  up to 512 pages before it consumes the first).
//   unpin          unpin_frames(run, prot): one pin off each page, dirtied when prot has
//                  write (unpin_user_pages_dirty_lock); no-op for reserved and no_page runs
//                  (put_pfn() of an rsvd pfn), so a zero-page pin it took stays.
//   page_of        the checked pfn_to_page() (6.4+ contract): a handle for live RAM and for
//                  the zero page (pfn_valid, reserved); errc::not_page_backed for MMIO and
//                  for frame numbers with nothing behind them.
//   unmap_region   like munmap: the mapping goes at once; pinned pages outlive it (they
//                  become orphans: still pinned, bytes intact, page_of still works) and are
//                  freed by their last unpin. The address range is never reused.
//   accounting     account_locked() is __account_locked_vm(mm, n, true, task, lock_cap):
//                  over RLIMIT_MEMLOCK (in pages, rounded down) is ENOMEM unless lock_cap;
//                  CAP_IPC_LOCK only bypasses the limit, the pages are still added.
//                  n == 0 succeeds at once, as vfio_lock_acct() returns early.
// Defaults: the scenario format's fresh state, CAP_IPC_LOCK and no memlock limit.
//
// Fault injection (mock/fault_injection.hpp): map_region, map_alias, pin_frames and
// account_locked each count one step after their argument and permission checks and
// before any state change; an injected failure is ENOMEM (a failed mmap, an allocation
// failure inside GUP, an over-limit charge) and changes nothing.
//
// Thread safety: a process is not thread-safe. Every member function, const ones too,
// must be serialised by the owner (the type1 model calls it under its own lock). There is
// no hidden global state: two processes are independent. The bytes behind a page handle
// or frame_bytes() never move while the frame is pinned, so other threads may read and
// write them without the lock (their own data races are theirs, as with real memory).
// A process is neither copyable nor movable: handles name it as their issuer. Destroying
// it with pins outstanding frees their memory: release every pin first (quiescent()).
#ifndef VFIOPIN_MOCK_PROCESS_HPP
#define VFIOPIN_MOCK_PROCESS_HPP

#include <vfiopin/concepts/memory_backend.hpp>
#include <vfiopin/config.hpp>
#include <vfiopin/error.hpp>
#include <vfiopin/mock/fault_injection.hpp>
#include <vfiopin/mock/memory_object.hpp>
#include <vfiopin/mock/memory_region.hpp>
#include <vfiopin/mock/physmem.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/address.hpp>
#include <vfiopin/types/count.hpp>
#include <vfiopin/types/page.hpp>
#include <vfiopin/types/page_handle.hpp>
#include <vfiopin/types/pfn.hpp>
#include <vfiopin/types/prot.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <span>
#include <vector>

namespace vfiopin::mock {

/// The mock mm of the mapping process (see the header comment).
class process {
 public:
  using memory_backend_tag = vfiopin::memory_backend_tag;
  static constexpr backing_kind backing = backing_kind::mixed;
  /// Largest anon, memfd or hugetlb region (host memory is reserved, not committed).
  static constexpr byte_count max_region_size{std::uint64_t{64} << 30};

  process() = default;
  process(const process&) = delete;
  process& operator=(const process&) = delete;
  ~process() = default;

  // ---- regions ----

  /// mmap a region of `kind`. size 0 is EINVAL; sizes round up to 4 KiB (2 MiB for
  /// hugetlb); a bar above 1 MiB is EINVAL; no room, or more than max_region_size, ENOMEM.
  [[nodiscard]] result<vaddr> map_region(region_kind kind, byte_count size, bool read_only) {
    if (size.value() == 0 || static_cast<std::uint8_t>(kind) > 4) {
      return fail(errc::invalid_argument);
    }
    const auto rounded =
        align_up(size, kind == region_kind::hugetlb ? huge_page_size.value() : page_bytes);
    if (!rounded) return fail(errc::out_of_memory);
    if (kind == region_kind::bar && *rounded > physmem::bar_size) {
      return fail(errc::invalid_argument);
    }
    if (kind == region_kind::bar && !pm_.ensure_bar()) return fail(errc::out_of_memory);
    if (kind != region_kind::hole && kind != region_kind::bar && *rounded > max_region_size) {
      return fail(errc::out_of_memory);
    }
    return add_region(region_info{vaddr(), *rounded, kind, read_only}, std::nullopt);
  }

  /// mmap the memfd or hugetlb file of the region starting at `start` once more: the new
  /// region shares its pages. EINVAL for any other start or kind.
  [[nodiscard]] result<vaddr> map_alias(vaddr start, bool read_only) {
    const detail::region* r = layout_.find(start);
    if (r == nullptr || r->info.start != start ||
        (r->info.kind != region_kind::memfd && r->info.kind != region_kind::hugetlb)) {
      return fail(errc::invalid_argument);
    }
    return add_region(region_info{vaddr(), r->info.size, r->info.kind, read_only}, r->object);
  }

  /// munmap the region that starts at `start` (anything else: no-op). Pinned pages
  /// outlive it as orphans until their last unpin.
  void unmap_region(vaddr start) noexcept {
    const auto r = layout_.remove(start);
    if (r && has_object(r->info.kind)) objects_.unmap(pm_, r->object);
  }

  /// The region containing va (holes included).
  [[nodiscard]] std::optional<region_info> region_at(vaddr va) const noexcept {
    const detail::region* r = layout_.find(va);
    if (r == nullptr) return std::nullopt;
    return r->info;
  }
  /// Every region, in address order.
  [[nodiscard]] std::vector<region_info> regions() const {
    std::vector<region_info> out;
    out.reserve(layout_.regions().size());
    for (const auto& r : layout_.regions()) out.push_back(r.info);
    return out;
  }

  // ---- CPU access ----

  /// A store of `data` at va: EFAULT unless the whole range is writable mapped memory.
  [[nodiscard]] result<void> write(vaddr va, std::span<const std::byte> data) {
    return access(va, data.size(), true, [&](std::byte* p, std::size_t off, std::size_t n) {
      std::memcpy(p, data.data() + off, n);
    });
  }
  /// A load into `out` from va: EFAULT unless the whole range is mapped memory.
  [[nodiscard]] result<void> read(vaddr va, std::span<std::byte> out) {
    return access(va, out.size(), false, [&](std::byte* p, std::size_t off, std::size_t n) {
      std::memcpy(out.data() + off, p, n);
    });
  }

  // ---- GUP: the memory_backend interface ----

  /// Pins the longest contiguous run of one kind from va (see the header comment).
  [[nodiscard]] result<pfn_run> pin_frames(vaddr va, page_count max, prot p) {
    return pin_frames(va, max, p, gup_options{});
  }
  /// The same, with the GUP behaviour of a given kernel (gup_options).
  [[nodiscard]] result<pfn_run> pin_frames(vaddr va, page_count max, prot p, gup_options opt) {
    VFIOPIN_ASSERT(is_aligned(va, page_bytes), "pin_frames: vaddr must be page aligned");
    VFIOPIN_ASSERT(max.value() != 0, "pin_frames: max must be at least one page");
    const bool write = includes(p, prot::write);
    const detail::region* r = layout_.find(va);
    if (r == nullptr || r->info.kind == region_kind::hole) return fail(errc::bad_address);
    if (write && r->info.read_only) return fail(errc::bad_address);
    if (injected()) return fail(errc::out_of_memory);
    const std::uint64_t index = pages_in(va - r->info.start).value();
    const std::uint64_t limit = std::min(max.value(), r->info.pages().value() - index);
    if (r->info.kind == region_kind::bar) {
      return pfn_run{pfn(physmem::mmio_first_frame + index), page_count(limit),
                     frame_kind::no_page};
    }
    std::uint64_t n = 0;
    pfn first{};
    try {
      // A read pin of a private anon page: the zero page, unless the kernel unshares it
      // (gup_options::unshare_zero_page), which faults a fresh page as a write would.
      const bool unshare = opt.unshare_zero_page && r->info.kind == region_kind::anon;
      first = objects_.fault(pm_, r->object, index, write || unshare);
      if (physmem::is_zero(first)) {
        if (opt.pin_zero_page) pm_.pin_zero();
        return pfn_run{first, page_count(1), frame_kind::reserved_page};
      }
      // An untouched anon page read would be the zero page: not contiguous, do not fault it.
      const bool fault_next = write || unshare || r->info.kind != region_kind::anon;
      for (n = 1; n < limit; ++n) {
        // Pages already present and continuing the run need no fault (a fault there
        // changes nothing): take them in one table walk.
        n += objects_.present_run(r->object, index + n, limit - n, first + page_count(n));
        if (n == limit) break;
        const auto next = fault_next
                              ? std::optional(objects_.fault(pm_, r->object, index + n, write || unshare))
                              : objects_.lookup(r->object, index + n);
        if (!next || *next != first + page_count(n)) break;
      }
    } catch (const std::bad_alloc&) {
      return fail(errc::out_of_memory);  // no pin taken yet
    }
    pm_.pin_run(first, n);
    return pfn_run{first, page_count(n), frame_kind::page};
  }

  /// GUP's faults for a whole vfio batch: pin_user_pages_remote() of up to `max` pages
  /// from va faults in every page it pins, across adjacent regions, before vfio looks at
  /// the first; it stops at the first page it cannot pin (hole, BAR, unmapped, a write to
  /// a read-only mapping). Pins nothing; answers how many pages GUP would have pinned. A
  /// read of untouched anon memory maps the zero page and allocates nothing.
  [[nodiscard]] std::uint64_t fault_in(vaddr va, page_count max, prot p, gup_options opt) noexcept {
    const bool write = includes(p, prot::write);
    std::uint64_t at = va.value();
    std::uint64_t done = 0;
    try {
      while (done < max.value()) {
        const detail::region* r = layout_.find(vaddr(at));
        if (r == nullptr || r->info.kind == region_kind::hole || r->info.kind == region_kind::bar ||
            (write && r->info.read_only))
          break;
        const std::uint64_t index = pages_in(vaddr(at) - r->info.start).value();
        const std::uint64_t n = std::min(max.value() - done, r->info.pages().value() - index);
        const bool unshare = opt.unshare_zero_page && r->info.kind == region_kind::anon;
        if (write || unshare || r->info.kind != region_kind::anon)
          for (std::uint64_t i = 0; i < n; ++i) (void)objects_.fault(pm_, r->object, index + i, write || unshare);
        done += n;
        if (n * page_bytes > ~std::uint64_t{0} - at) break;  // the region ends at 2^64
        at += n * page_bytes;
      }
    } catch (const std::bad_alloc&) {
      // GUP returns the pages pinned before the one it could not fault in
    }
    return done;
  }

  /// Releases a run from pin_frames (or any part of one); dirties pages if p has write.
  void unpin_frames(const pfn_run& run, prot p) noexcept {
    if (run.count.value() == 0) return;
    VFIOPIN_ASSERT(pm_.kind_of(run.first) == run.kind, "unpin_frames: run kind mismatch");
    switch (run.kind) {
      case frame_kind::reserved_page:
        VFIOPIN_ASSERT(run.count.value() == 1, "unpin_frames: the zero page is a run of 1");
        return;
      case frame_kind::no_page:
        VFIOPIN_ASSERT(physmem::is_mmio(run.first + (run.count - page_count(1))),
                       "unpin_frames: MMIO run past the BAR");
        return;
      case frame_kind::page: break;
    }
    const bool dirty = includes(p, prot::write);
    for (std::uint64_t i = 0; i < run.count.value(); ++i) {
      if (const auto freed = pm_.unpin(run.first + page_count(i), dirty)) {
        objects_.frame_freed(freed->object);
      }
    }
  }

  /// unpin_user_page() of the shared zero page: drops a pin pin_frames() took with
  /// gup_options::pin_zero_page ("vfio/type1: Unpin zero pages", 6.0-6.8).
  void unpin_zero_page() noexcept { pm_.unpin_zero(); }

  /// The checked pfn_to_page(): not_page_backed for frames without a struct page.
  [[nodiscard]] result<page_handle> page_of(pfn f) noexcept {
    if (physmem::is_mmio(f)) return fail(errc::not_page_backed);
    std::byte* bytes = page_bytes_of(f);
    if (bytes == nullptr) {  // no struct page, or the host refused the object's bytes
      return fail(pm_.owner_of(f) ? errc::out_of_memory : errc::not_page_backed);
    }
    return page_handle(page_handle::issue_tag{}, this, f.value(), bytes, page_frame(f.value()));
  }

  // ---- locked_vm accounting ----

  [[nodiscard]] page_count locked_vm() const noexcept { return locked_vm_; }
  /// RLIMIT_MEMLOCK in bytes; nullopt is RLIM_INFINITY.
  void set_memlock_limit(std::optional<byte_count> limit) noexcept { memlock_limit_ = limit; }
  [[nodiscard]] std::optional<byte_count> memlock_limit() const noexcept { return memlock_limit_; }
  void set_cap_ipc_lock(bool cap) noexcept { cap_ipc_lock_ = cap; }
  [[nodiscard]] bool cap_ipc_lock() const noexcept { return cap_ipc_lock_; }

  /// The limit test of __account_locked_vm and vfio_pin_pages_remote, for a process
  /// without CAP_IPC_LOCK: `locked_vm + n > RLIMIT_MEMLOCK >> PAGE_SHIFT`, modulo 2^64.
  [[nodiscard]] bool over_memlock(page_count n) const noexcept {
    return locked_vm_.value() + n.value() > memlock_pages();
  }
  /// vfio_pin_pages_remote's test of each page it charges: `locked_vm + lock_acct + 1 >
  /// limit` for lock_acct = 0 .. n-1, modulo 2^64. Unlike one test of the sum, a locked_vm
  /// that wrapped below zero fails at the first page (unless it is exactly -1 page).
  [[nodiscard]] bool over_memlock_each(page_count n) const noexcept {
    if (n.value() == 0) return false;
    const std::uint64_t limit = memlock_pages();
    const std::uint64_t first = locked_vm_.value() + 1;
    const std::uint64_t last = first + (n.value() - 1);
    return first > limit || last < first || last > limit;
  }
  /// RLIMIT_MEMLOCK >> PAGE_SHIFT (RLIM_INFINITY: ~0UL >> PAGE_SHIFT, a limit too).
  [[nodiscard]] std::uint64_t memlock_pages() const noexcept {
    return memlock_limit_ ? pages_in(*memlock_limit_).value() : (~std::uint64_t{0} >> page_shift);
  }
  /// __account_locked_vm(inc), in the kernel's unsigned long arithmetic: ENOMEM when
  /// locked_vm + n (modulo 2^64) exceeds RLIMIT_MEMLOCK >> PAGE_SHIFT unless lock_cap
  /// (RLIM_INFINITY is ~0UL >> PAGE_SHIFT pages, a limit too); adds n either way.
  [[nodiscard]] result<void> account_locked(page_count n, bool lock_cap) {
    if (n.value() == 0) return {};
    if (!lock_cap && over_memlock(n)) return fail(errc::out_of_memory);
    const std::uint64_t sum = locked_vm_.value() + n.value();  // wraps as the kernel's does
    if (injected()) return fail(errc::out_of_memory);
    locked_vm_ = page_count(sum);
    return {};
  }
  /// __account_locked_vm(dec): `WARN_ON_ONCE(pages > locked_vm); locked_vm -= pages`. An
  /// uncharge of more than is charged is a kernel accounting bug (the caller records the
  /// warning); like the kernel, the model lets locked_vm wrap below zero rather than clamp.
  void unaccount_locked(page_count n) noexcept {
    locked_vm_ = page_count(locked_vm_.value() - n.value());
  }

  // ---- fault injection and physical memory knobs ----

  /// The injector consulted by every fallible step (nullptr: none). Not owned.
  void set_fault_injector(fault_injector* fi) noexcept { injector_ = fi; }
  [[nodiscard]] fault_injector* injector() const noexcept { return injector_; }
  /// Non-contiguous frame allocation from now on (physmem::set_scatter).
  void set_scatter(bool on) noexcept { pm_.set_scatter(on); }
  [[nodiscard]] const physmem& physical_memory() const noexcept { return pm_; }

  // ---- introspection (tests, invariant checks, device DMA) ----

  /// What backs va now, without faulting (nullopt: nothing mapped or not yet touched).
  [[nodiscard]] std::optional<pfn> frame_of(vaddr va) const noexcept {
    const detail::region* r = layout_.find(va);
    if (r == nullptr || r->info.kind == region_kind::hole) return std::nullopt;
    const std::uint64_t index = pages_in(va - r->info.start).value();
    if (r->info.kind == region_kind::bar) return pfn(physmem::mmio_first_frame + index);
    return objects_.lookup(r->object, index);
  }
  [[nodiscard]] std::optional<frame_info> frame_at(pfn f) const noexcept { return pm_.info(f); }
  [[nodiscard]] std::optional<frame_kind> kind_of(pfn f) const noexcept { return pm_.kind_of(f); }
  [[nodiscard]] std::uint32_t pincount(pfn f) const noexcept {
    return pm_.info(f).value_or(frame_info{}).pincount;
  }
  [[nodiscard]] std::uint32_t refcount(pfn f) const noexcept {
    return pm_.info(f).value_or(frame_info{}).refcount;
  }
  /// The first frame of [first, first + n) holding fewer than `need` pins (physmem's).
  [[nodiscard]] std::optional<pfn> first_short_of_pins(pfn first, std::uint64_t n,
                                                       std::uint32_t need) const noexcept {
    return pm_.first_short_of_pins(first, n, need);
  }
  /// RAM frames holding at least one pin, and the sum of all pins.
  [[nodiscard]] page_count pinned_frames() const noexcept { return pm_.pinned_frames(); }
  [[nodiscard]] std::uint64_t total_pins() const noexcept { return pm_.total_pins(); }
  /// RAM frames allocated now (owned or orphaned).
  [[nodiscard]] page_count live_frames() const noexcept { return pm_.live_frames(); }
  /// No pin outstanding, on RAM or the zero page (so no orphaned frame either).
  [[nodiscard]] bool quiescent() const noexcept { return pm_.total_pins() == 0; }
  [[nodiscard]] bool zero_page_intact() const noexcept { return pm_.zero_page_intact(); }
  /// The bytes a device reaches at frame f (RAM, zero page, BAR MMIO), or an empty span
  /// (no such frame, or the host refused the memory of its object's bytes).
  /// A device must never write the zero page; zero_page_intact() checks.
  [[nodiscard]] std::span<std::byte> frame_bytes(pfn f) const noexcept {
    std::byte* p = page_bytes_of(f);
    return p == nullptr ? std::span<std::byte>() : std::span<std::byte>(p, page_bytes);
  }

 private:
  [[nodiscard]] static constexpr bool has_object(region_kind k) noexcept {
    return k == region_kind::anon || k == region_kind::memfd || k == region_kind::hugetlb;
  }
  [[nodiscard]] static constexpr object_kind object_of(region_kind k) noexcept {
    return k == region_kind::anon    ? object_kind::anon
           : k == region_kind::memfd ? object_kind::memfd
                                     : object_kind::hugetlb;
  }
  [[nodiscard]] bool injected() noexcept { return injector_ != nullptr && injector_->fail_here(); }

  /// Places `info` (start filled in here), with a new object, or another mapping of
  /// `shared`. Counts one fault-injection step.
  [[nodiscard]] result<vaddr> add_region(region_info info, std::optional<std::uint32_t> shared) {
    const auto start = layout_.place(info.size);
    if (!start) return fail(errc::out_of_memory);
    if (injected()) return fail(errc::out_of_memory);
    info.start = *start;
    detail::region r{info, 0};
    if (shared) {
      r.object = *shared;
      objects_.map(r.object);
    } else if (has_object(info.kind)) {
      const auto id = objects_.create(object_of(info.kind), info.pages());
      if (!id) return fail(id.error());
      r.object = *id;
    }
    try {
      layout_.insert(r);
    } catch (const std::bad_alloc&) {
      if (has_object(info.kind)) objects_.unmap(pm_, r.object);
      return fail(errc::out_of_memory);
    }
    return *start;
  }

  /// The bytes of frame f's page: live RAM (nullptr if the host refuses its object's
  /// bytes), the zero page, or a BAR page; nullptr for anything else.
  [[nodiscard]] std::byte* page_bytes_of(pfn f) const noexcept {
    if (physmem::is_zero(f)) return pm_.zero_page();
    if (physmem::is_mmio(f)) {
      return pm_.bar_bytes().data() + (f.value() - physmem::mmio_first_frame) * page_bytes;
    }
    const auto who = pm_.owner_of(f);
    return who ? objects_.bytes_of(*who) : nullptr;
  }

  /// CPU access of len bytes at va: checks the whole range, faults every page in, then
  /// calls copy(page pointer, offset in the caller's buffer, length) per page.
  template <class Copy>
  [[nodiscard]] result<void> access(vaddr va, std::size_t len, bool write, Copy copy) {
    if (len == 0) return {};
    const detail::region* r = layout_.find(va);
    if (r == nullptr || r->info.kind == region_kind::hole) return fail(errc::bad_address);
    if (write && r->info.read_only) return fail(errc::bad_address);
    const auto last = checked_add(va, byte_count(len - 1));
    if (!last || !r->info.contains(*last)) return fail(errc::bad_address);
    const std::uint64_t offset = (va - r->info.start).value();
    if (r->info.kind == region_kind::bar) {
      copy(pm_.bar_bytes().data() + offset, 0, len);
      return {};
    }
    const std::uint64_t first_page = offset / page_bytes;
    const std::uint64_t last_page = (offset + len - 1) / page_bytes;
    std::vector<pfn> frames;
    try {
      frames.reserve(static_cast<std::size_t>(last_page - first_page + 1));
      for (std::uint64_t i = first_page; i <= last_page; ++i) {
        frames.push_back(objects_.fault(pm_, r->object, i, write));
      }
    } catch (const std::bad_alloc&) {
      return fail(errc::out_of_memory);
    }
    for (const pfn f : frames) {  // the object's bytes, allocated before any copy
      if (page_bytes_of(f) == nullptr) return fail(errc::out_of_memory);
    }
    std::size_t done = 0;
    for (const pfn f : frames) {
      const std::uint64_t in_page = (offset + done) % page_bytes;
      const std::size_t n = std::min<std::size_t>(len - done, page_bytes - in_page);
      copy(page_bytes_of(f) + in_page, done, n);
      done += n;
    }
    return {};
  }

  physmem pm_;
  memory_objects objects_;
  detail::address_layout layout_;
  fault_injector* injector_ = nullptr;
  page_count locked_vm_{};
  std::optional<byte_count> memlock_limit_;
  bool cap_ipc_lock_ = true;
};

static_assert(memory_backend<process>);
static_assert(page_capable_memory<process>);
static_assert(!page_backed_memory<process> && !pfn_only_memory<process>);

}  // namespace vfiopin::mock

#endif  // VFIOPIN_MOCK_PROCESS_HPP
