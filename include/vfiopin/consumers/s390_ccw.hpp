// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/consumers/s390_ccw.hpp: an s390 vfio-ccw style consumer that translates guest
// channel programs into host programs over pinned pages.
//
// Theory of operation. ccw_translator<Backend> is what drivers/s390/cio/vfio_ccw_cp.c does
// for START SUBCHANNEL, on any container whose backend pins for consumers. After attach()
// (add_consumer), translate(start) walks the guest program from the ORB's address:
//   reading    every CCW and IDAW is read through a page pinned read-only for the read (a
//              one-page cache, released when translate returns), never through a pointer
//              of our own: an address outside guest memory fails as the backend's pin does
//              (EINVAL), and each word is copied once, so a guest rewriting it meanwhile
//              cannot make the translator see two values.
//   segments   a segment is a run of consecutive CCWs: it goes on while a CCW chains (CD
//              or CC), and past a TIC that transfers back into the segment (the classic
//              "search; TIC *-8; read" loop, where a status-modifier skip reaches the CCW
//              after the TIC), as vfio-ccw does. Every other TIC target starts a segment of
//              its own unless a segment already holds it, so each guest CCW is translated
//              once per segment holding it and the walk always ends. A segment's first
//              CCW is always taken as a command, even where a TIC continues data chaining
//              into it (vfio-ccw checks each CCW on its own too).
//   loops      a channel program may loop through a TIC back to a command (the DASD search
//              loop ends by status modifier); that is accepted. The loop that can never
//              end, a TIC designating a TIC (itself included), is what the architecture
//              refuses, and is refused (ccw_errc::tic_to_tic).
//   data       a CCW moves data unless its count is 0, it is the no-op (0x03), or it is a
//              read-type command with SKIP. Its blocks come from its IDAL (format-2 IDAWs;
//              IDA) or are cut from [cda, cda + count) at block boundaries; each block's
//              page is pinned (read for a write command, read-write for a read command;
//              consecutive pages in one pin call; a page used twice in 2K mode pinned once)
//              and becomes a host_idaw (s390_ccw_program.hpp).
//   bounds     ccw_limits caps the CCWs and the IDAWs of a program (so the pins); a data
//              CCW's IDAW count comes from its count (at most 33), and IDAW and CCW
//              addresses are bounded by the format, so no arithmetic can wrap.
// Any failure releases everything pinned so far and leaves no program; fault_address()
// names the CCW at fault. complete() releases the program; so does an unmap notification
// whose range overlaps any pinned page (by one byte is enough; a range that ends just
// before the first pinned page leaves it), as "vfio/ccw: Add length to DMA_UNMAP checks"
// made the kernel do. Pins are page granular, as the kernel compares pages.
//
// Threads. One mutex guards the program and its pins; translate and complete are the
// owner's calls, on_dma_unmap comes from the unmapping thread (mock::type1 calls it without
// its own lock, so the release may unpin). program() is the owner's view and stays valid
// until the owner calls complete() or translate() again, or a notification releases it.
// The translator is neither copyable nor movable (the backend holds its address), and the
// container must outlive it.
#ifndef VFIOPIN_CONSUMERS_S390_CCW_HPP
#define VFIOPIN_CONSUMERS_S390_CCW_HPP

#include <vfiopin/concepts/consumer.hpp>
#include <vfiopin/concepts/iommu_backend.hpp>
#include <vfiopin/consumers/s390_ccw_format.hpp>
#include <vfiopin/consumers/s390_ccw_program.hpp>
#include <vfiopin/container.hpp>
#include <vfiopin/types/page.hpp>
#include <vfiopin/types/prot.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace vfiopin::s390 {

/// Bounds on one program (hostile guests).
struct ccw_limits {
  std::uint32_t max_ccws = 1024;   ///< CCWs translated (vfio-ccw: 256 per chain)
  std::uint32_t max_idaws = 4096;  ///< IDAWs built, so pages pinned at most
};

