// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/container.hpp: the container API users program against.
//
// Theory of operation. container<Backend> owns one IOMMU backend (mock::type1, or the real
// type1 backend) and hands out move-only RAII handles for what the backend holds:
//   group_attachment        an attached IOMMU group; detaches when destroyed
//   mapping                 one MAP_DMA; unmaps when destroyed
//   consumer_registration   a consumer registered as an emulated-IOMMU device; its
//                           on_dma_unmap() is called before a range it may pin goes away;
//                           unregisters when destroyed
//   pin_lease               pages pinned by a registered consumer; unpins when destroyed
// Requests go to the backend unchanged, so errors are the backend's, errno for errno (the
// container adds no validation of its own that could disagree with the kernel).
//
// Teardown never fails. A handle's destructor calls the backend's release operation. The
// release operations that the concepts declare noexcept (unpin_pages, remove_device) cannot
// fail; unmap_dma and detach_group can, in one case each: a consumer kept its pins across
// the unmap notification (errc::pins_retained), or the kernel refused a detach (EBUSY while
// a BAR is still mmapped). Then the destructor leaves the mapping or group in the
// container, counts it in teardown_failures(), and the container's destruction releases it
// (the backend's destructor cannot fail). Call unmap()/detach() yourself to see the error.
//
// Threads. The container adds no state that operations share except an atomic counter:
// concurrency is the backend's (mock::type1 documents its locking: consumers may pin and
// unpin on their own threads, and may unpin from inside on_dma_unmap). A handle is used
// by one thread at a time. Handles must not outlive their container.
//
// Order of destruction: declare the container first, so that its handles die before it.
#ifndef VFIOPIN_CONTAINER_HPP
#define VFIOPIN_CONTAINER_HPP

#include <vfiopin/concepts/consumer.hpp>
#include <vfiopin/concepts/iommu_backend.hpp>
#include <vfiopin/result.hpp>
#include <vfiopin/types/dma.hpp>
#include <vfiopin/types/interval.hpp>

#include <atomic>
#include <concepts>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>

namespace vfiopin {

template <iommu_backend Backend>
class container;

namespace detail {
/// A move-only handle: a container pointer that is null once released or moved from.
template <class Backend>
class handle_base {
 public:
  handle_base(const handle_base&) = delete;
  handle_base& operator=(const handle_base&) = delete;

 protected:
  handle_base() noexcept = default;
  explicit handle_base(container<Backend>* c) noexcept : c_(c) {}
  handle_base(handle_base&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  handle_base& operator=(handle_base&& o) noexcept {
    c_ = std::exchange(o.c_, nullptr);
    return *this;
  }
  ~handle_base() = default;
  container<Backend>* c_ = nullptr;
};
}  // namespace detail

/// An attached IOMMU group; detaches on destruction.
template <class Backend>
class group_attachment : detail::handle_base<Backend> {
  using base = detail::handle_base<Backend>;

 public:
  group_attachment() noexcept = default;
  group_attachment(group_attachment&& o) noexcept : base(std::move(o)), g_(o.g_) {}
  group_attachment& operator=(group_attachment&& o) noexcept {
    if (this != &o) {
      reset();
      g_ = o.g_;
      base::operator=(std::move(o));
    }
    return *this;
  }
  ~group_attachment() { reset(); }

  [[nodiscard]] bool attached() const noexcept { return this->c_ != nullptr; }
  [[nodiscard]] group_id group() const noexcept { return g_; }
  /// Detaches now and reports the backend's answer; the handle is empty afterwards.
  result<void> detach() {
    if (!attached()) return fail(errc::invalid_argument);
    auto r = this->c_->backend().detach_group(g_);
    if (r) this->c_ = nullptr;
    return r;
  }
  /// Gives up ownership: the group stays attached.
  group_id release() noexcept {
    this->c_ = nullptr;
    return g_;
  }

 private:
  friend class container<Backend>;
  group_attachment(container<Backend>* c, group_id g) noexcept : base(c), g_(g) {}
  void reset() noexcept {
    if (this->c_ == nullptr) return;
    if (!this->c_->backend().detach_group(g_)) this->c_->note_teardown_failure();
    this->c_ = nullptr;
  }
  group_id g_{};
};

/// One DMA mapping; unmaps on destruction.
template <class Backend>
class mapping : detail::handle_base<Backend> {
  using base = detail::handle_base<Backend>;

