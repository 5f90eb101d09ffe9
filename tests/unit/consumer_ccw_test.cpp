// SPDX-License-Identifier: Apache-2.0
//
// tests/unit/consumer_ccw_test.cpp: the s390 vfio-ccw consumer (include/vfiopin/consumers/).
//
// Guest programs are written byte for byte into mock guest RAM (big-endian, as the
// Principles of Operation lay CCWs and IDAWs out), translated through a mock type1
// container, and the host program is checked against what the architecture says the
// blocks are: the expected blocks, pages and lengths below are worked out by hand from the
// CCW's address, count and IDAW block size. Every error path is checked to leave no pin
// (the mock process's pin counts) and no program.
#include "tests/support/catch.hpp"

#include <vfiopin/consumers/s390_ccw.hpp>
#include <vfiopin/container.hpp>
#include <vfiopin/mock/fault_injection.hpp>
#include <vfiopin/mock/memory.hpp>
#include <vfiopin/mock/type1.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace vfiopin;
using namespace vfiopin::s390;
using backend = mock::type1<>;

constexpr std::uint64_t ram_size = 0x10000;  // guest RAM: IOVA [0, 64 KiB)

std::array<std::byte, 8> bytes8(std::initializer_list<unsigned> v) {
  std::array<std::byte, 8> out{};
  std::size_t i = 0;
  for (const unsigned x : v) out[i++] = static_cast<std::byte>(x);
  return out;
}

struct guest {
  mock::process proc;
  container<backend> c{std::in_place, proc};
  vaddr ram{};
  mapping<backend> m{};
  ccw_translator<backend> t;

  explicit guest(ccw_limits limits = {}) : t(c, limits) {
    REQUIRE(t.attach().has_value());  // an emulated group: sets the IOMMU type
    auto r = proc.map_region(mock::region_kind::anon, byte_count(2 * ram_size), false);
    REQUIRE(r.has_value());
    ram = *r;
    std::vector<std::byte> zero(ram_size);
    REQUIRE(proc.write(ram, zero).has_value());
    auto mm = c.map(iova(0), ram, byte_count(ram_size), prot::read_write);
    REQUIRE(mm.has_value());
    m = std::move(*mm);
  }
  void put(std::uint64_t at, std::span<const std::byte> b) {
    REQUIRE(proc.write(ram + byte_count(at), b).has_value());
  }
  void ccw1(std::uint64_t at, unsigned cmd, unsigned flags, unsigned count, std::uint32_t cda) {
    put(at, bytes8({cmd, flags, count >> 8, count & 0xff, cda >> 24, (cda >> 16) & 0xff,
                    (cda >> 8) & 0xff, cda & 0xff}));
  }
  void idaw(std::uint64_t at, std::uint64_t a) {
    std::array<std::byte, 8> b{};
    for (int i = 0; i < 8; ++i) b[static_cast<std::size_t>(i)] = static_cast<std::byte>(a >> (56 - 8 * i));
    put(at, b);
  }
  /// The host frame behind guest address `at` (faulted in by the constructor).
  [[nodiscard]] std::uint64_t frame(std::uint64_t at) const {
    const auto f = proc.frame_of(ram + byte_count(at));
    REQUIRE(f.has_value());
    return f->value();
  }
  [[nodiscard]] std::uint64_t pins() const { return proc.total_pins(); }
  result<void> run(std::uint64_t cpa, ccw_format f = ccw_format::format1, idaw_block b = idaw_block::k4) {
    return t.translate(ccw_start{iova(cpa), f, b});
  }
};

/// Checks one host IDAW against the block the architecture gives (guest address, length).
void check_block(const guest& g, const host_idaw& w, std::uint64_t addr, std::uint32_t len) {
  CHECK(w.guest.value() == addr);
  CHECK(w.length == len);
  CHECK(w.offset == (addr & 0xfff));
  REQUIRE_FALSE(w.page.empty());
  CHECK(w.page.frame()->number() == g.frame(addr));
  REQUIRE(w.word().has_value());
  CHECK(*w.word() == g.frame(addr) * 4096 + (addr & 0xfff));
  CHECK(w.bytes().data() == g.proc.frame_bytes(pfn(g.frame(addr))).data() + (addr & 0xfff));
}

