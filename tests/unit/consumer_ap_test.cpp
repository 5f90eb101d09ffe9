// SPDX-License-Identifier: Apache-2.0
//
// consumer_ap_test: s390 vfio-ap style adapter interrupts (include/vfiopin/consumers/
// s390_ap.hpp) on the mock. Expectations come from vfio_ap_ops.c as spec §8.3 and §10
// items 11-12 describe it: the NIB's page is pinned at the NIB's unaligned IOVA, the host
// NIB is the page's physical address plus the NIB's offset, an error after the pin unpins,
// and the unmap callback disables only queues whose NIB lies in the unmapped range.

#include "tests/support/catch.hpp"
#include "tests/unit/consumer_fixture.hpp"

#include <vfiopin/consumers/s390_ap.hpp>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

using namespace vfiopin;
using namespace vfiopin::literals;
using vfiopin::test::pin_call;
using vfiopin::test::recording_backend;
using ap = consumers::s390_ap<recording_backend>;

static_assert(consumer<ap>);

namespace {

constexpr std::array<std::uint16_t, 3> queues{0x0104, 0x0105, 0x0206};

struct bed {
  mock::process proc;
  container<recording_backend> c{std::in_place, proc};
  recording_backend& b = c.backend();
  std::unique_ptr<ap> a;
  vaddr ram{};
  std::vector<mapping<recording_backend>> maps;
  std::vector<std::string> log;  // firmware calls

  explicit bed(consumers::ap_firmware fw = {}) {
    auto r = ap::open(c, queues, std::move(fw));
    REQUIRE(r);
    a = std::move(*r);
    ram = *proc.map_region(mock::region_kind::memfd, 128_KiB, false);
    // Two mappings: [0x10000, 0x1ffff] and [0x20000, 0x2ffff].
    for (std::uint64_t i = 0; i < 2; ++i) {
      auto m = c.map(iova(0x10000 + i * 0x10000), ram + byte_count(i * 0x10000), 64_KiB,
                     prot::read_write);
      REQUIRE(m);
      maps.push_back(std::move(*m));
    }
  }
};

/// A firmware that logs its calls and fails the step named `fail_at`.
consumers::ap_firmware logging_firmware(std::vector<std::string>& log, std::string fail_at = "") {
  consumers::ap_firmware fw;
  fw.register_gisc = [&log, fail_at](std::uint16_t, std::uint8_t) -> result<void> {
    log.push_back("register");
    if (fail_at == "register") return fail(errc::io_error);
    return {};
  };
  fw.unregister_gisc = [&log](std::uint16_t, std::uint8_t) { log.push_back("unregister"); };
  fw.enable = [&log, fail_at](std::uint16_t, std::uint64_t) -> result<void> {
    log.push_back("enable");
    if (fail_at == "enable") return fail(errc::io_error);
    return {};
  };
  fw.disable = [&log](std::uint16_t) { log.push_back("disable"); };
  return fw;
}

}  // namespace

TEST_CASE("ap: enabling interrupts pins the NIB's page at its unaligned IOVA and gives the "
          "host physical address",
          "[consumer][ap]") {
  bed t;
  const auto host = t.a->enable_irq(0x0104, iova(0x12345), 3);
  REQUIRE(host);
  CHECK(t.b.pins == std::vector<pin_call>{{0x12345, 1, true}});
  // Independently: the frame the process maps at the NIB's page, and the offset 0x345.
  const auto f = t.proc.frame_of(t.ram + 0x2000_B);
  REQUIRE(f);
  CHECK(*host == (f->value() << page_shift) + 0x345);
  const auto st = t.a->irq(0x0104);
  REQUIRE(st);
  CHECK(st->nib == iova(0x12345));
  CHECK(st->isc == 3);
  CHECK(t.proc.total_pins() == 1);
  // The firmware's indicator write reaches the guest's byte.
  std::byte* nib = t.a->nib_byte(0x0104);
  REQUIRE(nib != nullptr);
  *nib = std::byte{0x80};
  std::array<std::byte, 1> seen{};
  REQUIRE(t.proc.read(t.ram + 0x2345_B, seen));
  CHECK(seen[0] == std::byte{0x80});
  t.a->disable_irq(0x0104);
  CHECK(t.b.unpins == std::vector<pin_call>{{0x12345, 1, true}});
  CHECK(!t.a->irq(0x0104));
  CHECK(t.proc.quiescent());
  REQUIRE(t.a->enable_irq(0x0104, iova(0x12345), 3));
  t.a->reset(0x0104);
  CHECK(t.proc.quiescent());
  CHECK(t.a->enabled() == 0);
}

