// SPDX-License-Identifier: Apache-2.0
//
// benchmarks/baselines.hpp: the two baselines vfiopin's mock structures are measured against.
//
// Theory of operation. Both baselines run the same operations as the vfiopin rows, over the
// same GUP stand-in (benchmarks/light_memory.hpp), without locks (as the structure-only
// vfiopin row), and never fail on the benchmark workloads:
//   map(iova, size, va)   reject any overlap (false), else record the mapping; pins nothing
//                         (an emulated-only container: MAP_DMA pins nothing)
//   translate(iova)       the vaddr behind iova, 0 if unmapped
//   pin(iova, n, out)     vfio_pin_pages: per page, the mapping must cover it; a page with a
//                         record gets refcount + 1, else GUP one page, charge 1, new record;
//                         out[i] = pfn
//   unpin(iova, n)        vfio_unpin_pages: per page, refcount - 1; at 0 put, uncharge, erase
// B0, the naive model: std::map of mappings (iova -> {size, vaddr, prot}) and std::map of
//   per-page pins (iova -> refcount). It stores no pfn: it asks the stand-in again.
// B1, the kernel's structure (drivers/vfio/vfio_iommu_type1.c, Linux 6.1): an intrusive
//   rb-tree of struct vfio_dma (80 bytes, kmalloc-128 in the kernel) and, per dma, an
//   rb-tree pfn_list of struct vfio_pfn {rb_node, iova, pfn, ref_count} (48 bytes,
//   kmalloc-64), searched and updated page by page exactly as vfio_find_dma,
//   vfio_find_vpfn, vfio_iova_get_vfio_pfn, vfio_pin_page_external + vfio_add_to_pfn_list
//   and vfio_unpin_page_external + vfio_remove_from_pfn_list do.
#ifndef VFIOPIN_BENCHMARKS_BASELINES_HPP
#define VFIOPIN_BENCHMARKS_BASELINES_HPP

#include "benchmarks/light_memory.hpp"
#include "benchmarks/rbtree.hpp"

#include <vfiopin/types/page.hpp>
#include <vfiopin/types/prot.hpp>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>

namespace vfiopin::bench {

/// What a model is built for: the pages of its address space and their layout.
struct model_config {
  std::uint64_t pages = 0;
  bool scatter = false;
};

/// B0: std::map of mappings and std::map of per-page refcounts.
class b0_model {
  struct mapping {
    std::uint64_t size = 0;
    std::uint64_t vaddr = 0;
    prot access = prot::none;
  };
  using map_iter = std::map<std::uint64_t, mapping>::const_iterator;

 public:
  using out_type = std::uint64_t;
  explicit b0_model(const model_config& c) : mm_(c.pages, c.scatter) {}

  [[nodiscard]] static std::uint64_t va_base() noexcept { return light_memory::va_base; }

  bool map(std::uint64_t iova, std::uint64_t size, std::uint64_t va) {
    auto it = maps_.upper_bound(iova);
    if (it != maps_.begin()) {
      const auto prev = std::prev(it);
      if (prev->first + (prev->second.size - 1) >= iova) return false;
    }
    if (it != maps_.end() && it->first <= iova + (size - 1)) return false;
    maps_.emplace_hint(it, iova, mapping{size, va, prot::read_write});
    return true;
  }

  [[nodiscard]] std::uint64_t translate(std::uint64_t iova) const noexcept {
    const map_iter it = find(iova);
    return it == maps_.end() ? 0 : it->second.vaddr + (iova - it->first);
  }

  bool pin(std::uint64_t iova0, std::uint64_t n, out_type* out) {
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t iova = iova0 + i * page_bytes;
      const map_iter m = find(iova);
      if (m == maps_.end() || !includes(m->second.access, prot::read_write)) {
        unpin(iova0, i);
        return false;
      }
      const std::uint64_t va = m->second.vaddr + (iova - m->first);
      auto [rec, fresh] = pins_.try_emplace(iova, 0U);
      if (fresh) {
        out[i] = mm_.gup(va, 1).frame;
        mm_.charge(1);
      } else {
        out[i] = mm_.frame_of(va);
      }
      ++rec->second;
    }
    return true;
  }

