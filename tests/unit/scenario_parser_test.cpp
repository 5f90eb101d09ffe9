// SPDX-License-Identifier: Apache-2.0
//
// The scenario parser: every lexical rule and every parse-time refusal of
// scenario-format.md, with the exact message and line number; and every file of
// tests/scenarios parses.
#include "tests/support/catch.hpp"

#include <vfiopin/mock/profile.hpp>
#include <vfiopin/scenario/parser.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

namespace scn = vfiopin::scenario;

namespace {

scn::script parse_ok(const std::string& text) {
  auto r = scn::parse(text, "t.vfs");
  INFO(text);
  INFO((r ? std::string() : "unexpected diagnostic: " + r.error().to_string()));
  REQUIRE(r.has_value());
  return std::move(r).value();
}

// The diagnostic line for `text`, or "parsed" if it parsed.
std::string parse_error(const std::string& text) {
  const auto r = scn::parse(text, "t.vfs");
  return r ? std::string("parsed") : r.error().to_string();
}

// One operation after a container line (line 2 of the text).
template <class Op>
Op only_op(const std::string& op_line) {
  const auto s = parse_ok("container type1v2\nmem a anon 4M\n" + op_line + "\n");
  REQUIRE(s.statements.size() == 3);
  const auto* op = std::get_if<Op>(&s.statements[2].op);
  REQUIRE(op != nullptr);
  return *op;
}

std::uint64_t number(const std::string& token) {
  return only_op<scn::op_entry_limit>("entry-limit " + token).limit;
}

std::string number_error(const std::string& token) { return parse_error("memlock " + token); }

}  // namespace

TEST_CASE("comments, blank lines and spacing", "[scenario][parser]") {
  const auto s = parse_ok(
      "# a comment line\n"
      "\n"
      "   \t  \n"
      "container    type1v2   # trailing comment\n"
      "\tattach\t0\t=>\tok   # after the expectation\n"
      "mem a anon 1M\r\n"
      "map 0x100000   a 0 64K rw   =>   err    EEXIST\n"
      "unmap 0x100000 64K#glued comment\n");
  REQUIRE(s.statements.size() == 5);
  CHECK(s.file_name == "t.vfs");
  CHECK(s.statements[0].line == 4);
  CHECK(s.statements[0].text == "container type1v2");
  CHECK_FALSE(s.statements[0].expected.has_value());
  CHECK(s.statements[1].line == 5);
  CHECK(s.statements[1].text == "attach 0");
  CHECK(s.statements[1].expected == std::optional<std::string>("ok"));
  CHECK(s.statements[2].text == "mem a anon 1M");
  CHECK(s.statements[3].text == "map 0x100000 a 0 64K rw");
  CHECK(s.statements[3].expected == std::optional<std::string>("err EEXIST"));
  CHECK(s.statements[4].line == 8);
  CHECK(s.statements[4].text == "unmap 0x100000 64K");
}

TEST_CASE("an empty file and a comment-only file parse to nothing", "[scenario][parser]") {
  CHECK(parse_ok("").statements.empty());
  CHECK(parse_ok("# nothing\n\n# here").statements.empty());
  CHECK(parse_ok("container type1").statements.size() == 1);  // no final newline
}

TEST_CASE("numbers: decimal, hex, suffixes", "[scenario][parser][number]") {
  CHECK(number("0") == 0);
  CHECK(number("4096") == 4096);
  CHECK(number("007") == 7);
  CHECK(number("0x200000") == 0x200000);
  CHECK(number("0xABCdef") == 0xabcdef);
  CHECK(number("0x0") == 0);
  CHECK(number("64K") == 64 * 1024);
  CHECK(number("2M") == 2 * 1024 * 1024);
  CHECK(number("1G") == 1024 * 1024 * 1024);
  CHECK(number("0x10K") == 16 * 1024);
  CHECK(number("0K") == 0);
}