/// Checks the IDAL of host CCW `index` block by block.
void check_idal(const guest& g, std::size_t index,
                std::initializer_list<std::pair<std::uint64_t, std::uint32_t>> blocks) {
  const auto& p = g.t.program();
  REQUIRE(index < p.ccws().size());
  const auto idal = p.idal(p.ccws()[index]);
  REQUIRE(idal.size() == blocks.size());
  std::size_t k = 0;
  for (const auto& [addr, len] : blocks) check_block(g, idal[k++], addr, len);
}

bool is(const result<void>& r, ccw_errc e) { return !r && r.error() == make_error_code(e); }
bool is(const result<void>& r, errc e) { return !r && r.error() == make_error_code(e); }

}  // namespace

TEST_CASE("ccw decoder: format-1 and format-0 layouts, TIC normalisation, refused words") {
  const auto f1 = bytes8({0x02, 0x64, 0x12, 0x34, 0x00, 0x12, 0x34, 0x58});
  auto c = decode_ccw(std::span<const std::byte, 8>(f1), ccw_format::format1);
  REQUIRE(c.has_value());
  CHECK(c->cmd == 0x02);
  CHECK(c->flags == (ccw_flag::cc | ccw_flag::sli | ccw_flag::ida));
  CHECK(c->count == 0x1234);
  CHECK(c->cda == 0x123458);
  CHECK(encode_ccw(*c, ccw_format::format1) == f1);

  // Format 0: command, 24-bit address, flags, ignored byte, count.
  const auto f0 = bytes8({0x01, 0x12, 0x34, 0x58, 0x80, 0xee, 0x00, 0x10});
  c = decode_ccw(std::span<const std::byte, 8>(f0), ccw_format::format0);
  REQUIRE(c.has_value());
  CHECK(c->cmd == 0x01);
  CHECK(c->cda == 0x123458);
  CHECK(c->flags == ccw_flag::cd);
  CHECK(c->count == 0x10);

  // A format-0 TIC ignores the high command bits, flags and count.
  const auto tic0 = bytes8({0xf8, 0x00, 0x20, 0x00, 0xff, 0x00, 0x12, 0x34});
  c = decode_ccw(std::span<const std::byte, 8>(tic0), ccw_format::format0);
  REQUIRE(c.has_value());
  CHECK(c->cmd == 0x08);
  CHECK(c->flags == 0);
  CHECK(c->count == 0);
  CHECK(c->cda == 0x2000);
  // A format-1 TIC must have zero high bits.
  const auto tic1 = bytes8({0x18, 0, 0, 0, 0, 0, 0x20, 0});
  CHECK(decode_ccw(std::span<const std::byte, 8>(tic1), ccw_format::format1).error() ==
        make_error_code(ccw_errc::invalid_tic));
  // Bit 0 of a format-1 address must be zero.
  const auto high = bytes8({0x02, 0, 0, 1, 0x80, 0, 0, 0});
  CHECK(decode_ccw(std::span<const std::byte, 8>(high), ccw_format::format1).error() ==
        make_error_code(ccw_errc::address_range));
  const auto mida = bytes8({0x02, 0x01, 0, 1, 0, 0, 0x10, 0});
  CHECK(decode_ccw(std::span<const std::byte, 8>(mida), ccw_format::format1).error() ==
        make_error_code(ccw_errc::unsupported_flag));
}

