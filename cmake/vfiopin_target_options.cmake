# SPDX-License-Identifier: Apache-2.0
#
# vfiopin_target_options(<target>)
#
# Gives one of vfiopin's own targets (tests, tools, fuzzers, examples, benchmarks) the
# project's warnings (-Werror when VFIOPIN_WERROR) and the sanitizers of VFIOPIN_SANITIZE, as
# PRIVATE compile and link options. Every project-owned executable or library calls it.
#
# It never touches global state (add_compile_options, CMAKE_CXX_FLAGS, link_libraries) and is
# never applied to the vfiopin INTERFACE target, so nothing leaks to consumers of
# vfiopin::vfiopin. Including this file checks VFIOPIN_SANITIZE at once, so a bad value stops
# the configure before any target exists.
include_guard(GLOBAL)
include("${CMAKE_CURRENT_LIST_DIR}/vfiopin_flags.cmake")

function(vfiopin_target_options target)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    message(FATAL_ERROR "vfiopin_target_options(${target}): not for INTERFACE targets, "
                        "their options would reach every consumer.")
  endif()
  vfiopin_warning_flags(warnings "${CMAKE_CXX_COMPILER_ID}" "${VFIOPIN_WERROR}")
  vfiopin_sanitizer_flags(sanitize_compile sanitize_link "${VFIOPIN_SANITIZE}")
  # ISO C++ (-std=c++20, not gnu++20), as for the compile-fail tests and most consumers.
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
  target_compile_options(${target} PRIVATE ${warnings} ${sanitize_compile})
  target_link_options(${target} PRIVATE ${sanitize_link})
endfunction()

vfiopin_sanitizer_flags(vfiopin_unused_compile vfiopin_unused_link "${VFIOPIN_SANITIZE}")
unset(vfiopin_unused_compile)
unset(vfiopin_unused_link)
