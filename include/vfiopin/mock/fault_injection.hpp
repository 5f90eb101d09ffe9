// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/mock/fault_injection.hpp: numbered failure points for the fail-nth sweep.
//
// Theory of operation. Every fallible step of the mock (an allocation, a GUP batch, a
// locked_vm charge, an IOMMU map into a domain, a bitmap allocation, a copy to the user)
// calls `fail_here()` once before it does its work. The injector numbers these calls
// from 1 since it was armed; when the count reaches the armed index, that one step fails
// with the errno the kernel would give for it, and the operation must unwind so that
// the state equals the state before the operation (spec invariant 24). The sweep
// (kernel: tools/testing/selftests/iommu/iommufd_fail_nth.c) runs an operation with the
// injector armed at 1, 2, 3, ... until an operation completes with no step failing.
//
// The injector is a plain counter owned by the mock; it is not thread-safe on its own
// and is used under the owner's lock.
#ifndef VFIOPIN_MOCK_FAULT_INJECTION_HPP
#define VFIOPIN_MOCK_FAULT_INJECTION_HPP

#include <cstdint>

namespace vfiopin::mock {

/// Fails the nth fallible step after arm(n).
class fault_injector {
 public:
  /// Fail the nth step from now (n >= 1); arm(0) disarms.
  constexpr void arm(std::uint64_t n) noexcept {
    fail_at_ = n;
    count_ = 0;
    fired_ = false;
  }
  constexpr void disarm() noexcept { arm(0); }
  /// Call once per fallible step; true means "fail this step now".
  [[nodiscard]] constexpr bool fail_here() noexcept {
    ++count_;
    if (fail_at_ != 0 && count_ == fail_at_) {
      fired_ = true;
      return true;
    }
    return false;
  }
  /// Steps counted since the last arm().
  [[nodiscard]] constexpr std::uint64_t steps() const noexcept { return count_; }
  /// True if the armed step was reached and failed.
  [[nodiscard]] constexpr bool fired() const noexcept { return fired_; }

 private:
  std::uint64_t fail_at_ = 0;
  std::uint64_t count_ = 0;
  bool fired_ = false;
};

}  // namespace vfiopin::mock

#endif  // VFIOPIN_MOCK_FAULT_INJECTION_HPP
