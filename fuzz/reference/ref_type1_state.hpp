// SPDX-License-Identifier: Apache-2.0
//
// ref_type1_state: the state of the reference type1 container and the steps its ioctls
// share (ref_type1.hpp has the ioctls).
//
// Theory of operation. See ref_type1.hpp. This header holds the data (dmas by iova, groups,
// devices, the valid-IOVA list), the lookups (linear scans over the dma map), pinning a whole
// dma for the IOMMU (MAP with a domain, and the replay into the first domain), removing a
// dma, the unmap notification, and attach/detach/device registration. Each step follows
// vfio_iommu_type1.c (6.1/6.12 shapes) as paraphrased in linux-type1-semantics.md §1-§6.
#ifndef VFIOPIN_FUZZ_REFERENCE_REF_TYPE1_STATE_HPP
#define VFIOPIN_FUZZ_REFERENCE_REF_TYPE1_STATE_HPP

#include "ref_iova_list.hpp"
#include "ref_memory.hpp"

#include <vfiopin/error.hpp>
#include <vfiopin/mock/profile.hpp>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <utility>
#include <vector>

namespace vfiopin::fuzz::ref {

[[nodiscard]] constexpr int errc_value(errc e) noexcept { return static_cast<int>(e); }

namespace detail {

struct record {
  std::uint32_t refs = 0;
  frame f = frame::ram;
};

struct dma {
  std::uint64_t iova = 0, size = 0, vaddr = 0;
  unsigned prot = 0;  ///< 1 read, 2 write
  bool lock_cap = false;
  bool vaddr_invalid = false;
  bool mapped = false;               ///< iommu_mapped
  std::vector<frame> iommu;          ///< per page, while mapped
  std::map<std::uint64_t, record> recs;  ///< external pins by exact key
  std::vector<bool> dirty;           ///< per pgsize unit, while tracking
  [[nodiscard]] std::uint64_t last() const noexcept { return iova + size - 1; }
};

struct real_group {
  std::uint32_t id = 0;
  std::uint32_t cls = 0;
  bool scoped = false;  ///< pinned_page_dirty_scope
};

struct device {
  std::uint32_t id = 0;
  std::uint32_t group = 0;
  bool emulated = false;
  std::function<void(std::uint64_t, std::uint64_t)> unmap;
};

class state {
 public:
  /// type: 0 type1v2, 1 type1, 2 an invalid VFIO_SET_IOMMU argument.
  state(memory& m, int type, mock::kernel_profile prof, mock::geometry g)
      : mem(&m), type_(type), profile(prof), geo(std::move(g)), limit_param(geo.dma_entry_limit) {}

  void set_entry_limit(std::uint32_t n) noexcept { limit_param = n; }

  // ---- groups and devices ----
  [[nodiscard]] int attach(std::uint32_t g) {
    if (set && group_known(g)) return EINVAL;  // the group layer: it has a container already
    return with_open([&] { return attach_real(g); });
  }
  [[nodiscard]] int detach(std::uint32_t g) {
    if (!set) return EINVAL;
    for (const auto& d : devices)
      if (d.group == g) return d.emulated ? EINVAL : EBUSY;
    auto it = std::find_if(real.begin(), real.end(), [&](const auto& r) { return r.id == g; });
    if (it == real.end()) return EINVAL;
    const real_group gone = *it;
    real.erase(it);
    range_list copy = iova_list;
    if (!class_attached(gone.cls)) {  // its domain goes
      if (!has_domain()) {
        if (emulated.empty()) unmap_unpin_all(true);
        else reaccount();
      }
      aper_expand(copy);
    }
    if (resv_refresh(copy)) iova_list = std::move(copy);
    if (!gone.scoped && tracking)
      for (auto& [k, d] : dmas) std::fill(d.dirty.begin(), d.dirty.end(), true);
    if (group_count() == 0) release();
    return 0;
  }
  /// add_device(callback): a new emulated group and device; the device id, or -errno.
  [[nodiscard]] std::int64_t add_emulated(std::function<void(std::uint64_t, std::uint64_t)> cb) {
    const std::uint32_t g = 0x80000000U + next_emulated;
    const int e = with_open([&] {
      if (invalid_count() != 0) return EBUSY;
      if (group_known(g)) return EINVAL;
      emulated.push_back(g);
      return 0;
    });
    if (e != 0) return -e;
    ++next_emulated;
    return enroll(g, true, std::move(cb));
  }
  [[nodiscard]] std::int64_t add_real(std::uint32_t g, std::function<void(std::uint64_t, std::uint64_t)> cb) {
    if (!set || std::none_of(real.begin(), real.end(), [&](const auto& r) { return r.id == g; }))
      return -EINVAL;
    return enroll(g, false, std::move(cb));
  }
  void remove_device(std::uint32_t id) {
    auto it = std::find_if(devices.begin(), devices.end(), [&](const auto& d) { return d.id == id; });
    if (it == devices.end()) return;
    const device gone = *it;
    devices.erase(it);
    if (!gone.emulated) return;
    std::erase(emulated, gone.group);
    if (emulated.empty() && !has_domain()) unmap_unpin_all();
    if (group_count() == 0) release();
  }

