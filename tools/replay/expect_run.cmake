# SPDX-License-Identifier: Apache-2.0
#
# cmake -DCOMMAND=<exe> -DARGS=<;-list> -DEXPECT_RC=<n> [-DEXPECT_STDOUT=<regex>]
#       [-DEXPECT_STDERR=<regex>] -P expect_run.cmake
# Runs COMMAND with ARGS and fails unless its exit status is EXPECT_RC and its stdout and
# stderr match the given regular expressions.
execute_process(COMMAND "${COMMAND}" ${ARGS}
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
set(problems "")
if(NOT rc STREQUAL EXPECT_RC)
  string(APPEND problems "exit status ${rc}, expected ${EXPECT_RC}\n")
endif()
if(NOT EXPECT_STDOUT STREQUAL "" AND NOT out MATCHES "${EXPECT_STDOUT}")
  string(APPEND problems "stdout does not match '${EXPECT_STDOUT}'\n")
endif()
if(NOT EXPECT_STDERR STREQUAL "" AND NOT err MATCHES "${EXPECT_STDERR}")
  string(APPEND problems "stderr does not match '${EXPECT_STDERR}'\n")
endif()
if(NOT problems STREQUAL "")
  message(FATAL_ERROR "${problems}--- stdout ---\n${out}--- stderr ---\n${err}")
endif()
