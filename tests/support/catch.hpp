// SPDX-License-Identifier: Apache-2.0
//
// tests/support/catch.hpp: the one include of Catch2 for vfiopin's tests.
//
// Debian bookworm ships Catch2 2.13 (single header <catch2/catch.hpp>); newer systems ship
// Catch2 3 (<catch2/catch_all.hpp>). The test sources use the macros common to both (TEST_CASE,
// SECTION, REQUIRE, CHECK, STATIC_REQUIRE, REQUIRE_THROWS_AS, ...) and include only this file.
// tests/CMakeLists.txt looks for Catch2 3 first and then 2, in the same order as here.
#ifndef VFIOPIN_TESTS_SUPPORT_CATCH_HPP
#define VFIOPIN_TESTS_SUPPORT_CATCH_HPP

#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#elif __has_include(<catch2/catch.hpp>)
#include <catch2/catch.hpp>
#else
#error "Catch2 not found: install Catch2 2.13+ or 3.x (Debian: apt-get install catch2)"
#endif

#endif  // VFIOPIN_TESTS_SUPPORT_CATCH_HPP
