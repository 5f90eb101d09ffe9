// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/dma_record.hpp: one user DMA mapping (struct vfio_dma) of the mock container.
//
// Theory of operation. vfio_dma_do_map creates one struct vfio_dma per successful MAP_DMA:
// iova, vaddr, size, prot, iommu_mapped, lock_cap, vaddr_invalid, locked_vm (6.2+), the
// external pin tree pfn_list and, while dirty tracking is on, a bitmap. The kernel's node is
// 128 bytes of slab plus the rb-tree; the model's is 32 bytes in a leaf of the dma
// ordered_index (8 more for the key: the first iova):
//   last         the last iova, inclusive (a mapping may end at 2^64-1)
//   vaddr_bits   vaddr | flags: vaddr is aligned to the minimum IOMMU page size (>= 4 KiB),
//                so its low 12 bits hold prot, iommu_mapped, lock_cap, vaddr_invalid and
//                acct_quirk (accounting left off the closed formula by a kernel quirk, see
//                mock/invariants.hpp)
//   locked_vm    pages this dma charged to the mm (dma->locked_vm), two's complement
//   ext          the rarely needed rest: pin records and dirty bits; null for the common
//                dma that has neither, so a plain mapping costs 40 bytes in all
// The record is trivially copyable, so the index shifts dma leaves with memmove: ext is a raw
// pointer, owned by the record's one live copy in the dma index. Whoever removes a record
// from the index, or destroys the index, calls release_ext() (dma_tree::erase_dma and
// ~dma_tree do); copies made while moving entries inside the index are never released.
// Dirty bits (dma->bitmap, one bit per minimum-size page) are kept as "all set" or a list of
// set bit numbers: what the kernel sets is either every bit
// (vfio_iommu_populate_bitmap_full, update_user_bitmap with non-pinned groups) or the bits
// of pinned pages, so the list is as long as the pins, and an 8 TiB dma costs nothing until
// something is reported.
#ifndef VFIOPIN_MOCK_DMA_RECORD_HPP
#define VFIOPIN_MOCK_DMA_RECORD_HPP

#include <vfiopin/mock/pin_records.hpp>
#include <vfiopin/types/prot.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace vfiopin::mock::detail {

/// The dirty bitmap of one dma while tracking is on (dma->bitmap).
struct dirty_bits {
  bool full = false;                  ///< every bit set
  std::vector<std::uint64_t> set{};   ///< bit numbers set (unsorted until normalize())
  std::size_t distinct = 0;           ///< size of `set` after the last normalize()

  void mark(std::uint64_t bit) {
    if (full) return;
    set.push_back(bit);
    if (set.size() >= 2 * distinct + 64) {  // repeated pins of one page: keep it bounded
      normalize();
      distinct = set.size();
    }
  }
  void mark_all() noexcept {
    full = true;
    set.clear();
    distinct = 0;
  }
  void clear() noexcept {
    full = false;
    set.clear();
    distinct = 0;
  }
  void normalize() {
    std::sort(set.begin(), set.end());
    set.erase(std::unique(set.begin(), set.end()), set.end());
  }
  [[nodiscard]] bool empty() const noexcept { return !full && set.empty(); }
};

/// The parts of a vfio_dma most mappings never use.
struct dma_ext {
  pin_records pins;
  dirty_bits dirty;
  [[nodiscard]] bool empty() const noexcept { return pins.empty() && dirty.empty(); }
};

/// struct vfio_dma, minus the key (the first iova).
class dma_record {
  static constexpr std::uint64_t flag_mapped = 1U << 2;
  static constexpr std::uint64_t flag_lock_cap = 1U << 3;
  static constexpr std::uint64_t flag_vaddr_invalid = 1U << 4;
  static constexpr std::uint64_t flag_acct_quirk = 1U << 5;
  static constexpr std::uint64_t flag_mask = 0xfff;

 public:
  dma_record() = default;
  dma_record(std::uint64_t last, std::uint64_t vaddr, prot p, bool lock_cap) noexcept
      : last_(last),
        vaddr_bits_(vaddr | static_cast<std::uint8_t>(p) | (lock_cap ? flag_lock_cap : 0)) {}

  [[nodiscard]] std::uint64_t last() const noexcept { return last_; }
  [[nodiscard]] std::uint64_t vaddr() const noexcept { return vaddr_bits_ & ~flag_mask; }
  [[nodiscard]] prot access() const noexcept { return static_cast<prot>(vaddr_bits_ & 3U); }
  [[nodiscard]] bool iommu_mapped() const noexcept { return (vaddr_bits_ & flag_mapped) != 0; }
  [[nodiscard]] bool lock_cap() const noexcept { return (vaddr_bits_ & flag_lock_cap) != 0; }
  [[nodiscard]] bool vaddr_invalid() const noexcept { return (vaddr_bits_ & flag_vaddr_invalid) != 0; }
  [[nodiscard]] bool acct_quirk() const noexcept { return (vaddr_bits_ & flag_acct_quirk) != 0; }
  [[nodiscard]] std::uint64_t locked_vm() const noexcept { return locked_vm_; }

  void set_vaddr(std::uint64_t v) noexcept { vaddr_bits_ = v | (vaddr_bits_ & flag_mask); }
  void set_iommu_mapped(bool b) noexcept { set_flag(flag_mapped, b); }
  void set_vaddr_invalid(bool b) noexcept { set_flag(flag_vaddr_invalid, b); }
  void set_acct_quirk() noexcept { set_flag(flag_acct_quirk, true); }
  void add_locked(std::uint64_t n) noexcept { locked_vm_ += n; }   // wraps like size_t
  void sub_locked(std::uint64_t n) noexcept { locked_vm_ -= n; }

  /// The pin records and dirty bits, if any.
  [[nodiscard]] dma_ext* ext() const noexcept { return ext_; }
  /// The extension, created on first use.
  dma_ext& ext_or_make() {
    if (ext_ == nullptr) ext_ = new dma_ext();
    return *ext_;
  }
  /// Frees the extension once it holds nothing.
  void trim() noexcept {
    if (ext_ != nullptr && ext_->empty()) release_ext();
  }
  /// Frees the extension, whatever it holds (the record is going away).
  void release_ext() noexcept {
    delete ext_;
    ext_ = nullptr;
  }
  [[nodiscard]] bool has_pins() const noexcept { return ext_ && !ext_->pins.empty(); }

 private:
  void set_flag(std::uint64_t f, bool b) noexcept { vaddr_bits_ = b ? (vaddr_bits_ | f) : (vaddr_bits_ & ~f); }

  std::uint64_t last_ = 0;
  std::uint64_t vaddr_bits_ = 0;
  std::uint64_t locked_vm_ = 0;
  dma_ext* ext_ = nullptr;  // owned: see the header comment
};
static_assert(std::is_trivially_copyable_v<dma_record> && sizeof(dma_record) == 32);

}  // namespace vfiopin::mock::detail

#endif  // VFIOPIN_MOCK_DMA_RECORD_HPP
