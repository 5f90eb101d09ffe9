# SPDX-License-Identifier: Apache-2.0
#
# cmake -DTO_VFS=<fuzz/to-vfs> -DFUZZER=<fuzz_X> -DREPLAY=<vfiopin-replay> -DCORPUS=<dir>
#       -DWORK=<dir> -P roundtrip.cmake
# Converts every input of CORPUS into a scenario with fuzz/to-vfs, then replays it with
# `vfiopin-replay --check --invariants`: the replay on the mock must print the outcome the
# fuzz run saw (the reference's, for fuzz_diff_ref) on every line, and the model's
# self-check must hold after each line. Fails listing the inputs that do not round-trip.
file(GLOB inputs LIST_DIRECTORIES false "${CORPUS}/*")
list(LENGTH inputs count)
if(count EQUAL 0)
  message(FATAL_ERROR "no inputs in ${CORPUS}")
endif()
file(MAKE_DIRECTORY "${WORK}")
set(failed "")
foreach(input IN LISTS inputs)
  get_filename_component(name "${input}" NAME)
  set(vfs "${WORK}/${name}.vfs")
  execute_process(COMMAND "${TO_VFS}" "${FUZZER}" "${input}"
    OUTPUT_FILE "${vfs}" ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(APPEND failed "${name}: to-vfs exit ${rc}: ${err}\n")
    continue()
  endif()
  execute_process(COMMAND "${REPLAY}" --check --invariants "${vfs}"
    OUTPUT_QUIET ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(APPEND failed "${name}: vfiopin-replay exit ${rc} on ${vfs}:\n${err}")
  endif()
endforeach()
if(NOT failed STREQUAL "")
  message(FATAL_ERROR "inputs that do not round-trip:\n${failed}")
endif()
message(STATUS "${count} inputs converted and replayed")