TEST_CASE("ap: bad requests pin nothing", "[consumer][ap]") {
  bed t;
  CHECK(t.a->enable_irq(0x0999, iova(0x12000), 0).error() == errc::no_device);
  CHECK(t.a->enable_irq(0x0104, iova(0), 0).error() == errc::invalid_argument);
  CHECK(t.b.pins.empty());
  // Not mapped: the pin fails (vfio_find_dma finds nothing), and nothing is unpinned.
  CHECK(t.a->enable_irq(0x0104, iova(0x90000), 0).error() == errc::invalid_argument);
  CHECK(t.b.unpins.empty());
  REQUIRE(t.a->enable_irq(0x0104, iova(0x12000), 0));
  t.b.forget();
  CHECK(t.a->enable_irq(0x0104, iova(0x13000), 0).error() == errc::busy);
  CHECK(t.b.pins.empty());
  CHECK(t.a->irq(0x0104)->nib == iova(0x12000));  // unchanged
  t.a->disable_irq(0x0999);  // no-op
  CHECK(t.proc.total_pins() == 1);
}

TEST_CASE("ap: an error after a successful pin unpins", "[consumer][ap]") {
  std::vector<std::string> log;
  SECTION("gisc registration fails") {
    bed t(logging_firmware(log, "register"));
    CHECK(t.a->enable_irq(0x0105, iova(0x21000), 1).error() == errc::io_error);
    CHECK(t.b.pins == std::vector<pin_call>{{0x21000, 1, true}});
    CHECK(t.b.unpins == std::vector<pin_call>{{0x21000, 1, true}});
    CHECK(log == std::vector<std::string>{"register"});
    CHECK(t.proc.quiescent());
    CHECK(!t.a->irq(0x0105));
    REQUIRE(t.maps[1].unmap());  // no pin left: no notification storm
  }
  SECTION("the AQIC enable fails: the gisc is unregistered as well") {
    bed t(logging_firmware(log, "enable"));
    CHECK(t.a->enable_irq(0x0105, iova(0x21000), 1).error() == errc::io_error);
    CHECK(log == std::vector<std::string>{"register", "enable", "unregister"});
    CHECK(t.b.unpins.size() == 1);
    CHECK(t.proc.quiescent());
  }
  SECTION("everything succeeds, and disable reverses it") {
    bed t(logging_firmware(log));
    REQUIRE(t.a->enable_irq(0x0105, iova(0x21000), 1));
    t.a->disable_irq(0x0105);
    CHECK(log == std::vector<std::string>{"register", "enable", "disable", "unregister"});
    CHECK(t.proc.quiescent());
  }
}

TEST_CASE("ap: the unmap notification disables only queues whose NIB is in the range",
          "[consumer][ap]") {
  bed t;
  REQUIRE(t.a->enable_irq(0x0104, iova(0x18010), 0));  // in the first mapping
  REQUIRE(t.a->enable_irq(0x0105, iova(0x2a345), 0));  // in the second, not at its start
  REQUIRE(t.a->enable_irq(0x0206, iova(0x2a800), 0));  // the same page as 0x0105's NIB
  CHECK(t.proc.total_pins() == 3);                      // one pin per key, as vfio_pfn
  SECTION("a range elsewhere changes nothing") {
    t.a->on_dma_unmap(*interval<iova>::from_bounds(iova(0x30000), iova(0x3ffff)));
    t.a->on_dma_unmap(*interval<iova>::from_bounds(iova(0x20000), iova(0x2a344 - page_bytes)));
    CHECK(t.a->enabled() == 3);
  }
  SECTION("unmapping the second mapping disables the two queues in it, before it goes") {
    t.b.forget();
    REQUIRE(t.maps[1].unmap());
    CHECK(t.a->enabled() == 1);
    CHECK(t.a->irq(0x0104));
    CHECK(t.b.unpins.size() == 2);
    CHECK(t.proc.total_pins() == 1);
  }
  SECTION("a one-byte range at a NIB disables that queue only") {
    t.a->on_dma_unmap(*interval<iova>::from(iova(0x2a345), 1_B));
    CHECK(!t.a->irq(0x0105));
    CHECK(t.a->irq(0x0206));  // its window [0x2a800, 0x2b7ff] does not reach 0x2a345
    CHECK(t.a->irq(0x0104));
  }
}

TEST_CASE("ap: a NIB in a BAR is refused, and teardown disables everything", "[consumer][ap]") {
  std::vector<std::string> log;
  bed t(logging_firmware(log));
  const auto bar = t.proc.map_region(mock::region_kind::bar, 64_KiB, false);
  REQUIRE(bar);
  auto m = t.c.map(iova(0x80000), *bar, 64_KiB, prot::read_write);
  REQUIRE(m);
  // The kernel model (6.4+ contract) refuses a page without struct page with EINVAL.
  CHECK(t.a->enable_irq(0x0104, iova(0x80010), 0).error() == errc::invalid_argument);
  CHECK(log.empty());  // never reached the firmware
  REQUIRE(t.a->enable_irq(0x0104, iova(0x11000), 0));
  REQUIRE(t.a->enable_irq(0x0206, iova(0x22000), 0));
  t.a.reset();
  CHECK(t.proc.quiescent());
  CHECK(std::count(log.begin(), log.end(), "disable") == 2);
}