/// The ORB fields the translation reads.
struct ccw_start {
  iova cpa{};
  ccw_format format = ccw_format::format1;
  idaw_block block = idaw_block::k4;
};

/// The vfio-ccw consumer (see the header comment).
template <pinning_iommu_backend Backend>
class ccw_translator {
 public:
  using consumer_tag = vfiopin::consumer_tag;
  static constexpr bool needs_pages = true;

  explicit ccw_translator(container<Backend>& c, ccw_limits limits = {}) noexcept
      : c_(&c), limits_(limits) {}
  ccw_translator(const ccw_translator&) = delete;
  ccw_translator& operator=(const ccw_translator&) = delete;
  ~ccw_translator() {
    complete();
    reg_ = {};  // remove_device: waits for a notification in flight
  }

  /// Registers with the container as an emulated-IOMMU device.
  result<void> attach() {
    if (reg_.registered()) return {};
    auto r = c_->add_consumer(*this);
    if (!r) return fail(r.error());
    reg_ = std::move(*r);
    return {};
  }

  /// Translates the program `s` names and pins its data; see the header comment.
  result<void> translate(const ccw_start& s) {
    std::lock_guard lk(m_);
    if (!reg_.registered()) return fail(make_error_code(ccw_errc::not_attached));
    if (active_) return fail(make_error_code(ccw_errc::busy));
    fault_.reset();
    prog_.clear();
    prog_.block_ = s.block;
    walk w{*this, s};
    auto r = w.run();
    if (!r) {
      fault_ = iova(w.at);
      release_locked();
      return r;
    }
    active_ = true;
    return {};
  }

  /// The I/O completed (or was cleared): unpins everything. Never fails.
  void complete() noexcept {
    std::lock_guard lk(m_);
    release_locked();
  }

  /// [consumer.unpin-on-notify]: a range overlapping any pinned page releases the program.
  void on_dma_unmap(interval<iova> range) noexcept {
    std::lock_guard lk(m_);
    for (const auto& p : pins_) {
      if (p.range.overlaps(range)) {
        release_locked();
        ++unmap_releases_;
        return;
      }
    }
  }

  [[nodiscard]] bool attached() const noexcept { return reg_.registered(); }
  [[nodiscard]] bool active() const {
    std::lock_guard lk(m_);
    return active_;
  }
  /// The host program (owner thread; see Threads in the header comment).
  [[nodiscard]] const host_program& program() const noexcept { return prog_; }
  /// The pinned page ranges of the active program.
  [[nodiscard]] std::vector<interval<iova>> pinned_ranges() const {
    std::lock_guard lk(m_);
    std::vector<interval<iova>> out;
    for (const auto& p : pins_) out.push_back(p.range);
    return out;
  }
  /// The guest address of the CCW the last refused translate() stopped at.
  [[nodiscard]] std::optional<iova> fault_address() const {
    std::lock_guard lk(m_);
    return fault_;
  }
  /// Programs released by an unmap notification.
  [[nodiscard]] std::uint64_t unmap_releases() const {
    std::lock_guard lk(m_);
    return unmap_releases_;
  }

 private:
  struct data_pin {
    interval<iova> range;
    pin_lease<Backend> lease;
  };
  struct segment {
    std::uint64_t guest_first;
    std::uint32_t host_first;
    std::uint32_t len;
  };
  struct tic_fixup {
    std::uint32_t host;
    std::uint64_t target;
  };

  /// The state of one translate() call.
  struct walk {
    ccw_translator& t;
    const ccw_start& s;
    std::uint64_t at = 0;  // the CCW being translated, for fault_address()
    std::vector<segment> segments{};
    std::vector<tic_fixup> tics{};
    pin_lease<Backend> read_lease{};
    std::uint64_t read_page = 0;
    page_handle read_handle{};

    static unexpected<std::error_code> refuse(ccw_errc e) noexcept { return fail(make_error_code(e)); }

