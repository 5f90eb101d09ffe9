# SPDX-License-Identifier: Apache-2.0
# vfiopin_add_example(<name> [ARGS <args>...]): the executable vfiopin_example_<name> from
# main.cpp of the calling directory (examples/support/ on the include path), and the ctest
# example.<name> (label examples) that runs it with <args>.
function(vfiopin_add_example name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "ARGS")
  add_executable(vfiopin_example_${name} main.cpp)
  target_link_libraries(vfiopin_example_${name} PRIVATE vfiopin::vfiopin)
  target_include_directories(vfiopin_example_${name} PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}/..")
  vfiopin_target_options(vfiopin_example_${name})
  add_test(NAME example.${name} COMMAND vfiopin_example_${name} ${arg_ARGS})
  set_tests_properties(example.${name} PROPERTIES LABELS examples TIMEOUT 120)
endfunction()