TEST_CASE("ccw decoder: command directions and IDAW counts") {
  CHECK(direction_of(0x01) == ccw_direction::from_memory);  // write
  CHECK(direction_of(0x02) == ccw_direction::to_memory);    // read
  CHECK(direction_of(0x03) == ccw_direction::from_memory);  // control
  CHECK(direction_of(0x04) == ccw_direction::to_memory);    // sense
  CHECK(direction_of(0x0c) == ccw_direction::to_memory);    // read backward
  CHECK(direction_of(0x08) == ccw_direction::none);         // TIC
  CHECK(direction_of(0x30) == ccw_direction::none);         // invalid
  CHECK(direction_of(0x31) == ccw_direction::from_memory);  // search (write type)
  CHECK(idaw_count(0x1000, 0, idaw_block::k4) == 0);
  CHECK(idaw_count(0x1000, 4096, idaw_block::k4) == 1);
  CHECK(idaw_count(0x1800, 4096, idaw_block::k4) == 2);
  CHECK(idaw_count(0x1800, 4096, idaw_block::k2) == 2);
  CHECK(idaw_count(0x1801, 4096, idaw_block::k2) == 3);
  CHECK(idaw_count(0x7ff, 65535, idaw_block::k2) == 33);
  CHECK(idaw_count(0xfff, 65535, idaw_block::k4) == 17);
  CHECK(decode_idaw(encode_idaw(0x0123456789abcdefULL)) == 0x0123456789abcdefULL);
  CHECK(encode_idaw(0x1122334455667788ULL)[0] == std::byte{0x11});
}

TEST_CASE("ccw errors: own category, errno equivalents") {
  const std::error_code e = ccw_errc::tic_to_tic;
  CHECK(e.category() == ccw_category());
  CHECK(e == std::errc::invalid_argument);
  CHECK(to_errno(e) == EINVAL);
  CHECK(to_errno(make_error_code(ccw_errc::unsupported_flag)) == EOPNOTSUPP);
  CHECK(to_errno(make_error_code(ccw_errc::busy)) == EBUSY);
  CHECK_FALSE(e.message().empty());
}

