// SPDX-License-Identifier: Apache-2.0
//
// The scenario runner, against a recording fake target (a test double that answers what
// each test tells it to; no backend): one line per operation, --echo, --check mismatch
// reports, skip propagation, failed and released regions, fresh state per file.
#include "tests/support/catch.hpp"

#include <vfiopin/scenario/parser.hpp>
#include <vfiopin/scenario/runner.hpp>

#include <cerrno>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace scn = vfiopin::scenario;
using scn::field;
using scn::outcome;

namespace {

// Records every call as text and answers from `answers` (by call keyword; default `ok`).
class recording_target final : public scn::target {
 public:
  std::vector<std::string> calls;
  std::map<std::string, std::vector<outcome>> answers;  // consumed front to back
  std::string throw_on;                                 // a keyword that throws

  void reset() override { calls.emplace_back("reset"); }
  outcome container(const scn::op_container& op) override {
    return record("container", std::string(to_string(op.type)));
  }
  outcome entry_limit(const scn::op_entry_limit& op) override {
    return record("entry-limit", std::to_string(op.limit));
  }
  outcome memlock(const scn::op_memlock& op) override {
    return record("memlock", std::to_string(op.bytes));
  }
  outcome attach(const scn::op_attach& op) override {
    return record("attach", std::to_string(op.group));
  }
  outcome detach(const scn::op_detach& op) override {
    return record("detach", std::to_string(op.group));
  }
  outcome mem(const scn::op_mem& op) override {
    return record("mem", op.name + " " + std::string(to_string(op.kind)));
  }
  outcome fill(const scn::op_fill& op, const scn::region& r) override {
    return record("fill", op.name + " " + describe(r));
  }
  outcome map(const scn::op_map& op, const scn::region& r) override {
    return record("map", op.name + " " + describe(r) + " " + std::string(to_string(op.prot)));
  }
  outcome map_vaddr(const scn::op_map_vaddr& op, const scn::region& r) override {
    return record("map-vaddr", op.name + " " + describe(r));
  }
  outcome unmap(const scn::op_unmap& op) override {
    return record("unmap", std::to_string(op.iova) + " " + std::to_string(op.size));
  }
  outcome unmap_all(const scn::op_unmap_all&) override { return record("unmap-all", ""); }
  outcome unmap_vaddr(const scn::op_unmap_vaddr&) override { return record("unmap-vaddr", ""); }
  outcome unmap_dirty(const scn::op_unmap_dirty&) override { return record("unmap-dirty", ""); }
  outcome info(const scn::op_info&) override { return record("info", ""); }
  outcome locked(const scn::op_locked&) override { return record("locked", ""); }
  outcome dirty_start(const scn::op_dirty_start&) override { return record("dirty start", ""); }
  outcome dirty_stop(const scn::op_dirty_stop&) override { return record("dirty stop", ""); }
  outcome dirty_get(const scn::op_dirty_get&) override { return record("dirty get", ""); }
  outcome dma_read(const scn::op_dma_read& op, const scn::region& r) override {
    return record("dma-read", op.name + " " + describe(r));
  }
  outcome dma_write(const scn::op_dma_write&) override { return record("dma-write", ""); }
  outcome check(const scn::op_check& op, const scn::region& r) override {
    return record("check", op.name + " " + describe(r));
  }
  outcome emulated(const scn::op_emulated& op) override {
    return record("emulated", std::to_string(op.device));
  }
  outcome pin(const scn::op_pin& op) override { return record("pin", std::to_string(op.device)); }
  outcome unpin(const scn::op_unpin& op) override {
    return record("unpin", std::to_string(op.device));
  }

 private:
  static std::string describe(const scn::region& r) {
    const char* status = r.status == scn::region_status::live     ? "live"
                         : r.status == scn::region_status::failed ? "failed"
                                                                  : "released";
    return std::string(to_string(r.kind)) + "/" + std::to_string(r.size) +
           (r.read_only ? "/ro/" : "/") + status + (r.is_hole() ? "/hole" : "");
  }