 public:
  mapping() noexcept = default;
  mapping(mapping&& o) noexcept : base(std::move(o)), range_(o.range_) {}
  mapping& operator=(mapping&& o) noexcept {
    if (this != &o) {
      reset();
      range_ = o.range_;
      base::operator=(std::move(o));
    }
    return *this;
  }
  ~mapping() { reset(); }

  [[nodiscard]] bool mapped() const noexcept { return this->c_ != nullptr; }
  /// The IOVA range (meaningful while mapped()).
  [[nodiscard]] interval<iova> range() const noexcept { return range_; }
  /// Unmaps now and reports the backend's answer; the handle is empty on success.
  result<dma_unmap_reply> unmap() {
    if (!mapped()) return fail(errc::invalid_argument);
    auto r = this->c_->backend().unmap_dma(request());
    if (r) this->c_ = nullptr;
    return r;
  }
  /// Gives up ownership: the mapping stays in the container.
  interval<iova> release() noexcept {
    this->c_ = nullptr;
    return range_;
  }

 private:
  friend class container<Backend>;
  mapping(container<Backend>* c, interval<iova> r) noexcept : base(c), range_(r) {}
  [[nodiscard]] dma_unmap_request request() const noexcept {
    return {.at = range_.first(), .size = byte_count(range_.span().value() + 1)};
  }
  void reset() noexcept {
    if (this->c_ == nullptr) return;
    if (!this->c_->backend().unmap_dma(request())) this->c_->note_teardown_failure();
    this->c_ = nullptr;
  }
  interval<iova> range_ = interval<iova>::single(iova{});
};

/// Pages pinned by a registered consumer; unpins on destruction.
template <class Backend>
class pin_lease : detail::handle_base<Backend> {
  using base = detail::handle_base<Backend>;

 public:
  pin_lease() noexcept = default;
  pin_lease(pin_lease&& o) noexcept : base(std::move(o)), d_(o.d_), at_(o.at_), n_(o.n_) {}
  pin_lease& operator=(pin_lease&& o) noexcept {
    if (this != &o) {
      reset();
      d_ = o.d_;
      at_ = o.at_;
      n_ = o.n_;
      base::operator=(std::move(o));
    }
    return *this;
  }
  ~pin_lease() { reset(); }

  [[nodiscard]] bool held() const noexcept { return this->c_ != nullptr; }
  [[nodiscard]] iova first() const noexcept { return at_; }
  [[nodiscard]] page_count pages() const noexcept { return n_; }
  /// Unpins now (never fails).
  void unpin() noexcept { reset(); }
  /// Gives up ownership: the pages stay pinned until unpinned by iova.
  void release() noexcept { this->c_ = nullptr; }

 private:
  template <class, class>
  friend class consumer_registration;
  pin_lease(container<Backend>* c, device_id d, iova at, page_count n) noexcept
      : base(c), d_(d), at_(at), n_(n) {}
  void reset() noexcept {
    if (this->c_ == nullptr) return;
    auto* c = std::exchange(this->c_, nullptr);
    c->backend().unpin_pages(d_, at_, n_);
  }
  device_id d_{};
  iova at_{};
  page_count n_{};
};

/// A consumer registered with a container as an emulated-IOMMU device.
template <class Backend, class Consumer>
class consumer_registration : detail::handle_base<Backend> {
  using base = detail::handle_base<Backend>;

 public:
  consumer_registration() noexcept = default;
  consumer_registration(consumer_registration&& o) noexcept : base(std::move(o)), d_(o.d_) {}
  consumer_registration& operator=(consumer_registration&& o) noexcept {
    if (this != &o) {
      reset();
      d_ = o.d_;
      base::operator=(std::move(o));
    }
    return *this;
  }
  ~consumer_registration() { reset(); }

  [[nodiscard]] bool registered() const noexcept { return this->c_ != nullptr; }
  [[nodiscard]] device_id device() const noexcept { return d_; }