  void unpin(std::uint64_t iova0, std::uint64_t n) {
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t iova = iova0 + i * page_bytes;
      const map_iter m = find(iova);
      if (m == maps_.end()) return;
      auto rec = pins_.find(iova);
      if (rec == pins_.end() || --rec->second != 0) continue;
      mm_.put(mm_.frame_of(m->second.vaddr + (iova - m->first)), 1);
      mm_.uncharge(1);
      pins_.erase(rec);
    }
  }

  [[nodiscard]] std::uint64_t records() const noexcept { return pins_.size(); }
  [[nodiscard]] static std::uint64_t own_bytes() noexcept { return 0; }
  [[nodiscard]] bool consistent() const { return mm_.total_pins() == pins_.size(); }

 private:
  /// The mapping holding iova, or end().
  [[nodiscard]] map_iter find(std::uint64_t iova) const noexcept {
    auto it = maps_.upper_bound(iova);
    if (it == maps_.begin()) return maps_.end();
    --it;
    return iova - it->first < it->second.size ? it : maps_.end();
  }

  light_memory mm_;
  std::map<std::uint64_t, mapping> maps_;
  std::map<std::uint64_t, std::uint32_t> pins_;
};

/// B1: the kernel's rb-trees (see the header comment).
class b1_model {
  struct vfio_pfn {
    rb_node node;
    std::uint64_t iova = 0;
    std::uint64_t pfn = 0;
    std::uint32_t ref_count = 0;
  };
  struct vfio_dma {
    rb_node node;
    std::uint64_t iova = 0;
    std::uint64_t vaddr = 0;
    std::uint64_t size = 0;
    int prot_bits = 0;
    bool iommu_mapped = false;
    bool lock_cap = false;
    bool vaddr_invalid = false;
    void* task = nullptr;
    rb_root pfn_list;
    std::uint64_t* bitmap = nullptr;
  };
  static_assert(sizeof(vfio_pfn) == 48 && sizeof(vfio_dma) == 80, "the kernel's 6.1 sizes");
  static vfio_dma* dma_of(rb_node* n) noexcept { return reinterpret_cast<vfio_dma*>(n); }
  static vfio_pfn* pfn_of(rb_node* n) noexcept { return reinterpret_cast<vfio_pfn*>(n); }
  static const vfio_dma* dma_of(const rb_node* n) noexcept { return reinterpret_cast<const vfio_dma*>(n); }
  static const vfio_pfn* pfn_of(const rb_node* n) noexcept { return reinterpret_cast<const vfio_pfn*>(n); }
  static constexpr int prot_rw = 3;  // IOMMU_READ | IOMMU_WRITE

 public:
  using out_type = std::uint64_t;
  explicit b1_model(const model_config& c) : mm_(c.pages, c.scatter) {}
  b1_model(const b1_model&) = delete;
  b1_model& operator=(const b1_model&) = delete;
  ~b1_model() {
    rb::destroy(dma_list_, [](rb_node* n) {
      vfio_dma* d = dma_of(n);
      rb::destroy(d->pfn_list, [](rb_node* p) { delete pfn_of(p); });
      delete d;
    });
  }

  [[nodiscard]] static std::uint64_t va_base() noexcept { return light_memory::va_base; }

  /// vfio_dma_do_map on a container without a real domain: find, allocate, link.
  bool map(std::uint64_t iova, std::uint64_t size, std::uint64_t va) {
    if (find_dma(iova, size) != nullptr) return false;  // -EEXIST
    auto* d = new vfio_dma;
    d->iova = iova;
    d->vaddr = va;
    d->size = size;
    d->prot_bits = prot_rw;
    d->lock_cap = true;
    link_dma(d);
    return true;
  }

  [[nodiscard]] std::uint64_t translate(std::uint64_t iova) const noexcept {
    const vfio_dma* d = find_dma(iova, 1);
    return d == nullptr ? 0 : d->vaddr + (iova - d->iova);
  }