  outcome record(const std::string& keyword, const std::string& detail) {
    calls.push_back(detail.empty() ? keyword : keyword + " " + detail);
    if (keyword == throw_on) throw std::runtime_error("no /dev/vfio/vfio");
    auto it = answers.find(keyword);
    if (it == answers.end() || it->second.empty()) return outcome::ok();
    outcome o = it->second.front();
    it->second.erase(it->second.begin());
    return o;
  }
};

scn::script parse_ok(const std::string& text, const std::string& name = "r.vfs") {
  auto r = scn::parse(text, name);
  INFO((r ? std::string() : r.error().to_string()));
  REQUIRE(r.has_value());
  return std::move(r).value();
}

struct run_output {
  scn::run_status status;
  std::string out;
  std::string diag;
};

run_output run(const std::string& text, recording_target& t, scn::options opt = {}) {
  std::ostringstream out;
  std::ostringstream diag;
  const auto status = scn::run(parse_ok(text), t, opt, out, diag);
  return {status, out.str(), diag.str()};
}

}  // namespace

TEST_CASE("one result line per operation, in order", "[scenario][runner]") {
  recording_target t;
  t.answers["map"] = {outcome::ok(), outcome::err(EEXIST)};
  t.answers["unmap"] = {outcome::ok().with(field::size(0x10000))};
  t.answers["dma-read"] = {outcome::differ()};
  const auto r = run(
      "# header\n"
      "container type1v2\n"
      "attach 0\n"
      "mem a anon 1M\n"
      "map 0x100000 a 0 64K rw\n"
      "map 0x108000 a 0 64K rw => err EEXIST\n"
      "\n"
      "unmap 0x100000 64K\n"
      "dma-read 0 0x100000 2048 a 0\n",
      t);
  CHECK(r.status == scn::run_status::ok);
  CHECK(r.out == "ok\nok\nok\nok\nerr EEXIST\nok size=0x10000\nok differ\n");
  CHECK(r.diag.empty());
  CHECK(t.calls == std::vector<std::string>{
                       "reset", "container type1v2", "attach 0", "mem a anon",
                       "map a anon/1048576/live rw", "map a anon/1048576/live rw",
                       "unmap 1048576 65536", "dma-read a anon/1048576/live", "reset"});
}

TEST_CASE("echo mode prints canonical operation => result", "[scenario][runner]") {
  recording_target t;
  t.answers["unmap"] = {outcome::ok().with(field::size(0))};
  t.answers["info"] = {outcome::ok().with(field::avail(65535)).with(field::pgsizes(0x1000))};
  const std::string text =
      "container   type1  # v1\n"
      "attach\t1 => err EINVAL\n"
      "unmap 0x0 4K\n"
      "info\n";
  const auto r = run(text, t, {.echo = true, .check = false});
  CHECK(r.status == scn::run_status::ok);
  const std::string echoed =
      "container type1 => ok\n"
      "attach 1 => ok\n"
      "unmap 0x0 4K => ok size=0x0\n"
      "info => ok avail=65535 pgsizes=0x1000\n";
  CHECK(r.out == echoed);

  // The echo output is itself a scenario whose expectations all hold.
  recording_target again;
  again.answers["unmap"] = {outcome::ok().with(field::size(0))};
  again.answers["info"] = {outcome::ok().with(field::avail(65535)).with(field::pgsizes(0x1000))};
  const auto r2 = run(echoed, again, {.echo = true, .check = true});
  CHECK(r2.status == scn::run_status::ok);
  CHECK(r2.out == echoed);
  CHECK(r2.diag.empty());
}

