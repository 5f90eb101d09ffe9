// SPDX-License-Identifier: Apache-2.0
//
// The mock process's locked_vm accounting and fault injection
// (include/vfiopin/mock/process.hpp): __account_locked_vm with RLIMIT_MEMLOCK and
// CAP_IPC_LOCK (spec §2.2 "Accounting per chunk", invariant 15), and the fail_nth steps of
// map_region / map_alias / pin_frames / account_locked (spec §7.8, §11, invariant 24:
// a failed step changes nothing).
#include "tests/support/catch.hpp"

#include <vfiopin/mock/memory.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

using namespace vfiopin;
using namespace vfiopin::literals;
using vfiopin::mock::fault_injector;
using vfiopin::mock::process;
using vfiopin::mock::region_kind;

namespace {
/// What a failed step must leave unchanged.
struct snapshot {
  std::vector<mock::region_info> regions;
  page_count live;
  page_count pinned;
  std::uint64_t pins;
  page_count locked;
  friend bool operator==(const snapshot&, const snapshot&) = default;
};
snapshot take(const process& p) {
  return {p.regions(), p.live_frames(), p.pinned_frames(), p.total_pins(), p.locked_vm()};
}
}  // namespace

TEST_CASE("__account_locked_vm: over RLIMIT_MEMLOCK without lock_cap is ENOMEM, nothing added",
          "[mock][memory][account]") {
  process p;
  CHECK(p.cap_ipc_lock());  // the scenario format's fresh state: privileged, unlimited
  CHECK_FALSE(p.memlock_limit().has_value());
  p.set_cap_ipc_lock(false);
  p.set_memlock_limit(64_KiB + 4095_B);  // the limit in pages rounds down: 16
  CHECK(p.memlock_limit() == 64_KiB + 4095_B);
  REQUIRE(p.account_locked(10_pages, false).has_value());
  CHECK(p.locked_vm() == 10_pages);
  CHECK(p.account_locked(7_pages, false) == fail(errc::out_of_memory));
  CHECK(p.locked_vm() == 10_pages);
  REQUIRE(p.account_locked(6_pages, false).has_value());  // exactly at the limit is fine
  CHECK(p.locked_vm() == 16_pages);
  CHECK(p.account_locked(1_pages, false) == fail(errc::out_of_memory));
  p.unaccount_locked(16_pages);
  CHECK(p.locked_vm() == 0_pages);
  // A limit of 0 refuses any charge; n == 0 is vfio_lock_acct's early return.
  p.set_memlock_limit(0_B);
  CHECK(p.account_locked(1_pages, false) == fail(errc::out_of_memory));
  CHECK(p.account_locked(0_pages, false).has_value());
}

TEST_CASE("__account_locked_vm: unsigned long arithmetic, RLIM_INFINITY is a limit too",
          "[mock][memory][account]") {
  // mm/util.c: limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT, so RLIM_INFINITY (~0UL) allows
  // 2^52 - 1 pages; `locked_vm + pages > limit` and `locked_vm - pages` are unsigned long.
  process p;
  p.set_cap_ipc_lock(false);
  p.set_memlock_limit(std::nullopt);
  constexpr std::uint64_t infinity_pages = ~std::uint64_t{0} >> 12;
  REQUIRE(p.account_locked(1_pages, false).has_value());
  CHECK(p.account_locked(page_count(infinity_pages), false) == fail(errc::out_of_memory));
  REQUIRE(p.account_locked(page_count(infinity_pages - 1), false).has_value());
  CHECK(p.locked_vm() == page_count(infinity_pages));
  // An uncharge below zero (a kernel accounting bug: WARN_ON_ONCE, no clamp) wraps, as
  // Debian 6.1 showed in zero_page_pin_replay.vfs (VmLck 2^64 - 4 kB) ...
  p.unaccount_locked(page_count(infinity_pages + 1));
  CHECK(p.locked_vm() == page_count::max());
  // ... and the next one-page charge wraps the sum back to 0, which is under any limit.
  REQUIRE(p.account_locked(1_pages, false).has_value());
  CHECK(p.locked_vm() == 0_pages);
  // With lock_cap the limit is not consulted at all and the sum wraps likewise.
  REQUIRE(p.account_locked(2_pages, true).has_value());
  REQUIRE(p.account_locked(page_count::max(), true).has_value());
  CHECK(p.locked_vm() == 1_pages);
}

TEST_CASE("__account_locked_vm: CAP_IPC_LOCK bypasses the limit but the pages still count",
          "[mock][memory][account]") {
  process p;
  p.set_memlock_limit(8_KiB);
  REQUIRE(p.account_locked(100_pages, true).has_value());
  CHECK(p.locked_vm() == 100_pages);
  // The mapper without the capability is now over the limit for any further charge.
  CHECK(p.account_locked(1_pages, false) == fail(errc::out_of_memory));
  p.unaccount_locked(40_pages);
  CHECK(p.locked_vm() == 60_pages);
  // Pins and charges are independent: type1 charges, GUP does not.
  const auto va = p.map_region(region_kind::anon, 16_KiB, false);
  REQUIRE(va.has_value());
  const auto run = p.pin_frames(*va, 4_pages, prot::write);
  REQUIRE(run.has_value());
  CHECK(p.locked_vm() == 60_pages);
  p.unpin_frames(*run, prot::write);
}