    /// 8 bytes at guest address a (8-aligned, so inside one page), copied out once.
    result<std::array<std::byte, 8>> read8(std::uint64_t a) {
      const std::uint64_t page = a & ~(page_bytes - 1);
      if (!read_lease.held() || page != read_page) {
        read_lease.unpin();
        std::array<page_handle, 1> h{};
        auto r = t.reg_.pin(iova(page), page_count(1), prot::read, h);
        if (!r) return fail(r.error());
        read_lease = std::move(*r);
        read_page = page;
        read_handle = h[0];
      }
      std::array<std::byte, 8> out{};
      const auto src = read_handle.bytes().subspan(a - page, 8);
      std::copy(src.begin(), src.end(), out.begin());
      return out;
    }

    [[nodiscard]] std::optional<std::uint32_t> find(std::uint64_t a) const noexcept {
      for (const auto& g : segments)
        if (a >= g.guest_first && (a - g.guest_first) / ccw_bytes < g.len)
          return g.host_first + static_cast<std::uint32_t>((a - g.guest_first) / ccw_bytes);
      return std::nullopt;
    }

    result<void> run() {
      if (s.cpa.value() % ccw_bytes != 0) { at = s.cpa.value(); return refuse(ccw_errc::misaligned_ccw); }
      if (auto r = segment_at(s.cpa.value()); !r) return r;
      for (std::size_t i = 0; i < tics.size(); ++i)  // tics grows as segments are added
        if (!find(tics[i].target))
          if (auto r = segment_at(tics[i].target); !r) return r;
      auto& ccws = t.prog_.ccws_;
      for (const auto& f : tics) {
        const std::uint32_t target = *find(f.target);
        at = ccws[f.host].guest.value();
        if (ccws[target].is_tic()) return refuse(ccw_errc::tic_to_tic);
        ccws[f.host].tic_target = target;
      }
      return {};
    }

    /// Translates the segment starting at guest address a.
    result<void> segment_at(std::uint64_t a) {
      auto& ccws = t.prog_.ccws_;
      const std::size_t si = segments.size();
      segments.push_back({a, static_cast<std::uint32_t>(ccws.size()), 0});
      bool data_chained = false;
      ccw_direction chain_dir = ccw_direction::none;
      for (;;) {
        at = a;
        if (ccws.size() >= t.limits_.max_ccws) return refuse(ccw_errc::chain_too_long);
        if (a >= ccw_address_limit) return refuse(ccw_errc::address_range);
        auto raw = read8(a);
        if (!raw) return fail(raw.error());
        auto c = decode_ccw(std::span<const std::byte, ccw_bytes>(*raw), s.format);
        if (!c) return fail(c.error());
        host_ccw h{.guest = iova(a), .cmd = c->cmd, .flags = c->flags, .count = c->count};
        if (c->is_tic()) {
          if (c->cda % ccw_bytes != 0) return refuse(ccw_errc::misaligned_ccw);
          if (c->cda == a) return refuse(ccw_errc::tic_to_tic);
          tics.push_back({static_cast<std::uint32_t>(ccws.size()), c->cda});
          ccws.push_back(h);
          ++segments[si].len;
          if (c->cda < segments[si].guest_first || c->cda > a) return {};
          data_chained = false;  // the CCW after it is reached by a command-chain skip
          a += ccw_bytes;
          continue;
        }
        if (!data_chained) {
          if ((c->cmd & 0x0F) == 0) return refuse(ccw_errc::invalid_command);
          chain_dir = direction_of(c->cmd);
        }
        h.direction = chain_dir;
        const bool no_data = c->count == 0 || (!data_chained && c->cmd == ccw_cmd_noop) ||
                             (c->has(ccw_flag::skip) && chain_dir == ccw_direction::to_memory);
        h.flags = static_cast<std::uint8_t>(h.flags & ~ccw_flag::ida);
        if (!no_data) {
          if (auto r = data(*c, h); !r) return r;
        }
        ccws.push_back(h);
        ++segments[si].len;
        if (!c->chains()) return {};
        data_chained = c->has(ccw_flag::cd);
        a += ccw_bytes;
      }
    }

