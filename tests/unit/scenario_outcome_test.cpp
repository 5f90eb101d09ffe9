// SPDX-License-Identifier: Apache-2.0
//
// Scenario results: the exact result lines of scenario-format.md's "Results" section, and
// the Linux errno symbol table.
#include "tests/support/catch.hpp"

#include <vfiopin/scenario/errno_names.hpp>
#include <vfiopin/scenario/outcome.hpp>

#include <cerrno>
#include <cstdint>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace scn = vfiopin::scenario;
using scn::field;
using scn::outcome;

TEST_CASE("ok, err and skip lines", "[scenario][outcome]") {
  CHECK(to_string(outcome::ok()) == "ok");
  CHECK(to_string(outcome::same()) == "ok same");
  CHECK(to_string(outcome::differ()) == "ok differ");
  CHECK(to_string(outcome::compared(true)) == "ok same");
  CHECK(to_string(outcome::compared(false)) == "ok differ");
  CHECK(to_string(outcome::err(EEXIST)) == "err EEXIST");
  CHECK(to_string(outcome::err(-EINVAL)) == "err EINVAL");  // the kernel's negated form
  CHECK(to_string(outcome::skip("no-hugetlb")) == "skip no-hugetlb");
  CHECK(to_string(outcome::skip("no-emulated-device")) == "skip no-emulated-device");
}

TEST_CASE("field spellings: avail decimal, the rest lowercase hex", "[scenario][outcome]") {
  CHECK(to_string(outcome::ok().with(field::size(0x10000))) == "ok size=0x10000");
  CHECK(to_string(outcome::ok().with(field::size(0))) == "ok size=0x0");
  CHECK(to_string(outcome::ok().with(field::locked(0xABCDEF000))) == "ok locked=0xabcdef000");
  CHECK(to_string(outcome::ok().with(field::locked(UINT64_MAX))) ==
        "ok locked=0xffffffffffffffff");
  CHECK(to_string(outcome::ok().with(field::avail(65535))) == "ok avail=65535");
  CHECK(to_string(outcome::ok().with(field::avail(0))) == "ok avail=0");
  CHECK(to_string(outcome::ok().with(field::pgsizes(0x40201000))) == "ok pgsizes=0x40201000");
}

TEST_CASE("extension spellings: ccw counts decimal, err words as given", "[scenario][outcome]") {
  using scn::field_key;
  CHECK(scn::to_string(outcome::ok()
                           .with(field::count(field_key::ccws, 12))
                           .with(field::count(field_key::idaws, 0))
                           .with(field::count(field_key::pins, 257))
                           .with(field::count(field_key::active, 1))) ==
        "ok ccws=12 idaws=0 pins=257 active=1");
  const outcome e = outcome::err_condition("ccw-tic-to-tic");
  CHECK(scn::to_string(e) == "err ccw-tic-to-tic");
  CHECK(e.is_err());
  CHECK(e.errno_value() == 0);
  CHECK(e.err_word() == "ccw-tic-to-tic");
  CHECK(outcome::err(EINVAL).err_word().empty());
  CHECK(e != outcome::err(EINVAL));
}

TEST_CASE("info: fields in the order they were added", "[scenario][outcome]") {
  const outcome testbed = outcome::ok()
                              .with(field::avail(65535))
                              .with(field::pgsizes(0x40201000))
                              .with(field::ranges({{0x0, 0xfedfffff}, {0xfef00000, 0x7fffffffff}}));
  CHECK(to_string(testbed) ==
        "ok avail=65535 pgsizes=0x40201000 ranges=0x0-0xfedfffff,0xfef00000-0x7fffffffff");
  // Without the IOVA_RANGE capability (no IOMMU domain) there is no ranges field.
  CHECK(to_string(outcome::ok().with(field::avail(3)).with(field::pgsizes(0xfffffffffffff000))) ==
        "ok avail=3 pgsizes=0xfffffffffffff000");
  CHECK(to_string(outcome::ok().with(field::ranges({{0, UINT64_MAX}}))) ==
        "ok ranges=0x0-0xffffffffffffffff");
}

TEST_CASE("bits: one digit per page, lowest IOVA first", "[scenario][outcome]") {
  CHECK(to_string(outcome::ok().with(field::size(0x8000)).with(field::bits("11000000"))) ==
        "ok size=0x8000 bits=11000000");
  const std::vector<bool> dirty{true, false, false, true};
  CHECK(to_string(outcome::ok().with(field::bits(dirty))) == "ok bits=1001");
  CHECK(to_string(outcome::ok().with(field::bits(std::vector<bool>{}))) == "ok bits=");
}

TEST_CASE("outcome accessors and equality", "[scenario][outcome]") {
  const outcome e = outcome::err(EBUSY);
  CHECK(e.is_err());
  CHECK(e.errno_value() == EBUSY);
  CHECK(e.what() == outcome::kind::err);
  const outcome s = outcome::skip("no-hugetlb");
  CHECK(s.is_skip());
  CHECK(s.skip_word() == "no-hugetlb");
  const outcome o = outcome::ok().with(field::size(1));
  CHECK(o.is_ok());
  REQUIRE(o.fields().size() == 1);
  CHECK(o.fields()[0] == field::size(1));
  CHECK(o == outcome::ok().with(field::size(1)));
  CHECK(o != outcome::ok().with(field::locked(1)));
  CHECK(outcome::same().comparison() == scn::comparison::same);
  std::ostringstream os;
  os << outcome::err(ENOSPC);
  CHECK(os.str() == "err ENOSPC");
}

