// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/concepts/consumer.hpp: drivers that pin guest memory for CPU access.
//
// Theory of operation. A consumer is what the kernel calls an emulated-IOMMU driver:
// GVT-g shadowing a GTT, vfio-ccw translating a channel program, vfio-ap pinning a
// notification byte, or an in-process device emulator (a vfio-user server). It pins
// pages through an IOMMU backend's pin path, receives page handles (never pfns), touches
// them with the CPU, and must let go when told:
//   on_dma_unmap(range) noexcept   "range is about to be unmapped": before returning, the
//                                  consumer unpins every pin it holds inside range
//                                  (rule [consumer.unpin-on-notify]). The kernel BUGs
//                                  after 10 notifications of a range that stays pinned;
//                                  vfiopin reports errc::pins_retained instead.
//   C::needs_pages                 true when it touches pinned memory with the CPU
//                                  (every kernel consumer does); a compile-time bool.
//
// Rule [consumer.pages-only]: a consumer that needs pages cannot be combined with a
// pfn-only memory backend. Code that joins a consumer C to memory M states this with
// `static_assert(consumer_of_rule<C, M>)`, or requires `consumer_of<C, M>`; given a BAR
// it fails to compile and the message names the rule. Where the memory is only known at
// run time (a mixed address space), the pin fails with errc::not_page_backed instead.
//
// Opt-in: `using consumer_tag = vfiopin::consumer_tag;` or specialise
// `vfiopin::enable_consumer<T>`.
#ifndef VFIOPIN_CONCEPTS_CONSUMER_HPP
#define VFIOPIN_CONCEPTS_CONSUMER_HPP

#include <vfiopin/concepts/memory_backend.hpp>
#include <vfiopin/types/address.hpp>
#include <vfiopin/types/interval.hpp>

#include <concepts>
#include <type_traits>

namespace vfiopin {

/// The opt-in tag.
struct consumer_tag {};

/// Specialise to true to make a type you cannot edit a consumer.
template <class T>
inline constexpr bool enable_consumer = requires {
  typename T::consumer_tag;
  requires std::same_as<typename T::consumer_tag, consumer_tag>;
};

/// The type opted in.
template <class C>
concept consumer_opted_in = enable_consumer<std::remove_cvref_t<C>>;

/// on_dma_unmap(interval<iova>) noexcept.
template <class C>
concept handles_dma_unmap = requires(C& c, interval<iova> range) {
  { c.on_dma_unmap(range) } noexcept;
};

/// `C::needs_pages` is a compile-time bool.
template <class C>
concept declares_page_need = requires {
  { std::remove_cvref_t<C>::needs_pages } -> std::convertible_to<bool>;
  typename std::bool_constant<std::remove_cvref_t<C>::needs_pages>;
};

/// A consumer: see the header comment and docs/concepts.md.
template <class C>
concept consumer = consumer_opted_in<C> && handles_dma_unmap<C> && declares_page_need<C>;

/// Rule [consumer.pages-only] as a concept: C may pin from M.
template <class C, class M>
concept consumer_of = consumer<C> && memory_backend<M> &&
                      (!std::remove_cvref_t<C>::needs_pages || page_capable_memory<M>);

namespace detail {
template <class C, class M>
struct consumer_of_rule_check {
  static_assert(consumer<C>,
                "vfiopin rule [consumer.concept]: the type is not a vfiopin::consumer (it needs "
                "consumer_tag, a noexcept on_dma_unmap(interval<iova>) and a constexpr "
                "needs_pages)");
  static_assert(memory_backend<M>,
                "vfiopin rule [memory.concept]: the type is not a vfiopin::memory_backend");
  static constexpr bool value = consumer_of<C, M>;
  static_assert(value,
                "vfiopin rule [consumer.pages-only]: this consumer needs struct-page-backed "
                "memory, but the memory backend is pfn-only (no struct page, e.g. a VM_PFNMAP "
                "device BAR). pfn-only memory may be mapped for DMA by an IOMMU backend; it "
                "can never be pinned for a consumer.");
};
}  // namespace detail

/// `static_assert(consumer_of_rule<C, M>)`: like consumer_of, with messages naming the rule.
template <class C, class M>
inline constexpr bool consumer_of_rule = detail::consumer_of_rule_check<C, M>::value;

}  // namespace vfiopin

#endif  // VFIOPIN_CONCEPTS_CONSUMER_HPP
