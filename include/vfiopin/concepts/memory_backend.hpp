// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/concepts/memory_backend.hpp: where the frames behind a vaddr come from.
//
// Theory of operation. A memory backend is an address space the IOMMU side can pin
// frames from, the way type1 calls pin_user_pages() or follows a VM_PFNMAP mapping
// (spec §2.2). Two operations serve the IOMMU side, and every backend has them:
//   pin_frames(va, max, prot) -> result<pfn_run>  pin up to `max` pages from `va`, and
//                                                 answer with one physically contiguous
//                                                 run of frames of one kind;
//   unpin_frames(run, prot) noexcept              release them; never fails.
// A frame is one of three kinds (frame_kind): a refcounted page, a reserved page (has a
// struct page but is never refcounted or charged: the zero page), or no page at all
// (MMIO from a PFNMAP mapping). The IOMMU side maps all three.
//
// The consumer side needs pages. Whether a backend's memory can have struct pages is a
// compile-time property, `static constexpr backing_kind backing`:
//   backing_kind::pages     every frame it hands out is a page (anonymous, memfd, hugetlb);
//   backing_kind::pfn_only  no frame is ever a page (a device BAR mapped VM_PFNMAP);
//   backing_kind::mixed     an address space holding both; decided per frame at runtime.
// Backends whose backing is pages or mixed also provide
//   page_of(pfn) -> result<page_handle>           the checked pfn_to_page(): refuses a
//                                                 frame without a struct page with
//                                                 errc::not_page_backed;
// and pfn-only backends must NOT provide it (rule [memory.pfn-only-has-no-pages]).
// So `page_backed_memory<M>` is known at compile time, and code that needs pages from a
// pfn-only backend does not compile (concepts/consumer.hpp states the rule).
//
// Opt-in: a type is a memory backend only if it says so, with a member
// `using memory_backend_tag = vfiopin::memory_backend_tag;` or by specialising
// `vfiopin::enable_memory_backend<T>` to true. A look-alike is not enough.
#ifndef VFIOPIN_CONCEPTS_MEMORY_BACKEND_HPP
#define VFIOPIN_CONCEPTS_MEMORY_BACKEND_HPP

#include <vfiopin/result.hpp>
#include <vfiopin/types/address.hpp>
#include <vfiopin/types/count.hpp>
#include <vfiopin/types/page_handle.hpp>
#include <vfiopin/types/pfn.hpp>
#include <vfiopin/types/prot.hpp>

#include <concepts>
#include <cstdint>
#include <type_traits>

namespace vfiopin {

/// What kind of memory a backend's frames can be, at compile time.
enum class backing_kind : std::uint8_t {
  pages,     ///< every frame has a struct page
  pfn_only,  ///< no frame has a struct page (VM_PFNMAP)
  mixed,     ///< decided per frame at runtime
};

/// The kind of one frame (spec §2.2: is_invalid_reserved_pfn and pfn_valid).
enum class frame_kind : std::uint8_t {
  page,           ///< a normal page: refcounted by pins, charged to locked_vm
  reserved_page,  ///< PageReserved (the zero page): never refcounted, never charged
  no_page,        ///< no struct page (MMIO behind VM_PFNMAP): never refcounted or charged
};

/// GUP behaviour that differs between kernels, for backends that model more than one
/// (an optional fourth argument of pin_frames; mock::process takes it).
struct gup_options {
  /// FOLL_LONGTERM read pins unshare the shared zero page (Linux 6.2+): the pin gets a
  /// fresh zeroed page instead.
  bool unshare_zero_page = false;
  /// GUP takes a pin on the shared zero page like on any page (before Linux 6.9, as far as
  /// vfio is concerned): the caller must drop it (mock::process::unpin_zero_page).
  bool pin_zero_page = false;
};

/// A physically contiguous run of frames of one kind, pinned from one vaddr upward.
struct pfn_run {
  pfn first{};
  page_count count{};
  frame_kind kind = frame_kind::page;
  friend constexpr bool operator==(const pfn_run&, const pfn_run&) noexcept = default;
};

/// The opt-in tag.
struct memory_backend_tag {};

/// Specialise to true to make a type you cannot edit a memory backend.
template <class T>
inline constexpr bool enable_memory_backend = requires {
  typename T::memory_backend_tag;
  requires std::same_as<typename T::memory_backend_tag, memory_backend_tag>;
};

// Sub-concepts: each names one piece, so a failure says which piece is missing.

/// The type opted in (memory_backend_tag or enable_memory_backend).
template <class M>
concept memory_backend_opted_in = enable_memory_backend<std::remove_cvref_t<M>>;

/// `M::backing` is a compile-time vfiopin::backing_kind.
template <class M>
concept declares_backing = requires {
  { std::remove_cvref_t<M>::backing } -> std::convertible_to<backing_kind>;
  typename std::integral_constant<backing_kind, std::remove_cvref_t<M>::backing>;
};

/// pin_frames / unpin_frames for the IOMMU side.
template <class M>
concept frame_source = requires(M& m, vaddr va, page_count n, prot p, const pfn_run& run) {
  { m.pin_frames(va, n, p) } -> std::same_as<result<pfn_run>>;
  { m.unpin_frames(run, p) } noexcept;
};

/// page_of(pfn): the checked conversion of a frame to a page handle.
template <class M>
concept page_source = requires(M& m, pfn f) {
  { m.page_of(f) } -> std::same_as<result<page_handle>>;
};

/// The backing as a value, for backends that declare one.
template <declares_backing M>
inline constexpr backing_kind backing_of = std::remove_cvref_t<M>::backing;

/// Rule [memory.pfn-only-has-no-pages]: a pfn-only backend offers no page_of().
template <class M>
concept pfn_only_offers_no_pages =
    declares_backing<M> && (backing_of<M> != backing_kind::pfn_only || !page_source<M>);

/// Rule [memory.pages-offer-pages]: a backend whose memory has pages can say which.
template <class M>
concept page_memory_offers_pages =
    declares_backing<M> && (backing_of<M> == backing_kind::pfn_only || page_source<M>);

/// A memory backend: see the header comment and docs/concepts.md.
template <class M>
concept memory_backend = memory_backend_opted_in<M> && declares_backing<M> && frame_source<M> &&
                         pfn_only_offers_no_pages<M> && page_memory_offers_pages<M>;

/// Memory known at compile time to have a struct page behind every frame.
template <class M>
concept page_backed_memory = memory_backend<M> && (backing_of<M> == backing_kind::pages);

/// Memory known at compile time to have no struct pages (a BAR).
template <class M>
concept pfn_only_memory = memory_backend<M> && (backing_of<M> == backing_kind::pfn_only);

/// Memory that may give page handles, if need be after a runtime check (pages or mixed).
template <class M>
concept page_capable_memory = memory_backend<M> && (backing_of<M> != backing_kind::pfn_only);

}  // namespace vfiopin

#endif  // VFIOPIN_CONCEPTS_MEMORY_BACKEND_HPP