  // ---- observations ----
  [[nodiscard]] std::uint64_t pins_held() const {
    std::uint64_t n = 0;
    for (const auto& [k, d] : dmas) {
      if (d.mapped) n += static_cast<std::uint64_t>(std::count_if(d.iommu.begin(), d.iommu.end(), charged));
      for (const auto& [key, r] : d.recs) n += charged(r.f) ? 1U : 0U;
    }
    return n;
  }
  [[nodiscard]] const std::map<std::uint64_t, dma>& mappings() const noexcept { return dmas; }
  [[nodiscard]] bool is_set() const noexcept { return set; }
  /// Would attaching g replay (as the first domain) a dma that is not inside g's aperture?
  /// (Possible over an empty IOVA list, or over [0, 2^64-1] where aper_conflict's lookup
  /// wraps.) Then iommu_map fails (VT-d: EFAULT) at a chunk that depends on physical
  /// contiguity, which this model does not know.
  [[nodiscard]] bool replay_leaves_aperture(std::uint32_t g) const {
    if (has_domain()) return false;
    const auto& ap = geo.classes.at(geo.class_of(group_id{g})).aperture;
    return std::any_of(dmas.begin(), dmas.end(), [&](const auto& e) {
      return e.second.iova < ap.first().value() || e.second.last() > ap.last().value();
    });
  }