TEST_CASE("numbers: the 64-bit edges", "[scenario][parser][number]") {
  CHECK(number("0xffffffffffffffff") == UINT64_MAX);
  CHECK(number("0xFFFFFFFFFFFFFFFF") == UINT64_MAX);
  CHECK(number("18446744073709551615") == UINT64_MAX);
  CHECK(number("0x0000000000000000000001") == 1);  // leading zeros are not digits of value
  CHECK(number_error("18446744073709551616") ==
        "t.vfs:1: number '18446744073709551616' does not fit in 64 bits");
  CHECK(number_error("0x10000000000000000") ==
        "t.vfs:1: number '0x10000000000000000' does not fit in 64 bits");
  // With a suffix: 2^64 - 2^30 fits, 2^64 does not, for each multiplier.
  CHECK(number("17179869183G") == 0xffffffffc0000000);
  CHECK(number_error("17179869184G") == "t.vfs:1: number '17179869184G' does not fit in 64 bits");
  CHECK(number("17592186044415M") == 0xfffffffffff00000);
  CHECK(number_error("17592186044416M") ==
        "t.vfs:1: number '17592186044416M' does not fit in 64 bits");
  CHECK(number("18014398509481983K") == 0xfffffffffffffc00);
  CHECK(number_error("18014398509481984K") ==
        "t.vfs:1: number '18014398509481984K' does not fit in 64 bits");
  CHECK(number_error("0xffffffffffffffffK") ==
        "t.vfs:1: number '0xffffffffffffffffK' does not fit in 64 bits");
  // 16777216G is 2^24 * 2^30 = 2^54 (16 PiB): it fits.
  CHECK(number("16777216G") == 0x40000000000000);
}

TEST_CASE("numbers: what is not one", "[scenario][parser][number]") {
  // E is no suffix of the format, so 16E (16 EiB) is not a number at all.
  CHECK(number_error("16E") == "t.vfs:1: invalid number '16E'");
  CHECK(number_error("0x") == "t.vfs:1: invalid number '0x'");
  CHECK(number_error("0X10") == "t.vfs:1: invalid number '0X10'");
  CHECK(number_error("x10") == "t.vfs:1: invalid number 'x10'");
  CHECK(number_error("-1") == "t.vfs:1: invalid number '-1'");
  CHECK(number_error("+1") == "t.vfs:1: invalid number '+1'");
  CHECK(number_error("1.5") == "t.vfs:1: invalid number '1.5'");
  CHECK(number_error("1KK") == "t.vfs:1: invalid number '1KK'");
  CHECK(number_error("K") == "t.vfs:1: invalid number 'K'");
  CHECK(number_error("0xg") == "t.vfs:1: invalid number '0xg'");
  CHECK(number_error("12ab") == "t.vfs:1: invalid number '12ab'");
  CHECK(number_error("1T") == "t.vfs:1: invalid number '1T'");
}

TEST_CASE("numbers: lower-case suffixes are refused", "[scenario][parser][number]") {
  CHECK(number_error("64k") == "t.vfs:1: lower-case suffix in '64k' (the suffixes are K, M and G)");
  CHECK(number_error("2m") == "t.vfs:1: lower-case suffix in '2m' (the suffixes are K, M and G)");
  CHECK(number_error("1g") == "t.vfs:1: lower-case suffix in '1g' (the suffixes are K, M and G)");
  CHECK(number_error("0x10k") ==
        "t.vfs:1: lower-case suffix in '0x10k' (the suffixes are K, M and G)");
  // Not a number in front of it: just invalid.
  CHECK(number_error("k") == "t.vfs:1: invalid number 'k'");
  CHECK(number_error("0xk") == "t.vfs:1: invalid number '0xk'");
  // b is a hex digit, not a suffix.
  CHECK(number("0x1b") == 0x1b);
}

