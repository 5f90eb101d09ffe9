// SPDX-License-Identifier: Apache-2.0
//
// tools/replay/mock_device.hpp: the devices of the mock scenario backend.
//
// Theory of operation. A scenario_device is a consumer of the mock type1 container: it
// remembers what it pinned, one count per pin key (the IOVA a pin started at, page by page),
// and, as the container's dma_unmap callback, unpins what it holds in an unmapped range
// before returning. Three kinds, fixed when it is made:
//   emulated    `emulated E` (the test bed's mdev): told of [first, last], it unpins the
//               keys inside the range; `unpin` forgets what it asked to unpin;
//   fuzz        `add-device`, and fuzz_ops' consumer itself (fuzz/fuzz_ops.cpp uses this
//               class, so its runs and their reproducers share one device): it unpins every key
//               whose page overlaps the range (an unaligned key just below `first` too);
//               an `unpin` that the kernel refuses (a new WARN) is not forgotten, since the
//               pins stay; a stubborn one keeps everything when told; its page-handle array
//               has fuzz_max_handles entries (a longer pin is EINVAL, as in fuzz_ops);
//   raw         `device-id D N`: device id N as the container sees it, never registered
//               (the container answers it as an unknown device); 520 handles, like fuzz.
// An unpin of a count the container refuses (outside 1..512) forgets nothing, whatever the
// kind. release() is a driver's close: every reference it holds goes back, one unpin per page.
#ifndef VFIOPIN_TOOLS_REPLAY_MOCK_DEVICE_HPP
#define VFIOPIN_TOOLS_REPLAY_MOCK_DEVICE_HPP

#include <vfiopin/mock/type1.hpp>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace vfiopin::replay {

/// fuzz_ops' page-handle array (ops::max_pin_pages).
inline constexpr std::uint64_t fuzz_max_handles = 520;
/// vfio_unpin_pages refuses (WARNs at) a count outside 1..512 and unpins nothing.
inline constexpr std::uint64_t max_unpin_pages = 512;

/// A consumer of a scenario (see the header comment).
class scenario_device {
 public:
  enum class kind : std::uint8_t { emulated, fuzz, raw };

  scenario_device(mock::type1<>& t, device_id id, kind k = kind::emulated, bool stubborn = false)
      : t_(&t), id_(id), kind_(k), stubborn_(stubborn) {}
  scenario_device(const scenario_device&) = delete;
  scenario_device& operator=(const scenario_device&) = delete;

  void set_id(device_id id) noexcept { id_ = id; }
  [[nodiscard]] device_id id() const noexcept { return id_; }
  [[nodiscard]] kind what() const noexcept { return kind_; }
  [[nodiscard]] bool stubborn() const noexcept { return stubborn_; }
  void comply() noexcept { stubborn_ = false; }
  [[nodiscard]] bool holds_pins() {
    std::lock_guard lk(m_);
    return !held_.empty();
  }
  /// Page handles a pin of n pages hands the container.
  [[nodiscard]] std::uint64_t handles_for(std::uint64_t n) const noexcept {
    return kind_ != kind::emulated && n > fuzz_max_handles ? fuzz_max_handles : n;
  }

  /// The key of the nth page it holds (n modulo their number), if it holds any: fuzz_ops'
  /// unpin of a held page.
  [[nodiscard]] std::optional<std::uint64_t> nth_key(std::size_t n) {
    std::lock_guard lk(m_);
    if (held_.empty()) return std::nullopt;
    auto it = held_.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(n % held_.size()));
    return it->first;
  }

  void pinned(std::uint64_t at, std::uint64_t n) {
    std::lock_guard lk(m_);
    for (std::uint64_t i = 0; i < n; ++i) ++held_[at + i * page_bytes];
  }
  /// vfio_unpin_pages(at, n) and the bookkeeping of its kind.
  void unpin(std::uint64_t at, std::uint64_t n) {
    const std::size_t before = kind_ == kind::fuzz ? warning_count() : 0;
    t_->unpin_pages(id_, iova(at), page_count(n));
    if (kind_ == kind::fuzz && warning_count() != before) return;  // pins stay
    if (kind_ == kind::raw || n == 0 || n > max_unpin_pages) return;  // refused: nothing changes
    std::lock_guard lk(m_);
    for (std::uint64_t i = 0; i < n; ++i) {
      auto it = held_.find(at + i * page_bytes);
      if (it != held_.end() && --it->second == 0) held_.erase(it);
    }
  }
  void release() {
    std::map<std::uint64_t, std::uint64_t> held;
    {
      std::lock_guard lk(m_);
      held.swap(held_);
    }
    unpin_each(held);
  }
  /// dma_unmap: unpin what it holds in [first, last] before returning (see the header).
  void operator()(interval<iova> range) noexcept {
    if (stubborn_) return;
    const std::uint64_t first = range.first().value();
    const std::uint64_t reach = kind_ == kind::fuzz && first >= page_bytes ? first - (page_bytes - 1)
                                : kind_ == kind::fuzz                      ? 0
                                                                           : first;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> drop;
    {
      std::lock_guard lk(m_);
      for (auto it = held_.lower_bound(reach);
           it != held_.end() && it->first <= range.last().value();) {
        drop.emplace_back(*it);
        it = held_.erase(it);
      }
    }
    unpin_each(drop);
  }

 private:
  /// How many WARNs the container has recorded (without copying them, as warnings() does).
  [[nodiscard]] std::size_t warning_count() const {
    return t_->with_state([](const auto& s) { return s.warnings.size(); });
  }
  template <class Keys>
  void unpin_each(const Keys& keys) noexcept {
    for (const auto& [key, count] : keys)
      for (std::uint64_t i = 0; i < count; ++i) t_->unpin_pages(id_, iova(key), page_count(1));
  }

  mock::type1<>* t_;
  device_id id_;
  kind kind_;
  bool stubborn_;
  std::mutex m_;
  std::map<std::uint64_t, std::uint64_t> held_;
};

}  // namespace vfiopin::replay

#endif  // VFIOPIN_TOOLS_REPLAY_MOCK_DEVICE_HPP