  /// vfio_pin_pages(): pins n pages from `at` with `access`; out[k] receives page k's
  /// handle. All or nothing. out must hold at least n handles (else EINVAL).
  result<pin_lease<Backend>> pin(iova at, page_count n, prot access, std::span<page_handle> out) {
    if (!registered()) return fail(errc::invalid_argument);
    if (out.size() < n.value()) return fail(errc::invalid_argument);
    auto r = this->c_->backend().pin_pages(d_, at, n, access, out.first(n.value()));
    if (!r) return fail(r.error());
    return pin_lease<Backend>(this->c_, d_, at, n);
  }
  /// Rule [consumer.no-pfn]: a consumer's pins give page handles, never pfns (or any
  /// other frame type): this overload only exists to say so at compile time.
  template <class T>
    requires(!std::same_as<std::remove_cv_t<T>, page_handle>)
  result<pin_lease<Backend>> pin(iova, page_count, prot, std::span<T>) {
    static_assert(!sizeof(T*),
                  "vfiopin rule [consumer.no-pfn]: vfio_pin_pages gives a consumer page "
                  "handles (memory with a struct page), never a pfn: pass a "
                  "std::span<vfiopin::page_handle>, and use page_handle::frame() where a host "
                  "physical address is needed");
    return fail(errc::invalid_argument);
  }
  /// vfio_unpin_pages() by iova, for pins whose lease was released.
  void unpin(iova at, page_count n) noexcept {
    if (registered()) this->c_->backend().unpin_pages(d_, at, n);
  }

 private:
  friend class container<Backend>;
  consumer_registration(container<Backend>* c, device_id d) noexcept : base(c), d_(d) {}
  void reset() noexcept {
    if (this->c_ == nullptr) return;
    std::exchange(this->c_, nullptr)->backend().remove_device(d_);
  }
  device_id d_{};
};

/// One IOMMU container; see the header comment.
template <iommu_backend Backend>
class container {
 public:
  using backend_type = Backend;

  /// Constructs the backend in place from args.
  template <class... Args>
  explicit container(std::in_place_t, Args&&... args) : backend_(std::forward<Args>(args)...) {}
  container(const container&) = delete;
  container& operator=(const container&) = delete;

  [[nodiscard]] Backend& backend() noexcept { return backend_; }
  [[nodiscard]] const Backend& backend() const noexcept { return backend_; }

  /// Attaches IOMMU group g (the first attach also sets the IOMMU type).
  result<group_attachment<Backend>> attach(group_id g) {
    if (auto r = backend_.attach_group(g); !r) return fail(r.error());
    return group_attachment<Backend>(this, g);
  }

  /// MAP_DMA of `size` bytes from `from` at `at`. The backend validates, in the kernel's
  /// order; on success the mapping covers [at, at + size - 1].
  result<mapping<Backend>> map(iova at, vaddr from, byte_count size, prot access) {
    const dma_map_request req{.at = at, .from = from, .size = size, .access = access};
    if (auto r = backend_.map_dma(req); !r) return fail(r.error());
    const auto range = interval<iova>::from(at, size);
    VFIOPIN_ASSERT(range.has_value(), "the backend accepted an empty or wrapping mapping");
    return mapping<Backend>(this, *range);
  }

  /// UNMAP_DMA of a raw range (for ranges not held by a mapping handle).
  result<dma_unmap_reply> unmap(const dma_unmap_request& req) { return backend_.unmap_dma(req); }

  /// GET_INFO.
  result<iommu_info> info() { return backend_.info(); }

  /// Registers consumer c as an emulated-IOMMU device. c must outlive the registration.
  template <consumer C>
    requires pins_for_consumers<Backend>
  result<consumer_registration<Backend, C>> add_consumer(C& c) {
    auto d = backend_.add_device(dma_unmap_callback::notify(c));
    if (!d) return fail(d.error());
    return consumer_registration<Backend, C>(this, *d);
  }

  /// Handles whose release the backend refused (see the header comment).
  [[nodiscard]] std::uint64_t teardown_failures() const noexcept {
    return teardown_failures_.load(std::memory_order_relaxed);
  }

 private:
  template <class>
  friend class group_attachment;
  template <class>
  friend class mapping;
  void note_teardown_failure() noexcept {
    teardown_failures_.fetch_add(1, std::memory_order_relaxed);
  }
  Backend backend_;
  std::atomic<std::uint64_t> teardown_failures_{0};
};

}  // namespace vfiopin

#endif  // VFIOPIN_CONTAINER_HPP
