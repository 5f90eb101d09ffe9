# SPDX-License-Identifier: Apache-2.0
#
# cmake -P driver of one compile-fail test (registered by tests/compile_fail/CMakeLists.txt).
#
#   cmake -DVFIOPIN_CXX=<compiler> -DVFIOPIN_CXX_ID=<GNU|Clang|...> -DVFIOPIN_WERROR=<bool>
#         -DVFIOPIN_SOURCE_ROOT=<repo> -DVFIOPIN_TEST_SOURCE=<file.cpp>
#         -P vfiopin_compile_fail.cmake
#
# Compiles <file.cpp> with -std=c++20 -fsyntax-only and the project warnings twice:
#   good: as it is                      -> must succeed
#   bad:  with -DVFIOPIN_COMPILE_FAIL   -> must fail, and its output must match every
#                                          expectation line that applies to this compiler:
#     // expect-error: <CMake regex>              any compiler
#     // expect-error(<compiler id>): <regex>     only when VFIOPIN_CXX_ID is <compiler id>
# On failure both outputs are printed.
cmake_minimum_required(VERSION 3.25)
include("${CMAKE_CURRENT_LIST_DIR}/vfiopin_script_utils.cmake")
include("${CMAKE_CURRENT_LIST_DIR}/vfiopin_flags.cmake")
vfiopin_require_vars(VFIOPIN_CXX VFIOPIN_CXX_ID VFIOPIN_WERROR VFIOPIN_SOURCE_ROOT
                     VFIOPIN_TEST_SOURCE)

# ---- the expectations ---------------------------------------------------------------------

# ';', '[' and ']' are special in CMake lists; they are encoded while the file is split into
# matches and decoded in each regex.
file(READ "${VFIOPIN_TEST_SOURCE}" text)
string(REPLACE ";" "@semicolon@" text "${text}")
string(REPLACE "[" "@lbracket@" text "${text}")
string(REPLACE "]" "@rbracket@" text "${text}")
string(REGEX MATCHALL "//[ \t]*expect-error(\\([A-Za-z]+\\))?:[^\n]*" lines "${text}")

set(expectations "")
foreach(line IN LISTS lines)
  string(REGEX MATCH "^//[ \t]*expect-error(\\(([A-Za-z]+)\\))?:[ \t]*(.*)$" _ "${line}")
  set(only_for "${CMAKE_MATCH_2}")
  string(STRIP "${CMAKE_MATCH_3}" regex)
  if(regex STREQUAL "")
    message(FATAL_ERROR "${VFIOPIN_TEST_SOURCE}: empty expectation: ${line}")
  endif()
  if(only_for STREQUAL "" OR only_for STREQUAL VFIOPIN_CXX_ID)
    list(APPEND expectations "${regex}")  # still encoded, decoded when used
  endif()
endforeach()
list(LENGTH expectations count)
if(count EQUAL 0)
  message(FATAL_ERROR
    "${VFIOPIN_TEST_SOURCE}: no '// expect-error: <regex>' line applies to ${VFIOPIN_CXX_ID}; "
    "a compile-fail test must say which error it expects.")
endif()

# ---- the two compilations -----------------------------------------------------------------

vfiopin_warning_flags(warnings "${VFIOPIN_CXX_ID}" "${VFIOPIN_WERROR}")
set(compile
  "${VFIOPIN_CXX}" -std=c++20 -fsyntax-only -fdiagnostics-color=never ${warnings}
  "-I${VFIOPIN_SOURCE_ROOT}/include" "-I${VFIOPIN_SOURCE_ROOT}")
set(ENV{LC_ALL} C)  # plain ASCII quotes in GCC's messages, whatever the caller's locale

execute_process(COMMAND ${compile} "${VFIOPIN_TEST_SOURCE}"
  RESULT_VARIABLE good_rc OUTPUT_VARIABLE good_out ERROR_VARIABLE good_out)
execute_process(COMMAND ${compile} -DVFIOPIN_COMPILE_FAIL "${VFIOPIN_TEST_SOURCE}"
  RESULT_VARIABLE bad_rc OUTPUT_VARIABLE bad_out ERROR_VARIABLE bad_out)

set(problems "")
if(NOT good_rc STREQUAL "0")
  string(APPEND problems "  - without VFIOPIN_COMPILE_FAIL it does not compile (${good_rc})\n")
endif()
if(bad_rc STREQUAL "0")
  string(APPEND problems "  - with VFIOPIN_COMPILE_FAIL it compiles\n")
endif()
foreach(encoded IN LISTS expectations)
  string(REPLACE "@semicolon@" ";" regex "${encoded}")
  string(REPLACE "@lbracket@" "[" regex "${regex}")
  string(REPLACE "@rbracket@" "]" regex "${regex}")
  if(NOT bad_out MATCHES "${regex}")
    string(APPEND problems "  - with VFIOPIN_COMPILE_FAIL the output does not match: ${regex}\n")
  endif()
endforeach()

list(JOIN compile " " shown)
if(NOT problems STREQUAL "")
  # NOTICE prints the compiler output as it is; FATAL_ERROR would re-wrap it.
  message(NOTICE "command: ${shown} [-DVFIOPIN_COMPILE_FAIL] ${VFIOPIN_TEST_SOURCE}\n"
    "---- output without VFIOPIN_COMPILE_FAIL (exit ${good_rc}) ----\n${good_out}\n"
    "---- output with VFIOPIN_COMPILE_FAIL (exit ${bad_rc}) ----\n${bad_out}")
  message(FATAL_ERROR "compile-fail ${VFIOPIN_TEST_SOURCE}:\n${problems}")
endif()
message(STATUS "compile-fail ${VFIOPIN_TEST_SOURCE}: good build compiles, bad build fails "
               "with ${count} expected diagnostic(s)")