TEST_CASE("names match [a-z][a-z0-9_]*", "[scenario][parser][name]") {
  for (const char* good : {"a", "z", "a1", "buf_2", "x_", "abc0_9z"}) {
    CAPTURE(good);
    CHECK(parse_error(std::string("mem ") + good + " anon 4K") == "parsed");
  }
  for (const char* bad : {"A", "1a", "_a", "a-b", "aB", "a.b", "\xc3\xa9"}) {
    CAPTURE(bad);
    CHECK(parse_error(std::string("mem ") + bad + " anon 4K") ==
          "t.vfs:1: invalid name " + scn::quote(bad) + " (names match [a-z][a-z0-9_]*)");
  }
  CHECK(parse_error("mem a anon 4K\ncheck B 0 1 0") ==
        "t.vfs:2: invalid name 'B' (names match [a-z][a-z0-9_]*)");
}

TEST_CASE("the AST holds every argument", "[scenario][parser][ast]") {
  const auto c = only_op<scn::op_container>("container type1");
  CHECK(c.type == scn::container_type::type1);
  CHECK(only_op<scn::op_attach>("attach 1").group == 1);
  CHECK(only_op<scn::op_detach>("detach 0").group == 0);
  CHECK(only_op<scn::op_memlock>("memlock 64K").bytes == 65536);

  const auto m = only_op<scn::op_mem>("mem r memfd 2M ro");
  CHECK(m.name == "r");
  CHECK(m.kind == scn::mem_kind::memfd);
  CHECK(m.size == 0x200000);
  CHECK(m.read_only);
  CHECK(only_op<scn::op_mem>("mem h hugetlb 0").kind == scn::mem_kind::hugetlb);
  CHECK(only_op<scn::op_mem>("mem b bar 1M").kind == scn::mem_kind::bar);
  CHECK(only_op<scn::op_mem>("mem h hole 1M").kind == scn::mem_kind::hole);
  CHECK_FALSE(only_op<scn::op_mem>("mem h anon 1M").read_only);

  const auto f = only_op<scn::op_fill>("fill a 300");
  CHECK((f.name == "a" && f.seed == 300));
  const auto mp = only_op<scn::op_map>("map 0x100000 a 0x1000 64K r");
  CHECK((mp.iova == 0x100000 && mp.name == "a" && mp.offset == 0x1000 && mp.size == 0x10000));
  CHECK(mp.prot == scn::prot::r);
  CHECK(only_op<scn::op_map>("map 0 a 0 4K w").prot == scn::prot::w);
  CHECK(only_op<scn::op_map>("map 0 a 0 4K rw").prot == scn::prot::rw);
  CHECK(only_op<scn::op_map>("map 0 a 0 0 none").prot == scn::prot::none);
  const auto mv = only_op<scn::op_map_vaddr>("map-vaddr 0x2000 a 4K 8K");
  CHECK((mv.iova == 0x2000 && mv.name == "a" && mv.offset == 4096 && mv.size == 8192));
  const auto u = only_op<scn::op_unmap>("unmap 0x100000 64K");
  CHECK((u.iova == 0x100000 && u.size == 0x10000));
  CHECK(only_op<scn::op_unmap_vaddr>("unmap-vaddr 1 2").size == 2);
  CHECK(only_op<scn::op_unmap_dirty>("unmap-dirty 3 4").iova == 3);
  static_cast<void>(only_op<scn::op_unmap_all>("unmap-all"));
  static_cast<void>(only_op<scn::op_info>("info"));
  static_cast<void>(only_op<scn::op_locked>("locked"));
  static_cast<void>(only_op<scn::op_dirty_start>("dirty start"));
  static_cast<void>(only_op<scn::op_dirty_stop>("dirty stop"));
  const auto dg = only_op<scn::op_dirty_get>("dirty get 0x1000 16K");
  CHECK((dg.iova == 0x1000 && dg.size == 0x4000));
  const auto dr = only_op<scn::op_dma_read>("dma-read 1 0x100000 2048 a 0x800");
  CHECK((dr.group == 1 && dr.iova == 0x100000 && dr.length == 2048 && dr.name == "a" &&
         dr.offset == 0x800));
  const auto dw = only_op<scn::op_dma_write>("dma-write 0 0x1000 1 99");
  CHECK((dw.group == 0 && dw.iova == 0x1000 && dw.length == 1 && dw.seed == 99));
  const auto ck = only_op<scn::op_check>("check a 16 4K 7");
  CHECK((ck.name == "a" && ck.offset == 16 && ck.length == 4096 && ck.seed == 7));
  CHECK(only_op<scn::op_emulated>("emulated 3").device == 3);
  const auto p = only_op<scn::op_pin>("pin 0 0x100800 512 none");
  CHECK((p.device == 0 && p.iova == 0x100800 && p.npages == 512 && p.prot == scn::prot::none));
  const auto up = only_op<scn::op_unpin>("unpin 2 0x1000 1");
  CHECK((up.device == 2 && up.iova == 0x1000 && up.npages == 1));
  CHECK(scn::keyword(scn::operation{scn::op_dirty_get{}}) == "dirty get");
  CHECK(scn::keyword(scn::operation{scn::op_unmap_vaddr{}}) == "unmap-vaddr");
}

