// SPDX-License-Identifier: Apache-2.0
//
// examples/s390_ccw: a vfio-ccw style channel-program translation on the mock backend.
//
// The "guest" writes a DASD-style channel program into its RAM, CCW by CCW, big-endian:
//   seek; search ID equal; TIC back to the search; read 6 KiB through an IDAL whose two
//   blocks are far apart; write a record that data-chains across a page; TIC to a no-op.
// The translator (include/vfiopin/consumers/s390_ccw.hpp) reads it through pinned pages,
// pins the data and builds the host program. This program then checks the host program
// against the guest's: every IDAW word is the page handle's frame address plus the
// block's offset, and that frame is the one behind the guest address; the write's blocks
// hold the guest's record. It plays the channel subsystem (fills the read's blocks through
// the host program), completes the I/O and checks that the guest sees the data. It shows
// the unmap notification releasing a program and a hostile program being refused, and
// exits non-zero on any mismatch.
#include <vfiopin/consumers/s390_ccw.hpp>
#include <vfiopin/container.hpp>
#include <vfiopin/mock/memory.hpp>
#include <vfiopin/mock/type1.hpp>

#include <cstdint>
#include <cstdio>
#include <span>
#include <vector>

namespace {

using namespace vfiopin;
using namespace vfiopin::s390;
using backend = mock::type1<>;

constexpr std::uint64_t ram_base = 0x100000;  // guest RAM: two mappings of 64 KiB
constexpr std::uint64_t half = 0x10000;

int failures = 0;
void expect(bool ok, const char* what) {
  if (!ok) {
    std::printf("MISMATCH: %s\n", what);
    ++failures;
  }
}

struct guest_ram {
  mock::process& proc;
  vaddr base;
  [[nodiscard]] vaddr at(std::uint64_t g) const { return base + byte_count(g - ram_base); }
  void write(std::uint64_t g, std::span<const std::byte> b) const {
    if (!proc.write(at(g), b)) expect(false, "guest write");
  }
  void ccw(std::uint64_t g, std::uint8_t cmd, std::uint8_t flags, std::uint16_t count,
           std::uint32_t cda, ccw_format f = ccw_format::format1) const {
    write(g, encode_ccw(s390::ccw{cmd, flags, count, cda}, f));
  }
  void idaw(std::uint64_t g, std::uint64_t a) const { write(g, encode_idaw(a)); }
  [[nodiscard]] std::vector<std::byte> read(std::uint64_t g, std::size_t n) const {
    std::vector<std::byte> out(n);
    if (!proc.read(at(g), out)) expect(false, "guest read");
    return out;
  }
};

/// Checks each block of the host program against the guest address it came from.
void check_blocks(const host_program& p, const guest_ram& ram) {
  for (const host_idaw& w : p.idaws()) {
    const auto frame = ram.proc.frame_of(ram.at(w.guest.value()));
    expect(frame.has_value(), "a block's guest page has a frame");
    if (!frame) continue;
    expect(w.page.frame() && w.page.frame()->number() == frame->value(),
           "the page handle is the guest page");
    expect(w.word() == frame->value() * page_bytes + (w.guest.value() % page_bytes),
           "IDAW word = page handle address + offset");
    expect(w.bytes().data() == ram.proc.frame_bytes(*frame).data() + w.offset,
           "the block's CPU bytes are the page's");
  }
}

void print(const host_program& p) {
  for (std::size_t i = 0; i < p.ccws().size(); ++i) {
    const host_ccw& h = p.ccws()[i];
    std::printf("  [%zu] guest 0x%06llx cmd 0x%02x flags 0x%02x count %5u", i,
                static_cast<unsigned long long>(h.guest.value()), h.cmd, h.flags, h.count);
    if (h.is_tic()) std::printf("  TIC -> [%u]", h.tic_target);
    for (const host_idaw& w : p.idal(h))
      std::printf("  idaw 0x%llx+%u", static_cast<unsigned long long>(w.word().value_or(0)),
                  w.length);
    std::printf("\n");
  }
}

}  // namespace