TEST_CASE("err from vfiopin::errc and std::error_code", "[scenario][outcome]") {
  CHECK(to_string(outcome::err(vfiopin::errc::exists)) == "err EEXIST");
  // Library conditions print what the kernel answers for them.
  CHECK(to_string(outcome::err(vfiopin::errc::not_page_backed)) == "err EINVAL");
  CHECK(to_string(outcome::err(std::error_code(vfiopin::errc::busy))) == "err EBUSY");
  CHECK(to_string(outcome::err(std::error_code(ENOMEM, std::generic_category()))) ==
        "err ENOMEM");
  CHECK(to_string(outcome::err(std::error_code(EFAULT, std::system_category()))) ==
        "err EFAULT");
}

TEST_CASE("errno symbols: the ones scenarios use", "[scenario][errno]") {
  CHECK(scn::errno_symbol(1) == "EPERM");
  CHECK(scn::errno_symbol(2) == "ENOENT");
  CHECK(scn::errno_symbol(3) == "ESRCH");
  CHECK(scn::errno_symbol(4) == "EINTR");
  CHECK(scn::errno_symbol(5) == "EIO");
  CHECK(scn::errno_symbol(7) == "E2BIG");
  CHECK(scn::errno_symbol(9) == "EBADF");
  CHECK(scn::errno_symbol(11) == "EAGAIN");
  CHECK(scn::errno_symbol(12) == "ENOMEM");
  CHECK(scn::errno_symbol(13) == "EACCES");
  CHECK(scn::errno_symbol(14) == "EFAULT");
  CHECK(scn::errno_symbol(16) == "EBUSY");
  CHECK(scn::errno_symbol(17) == "EEXIST");
  CHECK(scn::errno_symbol(19) == "ENODEV");
  CHECK(scn::errno_symbol(22) == "EINVAL");
  CHECK(scn::errno_symbol(25) == "ENOTTY");
  CHECK(scn::errno_symbol(28) == "ENOSPC");
  CHECK(scn::errno_symbol(35) == "EDEADLK");
  CHECK(scn::errno_symbol(75) == "EOVERFLOW");
  CHECK(scn::errno_symbol(95) == "EOPNOTSUPP");
  CHECK(scn::errno_symbol(133) == "EHWPOISON");
  CHECK(scn::errno_symbol(-14) == "EFAULT");
}

TEST_CASE("errno symbols: no symbol, aliases, round trip", "[scenario][errno]") {
  CHECK(scn::errno_symbol(0).empty());
  CHECK(scn::errno_symbol(41).empty());  // the number EWOULDBLOCK would have had
  CHECK(scn::errno_symbol(58).empty());  // likewise EDEADLOCK
  CHECK(scn::errno_symbol(134).empty());
  CHECK(scn::errno_symbol(-100000).empty());
  CHECK(scn::errno_symbol(INT32_MIN).empty());
  CHECK(scn::errno_text(515) == "errno515");
  CHECK(scn::errno_text(0) == "errno0");
  CHECK(to_string(outcome::err(4095)) == "err errno4095");
  CHECK(scn::errno_from_symbol("EWOULDBLOCK") == 11);
  CHECK(scn::errno_from_symbol("EDEADLOCK") == 35);
  CHECK(scn::errno_from_symbol("ENOTSUP") == 95);
  CHECK_FALSE(scn::errno_from_symbol("EFOO").has_value());
  CHECK_FALSE(scn::errno_from_symbol("").has_value());
  for (int e = 1; e <= scn::max_errno_symbol; ++e) {
    const auto symbol = scn::errno_symbol(e);
    if (symbol.empty()) continue;
    CAPTURE(e);
    CHECK(scn::errno_from_symbol(symbol) == e);
  }
}

#if defined(__linux__)
TEST_CASE("errno symbols agree with this Linux host's <cerrno>", "[scenario][errno]") {
  CHECK(scn::errno_symbol(EPERM) == "EPERM");
  CHECK(scn::errno_symbol(ENOENT) == "ENOENT");
  CHECK(scn::errno_symbol(EINTR) == "EINTR");
  CHECK(scn::errno_symbol(EIO) == "EIO");
  CHECK(scn::errno_symbol(E2BIG) == "E2BIG");
  CHECK(scn::errno_symbol(EBADF) == "EBADF");
  CHECK(scn::errno_symbol(EAGAIN) == "EAGAIN");
  CHECK(scn::errno_symbol(ENOMEM) == "ENOMEM");
  CHECK(scn::errno_symbol(EACCES) == "EACCES");
  CHECK(scn::errno_symbol(EFAULT) == "EFAULT");
  CHECK(scn::errno_symbol(EBUSY) == "EBUSY");
  CHECK(scn::errno_symbol(EEXIST) == "EEXIST");
  CHECK(scn::errno_symbol(ENODEV) == "ENODEV");
  CHECK(scn::errno_symbol(EINVAL) == "EINVAL");
  CHECK(scn::errno_symbol(ENOSPC) == "ENOSPC");
  CHECK(scn::errno_symbol(ENOTTY) == "ENOTTY");
  CHECK(scn::errno_symbol(EOVERFLOW) == "EOVERFLOW");
  CHECK(scn::errno_symbol(EDEADLK) == "EDEADLK");
  CHECK(scn::errno_symbol(ESRCH) == "ESRCH");
  CHECK(scn::errno_symbol(EOPNOTSUPP) == "EOPNOTSUPP");
  CHECK(scn::errno_symbol(EMSGSIZE) == "EMSGSIZE");
  CHECK(scn::errno_symbol(EADDRINUSE) == "EADDRINUSE");
  CHECK(scn::errno_symbol(EHWPOISON) == "EHWPOISON");
  CHECK(scn::errno_from_symbol("EWOULDBLOCK") == EWOULDBLOCK);
  CHECK(scn::errno_from_symbol("EDEADLOCK") == EDEADLOCK);
  CHECK(scn::errno_from_symbol("ENOTSUP") == ENOTSUP);
}
#endif