    /// Builds and pins the IDAL of data CCW c into h.
    result<void> data(const ccw& c, host_ccw& h) {
      auto& idaws = t.prog_.idaws_;
      const std::uint64_t bs = block_bytes(s.block);
      const bool ida = c.has(ccw_flag::ida);
      std::uint64_t first = c.cda;
      if (ida) {
        if (c.cda % idaw_bytes != 0) return refuse(ccw_errc::misaligned_idal);
        auto w = read8(c.cda);
        if (!w) return fail(w.error());
        first = decode_idaw(*w);
      }
      const std::uint64_t n = idaw_count(first, c.count, s.block);
      if (idaws.size() + n > t.limits_.max_idaws) return refuse(ccw_errc::too_many_idaws);
      h.first_idaw = static_cast<std::uint32_t>(idaws.size());
      h.idaws = static_cast<std::uint32_t>(n);
      h.flags = static_cast<std::uint8_t>(h.flags | ccw_flag::ida);
      std::uint64_t left = c.count;
      for (std::uint64_t k = 0; k < n; ++k) {
        std::uint64_t addr = first;
        if (k > 0 && ida) {
          auto w = read8(c.cda + k * idaw_bytes);
          if (!w) return fail(w.error());
          addr = decode_idaw(*w);
          if (addr % bs != 0) return refuse(ccw_errc::misaligned_idaw);
        } else if (k > 0) {
          addr = (first - first % bs) + k * bs;
        }
        const std::uint64_t len = std::min(left, bs - addr % bs);
        left -= len;
        idaws.push_back({.guest = iova(addr),
                         .offset = static_cast<std::uint32_t>(addr % page_bytes),
                         .length = static_cast<std::uint32_t>(len)});
      }
      return pin(std::span<host_idaw>(idaws).subspan(h.first_idaw, n),
                 h.direction == ccw_direction::to_memory ? prot::read_write : prot::read);
    }

    /// Pins the pages of `blocks`, consecutive pages in one call, and fills in handles.
    result<void> pin(std::span<host_idaw> blocks, prot access) {
      std::array<page_handle, 32> handles{};  // <= 33 IDAWs of 2K: at most 17 pages
      std::size_t i = 0;
      while (i < blocks.size()) {
        const std::uint64_t first = blocks[i].guest.value() & ~(page_bytes - 1);
        std::uint64_t pages = 1;
        std::size_t j = i + 1;
        for (; j < blocks.size() && pages < handles.size(); ++j) {
          const std::uint64_t p = blocks[j].guest.value() & ~(page_bytes - 1);
          const std::uint64_t last = first + (pages - 1) * page_bytes;
          if (p == last) continue;
          if (last == ~(page_bytes - 1) || p != last + page_bytes) break;
          ++pages;
        }
        auto lease = t.reg_.pin(iova(first), page_count(pages), access, handles);
        if (!lease) return fail(lease.error());
        const auto range = interval<iova>::from(iova(first), byte_count(pages * page_bytes));
        t.pins_.push_back({*range, std::move(*lease)});
        for (; i < j; ++i)
          blocks[i].page = handles[((blocks[i].guest.value() & ~(page_bytes - 1)) - first) / page_bytes];
      }
      return {};
    }
  };

  void release_locked() noexcept {
    pins_.clear();  // each lease unpins
    prog_.clear();
    active_ = false;
  }

  container<Backend>* c_;
  ccw_limits limits_;
  consumer_registration<Backend, ccw_translator> reg_{};
  mutable std::mutex m_;
  host_program prog_{};
  std::vector<data_pin> pins_{};
  bool active_ = false;
  std::optional<iova> fault_{};
  std::uint64_t unmap_releases_ = 0;
};

}  // namespace vfiopin::s390

#endif  // VFIOPIN_CONSUMERS_S390_CCW_HPP