TEST_CASE("container operations before the first container line", "[scenario][parser]") {
  for (const char* line :
       {"attach 0", "detach 0", "map 0 a 0 4K rw", "map-vaddr 0 a 0 4K", "unmap 0 4K",
        "unmap-all", "unmap-vaddr 0 4K", "unmap-dirty 0 4K", "info", "dirty start",
        "dirty stop", "dirty get 0 4K", "dma-read 0 0 1 a 0", "dma-write 0 0 1 1"}) {
    CAPTURE(line);
    const std::string keyword = std::string(line).substr(0, std::string(line).find(' '));
    CHECK(parse_error(std::string("mem a anon 1M\n\n") + line) ==
          "t.vfs:3: '" + keyword + "' before the first 'container' line");
  }
  // The others may come first.
  CHECK(parse_error("entry-limit 5\nmemlock 0\nmem a anon 1M\nfill a 1\ncheck a 0 1 1\n"
                    "locked\nemulated 0\npin 0 0 1 r\nunpin 0 0 1\ncontainer type1\n") ==
        "parsed");
}

TEST_CASE("mem names: defined once, before use", "[scenario][parser]") {
  CHECK(parse_error("mem a anon 1M\n# x\nmem a memfd 2M") ==
        "t.vfs:3: region 'a' already defined on line 1");
  CHECK(parse_error("container type1v2\nmap 0 b 0 4K rw\nmem b anon 4K") ==
        "t.vfs:2: region 'b' used before its 'mem' line");
  CHECK(parse_error("fill z 1") == "t.vfs:1: region 'z' used before its 'mem' line");
  CHECK(parse_error("check z 0 1 1") == "t.vfs:1: region 'z' used before its 'mem' line");
  CHECK(parse_error("container type1\nmap-vaddr 0 z 0 4K") ==
        "t.vfs:2: region 'z' used before its 'mem' line");
  CHECK(parse_error("container type1\ndma-read 0 0 1 z 0") ==
        "t.vfs:2: region 'z' used before its 'mem' line");
  // A region survives container lines.
  CHECK(parse_error("mem a anon 1M\ncontainer type1\ncontainer type1v2\nmap 0 a 0 4K r") ==
        "parsed");
}

TEST_CASE("fill is refused for bar, hole and read-only regions", "[scenario][parser]") {
  CHECK(parse_error("mem b bar 1M\nfill b 1") == "t.vfs:2: cannot fill 'b': it is a bar region");
  CHECK(parse_error("mem h hole 1M\nfill h 1") == "t.vfs:2: cannot fill 'h': it is a hole region");
  CHECK(parse_error("mem r anon 1M ro\nfill r 1") == "t.vfs:2: cannot fill 'r': it is read-only");
  CHECK(parse_error("mem r memfd 1M ro\nfill r 1") == "t.vfs:2: cannot fill 'r': it is read-only");
  CHECK(parse_error("mem a anon 1M\nmem m memfd 1M\nmem h hugetlb 2M\nfill a 1\nfill m 2\n"
                    "fill h 3") == "parsed");
}

