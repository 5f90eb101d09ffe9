// SPDX-License-Identifier: Apache-2.0
//
// errc, its std::error_category, and the errno mapping.
#include "tests/support/catch.hpp"

#include <vfiopin/error.hpp>

#include <cerrno>
#include <system_error>

using vfiopin::errc;

TEST_CASE("errc values are the Linux errno numbers", "[error]") {
  // The numbers from include/uapi/asm-generic/errno-base.h and errno.h (x86-64).
  CHECK(static_cast<int>(errc::not_permitted) == 1);
  CHECK(static_cast<int>(errc::no_entry) == 2);
  CHECK(static_cast<int>(errc::interrupted) == 4);
  CHECK(static_cast<int>(errc::too_big) == 7);
  CHECK(static_cast<int>(errc::out_of_memory) == 12);
  CHECK(static_cast<int>(errc::access_denied) == 13);
  CHECK(static_cast<int>(errc::bad_address) == 14);
  CHECK(static_cast<int>(errc::busy) == 16);
  CHECK(static_cast<int>(errc::exists) == 17);
  CHECK(static_cast<int>(errc::invalid_argument) == 22);
  CHECK(static_cast<int>(errc::no_space) == 28);
  CHECK(static_cast<int>(errc::overflow) == 75);
}

TEST_CASE("to_errno and from_errno round-trip every errno", "[error]") {
  for (int e = 1; e < 4096; ++e) {
    CHECK(vfiopin::to_errno(vfiopin::from_errno(e)) == e);
    CHECK(vfiopin::from_errno(-e) == vfiopin::from_errno(e));
  }
  CHECK(vfiopin::from_errno(0) == errc::unknown_errno);
  CHECK(vfiopin::from_errno(4096) == errc::unknown_errno);
  CHECK(vfiopin::from_errno(-4096) == errc::unknown_errno);
  CHECK(vfiopin::from_errno(INT32_MIN) == errc::unknown_errno);
}

TEST_CASE("library conditions map to the kernel's nearest answer", "[error]") {
  CHECK(vfiopin::to_errno(errc::not_page_backed) == EINVAL);  // 6.4+: vfio_pin_pages on PFNMAP
  CHECK(vfiopin::to_errno(errc::pins_retained) == EDEADLK);   // iommufd's answer
  CHECK(vfiopin::to_errno(errc::bogus_page) == EFAULT);
}

TEST_CASE("errc is a registered error_code enum with its own category", "[error]") {
  const std::error_code ec = errc::busy;
  CHECK(ec.category() == vfiopin::error_category());
  CHECK(std::string(ec.category().name()) == "vfiopin");
  CHECK(ec.message().find("EBUSY") != std::string::npos);
  CHECK(ec == std::errc::device_or_resource_busy);  // equivalent generic condition
  const std::error_code lib = errc::not_page_backed;
  CHECK(lib == std::errc::invalid_argument);
  CHECK(lib.message().find("struct pages") != std::string::npos);
  CHECK(vfiopin::to_errno(lib) == EINVAL);
  CHECK(vfiopin::to_errno(std::error_code(ENOSPC, std::system_category())) == ENOSPC);
  const std::error_code odd(4000, vfiopin::error_category());  // no name: still a message
  CHECK(odd.message().find("errno 4000") != std::string::npos);
}

TEST_CASE("errno_name gives the Linux symbol", "[error]") {
  CHECK(vfiopin::errno_name(EPERM) == "EPERM");
  CHECK(vfiopin::errno_name(EFAULT) == "EFAULT");
  CHECK(vfiopin::errno_name(EOVERFLOW) == "EOVERFLOW");
  CHECK(vfiopin::errno_name(0).empty());
  CHECK(vfiopin::errno_name(-1).empty());
}