 protected:
  // ---- lookups ----
  [[nodiscard]] bool has_domain() const noexcept { return !real.empty(); }
  [[nodiscard]] bool class_attached(std::uint32_t c) const {
    return std::any_of(real.begin(), real.end(), [&](const auto& r) { return r.cls == c; });
  }
  [[nodiscard]] bool group_known(std::uint32_t g) const {
    return std::any_of(real.begin(), real.end(), [&](const auto& r) { return r.id == g; }) ||
           std::find(emulated.begin(), emulated.end(), g) != emulated.end();
  }
  [[nodiscard]] std::size_t group_count() const noexcept { return real.size() + emulated.size(); }
  [[nodiscard]] std::uint64_t pgsize_bitmap() const {
    std::uint64_t b = ~std::uint64_t{0};
    for (const auto& r : real) b &= geo.classes.at(r.cls).pgsize_bitmap;
    if ((b & (page_len - 1)) != 0) b = (b & ~(page_len - 1)) | page_len;
    return b;
  }
  [[nodiscard]] std::uint64_t pgsize() const { return std::uint64_t{1} << static_cast<unsigned>(std::countr_zero(pgsize_bitmap())); }
  [[nodiscard]] std::size_t invalid_count() const {
    return static_cast<std::size_t>(std::count_if(dmas.begin(), dmas.end(), [](const auto& e) { return e.second.vaddr_invalid; }));
  }
  [[nodiscard]] std::size_t unscoped() const {
    return static_cast<std::size_t>(std::count_if(real.begin(), real.end(), [](const auto& r) { return !r.scoped; }));
  }
  [[nodiscard]] bool unshare() const noexcept { return profile.longterm_pin_unshares_zero_page; }
  /// The lowest dma overlapping [a, b].
  [[nodiscard]] dma* first_overlap(std::uint64_t a, std::uint64_t b) {
    for (auto& [k, d] : dmas)
      if (d.iova <= b && d.last() >= a) return &d;
    return nullptr;
  }
  [[nodiscard]] bool in_one_node(std::uint64_t a, std::uint64_t b) const {
    return std::any_of(iova_list.begin(), iova_list.end(), [&](const auto& n) { return n.first <= a && b <= n.second; });
  }
  /// The v2 no-bisection rule: a dma holding `a` must start there, one holding `b` end there.
  [[nodiscard]] bool bisects(std::uint64_t a, std::uint64_t b) const {
    return std::any_of(dmas.begin(), dmas.end(), [&](const auto& e) {
      const dma& d = e.second;
      return (d.iova < a && a <= d.last()) || (d.iova < b && b < d.last());
    });
  }
  /// verify_bitmap_size(size >> __ffs(pgsize), words * 8).
  [[nodiscard]] bool bitmap_size_ok(std::uint64_t size, std::uint64_t pgsize_arg, std::size_t words) const {
    const std::uint64_t npages = size >> (pgsize_arg == 0 ? 0U : static_cast<unsigned>(std::countr_zero(pgsize_arg)));
    const std::uint64_t bytes = std::uint64_t{words} * 8;
    const std::uint64_t need = (npages / 64 + (npages % 64 != 0 ? 1 : 0)) * 8;
    return npages != 0 && bytes != 0 && bytes <= geo.max_dirty_bitmap_bytes && bytes >= need;
  }
  [[nodiscard]] const device* find_device(std::uint32_t id) const {
    for (const auto& d : devices)
      if (d.id == id) return &d;
    return nullptr;
  }

  // ---- dirty bits ----
  void populate(dma& d) {
    for (const auto& [key, r] : d.recs) d.dirty[(key - d.iova) / pgsize()] = true;
  }
  /// update_user_bitmap + re-population: d's bits into out at (d.iova - at) / pgsize.
  void report_dirty(dma& d, std::uint64_t at, std::span<std::uint64_t> out) {
    if (unscoped() != 0 && d.mapped) std::fill(d.dirty.begin(), d.dirty.end(), true);
    const std::uint64_t base = (d.iova - at) / pgsize();
    for (std::uint64_t i = 0; i < d.dirty.size(); ++i) {
      const std::uint64_t bit = base + i;
      if (d.dirty[i] && bit / 64 < out.size()) out[bit / 64] |= std::uint64_t{1} << (bit % 64);
    }
    std::fill(d.dirty.begin(), d.dirty.end(), false);
    populate(d);
  }