TEST_CASE("DMA length and range", "[scenario][parser][dma]") {
  const std::string head = "container type1v2\nmem a anon 1M\n";
  CHECK(parse_error(head + "dma-read 0 0x100000 1 a 0") == "parsed");
  CHECK(parse_error(head + "dma-read 0 0x100000 2048 a 0") == "parsed");
  CHECK(parse_error(head + "dma-read 0 0x100000 2K a 0") == "parsed");
  CHECK(parse_error(head + "dma-read 0 0x100000 0 a 0") ==
        "t.vfs:3: DMA LEN '0' is outside 1..2048");
  CHECK(parse_error(head + "dma-write 0 0x100000 2049 1") ==
        "t.vfs:3: DMA LEN '2049' is outside 1..2048");
  CHECK(parse_error(head + "dma-write 0 0x100000 4K 1") ==
        "t.vfs:3: DMA LEN '4K' is outside 1..2048");
  // IOVA+LEN may reach 0x10000000 but not pass it.
  CHECK(parse_error(head + "dma-read 0 0xffff800 2048 a 0") == "parsed");
  CHECK(parse_error(head + "dma-write 0 0xfffffff 1 1") == "parsed");
  CHECK(parse_error(head + "dma-read 0 0xffff801 2048 a 0") ==
        "t.vfs:3: DMA IOVA+LEN is above 0x10000000");
  CHECK(parse_error(head + "dma-write 0 0x10000000 1 1") ==
        "t.vfs:3: DMA IOVA+LEN is above 0x10000000");
  CHECK(parse_error(head + "dma-write 0 0xffffffffffffffff 2048 1") ==
        "t.vfs:3: DMA IOVA+LEN is above 0x10000000");
}

TEST_CASE("groups are 0 or 1", "[scenario][parser]") {
  const std::string head = "container type1v2\nmem a anon 1M\n";
  CHECK(parse_error(head + "attach 2") == "t.vfs:3: group '2' is not 0 or 1");
  CHECK(parse_error(head + "detach 0x2") == "t.vfs:3: group '0x2' is not 0 or 1");
  CHECK(parse_error(head + "dma-read 7 0 1 a 0") == "t.vfs:3: group '7' is not 0 or 1");
  CHECK(parse_error(head + "dma-write 1K 0 1 1") == "t.vfs:3: group '1K' is not 0 or 1");
  CHECK(parse_error(head + "attach g") == "t.vfs:3: invalid number 'g'");
  CHECK(parse_error(head + "attach 1\ndetach 1") == "parsed");
}

TEST_CASE("expectations", "[scenario][parser]") {
  CHECK(parse_error("container type1v2\n  => ok") ==
        "t.vfs:2: '=>' without an operation before it");
  CHECK(parse_error("=> err EINVAL # only an expectation") ==
        "t.vfs:1: '=>' without an operation before it");
  CHECK(parse_error("=>") == "t.vfs:1: '=>' without an operation before it");
  CHECK(parse_error("container type1v2 =>") ==
        "t.vfs:1: '=>' without an expected result after it");
  CHECK(parse_error("container type1v2 => # nothing") ==
        "t.vfs:1: '=>' without an expected result after it");
  CHECK(parse_error("container type1v2 => ok => ok") == "t.vfs:1: more than one '=>' on a line");
  // "=>" must stand alone; glued to a token it is part of that token.
  CHECK(parse_error("container type1v2=>") ==
        "t.vfs:1: unknown container type 'type1v2=>' (expected type1v2 or type1)");
  const auto s = parse_ok("container type1v2\ninfo  =>  ok   avail=3\tpgsizes=0x1000");
  CHECK(s.statements[1].expected == std::optional<std::string>("ok avail=3 pgsizes=0x1000"));
}

