# SPDX-License-Identifier: Apache-2.0
#
# The compiler flags of vfiopin's own targets, as plain lists, so that both
# vfiopin_target_options() (targets) and the compile-fail driver (a cmake -P script that calls
# the compiler by hand) use the same ones. Usable from a project and from script mode.
#
#   vfiopin_warning_flags(<out_var> <compiler_id> <werror>)
#   vfiopin_sanitizer_flags(<out_compile_var> <out_link_var> "<sanitizer list>")
include_guard(GLOBAL)

# Sets <out_var> to the warning flags for <compiler_id> (GNU, Clang, ...), with -Werror when
# <werror> is true.
function(vfiopin_warning_flags out_var compiler_id werror)
  set(flags -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow)
  if(werror)
    list(APPEND flags -Werror)
  endif()
  if(compiler_id STREQUAL "GNU")
    # GCC stops at the outermost unsatisfied concept by default; three levels name the
    # failing sub-concept (e.g. iommu_backend_can_map), which clang prints anyway.
    list(APPEND flags -fconcepts-diagnostics-depth=3)
  endif()
  set(${out_var} "${flags}" PARENT_SCOPE)
endfunction()

# Checks <sanitizers> (a ;-list: address, undefined, leak, thread, memory) and sets
# <out_compile_var> / <out_link_var> to the flags that enable them; both are empty when the
# list is. Stops the configure with FATAL_ERROR on an unknown or incompatible combination.
function(vfiopin_sanitizer_flags out_compile_var out_link_var sanitizers)
  set(compile_flags "")
  set(link_flags "")
  if(NOT sanitizers STREQUAL "")
    set(known address undefined leak thread memory)
    foreach(sanitizer IN LISTS sanitizers)
      if(NOT sanitizer IN_LIST known)
        list(JOIN known ", " known_text)
        message(FATAL_ERROR
          "VFIOPIN_SANITIZE: unknown sanitizer '${sanitizer}' (known: ${known_text}).")
      endif()
    endforeach()
    # The runtimes of these pairs cannot live in one process.
    foreach(pair IN ITEMS "thread;address" "thread;leak" "thread;memory"
                          "memory;address" "memory;leak")
      list(GET pair 0 first)
      list(GET pair 1 second)
      if(first IN_LIST sanitizers AND second IN_LIST sanitizers)
        message(FATAL_ERROR
          "VFIOPIN_SANITIZE='${sanitizers}': '${first}' cannot be combined with '${second}'. "
          "Use separate build trees (the presets 'asan' and 'tsan').")
      endif()
    endforeach()
    list(JOIN sanitizers "," joined)
    set(link_flags "-fsanitize=${joined}")
    set(compile_flags "${link_flags}" -fno-sanitize-recover=all -fno-omit-frame-pointer)
  endif()
  set(${out_compile_var} "${compile_flags}" PARENT_SCOPE)
  set(${out_link_var} "${link_flags}" PARENT_SCOPE)
endfunction()