TEST_CASE("check mode reports every mismatch with its line", "[scenario][runner]") {
  recording_target t;
  t.answers["map"] = {outcome::ok(), outcome::err(EFAULT), outcome::ok()};
  t.answers["locked"] = {outcome::ok().with(field::locked(0x2000))};
  const auto r = run(
      "container type1v2\n"
      "mem a anon 1M\n"
      "map 0x1000 a 0 4K rw    => err EINVAL\n"  // line 3: mismatch
      "map 0x2000 a 0 4K rw    => err EFAULT\n"  // line 4: match
      "map 0x3000 a 0 4K rw\n"                   // no expectation: not compared
      "locked                  => ok locked=0x1000\n",  // line 6: mismatch
      t, {.echo = false, .check = true});
  CHECK(r.status == scn::run_status::mismatch);
  CHECK(scn::exit_code(r.status) == 1);
  CHECK(r.out == "ok\nok\nok\nerr EFAULT\nok\nok locked=0x2000\n");
  CHECK(r.diag ==
        "r.vfs:3: expected 'err EINVAL', got 'ok'\n"
        "r.vfs:6: expected 'ok locked=0x1000', got 'ok locked=0x2000'\n");
  // Everything ran despite the mismatches.
  CHECK(t.calls.back() == "reset");
  CHECK(t.calls.size() == 8);
}

TEST_CASE("without check mode, expectations are not compared", "[scenario][runner]") {
  recording_target t;
  const auto r = run("container type1v2 => err EINVAL\n", t);
  CHECK(r.status == scn::run_status::ok);
  CHECK(r.out == "ok\n");
  CHECK(r.diag.empty());
}

TEST_CASE("a skipped mem makes later uses of its name skip", "[scenario][runner]") {
  recording_target t;
  t.answers["mem"] = {outcome::skip("no-hugetlb"), outcome::ok()};
  const auto r = run(
      "container type1v2\n"
      "mem h hugetlb 4M\n"
      "mem a anon 1M\n"
      "fill h 1\n"
      "map 0x200000 h 0 2M rw\n"
      "map-vaddr 0x200000 h 0 2M\n"
      "dma-read 0 0x200000 16 h 0\n"
      "check h 0 16 1\n"
      "unmap 0x200000 2M\n"
      "map 0x400000 a 0 4K r\n",
      t);
  CHECK(r.out ==
        "ok\nskip no-hugetlb\nok\nskip no-hugetlb\nskip no-hugetlb\nskip no-hugetlb\n"
        "skip no-hugetlb\nskip no-hugetlb\nok\nok\n");
  // None of the uses of h reached the target; unmap (no name) and a's map did.
  CHECK(t.calls == std::vector<std::string>{"reset", "container type1v2", "mem h hugetlb",
                                            "mem a anon", "unmap 2097152 2097152",
                                            "map a anon/1048576/live r", "reset"});
}

TEST_CASE("a failed mem is handed on as a hole", "[scenario][runner]") {
  recording_target t;
  t.answers["mem"] = {outcome::err(EINVAL)};
  const auto r = run(
      "container type1v2\n"
      "mem b bar 2M\n"
      "map 0x100000 b 0 4K rw\n"
      "dma-read 0 0x100000 16 b 0\n",
      t);
  CHECK(r.out == "ok\nerr EINVAL\nok\nok\n");
  CHECK(t.calls[3] == "map b bar/2097152/failed/hole rw");
  CHECK(t.calls[4] == "dma-read b bar/2097152/failed/hole");
}

TEST_CASE("container releases live bar regions", "[scenario][runner]") {
  recording_target t;
  run("container type1v2\n"
      "attach 0\n"
      "mem b bar 1M\n"
      "mem a anon 1M ro\n"
      "map 0x100000 b 0 1M rw\n"
      "container type1v2\n"
      "attach 0\n"
      "map 0x100000 b 0 1M rw\n"
      "map 0x200000 a 0 4K r\n",
      t);
  REQUIRE(t.calls.size() == 11);
  CHECK(t.calls[5] == "map b bar/1048576/live rw");
  CHECK(t.calls[8] == "map b bar/1048576/released/hole rw");
  CHECK(t.calls[9] == "map a anon/1048576/ro/live r");  // other kinds stay live
}