TEST_CASE("ccw translate: format-1 write, contiguous data cut into 4K IDAWs") {
  guest g;
  g.ccw1(0x1000, 0x01, ccw_flag::sli, 0x2000, 0x2100);
  std::vector<std::byte> pattern(0x2000);
  for (std::size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<std::byte>(i * 7);
  g.put(0x2100, pattern);
  REQUIRE(g.run(0x1000).has_value());
  CHECK(g.t.active());
  const auto& p = g.t.program();
  REQUIRE(p.ccws().size() == 1);
  const host_ccw& h = p.ccws()[0];
  CHECK(h.guest.value() == 0x1000);
  CHECK(h.cmd == 0x01);
  CHECK(h.count == 0x2000);
  CHECK(h.flags == (ccw_flag::sli | ccw_flag::ida));
  CHECK(h.direction == ccw_direction::from_memory);
  check_idal(g, 0, {{0x2100, 0xf00}, {0x3000, 0x1000}, {0x4000, 0x100}});
  const auto idal = p.idal(h);
  // The blocks are the guest's bytes, in order.
  std::vector<std::byte> seen;
  for (const auto& w : idal) seen.insert(seen.end(), w.bytes().begin(), w.bytes().end());
  CHECK(seen == pattern);
  // Three data pages pinned (the CCW's page only while it was read).
  CHECK(g.pins() == 3);
  CHECK(g.t.pinned_ranges().size() == 1);
  g.t.complete();
  CHECK_FALSE(g.t.active());
  CHECK(g.pins() == 0);
  CHECK(g.t.program().empty());
}

TEST_CASE("ccw translate: format-0 CCWs, 24-bit addresses") {
  guest g;
  // read 0x80 bytes to 0x5f80 (one page), command chained to a write of 0x100 from 0x6000.
  g.put(0x800, encode_ccw(ccw{0x02, ccw_flag::cc, 0x80, 0x5f80}, ccw_format::format0));
  g.put(0x808, bytes8({0x01, 0x00, 0x60, 0x00, 0x00, 0x00, 0x01, 0x00}));
  REQUIRE(g.run(0x800, ccw_format::format0).has_value());
  const auto& p = g.t.program();
  REQUIRE(p.ccws().size() == 2);
  CHECK(p.ccws()[0].direction == ccw_direction::to_memory);
  CHECK(p.ccws()[1].direction == ccw_direction::from_memory);
  check_idal(g, 0, {{0x5f80, 0x80}});
  check_idal(g, 1, {{0x6000, 0x100}});
  CHECK(g.pins() == 2);
}

TEST_CASE("ccw translate: command chaining, no-data CCWs, read into read-only memory") {
  guest g;
  g.ccw1(0x1000, 0x03, ccw_flag::cc, 0, 0);                     // no-op
  g.ccw1(0x1008, 0x02, ccw_flag::cc | ccw_flag::skip, 0x100, 0x3000);  // read, skipped
  g.ccw1(0x1010, 0x04, ccw_flag::cc, 0, 0x3000);                // sense, count 0
  g.ccw1(0x1018, 0x02, 0, 0x10, 0x3000);                        // read 16 bytes
  REQUIRE(g.run(0x1000).has_value());
  const auto& p = g.t.program();
  REQUIRE(p.ccws().size() == 4);
  for (int i = 0; i < 3; ++i) {
    CHECK(p.ccws()[static_cast<std::size_t>(i)].idaws == 0);
    CHECK((p.ccws()[static_cast<std::size_t>(i)].flags & ccw_flag::ida) == 0);
  }
  check_idal(g, 3, {{0x3000, 0x10}});
  CHECK(g.pins() == 1);
  g.t.complete();

  // A read-only mapping: the device may read from it (write CCW), never write it (read CCW).
  auto ro = g.proc.map_region(mock::region_kind::anon, byte_count(0x1000), false);
  REQUIRE(ro.has_value());
  std::vector<std::byte> fill(0x1000, std::byte{1});
  REQUIRE(g.proc.write(*ro, fill).has_value());
  auto rom = g.c.map(iova(0x20000), *ro, byte_count(0x1000), prot::read);
  REQUIRE(rom.has_value());
  g.ccw1(0x1000, 0x01, 0, 0x20, 0x20000);
  REQUIRE(g.run(0x1000).has_value());
  g.t.complete();
  g.ccw1(0x1000, 0x02, 0, 0x20, 0x20000);
  CHECK(is(g.run(0x1000), errc::not_permitted));
  CHECK(g.pins() == 0);
}

TEST_CASE("ccw translate: data chaining ignores the next command field") {
  guest g;
  g.ccw1(0x1000, 0x02, ccw_flag::cd, 0x100, 0x4f80);  // read, data chained
  g.ccw1(0x1008, 0x00, 0, 0x100, 0x5000);             // command field ignored
  REQUIRE(g.run(0x1000).has_value());
  const auto& p = g.t.program();
  REQUIRE(p.ccws().size() == 2);
  CHECK(p.ccws()[1].direction == ccw_direction::to_memory);
  check_idal(g, 0, {{0x4f80, 0x80}, {0x5000, 0x80}});  // 0x4f80 crosses into 0x5000
  check_idal(g, 1, {{0x5000, 0x100}});
  g.t.complete();
  // The same invalid command field starting a chain is refused.
  g.ccw1(0x1000, 0x00, 0, 0x100, 0x5000);
  CHECK(is(g.run(0x1000), ccw_errc::invalid_command));
  CHECK(g.t.fault_address() == iova(0x1000));
  CHECK(g.pins() == 0);
}

TEST_CASE("ccw translate: TIC to another segment and the backward search loop") {
  guest g;
  g.ccw1(0x1000, 0x01, ccw_flag::cc, 0x10, 0x6000);
  g.ccw1(0x1008, 0x08, 0, 0, 0x3000);  // TIC
  g.ccw1(0x3000, 0x02, 0, 0x10, 0x7000);
  REQUIRE(g.run(0x1000).has_value());
  auto p = g.t.program().ccws();
  REQUIRE(p.size() == 3);
  CHECK(p[1].is_tic());
  CHECK(p[2].guest.value() == 0x3000);
  CHECK(p[1].tic_target == 2);
  CHECK(g.pins() == 2);
  g.t.complete();

  // seek; search ID equal (CC); TIC *-8; read: the read is reached by status modifier.
  g.ccw1(0x1000, 0x07, ccw_flag::cc, 6, 0x6000);
  g.ccw1(0x1008, 0x31, ccw_flag::cc, 5, 0x6010);
  g.ccw1(0x1010, 0x08, 0, 0, 0x1008);
  g.ccw1(0x1018, 0x06, 0, 0x200, 0x7000);
  REQUIRE(g.run(0x1000).has_value());
  p = g.t.program().ccws();
  REQUIRE(p.size() == 4);  // one segment, guest layout kept
  for (std::size_t i = 0; i < 4; ++i) CHECK(p[i].guest.value() == 0x1000 + 8 * i);
  CHECK(p[2].tic_target == 1);
  CHECK(p[3].direction == ccw_direction::to_memory);
  g.t.complete();
  CHECK(g.pins() == 0);
}

TEST_CASE("ccw translate: loops without exit and misplaced TICs are refused") {
  guest g;
  g.ccw1(0x1000, 0x08, 0, 0, 0x1000);  // TIC to itself
  CHECK(is(g.run(0x1000), ccw_errc::tic_to_tic));
  CHECK(g.t.fault_address() == iova(0x1000));

  g.ccw1(0x1000, 0x01, ccw_flag::cc, 0x10, 0x6000);  // pins a page first
  g.ccw1(0x1008, 0x08, 0, 0, 0x2000);
  g.ccw1(0x2000, 0x08, 0, 0, 0x1008);  // TIC to TIC, back and forth
  CHECK(is(g.run(0x1000), ccw_errc::tic_to_tic));
  CHECK(g.pins() == 0);
  CHECK_FALSE(g.t.active());

  g.ccw1(0x1008, 0x08, 0, 0, 0x2004);  // misaligned target
  CHECK(is(g.run(0x1000), ccw_errc::misaligned_ccw));
  CHECK(g.t.fault_address() == iova(0x1008));
  CHECK(is(g.run(0x1004), ccw_errc::misaligned_ccw));
  CHECK(is(g.run(0x80000000ULL), ccw_errc::address_range));
  CHECK(g.pins() == 0);
}

TEST_CASE("ccw translate: the CCW bound") {
  guest g(ccw_limits{.max_ccws = 256, .max_idaws = 4096});
  for (std::uint64_t i = 0; i < 256; ++i) g.ccw1(0x1000 + 8 * i, 0x03, ccw_flag::cc, 0, 0);
  g.ccw1(0x1000 + 8 * 255, 0x01, 0, 1, 0x9000);  // 256 CCWs, the last one writes a byte
  REQUIRE(g.run(0x1000).has_value());
  CHECK(g.t.program().ccws().size() == 256);
  CHECK(g.pins() == 1);
  g.t.complete();
  g.ccw1(0x1000 + 8 * 255, 0x01, ccw_flag::cc, 1, 0x9000);
  g.ccw1(0x1000 + 8 * 256, 0x03, 0, 0, 0);  // the 257th
  CHECK(is(g.run(0x1000), ccw_errc::chain_too_long));
  CHECK(g.t.fault_address() == iova(0x1000 + 8 * 256));
  CHECK(g.pins() == 0);
}

TEST_CASE("ccw translate: format-2 IDAWs, 4K and 2K blocks") {
  guest g;
  // 4K: first IDAW unaligned, the next on a 4K boundary.
  g.ccw1(0x1000, 0x02, ccw_flag::ida, 0x1800, 0x1100);
  g.idaw(0x1100, 0x5800);
  g.idaw(0x1108, 0x7000);
  REQUIRE(g.run(0x1000).has_value());
  check_idal(g, 0, {{0x5800, 0x800}, {0x7000, 0x1000}});
  CHECK(g.pins() == 2);
  g.t.complete();
  // 4K: the second IDAW off a 4K boundary.
  g.idaw(0x1108, 0x7800);
  CHECK(is(g.run(0x1000), ccw_errc::misaligned_idaw));
  CHECK(g.pins() == 0);
  // 2K: the same IDAW is on a 2K boundary; 0x1800 bytes from 0x5800 need three IDAWs.
  g.idaw(0x1110, 0x9000);
  REQUIRE(g.run(0x1000, ccw_format::format1, idaw_block::k2).has_value());
  check_idal(g, 0, {{0x5800, 0x800}, {0x7800, 0x800}, {0x9000, 0x800}});
  CHECK(g.t.program().block() == idaw_block::k2);
  g.t.complete();
  // 2K: two blocks of one page pin that page once.
  g.ccw1(0x1000, 0x02, ccw_flag::ida, 0x1000, 0x1100);
  g.idaw(0x1100, 0x5000);
  g.idaw(0x1108, 0x5800);
  REQUIRE(g.run(0x1000, ccw_format::format1, idaw_block::k2).has_value());
  check_idal(g, 0, {{0x5000, 0x800}, {0x5800, 0x800}});
  const auto idal = g.t.program().idaws();
  CHECK(idal[0].page == idal[1].page);
  CHECK(g.pins() == 1);
  g.t.complete();
  // 2K without IDA: [0x2100, 0x3100) is cut at 2K boundaries.
  g.ccw1(0x1000, 0x01, 0, 0x1000, 0x2100);
  REQUIRE(g.run(0x1000, ccw_format::format1, idaw_block::k2).has_value());
  check_idal(g, 0, {{0x2100, 0x700}, {0x2800, 0x800}, {0x3000, 0x100}});
  CHECK(g.pins() == 2);
  g.t.complete();
  // An IDAL off a doubleword boundary.
  g.ccw1(0x1000, 0x02, ccw_flag::ida, 0x10, 0x1104);
  CHECK(is(g.run(0x1000), ccw_errc::misaligned_idal));
  CHECK(g.pins() == 0);
}

TEST_CASE("ccw translate: the IDAW bound") {
  guest g(ccw_limits{.max_ccws = 16, .max_idaws = 4});
  g.ccw1(0x1000, 0x01, ccw_flag::cc, 0x1000, 0x2100);  // 3 IDAWs of 2K
  g.ccw1(0x1008, 0x01, 0, 0x800, 0x4000);              // 1 more: 4 in all
  REQUIRE(g.run(0x1000, ccw_format::format1, idaw_block::k2).has_value());
  CHECK(g.t.program().idaws().size() == 4);
  g.t.complete();
  g.ccw1(0x1008, 0x01, 0, 0x801, 0x4000);  // 2 more: 5
  CHECK(is(g.run(0x1000, ccw_format::format1, idaw_block::k2), ccw_errc::too_many_idaws));
  CHECK(g.t.fault_address() == iova(0x1008));
  CHECK(g.pins() == 0);
}

TEST_CASE("ccw translate: reads and data outside guest memory") {
  guest g;
  // The program address outside guest RAM.
  CHECK(is(g.run(ram_size), errc::invalid_argument));
  // A chain that runs off the end of guest RAM.
  g.ccw1(ram_size - 16, 0x01, ccw_flag::cc, 0x10, 0x6000);
  g.ccw1(ram_size - 8, 0x03, ccw_flag::cc, 0, 0);
  CHECK(is(g.run(ram_size - 16), errc::invalid_argument));
  CHECK(g.t.fault_address() == iova(ram_size));
  CHECK(g.pins() == 0);
  // A data area that starts inside and ends outside.
  g.ccw1(0x1000, 0x01, ccw_flag::cc, 0x10, 0x6000);
  g.ccw1(0x1008, 0x01, 0, 0x200, ram_size - 0x100);
  CHECK(is(g.run(0x1000), errc::invalid_argument));
  CHECK(g.pins() == 0);
  // An IDAL outside, and an IDAW at the top of the 64-bit space.
  g.ccw1(0x1008, 0x02, ccw_flag::ida, 0x200, static_cast<std::uint32_t>(ram_size));
  CHECK(is(g.run(0x1000), errc::invalid_argument));
  g.ccw1(0x1008, 0x02, ccw_flag::ida, 0x2000, 0x1100);
  g.idaw(0x1100, 0xfffffffffffff800ULL);
  g.idaw(0x1108, 0);
  CHECK(is(g.run(0x1000), errc::invalid_argument));
  CHECK(g.pins() == 0);
  CHECK_FALSE(g.t.active());
}

TEST_CASE("ccw notification: the unmapped range's length decides") {
  guest g;
  g.ccw1(0x1000, 0x02, 0, 0x100, 0x2080);  // pins the page [0x2000, 0x2fff]
  REQUIRE(g.run(0x1000).has_value());
  REQUIRE(g.pins() == 1);
  const auto range = [](std::uint64_t a, std::uint64_t b) { return *interval<iova>::from_bounds(iova(a), iova(b)); };
  g.t.on_dma_unmap(range(0x1000, 0x1fff));  // ends just before the page
  CHECK(g.t.active());
  g.t.on_dma_unmap(range(0x3000, 0x3fff));  // starts just after it
  CHECK(g.t.active());
  g.t.on_dma_unmap(range(0x0, 0x1000));  // covers the CCW, which is not pinned
  CHECK(g.t.active());
  CHECK(g.pins() == 1);
  g.t.on_dma_unmap(range(0x1000, 0x2000));  // one byte of the page
  CHECK_FALSE(g.t.active());
  CHECK(g.pins() == 0);
  CHECK(g.t.unmap_releases() == 1);
  g.t.on_dma_unmap(range(0x0, 0xffff));  // nothing left: nothing happens
  CHECK(g.t.unmap_releases() == 1);
  REQUIRE(g.run(0x1000).has_value());
  g.t.on_dma_unmap(range(0x2fff, 0x10000));  // the last byte
  CHECK_FALSE(g.t.active());
}

TEST_CASE("ccw notification: through the container, only the mapping that holds the data") {
  guest g;
  auto second = g.c.map(iova(ram_size), g.ram + byte_count(ram_size), byte_count(ram_size), prot::read_write);
  REQUIRE(second.has_value());
  std::vector<std::byte> zero(0x1000);
  REQUIRE(g.proc.write(g.ram + byte_count(ram_size), zero).has_value());
  g.ccw1(0x1000, 0x02, 0, 0x100, static_cast<std::uint32_t>(ram_size));  // data in the second
  REQUIRE(g.run(0x1000).has_value());
  CHECK(g.pins() == 1);
  // Unmapping the program's own mapping: it holds no pin, so no notification comes.
  REQUIRE(g.m.unmap().has_value());
  CHECK(g.t.active());
  CHECK(g.t.unmap_releases() == 0);
  // Unmapping the data's mapping: notified, released, and the unmap succeeds.
  auto r = second->unmap();
  REQUIRE(r.has_value());
  CHECK(r->size.value() == ram_size);
  CHECK_FALSE(g.t.active());
  CHECK(g.t.unmap_releases() == 1);
  CHECK(g.pins() == 0);
}

TEST_CASE("ccw translate: one program at a time, attach first") {
  guest g;
  g.ccw1(0x1000, 0x02, 0, 0x10, 0x2000);
  REQUIRE(g.run(0x1000).has_value());
  CHECK(is(g.run(0x1000), ccw_errc::busy));
  CHECK(g.pins() == 1);  // the active program is kept
  g.t.complete();
  g.t.complete();  // twice is harmless
  CHECK(g.pins() == 0);

  ccw_translator<backend> lone(g.c);
  CHECK(is(lone.translate(ccw_start{iova(0x1000)}), ccw_errc::not_attached));
  static_assert(consumer<ccw_translator<backend>>);
  static_assert(consumer_of_rule<ccw_translator<backend>, mock::process>);
}

TEST_CASE("ccw translate: every failure point of the backend leaves no pin") {
  guest g;
  g.ccw1(0x1000, 0x01, ccw_flag::cc | ccw_flag::ida, 0x1800, 0x1100);
  g.idaw(0x1100, 0x5800);
  g.idaw(0x1108, 0x7000);
  g.ccw1(0x1008, 0x08, 0, 0, 0x3000);
  g.ccw1(0x3000, 0x02, ccw_flag::cd, 0x2000, 0x8100);
  g.ccw1(0x3008, 0x00, 0, 0x10, 0xa000);
  g.proc.set_cap_ipc_lock(false);
  mock::fault_injector fi;
  g.c.backend().set_fault_injector(&fi);
  std::uint64_t n = 1;
  for (; n < 200; ++n) {
    fi.arm(n);
    auto r = g.run(0x1000);
    if (!fi.fired()) {
      REQUIRE(r.has_value());
      break;
    }
    INFO("failure point " << n);
    CHECK_FALSE(r.has_value());
    CHECK(g.pins() == 0);
    CHECK(g.proc.locked_vm().value() == 0);
    CHECK_FALSE(g.t.active());
  }
  g.c.backend().set_fault_injector(nullptr);
  CHECK(n > 5);  // the walk has several fallible steps
  CHECK(g.t.program().ccws().size() == 4);
  // Pages 0x5000 and 0x7000 (the IDAL), 0x8000-0xa000 (0x8100 + 0x2000 ends at 0xa0ff); the
  // data-chained CCW's page 0xa000 is pinned again, which the mock counts as one pin.
  CHECK(g.pins() == 5);
  g.t.complete();
  CHECK(g.pins() == 0);
  CHECK(g.proc.locked_vm().value() == 0);
}

TEST_CASE("ccw notification: unmaps racing translations", "[stress]") {
  guest g;
  std::vector<std::byte> zero(0x1000);
  REQUIRE(g.proc.write(g.ram + byte_count(ram_size), zero).has_value());
  g.ccw1(0x1000, 0x02, 0, 0x100, static_cast<std::uint32_t>(ram_size + 0x80));  // data in "high"
  std::atomic<bool> stop{false};
  std::atomic<int> failed_unmaps{0};
  std::atomic<int> unmaps{0};
  std::thread unmapper([&] {
    while (!stop) {
      auto m = g.c.map(iova(ram_size), g.ram + byte_count(ram_size), byte_count(0x1000), prot::read_write);
      if (!m) {
        ++failed_unmaps;
        continue;
      }
      std::this_thread::yield();
      if (!m->unmap()) ++failed_unmaps;  // pins_retained if the translator kept its pins
      ++unmaps;
    }
  });
  int translated = 0;
  int refused = 0;
  for (int i = 0; i < 300 || unmaps < 10; ++i) {
    auto r = g.run(0x1000);
    if (r) {
      ++translated;
      std::this_thread::yield();
      g.t.complete();
    } else {
      ++refused;
      CHECK(r.error() == make_error_code(errc::invalid_argument));  // "high" not mapped now
    }
  }
  stop = true;
  unmapper.join();
  CHECK(failed_unmaps == 0);
  CHECK(translated + refused >= 300);
  CHECK_FALSE(g.t.active());
  CHECK(g.pins() == 0);
}
