// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/mutant.hpp: the compile-time switch of the mutation check (fuzz/mutation/).
//
// Theory of operation. The mutation check shows that the operation fuzzers find real bugs:
// the mock type1 container carries bug classes of spec §10 (linux-type1-semantics.md), each
// planted at the place the kernel had it (or would have it) behind
// `if constexpr (mock::mutant == N)`. VFIOPIN_MUTANT selects at most one of them; it is 0
// unless the build defines it (fuzz/mutation/run configures one build per mutant with
// -DVFIOPIN_MUTANT=N), and with 0 every branch is discarded at compile time: no code, no
// cost, no behaviour change. The numbers (names in fuzz/mutation/run, docs/fuzzing.md):
//    1 unmap-unpin-top-end      vfio_unmap_unpin loops `while (iova < dma->iova + dma->size)`:
//                               a dma ending at 2^64 is never unmapped nor unpinned (§10 3)
//    2 map-wrap-overlap         MAP_DMA trusts vfio_find_dma when iova + size wraps to 0 and
//                               creates overlapping dmas (§10 H2)
//    3 v2-bisect                UNMAP_DMA on v2 without the bisection check (§3.2)
//    4 map-unwind-uncharge      vfio_pin_map_dma's error path unpins without uncharging
//                               locked_vm (a locked-memory leak, §10 6)
//    5 notify-first-device      vfio_notify_dma_unmap stops after the first device (§10 11)
//    6 pfnmap-pin-page          vfio_pin_pages without the pfn_valid check (§10 5)
//    7 pin-limit-513            vfio_pin_pages accepts 513 pages (the 512 limit off by one)
//    8 dirty-start-rollback     DIRTY_PAGES START frees the failing dma's bitmap instead of the
//                               earlier ones' (§10 9)
//    9 repeat-pin-extra-gup     a repeated pin takes a GUP reference besides the refcount
//                               (spec §9 invariant 9)
//   10 map-fail-budget          a failed MAP_DMA does not give back its dma_avail entry
//                               (§10 1, CVE-2019-3882's budget)
//   11 zero-page-pin-leak       GUP's pin on the shared zero page is kept (§10 4; seen on
//                               the profiles whose GUP pins it: debian-6.1, linux-6.1.31)
//   12 vaddr-rollback-count     UNMAP(VADDR)'s rollback clears the flags but not
//                               vaddr_invalid_count (§10 6)
//   13 unpin-uncharge-mapped    vfio_unpin_pages uncharges locked_vm although a real domain
//                               holds the charge (locked_vm underflow, §10 6)
#ifndef VFIOPIN_MOCK_MUTANT_HPP
#define VFIOPIN_MOCK_MUTANT_HPP

#ifndef VFIOPIN_MUTANT
#define VFIOPIN_MUTANT 0
#endif

namespace vfiopin::mock {

/// The planted bug of this build (0: none). See the header comment.
inline constexpr int mutant = VFIOPIN_MUTANT;

}  // namespace vfiopin::mock

#endif  // VFIOPIN_MOCK_MUTANT_HPP