TEST_CASE("a skipped emulated device makes its pins skip", "[scenario][runner]") {
  recording_target t;
  t.answers["emulated"] = {outcome::skip("no-emulated-device"), outcome::ok()};
  const auto r = run(
      "container type1v2\n"
      "emulated 0\n"
      "emulated 1\n"
      "pin 0 0x100000 1 rw\n"
      "unpin 0 0x100000 1\n"
      "pin 1 0x100000 1 rw\n",
      t);
  CHECK(r.out == "ok\nskip no-emulated-device\nok\nskip no-emulated-device\n"
                 "skip no-emulated-device\nok\n");
  CHECK(t.calls.back() == "reset");
  CHECK(t.calls[t.calls.size() - 2] == "pin 1");
}

TEST_CASE("a throwing target stops the file with a backend failure", "[scenario][runner]") {
  recording_target t;
  t.throw_on = "attach";
  const auto r = run("container type1v2\n\nattach 0\ninfo\n", t);
  CHECK(r.status == scn::run_status::failed);
  CHECK(scn::exit_code(r.status) == 2);
  CHECK(r.out == "ok\n");
  CHECK(r.diag == "r.vfs:3: backend failure: no /dev/vfio/vfio\n");
  // info never ran; the target was reset once more afterwards.
  CHECK(t.calls == std::vector<std::string>{"reset", "container type1v2", "attach 0", "reset"});
}

TEST_CASE("several files: fresh state each, outputs concatenated", "[scenario][runner]") {
  recording_target t;
  t.answers["mem"] = {outcome::skip("no-hugetlb")};
  std::vector<scn::script> scripts;
  scripts.push_back(parse_ok("mem h hugetlb 2M\ncheck h 0 1 1\n", "one.vfs"));
  // Same name in the next file: a fresh region, not the skipped one.
  scripts.push_back(parse_ok("mem h hugetlb 2M\ncheck h 0 1 1 => ok differ\n", "two.vfs"));
  std::ostringstream out;
  std::ostringstream diag;
  const auto status =
      scn::run_all(scripts, t, {.echo = false, .check = true}, out, diag);
  CHECK(status == scn::run_status::mismatch);
  CHECK(out.str() == "skip no-hugetlb\nskip no-hugetlb\nok\nok\n");
  CHECK(diag.str() == "two.vfs:2: expected 'ok differ', got 'ok'\n");
  CHECK(t.calls == std::vector<std::string>{"reset", "mem h hugetlb", "reset", "reset",
                                            "mem h hugetlb", "check h hugetlb/2097152/live",
                                            "reset"});
}

TEST_CASE("run statuses", "[scenario][runner]") {
  using scn::run_status;
  CHECK(scn::exit_code(run_status::ok) == 0);
  CHECK(scn::exit_code(run_status::mismatch) == 1);
  CHECK(scn::exit_code(run_status::failed) == 2);
  CHECK(scn::worst(run_status::ok, run_status::mismatch) == run_status::mismatch);
  CHECK(scn::worst(run_status::failed, run_status::mismatch) == run_status::failed);
  CHECK(scn::worst(run_status::ok, run_status::ok) == run_status::ok);
}

TEST_CASE("extensions print skip mock-only on a backend without them", "[scenario][runner]") {
  // The recording target implements only the format's operations: every extension takes
  // target.hpp's default, and uses of what a skipped extension declared skip in the runner.
  recording_target t;
  const auto r = run("kernel debian-6.12\ngeometry 1\ncontainer-type 2\nattach-group 2\n"
                     "mmap m anon 4K\nmap 0x1000 m 0 4K rw\ntouch m 0 1 write\nalias n m\n"
                     "add-device 3 emulated\npin 3 0x1000 1 rw\nunpin 3 0x1000 1\n"
                     "remove-device 3\nteardown\nfail-nth 1\n",
                     t);
  CHECK(r.status == scn::run_status::ok);
  std::string expected;
  for (int i = 0; i < 14; ++i) expected += "skip mock-only\n";
  CHECK(r.out == expected);
  CHECK(t.calls == std::vector<std::string>{"reset", "reset"});
}

