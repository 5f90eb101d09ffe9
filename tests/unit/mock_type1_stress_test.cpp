// SPDX-License-Identifier: Apache-2.0
//
// Concurrency stress of the mock type1 container, meant for the tsan preset as much as for
// the others (tag [stress]): two consumer threads pin and unpin through their emulated
// devices (vfio_pin_pages / vfio_unpin_pages) while the owner thread maps, unmaps (so the
// unmap notification fires and the devices unpin re-entrantly with the container lock
// dropped, vfio_notify_dma_unmap), attaches and detaches a real group (replay and
// vfio_iommu_unmap_unpin_reaccount) and checks every invariant under the lock. Bounded:
// a fixed number of owner rounds (well under 20 s with ThreadSanitizer).
#include "tests/unit/mock_type1_fixture.hpp"

#include <atomic>
#include <chrono>
#include <cerrno>
#include <random>
#include <thread>

using namespace vfiopin;
using namespace vfiopin::mock;
using namespace vfiopin::mock::testing;

namespace {
constexpr std::uint64_t base = 0x1000000;
constexpr std::uint64_t slots = 8;
constexpr std::uint64_t slot_size = 64 * KiB;

void consumer(fake_device& dev, std::atomic<bool>& stop, unsigned seed, std::atomic<int>& pins) {
  std::minstd_rand rng(seed);
  while (!stop.load(std::memory_order_relaxed)) {
    const std::uint64_t at = base + (rng() % slots) * slot_size + (rng() % 13) * 4096;
    const std::uint64_t n = 1 + rng() % 3;
    if (dev.pin(at, n, (rng() & 1) ? prot::read : prot::read_write)) {
      pins.fetch_add(1, std::memory_order_relaxed);
      for (unsigned y = rng() % 4; y > 0; --y) std::this_thread::yield();  // hold it a while
      dev.unpin(at, n);
    }
  }
}
}  // namespace

TEST_CASE("stress: consumers pin and unpin while the owner maps, unmaps, attaches and detaches",
          "[mock][type1][stress]") {
  fixture f;
  fake_device d1(f.t);
  fake_device d2(f.t);
  REQUIRE(d1.attach());
  REQUIRE(d2.attach());
  const vaddr va = f.filled(slots * slot_size);
  std::atomic<bool> stop{false};
  std::atomic<int> pins{0};
  std::thread c1(consumer, std::ref(d1), std::ref(stop), 1U, std::ref(pins));
  std::thread c2(consumer, std::ref(d2), std::ref(stop), 2U, std::ref(pins));

  std::minstd_rand rng(7);
  int retained = 0;
  bool attached = false;
  for (int round = 0; round < 300; ++round) {
    // Pace the owner by the consumers (bounded wait) so that rounds overlap real pins.
    const int seen = pins.load();
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(5);
    while (pins.load() < seen + 3 && std::chrono::steady_clock::now() < until)
      std::this_thread::yield();
    for (std::uint64_t i = 0; i < slots; ++i) {
      const auto r = f.map(base + i * slot_size, va + byte_count(i * slot_size), slot_size);
      CHECK((r.has_value() || err_of(r) == EEXIST));
    }
    if (round % 10 == 3) {
      if (attached) {
        REQUIRE(f.t.detach_group(group_id{0}));
      } else {
        REQUIRE(f.t.attach_group(group_id{0}));
      }
      attached = !attached;
    }
    for (std::uint64_t i = 0; i < slots; ++i) {
      if (rng() % 3 == 0) continue;
      const auto r = f.unmap(base + i * slot_size, slot_size);
      if (!r) {
        // A consumer that re-pins a dma between notifications can exhaust the retries.
        CHECK(errc_of(r) == errc::pins_retained);
        ++retained;
      }
    }
    if (round % 25 == 0) {
      const auto v = check_invariants(f.t);
      INFO(join(v));
      CHECK(v.empty());
      const auto w = check_exclusive_process(f.t);
      INFO(join(w));
      CHECK(w.empty());
    }
  }
  stop = true;
  c1.join();
  c2.join();
  CHECK(d1.held() == 0);
  CHECK(d2.held() == 0);
  f.ok();
  REQUIRE(f.unmap_all());
  if (attached) REQUIRE(f.t.detach_group(group_id{0}));
  d1.detach();
  d2.detach();
  CHECK(f.proc.quiescent());
  CHECK(f.locked() == 0);
  CHECK(pins.load() > 0);
  WARN("stress: " << pins.load() << " pins, " << d1.notifications + d2.notifications
                  << " notifications, " << retained << " unmaps out of retries");
}