  // ---- pinning for the IOMMU (vfio_pin_pages_remote over a whole dma) ----
  /// Pins every page of d into d.iommu, charging pages without an exact-key record; GUP
  /// works in batches of up to 512 pages that stop at the first page it cannot pin (a
  /// PFNMAP page is then a batch of one), so a failure still leaves the batch faulted in.
  [[nodiscard]] int pin_dma(dma& d) {
    const std::uint64_t n = d.size / page_len;
    const bool write = (d.prot & 2U) != 0;
    std::vector<frame> got;
    std::uint64_t pending = 0;
    int err = 0;
    for (std::uint64_t p = 0; p < n && err == 0;) {
      std::vector<frame> batch;
      for (std::uint64_t i = p; i < std::min(n, p + 512); ++i) {
        const auto f = mem->gup(d.vaddr + i * page_len, write, unshare());
        if (!f || (*f == frame::no_page && !batch.empty())) break;
        batch.push_back(*f);
        if (*f == frame::no_page) break;
      }
      if (batch.empty()) { err = EFAULT; break; }
      for (const frame f : batch) {
        const std::uint64_t iova = d.iova + got.size() * page_len;
        if (charged(f) && !d.recs.contains(iova)) {
          if (mem->over(pending, 1, d.lock_cap)) { err = ENOMEM; break; }
          ++pending;
        }
        got.push_back(f);
      }
      p += batch.size();
    }
    if (err != 0) return err;
    mem->charge(static_cast<std::int64_t>(pending));
    d.iommu = std::move(got);
    d.mapped = true;
    return 0;
  }
  /// vfio_unmap_unpin: drops the IOMMU pins; uncharges them if `accounting`, else returns
  /// how many were not reserved.
  std::int64_t release_iommu(dma& d, bool accounting) {
    if (!d.mapped) return 0;
    const auto unlocked = static_cast<std::int64_t>(std::count_if(d.iommu.begin(), d.iommu.end(), charged));
    d.iommu.clear();
    d.mapped = false;
    if (accounting) mem->charge(-unlocked);
    return accounting ? 0 : unlocked;
  }
  /// The replay's unwind (vfio_unpin_pages_remote(..., true)): pages with an exact-key
  /// record keep their charge, the others are uncharged.
  void unwind_replay(dma& d) {
    if (!d.mapped) return;
    std::int64_t unlocked = 0;
    for (std::uint64_t i = 0; i < d.iommu.size(); ++i)
      if (charged(d.iommu[i]) && !d.recs.contains(d.iova + i * page_len)) ++unlocked;
    d.iommu.clear();
    d.mapped = false;
    mem->charge(-unlocked);
  }
  /// vfio_remove_dma. Records left by a device that kept its pins: the kernel WARNs and
  /// leaks them; the mock releases them (uncharged when no domain is present, which is the
  /// do_accounting of their pin), a documented choice so that a close leaves no pin, and
  /// the reference follows it (spec §1.4 "pins released, accounting reversed").
  void remove(std::uint64_t key, bool domain_present) {
    dma& d = dmas.at(key);
    for (const auto& [k, r] : d.recs)
      if (!domain_present && charged(r.f)) mem->charge(-1);
    release_iommu(d, true);
    dmas.erase(key);
    ++avail;
  }
  void unpin_one(std::uint64_t key, bool accounting) {
    dma* d = first_overlap(key, key + page_len - 1);
    if (d == nullptr) return;
    auto r = d->recs.find(key);
    if (r == d->recs.end()) return;
    if (--r->second.refs != 0) return;
    if (accounting && charged(r->second.f)) mem->charge(-1);
    d->recs.erase(r);
  }
  /// vfio_notify_dma_unmap: every device, newest first; callbacks may unpin.
  void notify(std::uint64_t first, std::uint64_t last) {
    const std::vector<device> now = devices;
    for (const auto& d : now) d.unmap(first, last);
  }