int main() {
  mock::process proc;
  container<backend> c(std::in_place, proc);
  ccw_translator<backend> cp(c);
  if (!cp.attach()) return 2;
  auto region = proc.map_region(mock::region_kind::anon, byte_count(2 * half), false);
  if (!region) return 2;
  const guest_ram ram{proc, *region};
  ram.write(ram_base, std::vector<std::byte>(2 * half));  // the guest has touched its RAM
  auto low = c.map(iova(ram_base), ram.at(ram_base), byte_count(half), prot::read_write);
  auto high = c.map(iova(ram_base + half), ram.at(ram_base + half), byte_count(half), prot::read_write);
  if (!low || !high) return 2;

  // The guest's channel program at 0x101000.
  using namespace ccw_flag;
  const std::uint64_t prog = 0x101000;
  ram.ccw(prog + 0x00, 0x07, cc, 6, 0x100800);               // seek
  ram.ccw(prog + 0x08, 0x31, cc, 5, 0x100810);               // search ID equal
  ram.ccw(prog + 0x10, 0x08, 0, 0, prog + 0x08);             // TIC *-8
  ram.ccw(prog + 0x18, 0x06, cc | ida, 0x1800, 0x100900);    // read 6 KiB, IDAL
  ram.ccw(prog + 0x20, 0x05, cd, 0x100, 0x103f80);           // write, data chained
  ram.ccw(prog + 0x28, 0x00, cc, 0x80, 0x114000);            // ... continues (command ignored)
  ram.ccw(prog + 0x30, 0x08, 0, 0, 0x102000);                // TIC
  ram.ccw(0x102000, 0x03, 0, 0, 0);                          // no-op, end
  ram.idaw(0x100900, 0x105800);                              // 2 KiB to the end of a page
  ram.idaw(0x100908, 0x11a000);                              // 4 KiB elsewhere (high RAM)
  std::vector<std::byte> record(0x180);
  for (std::size_t i = 0; i < record.size(); ++i) record[i] = static_cast<std::byte>(0xa0 + i % 16);
  ram.write(0x103f80, std::span(record).first(0x100));
  ram.write(0x114000, std::span(record).subspan(0x100));

  std::printf("format-1 program, 4K IDAWs:\n");
  if (auto r = cp.translate(ccw_start{iova(prog), ccw_format::format1, idaw_block::k4}); !r) {
    std::printf("translate failed: %s\n", r.error().message().c_str());
    return 1;
  }
  const host_program& p = cp.program();
  print(p);
  expect(p.ccws().size() == 8, "8 host CCWs");
  if (p.ccws().size() == 8) {
    expect(p.ccws()[2].tic_target == 1, "TIC *-8 designates the search");
    expect(p.ccws()[6].tic_target == 7, "the last TIC designates the no-op");
    const auto read = p.idal(p.ccws()[3]);
    expect(read.size() == 2 && read[0].length == 0x800 && read[1].length == 0x1000,
           "the read's IDAL: 2 KiB then 4 KiB");
    const auto w0 = p.idal(p.ccws()[4]);
    const auto w1 = p.idal(p.ccws()[5]);
    expect(w0.size() == 2 && w1.size() == 1, "the write's blocks: 0x80 + 0x80, then 0x80");
    std::vector<std::byte> seen;
    for (auto blocks : {w0, w1})
      for (const host_idaw& w : blocks) seen.insert(seen.end(), w.bytes().begin(), w.bytes().end());
    expect(seen == record, "the write's blocks hold the guest's record");
    check_blocks(p, ram);

    // The channel subsystem performs the read through the host program.
    std::uint8_t v = 0;
    for (const host_idaw& w : read)
      for (std::byte& b : w.bytes()) b = static_cast<std::byte>(v++);
  }
  std::printf("  pinned pages: %llu\n", static_cast<unsigned long long>(proc.total_pins()));
  cp.complete();
  expect(proc.total_pins() == 0, "completion unpins everything");
  const auto a = ram.read(0x105800, 0x800);
  const auto b = ram.read(0x11a000, 0x1000);
  std::uint8_t v = 0;
  bool same = true;
  for (const std::byte x : a) same = same && x == static_cast<std::byte>(v++);
  for (const std::byte x : b) same = same && x == static_cast<std::byte>(v++);
  expect(same, "the guest sees the data the device read at its own addresses");

  // The same program in 2K mode: the first block of the read stays 2 KiB, then 2 KiB blocks.
  ram.idaw(0x100908, 0x11a000);
  ram.idaw(0x100910, 0x11a800);
  std::printf("format-1 program, 2K IDAWs:\n");
  if (auto r = cp.translate(ccw_start{iova(prog), ccw_format::format1, idaw_block::k2}); r) {
    print(cp.program());
    expect(cp.program().idal(cp.program().ccws()[3]).size() == 3, "3 IDAWs of 2 KiB");
    check_blocks(cp.program(), ram);
  } else {
    expect(false, "2K translation");
  }

  // Unmapping high RAM (the read's second block) notifies: the program is released first.
  auto gone = high->unmap();
  expect(gone.has_value(), "the unmap succeeds");
  expect(!cp.active() && cp.unmap_releases() == 1, "the notification released the program");
  expect(proc.total_pins() == 0, "and unpinned it");

  // A hostile program: TIC to a TIC.
  ram.ccw(0x102000, 0x08, 0, 0, 0x102008);
  ram.ccw(0x102008, 0x08, 0, 0, 0x102000);
  auto bad = cp.translate(ccw_start{iova(0x102000)});
  std::printf("TIC to TIC: %s at 0x%llx\n", bad ? "accepted" : bad.error().message().c_str(),
              static_cast<unsigned long long>(cp.fault_address().value_or(iova(0)).value()));
  expect(!bad && bad.error() == make_error_code(ccw_errc::tic_to_tic), "TIC to TIC refused");
  expect(proc.total_pins() == 0, "nothing pinned after a refusal");

  std::printf(failures == 0 ? "s390_ccw example: OK\n" : "s390_ccw example: %d mismatches\n",
              failures);
  return failures == 0 ? 0 : 1;
}