TEST_CASE("unknown keywords", "[scenario][parser]") {
  CHECK(parse_error("frobnicate 1") == "t.vfs:1: unknown operation 'frobnicate'");
  CHECK(parse_error("Container type1v2") == "t.vfs:1: unknown operation 'Container'");
  CHECK(parse_error("container type2") ==
        "t.vfs:1: unknown container type 'type2' (expected type1v2 or type1)");
  CHECK(parse_error("mem a shm 1M") ==
        "t.vfs:1: unknown memory kind 'shm' (expected anon, memfd, hugetlb, bar or hole)");
  CHECK(parse_error("mem a anon 1M rw") == "t.vfs:1: unknown mem flag 'rw' (expected ro)");
  CHECK(parse_error("container type1\nmem a anon 1M\nmap 0 a 0 4K x") ==
        "t.vfs:3: unknown prot 'x' (expected r, w, rw or none)");
  CHECK(parse_error("pin 0 0 1 RW") == "t.vfs:1: unknown prot 'RW' (expected r, w, rw or none)");
  CHECK(parse_error("container type1\ndirty go") ==
        "t.vfs:2: unknown dirty action 'go' (expected start, stop or get)");
}

TEST_CASE("argument counts", "[scenario][parser]") {
  struct row {
    const char* line;
    const char* message;
  };
  // Each line is parsed after "container type1v2" and "mem a anon 1M", as line 3.
  const row rows[] = {
      {"container", "'container' expects 1 argument (container type1v2|type1), got 0"},
      {"entry-limit 1 2", "'entry-limit' expects 1 argument (entry-limit N), got 2"},
      {"memlock", "'memlock' expects 1 argument (memlock BYTES), got 0"},
      {"attach", "'attach' expects 1 argument (attach G), got 0"},
      {"detach 0 1", "'detach' expects 1 argument (detach G), got 2"},
      {"mem a anon", "'mem' expects 3 or 4 arguments (mem NAME KIND SIZE [ro]), got 2"},
      {"mem a anon 1M ro x", "'mem' expects 3 or 4 arguments (mem NAME KIND SIZE [ro]), got 5"},
      {"fill a", "'fill' expects 2 arguments (fill NAME SEED), got 1"},
      {"map 0 a 0 4K", "'map' expects 5 arguments (map IOVA NAME OFFSET SIZE PROT), got 4"},
      {"map-vaddr 0 a 0 4K rw", "'map-vaddr' expects 4 arguments (map-vaddr IOVA NAME OFFSET SIZE), got 5"},
      {"unmap 0", "'unmap' expects 2 arguments (unmap IOVA SIZE), got 1"},
      {"unmap-all 0 0", "'unmap-all' expects no arguments (unmap-all), got 2"},
      {"unmap-vaddr", "'unmap-vaddr' expects 2 arguments (unmap-vaddr IOVA SIZE), got 0"},
      {"unmap-dirty 1 2 3", "'unmap-dirty' expects 2 arguments (unmap-dirty IOVA SIZE), got 3"},
      {"info all", "'info' expects no arguments (info), got 1"},
      {"locked 1", "'locked' expects no arguments (locked), got 1"},
      {"dirty", "'dirty' expects start, stop or get"},
      {"dirty start now", "'dirty start' expects no arguments (dirty start), got 1"},
      {"dirty stop 1 2", "'dirty stop' expects no arguments (dirty stop), got 2"},
      {"dirty get 0", "'dirty get' expects 2 arguments (dirty get IOVA SIZE), got 1"},
      {"dma-read 0 0 1 a", "'dma-read' expects 5 arguments (dma-read G IOVA LEN NAME OFFSET), got 4"},
      {"dma-write 0 0 1", "'dma-write' expects 4 arguments (dma-write G IOVA LEN SEED), got 3"},
      {"check a 0 1", "'check' expects 4 arguments (check NAME OFFSET LEN SEED), got 3"},
      {"emulated", "'emulated' expects 1 argument (emulated E), got 0"},
      {"pin 0 0 1", "'pin' expects 4 arguments (pin E IOVA NPAGES PROT), got 3"},
      {"unpin 0 0 1 r", "'unpin' expects 3 arguments (unpin E IOVA NPAGES), got 4"},
  };
  for (const row& r : rows) {
    CAPTURE(r.line);
    CHECK(parse_error(std::string("container type1v2\nmem a anon 1M\n") + r.line) ==
          std::string("t.vfs:3: ") + r.message);
  }
}