TEST_CASE("fail_nth: each step fails alone with ENOMEM and changes nothing",
          "[mock][memory][fault-injection]") {
  process p;
  fault_injector fi;
  p.set_fault_injector(&fi);
  CHECK(p.injector() == &fi);
  p.set_memlock_limit(1_MiB);
  const auto memfd = p.map_region(region_kind::memfd, 64_KiB, false);
  REQUIRE(memfd.has_value());
  const std::vector<std::function<bool()>> steps{
      [&] { return p.map_region(region_kind::anon, 64_KiB, false).has_value(); },
      [&] { return p.map_region(region_kind::hole, 64_KiB, false).has_value(); },
      [&] { return p.map_alias(*memfd, false).has_value(); },
      [&] { return p.pin_frames(*memfd, 16_pages, prot::read_write).has_value(); },
      [&] { return p.pin_frames(*memfd, 4_pages, prot::read).has_value(); },
      [&] { return p.account_locked(16_pages, false).has_value(); },
      [&] { return p.account_locked(1000_pages, true).has_value(); },
  };
  for (std::size_t i = 0; i < steps.size(); ++i) {
    INFO("step " << i);
    const snapshot before = take(p);
    fi.arm(1);
    CHECK_FALSE(steps[i]());
    CHECK(fi.fired());
    CHECK(fi.steps() == 1);
    CHECK(take(p) == before);
    fi.disarm();
    CHECK(steps[i]());
    CHECK(fi.steps() == 1);  // exactly one step per operation
  }
}

TEST_CASE("fail_nth: refused requests and zero charges count no step",
          "[mock][memory][fault-injection]") {
  process p;
  fault_injector fi;
  p.set_fault_injector(&fi);
  const auto ro = p.map_region(region_kind::anon, 8_KiB, true);
  REQUIRE(ro.has_value());
  fi.arm(1);
  CHECK(p.map_region(region_kind::hugetlb, 0_B, false) == fail(errc::invalid_argument));
  CHECK(p.map_region(region_kind::bar, 2_MiB, false) == fail(errc::invalid_argument));
  CHECK(p.map_alias(*ro, false) == fail(errc::invalid_argument));
  CHECK(p.pin_frames(*ro, 1_pages, prot::write) == fail(errc::bad_address));
  CHECK(p.pin_frames(vaddr(0x1000), 1_pages, prot::read) == fail(errc::bad_address));
  CHECK(p.account_locked(0_pages, false).has_value());
  p.set_cap_ipc_lock(false);
  p.set_memlock_limit(0_B);
  CHECK(p.account_locked(1_pages, false) == fail(errc::out_of_memory));
  CHECK(fi.steps() == 0);
  CHECK_FALSE(fi.fired());
  // CPU access is not a fallible step.
  const auto rw = p.map_region(region_kind::memfd, 8_KiB, false);  // step 1: fails
  CHECK(rw == fail(errc::out_of_memory));
  std::vector<std::byte> buf(4);
  CHECK(p.read(*ro, buf).has_value());
  CHECK(fi.steps() == 1);
}

TEST_CASE("fail_nth sweep over a pin-and-charge sequence: no pin and no charge survive a "
          "failure",
          "[mock][memory][fault-injection]") {
  // The type1 pattern: map, pin a run, charge it; on failure undo in reverse order.
  const auto sequence = [](process& p) -> result<void> {
    const auto va = p.map_region(region_kind::anon, 64_KiB, false);
    if (!va) return fail(va.error());
    std::vector<pfn_run> runs;
    result<void> out;
    vaddr at = *va;
    while (at < *va + 64_KiB) {
      const auto run = p.pin_frames(at, 4_pages, prot::read_write);
      if (!run) {
        out = fail(run.error());
        break;
      }
      if (const auto c = p.account_locked(run->count, false); !c) {
        out = fail(c.error());
        p.unpin_frames(*run, prot::read_write);
        break;
      }
      runs.push_back(*run);
      at += bytes_in(run->count);
    }
    for (const auto& r : runs) {
      if (!out) p.unaccount_locked(r.count);
      p.unpin_frames(r, prot::read_write);
    }
    p.unmap_region(*va);
    return out;
  };
  std::uint64_t n = 1;
  for (;; ++n) {
    process p;
    fault_injector fi;
    p.set_fault_injector(&fi);
    p.set_cap_ipc_lock(false);
    p.set_memlock_limit(1_MiB);
    fi.arm(n);
    const auto r = sequence(p);
    CHECK(p.quiescent());
    CHECK(p.live_frames() == 0_pages);
    if (!fi.fired()) {
      REQUIRE(r.has_value());
      CHECK(p.locked_vm() == 16_pages);
      break;
    }
    CHECK(r == fail(errc::out_of_memory));
    CHECK(p.locked_vm() == 0_pages);
  }
  CHECK(n == 10);  // map + 4 x (pin + charge) steps, then a clean run
}
