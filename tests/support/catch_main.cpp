// SPDX-License-Identifier: Apache-2.0
//
// tests/support/catch_main.cpp: the main() of the Catch2 test executables, for Catch2 2 and 3.
//
// It is compiled once into the library vfiopin_catch_main (tests/CMakeLists.txt), so the large
// Catch2 2 implementation is built once, with the project's own flags and sanitizers, instead of
// relying on a prebuilt Catch2WithMain (which Catch2 2 does not always ship).
#if __has_include(<catch2/catch_session.hpp>)
// Catch2 3: the implementation is the compiled Catch2::Catch2 library; only main is ours.
#include <catch2/catch_session.hpp>

int main(int argc, char* argv[]) { return Catch::Session().run(argc, argv); }
#else
// Catch2 2: single header; this macro emits the implementation and main() in this file.
#define CATCH_CONFIG_MAIN
#include "catch.hpp"
#endif