  /// vfio_iommu_type1_pin_pages (do_accounting: no real domain).
  bool pin(std::uint64_t iova0, std::uint64_t n, out_type* out) {
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t iova = iova0 + i * page_bytes;
      vfio_dma* d = find_dma(iova, page_bytes);
      if (d == nullptr || (d->prot_bits & prot_rw) != prot_rw) {
        unpin(iova0, i);  // pin_unwind
        return false;
      }
      if (vfio_pfn* v = find_vpfn(d, iova)) {  // vfio_iova_get_vfio_pfn
        ++v->ref_count;
        out[i] = v->pfn;
        continue;
      }
      // vfio_pin_page_external: one page, then vfio_lock_acct(dma, 1).
      const std::uint64_t frame = mm_.gup(d->vaddr + (iova - d->iova), 1).frame;
      mm_.charge(1);
      add_to_pfn_list(d, iova, frame);
      out[i] = frame;
    }
    return true;
  }

  /// vfio_iommu_type1_unpin_pages.
  void unpin(std::uint64_t iova0, std::uint64_t n) {
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t iova = iova0 + i * page_bytes;
      vfio_dma* d = find_dma(iova, page_bytes);
      if (d == nullptr) return;
      vfio_pfn* v = find_vpfn(d, iova);  // vfio_unpin_page_external
      if (v == nullptr || --v->ref_count != 0) continue;
      mm_.put(v->pfn, 1);
      rb::erase(&v->node, d->pfn_list);  // vfio_remove_from_pfn_list
      delete v;
      --records_;
      mm_.uncharge(1);
    }
  }

  [[nodiscard]] std::uint64_t records() const noexcept { return records_; }
  [[nodiscard]] static std::uint64_t own_bytes() noexcept { return 0; }
  /// Both kinds of tree are valid red-black trees and every record holds one pin.
  [[nodiscard]] bool consistent() const {
    bool ok = rb::check(dma_list_, [](const rb_node* n) { return dma_of(n)->iova; });
    check_pfn_trees(dma_list_.node, ok);
    return ok && mm_.total_pins() == records_;
  }

 private:
  /// vfio_find_dma: top-down, stops at the first dma overlapping [start, start + size).
  [[nodiscard]] vfio_dma* find_dma(std::uint64_t start, std::uint64_t size) const noexcept {
    rb_node* n = dma_list_.node;
    while (n != nullptr) {
      vfio_dma* d = dma_of(n);
      if (start + size <= d->iova) n = n->left;
      else if (start >= d->iova + d->size) n = n->right;
      else return d;
    }
    return nullptr;
  }
  /// vfio_link_dma.
  void link_dma(vfio_dma* nd) noexcept {
    rb_node** slot = &dma_list_.node;
    rb_node* parent = nullptr;
    while (*slot != nullptr) {
      parent = *slot;
      slot = nd->iova + nd->size <= dma_of(parent)->iova ? &parent->left : &parent->right;
    }
    rb::link(&nd->node, parent, slot);
    rb::insert_colour(&nd->node, dma_list_);
  }
  /// vfio_find_vpfn.
  static vfio_pfn* find_vpfn(vfio_dma* d, std::uint64_t iova) noexcept {
    rb_node* n = d->pfn_list.node;
    while (n != nullptr) {
      vfio_pfn* v = pfn_of(n);
      if (iova < v->iova) n = n->left;
      else if (iova > v->iova) n = n->right;
      else return v;
    }
    return nullptr;
  }
  /// vfio_add_to_pfn_list: kzalloc, vfio_link_pfn, ref_count 1.
  void add_to_pfn_list(vfio_dma* d, std::uint64_t iova, std::uint64_t frame) {
    auto* v = new vfio_pfn;
    v->iova = iova;
    v->pfn = frame;
    v->ref_count = 1;
    rb_node** slot = &d->pfn_list.node;
    rb_node* parent = nullptr;
    while (*slot != nullptr) {
      parent = *slot;
      slot = iova < pfn_of(parent)->iova ? &parent->left : &parent->right;
    }
    rb::link(&v->node, parent, slot);
    rb::insert_colour(&v->node, d->pfn_list);
    ++records_;
  }
  static void check_pfn_trees(const rb_node* n, bool& ok) {
    if (n == nullptr) return;
    ok = ok && rb::check(dma_of(n)->pfn_list, [](const rb_node* p) { return pfn_of(p)->iova; });
    check_pfn_trees(n->left, ok);
    check_pfn_trees(n->right, ok);
  }

  light_memory mm_;
  rb_root dma_list_;
  std::uint64_t records_ = 0;
};

}  // namespace vfiopin::bench

#endif  // VFIOPIN_BENCHMARKS_BASELINES_HPP
