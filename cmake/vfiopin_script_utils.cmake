# SPDX-License-Identifier: Apache-2.0
#
# Helpers for vfiopin's cmake -P test drivers (vfiopin_compile_fail.cmake,
# vfiopin_package_test.cmake).
#
#   vfiopin_require_vars(<var>...)     FATAL_ERROR naming the first -D<var>=... not given
#   vfiopin_run(<step> COMMAND <cmd>... [OUTPUT_VARIABLE <var>])
#       Runs <cmd> with stdout and stderr merged. If it fails, prints the command and its
#       output and stops with FATAL_ERROR naming <step>. OUTPUT_VARIABLE receives the output.
include_guard(GLOBAL)

function(vfiopin_require_vars)
  foreach(var IN LISTS ARGN)
    if(NOT DEFINED ${var})
      message(FATAL_ERROR "${CMAKE_SCRIPT_MODE_FILE}: missing -D${var}=...")
    endif()
  endforeach()
endfunction()

function(vfiopin_run step)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "OUTPUT_VARIABLE" "COMMAND")
  execute_process(COMMAND ${arg_COMMAND}
    RESULT_VARIABLE rc
    OUTPUT_VARIABLE output
    ERROR_VARIABLE output)
  # rc is the exit code, or a message such as "Child aborted" when the process died.
  if(NOT rc STREQUAL "0")
    list(JOIN arg_COMMAND " " shown)
    # NOTICE prints the output as it is; FATAL_ERROR would re-wrap it.
    message(NOTICE "command: ${shown}\noutput:\n${output}")
    message(FATAL_ERROR "${step}: the command failed (${rc}).")
  endif()
  if(DEFINED arg_OUTPUT_VARIABLE)
    set(${arg_OUTPUT_VARIABLE} "${output}" PARENT_SCOPE)
  endif()
endfunction()