  // ---- attach/detach steps ----
  template <class F>
  [[nodiscard]] int with_open(F&& f) {
    const bool opening = !set;
    if (opening) {
      if (type_ != 0 && type_ != 1) return EINVAL;
      set = true;
      v2 = type_ == 0;
      avail = limit_param;
    }
    const int e = f();
    if (e != 0 && opening) release();
    return e;
  }
  [[nodiscard]] int attach_real(std::uint32_t g) {
    if (invalid_count() != 0) return EBUSY;
    if (group_known(g)) return EINVAL;
    const std::uint32_t cls = geo.class_of(group_id{g});
    const mock::domain_class& c = geo.classes.at(cls);
    if (!c.allocatable) return EIO;
    const std::uint64_t a0 = c.aperture.first().value(), a1 = c.aperture.last().value();
    if (aper_conflict(a0, a1)) return EINVAL;
    for (const auto& r : c.reserved)
      if (first_overlap(r.first().value(), r.last().value()) != nullptr) return EINVAL;
    range_list copy = iova_list;
    aper_resize(copy, a0, a1);
    if (!resv_exclude(copy, c.reserved)) return EINVAL;
    if (!c.isolated_msi) return EPERM;
    if (!class_attached(cls) && !has_domain()) {  // the first domain: replay pins
      for (auto& [k, d] : dmas) {
        if (const int e = pin_dma(d)) {
          for (auto& [k2, d2] : dmas) unwind_replay(d2);
          return e;
        }
      }
    }
    iova_list = std::move(copy);
    real.push_back({g, cls, false});
    return 0;
  }
  [[nodiscard]] bool aper_conflict(std::uint64_t start, std::uint64_t end) {
    if (iova_list.empty()) return false;
    const auto first = iova_list.front(), last = iova_list.back();
    if (start > last.second || end < first.first) return true;
    if (start > first.first && first_overlap(first.first, start - 1) != nullptr) return true;
    // vfio_find_dma(end + 1, last.end - end): when last.end is 2^64 - 1, start + size wraps
    // to 0 and the pre-Mastro lookup goes left at every node: nothing is found.
    if (last.second == ~std::uint64_t{0}) return false;
    return end < last.second && first_overlap(end + 1, last.second) != nullptr;
  }
  void aper_expand(range_list& l) const {
    if (l.empty()) return;
    std::uint64_t start = 0, end = ~std::uint64_t{0};
    for (const auto& r : real) {
      start = std::max(start, geo.classes.at(r.cls).aperture.first().value());
      end = std::min(end, geo.classes.at(r.cls).aperture.last().value());
    }
    l.front().first = start;
    l.back().second = end;
  }
  [[nodiscard]] bool resv_refresh(range_list& l) const {
    if (l.empty()) return false;
    const std::uint64_t start = l.front().first, end = l.back().second;
    l.clear();
    aper_resize(l, start, end);
    for (const auto& r : real)
      if (!resv_exclude(l, geo.classes.at(r.cls).reserved)) return false;
    return true;
  }
  void unmap_unpin_all(bool domain_present = false) {
    while (!dmas.empty()) remove(dmas.begin()->first, domain_present);
  }
  void reaccount() {
    for (auto& [k, d] : dmas) {
      const std::int64_t unlocked = release_iommu(d, false);
      const auto locked = static_cast<std::int64_t>(
          std::count_if(d.recs.begin(), d.recs.end(), [](const auto& e) { return charged(e.second.f); }));
      // vfio_lock_acct(dma, locked - unlocked, true): over the limit __account_locked_vm
      // is ENOMEM and charges nothing, which vfio_iommu_unmap_unpin_reaccount ignores.
      const std::int64_t delta = locked - unlocked;
      if (delta > 0 && mem->over(0, static_cast<std::uint64_t>(delta), d.lock_cap)) continue;
      mem->charge(delta);
    }
  }
  void release() {
    emulated.clear();
    unmap_unpin_all();
    real.clear();
    iova_list.clear();
    tracking = false;
    set = false;
  }
  [[nodiscard]] std::int64_t enroll(std::uint32_t g, bool emu, std::function<void(std::uint64_t, std::uint64_t)> cb) {
    const std::uint32_t id = next_device++;
    devices.insert(devices.begin(), device{id, g, emu, std::move(cb)});
    return id;
  }

  memory* mem;
  int type_;
  mock::kernel_profile profile;
  mock::geometry geo;
  std::uint32_t limit_param;
  bool set = false;
  bool v2 = false;
  bool tracking = false;
  std::uint32_t avail = 0;
  std::map<std::uint64_t, dma> dmas;
  std::vector<real_group> real;
  std::vector<std::uint32_t> emulated;
  std::vector<device> devices;
  range_list iova_list;
  std::uint32_t next_emulated = 0;
  std::uint32_t next_device = 1;
};

}  // namespace detail
}  // namespace vfiopin::fuzz::ref

#endif  // VFIOPIN_FUZZ_REFERENCE_REF_TYPE1_STATE_HPP