TEST_CASE("arguments are checked left to right, the first error wins", "[scenario][parser]") {
  const std::string head = "container type1v2\nmem a anon 1M\n";
  CHECK(parse_error(head + "map 1k b 0 4K x") ==
        "t.vfs:3: lower-case suffix in '1k' (the suffixes are K, M and G)");
  CHECK(parse_error(head + "map 0 b 0 4K x") == "t.vfs:3: region 'b' used before its 'mem' line");
  CHECK(parse_error(head + "map 0 a 0 4K x") ==
        "t.vfs:3: unknown prot 'x' (expected r, w, rw or none)");
  // Only the first malformed line is reported.
  CHECK(parse_error(head + "bogus\nalso bogus") == "t.vfs:3: unknown operation 'bogus'");
}

TEST_CASE("diagnostics quote tokens readably", "[scenario][parser]") {
  CHECK(parse_error(std::string("fr\x01ob 1")) == "t.vfs:1: unknown operation 'fr\\x01ob'");
  const std::string long_token(100, 'q');
  CHECK(parse_error(long_token) == "t.vfs:1: unknown operation '" + std::string(40, 'q') + "...'");
  CHECK(scn::diagnostic{"dir/f.vfs", 12, "boom"}.to_string() == "dir/f.vfs:12: boom");
}

TEST_CASE("the parser survives arbitrary bytes", "[scenario][parser][robust]") {
  // A fixed linear congruential generator: the same bytes on every run.
  std::uint64_t state = 0x9e3779b97f4a7c15;
  const auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<unsigned char>(state >> 56);
  };
  const std::string alphabet = "container type1v2 mem a anon map unmap 0x1K =>#\n\t\r ok err";
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    const int length = round % 97;
    for (int i = 0; i < length; ++i) {
      const unsigned char b = next();
      text.push_back(round % 2 == 0 ? static_cast<char>(b) : alphabet[b % alphabet.size()]);
    }
    const auto r = scn::parse(text, "fuzz");
    if (!r) CHECK(r.error().line >= 1);
  }
  CHECK_FALSE(scn::parse(std::string(1, '\0'), "nul"));
  CHECK(scn::parse(std::string(100000, '\n'), "newlines").has_value());
  CHECK(scn::parse(std::string(100000, '#'), "hashes").has_value());
}

TEST_CASE("every tests/scenarios/*.vfs file parses", "[scenario][parser][files]") {
#ifdef VFIOPIN_SCENARIO_DIR
  const std::filesystem::path dir = VFIOPIN_SCENARIO_DIR;
#else
  const std::filesystem::path dir =
      std::filesystem::path(__FILE__).parent_path().parent_path() / "scenarios";
#endif
  REQUIRE(std::filesystem::is_directory(dir));
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".vfs") continue;
    ++files;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto r = scn::parse(text, entry.path().filename().string());
    INFO(entry.path().string());
    CHECK(r.has_value());
    if (!r) {
      WARN(r.error().to_string());
      continue;
    }
    // The provenance header every scenario carries (see tests/scenarios/README.md).
    CHECK(text.find("# models: ") != std::string::npos);
    const bool kernel = text.find("\n# expect-source: kernel\n") != std::string::npos;
    const bool spec = text.find("\n# expect-source: spec-only\n") != std::string::npos;
    CHECK(kernel != spec);
    // The test bed runs every file that needs no emulated-IOMMU device, so only those may
    // still rest on the spec alone.
    const auto req = text.find("\n# requires:");
    const bool emulated = req != std::string::npos &&
                          text.substr(req, text.find('\n', req + 1) - req).find("emulated") !=
                              std::string::npos;
    if (spec) CHECK(emulated);
    // A `# profile:` line names a profile the mock knows (--kernel NAME).
    if (const auto p = text.find("\n# profile: "); p != std::string::npos) {
      const auto start = p + 12;
      const auto end = text.find_first_of(" \n", start);
      CHECK(vfiopin::mock::profile_by_name(text.substr(start, end - start)).has_value());
    }
    CHECK_FALSE(r->statements.empty());
  }
  CHECK(files >= 20);
}