TEST_CASE("extensions parse, and their errors are diagnosed", "[scenario][runner]") {
  CHECK(scn::parse("memlock unlimited\ncap-restore unlimited\nvaddr v 0x1000\n"
                   "container-type 2\nadd-device 0 group 2 stubborn\ndevice-id 1 99\n"
                   "dirty-bitmap 0 4K 0x1000 1\nunmap-dirty-bitmap 0 4K 0x1000 1\n",
                   "e.vfs")
            .has_value());
  const auto error = [](const std::string& text) {
    auto p = scn::parse("container type1v2\n" + text, "e.vfs");
    return p ? std::string("parsed") : p.error().to_string();
  };
  CHECK(error("geometry 4") == "e.vfs:2: number '4' is above 3");
  CHECK(error("mmap a anon 4K\nmmap a anon 4K") == "e.vfs:3: region 'a' already defined on line 2");
  CHECK(error("mmap a anon 4K\ntouch a 0 0x100001 read") == "e.vfs:3: number '0x100001' is above 1048576");
  CHECK(error("mmap a anon 4K\ntouch a 0 1 poke") == "e.vfs:3: unknown access 'poke' (expected read or write)");
  CHECK(error("alias b a") == "e.vfs:2: region 'a' used before its 'mem' line");
  CHECK(error("add-device 0 real") == "e.vfs:2: unknown device kind 'real' (expected emulated or group)");
  CHECK(error("add-device 0 emulated 1 2") == "e.vfs:2: 'add-device' has too many arguments");
  CHECK(error("cap-restore all") == "e.vfs:2: unknown flag 'all' (expected unlimited)");
  CHECK(error("dirty-bitmap 0 4K 0x1000 0x10001") == "e.vfs:2: number '0x10001' is above 65536");
  CHECK(scn::parse("attach-group 2", "e.vfs").error().to_string() ==
        "e.vfs:1: 'attach-group' before the first 'container' line");
}

TEST_CASE("the ccw-* extensions parse without a container, and their errors are diagnosed",
          "[scenario][runner]") {
  const auto p = scn::parse("ccw-setup\nccw-write 0x100 0aFf\nccw-translate 0x100 format0 2k\n"
                            "ccw-notify 0xffffffffffffffff 1\nccw-complete\n",
                            "c.vfs");
  REQUIRE(p.has_value());
  REQUIRE(p->statements.size() == 5);
  const auto& w = std::get<scn::op_ccw_write>(p->statements[1].op);
  CHECK(w.guest == 0x100);
  CHECK(w.bytes == std::vector<std::uint8_t>{0x0a, 0xff});
  const auto& t = std::get<scn::op_ccw_translate>(p->statements[2].op);
  CHECK((t.cpa == 0x100 && t.format0 && t.block2k));
  CHECK(scn::keyword(p->statements[3].op) == "ccw-notify");
  const auto error = [](const std::string& text) {
    auto q = scn::parse(text, "c.vfs");
    return q ? std::string("parsed") : q.error().to_string();
  };
  CHECK(error("ccw-write 0 abc") ==
        "c.vfs:1: bad byte string 'abc' (an even number of hex digits, at most 64 bytes)");
  CHECK(error("ccw-write 0 zz") == "c.vfs:1: bad byte string 'zz' (not hex)");
  CHECK(error("ccw-write 0 " + std::string(130, '0')).starts_with("c.vfs:1: bad byte string"));
  CHECK(error("ccw-translate 0 format2 4k") ==
        "c.vfs:1: unknown ccw format 'format2' (expected format0 or format1)");
  CHECK(error("ccw-translate 0 format1 1k") == "c.vfs:1: unknown idaw block '1k' (expected 4k or 2k)");
  CHECK(error("ccw-notify 0 0") == "c.vfs:1: 'ccw-notify' needs a length of at least 1");
  CHECK(error("ccw-notify 0xffffffffffffffff 2") == "c.vfs:1: 'ccw-notify' range wraps past 2^64 - 1");
}
