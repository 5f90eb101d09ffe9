# SPDX-License-Identifier: Apache-2.0
#
# cmake -P driver of the package tests (registered by tests/package/CMakeLists.txt). Every
# run starts from an empty scratch directory. -DMODE=... selects the test:
#
#   install       cmake --install BUILD_DIR (CONFIG) --prefix PREFIX, component
#                 vfiopin_Development (the library alone: it needs nothing built)
#   consumer      configure, build and run the consumer project SOURCE_DIR in WORK_DIR with
#                 GENERATOR (MAKE_PROGRAM) and CXX, as a Release build whose executable
#                 `app` lands in WORK_DIR/bin. Optional:
#                   PREFIX              CMAKE_PREFIX_PATH; vfiopin must be found below it
#                   PACKAGE_DIR         vfiopin_DIR (e.g. a build tree)
#                   VFIOPIN_SOURCE_DIR  passed on, for add_subdirectory consumers
#   pkg_config    PKG_CONFIG --cflags vfiopin, with PKG_CONFIG_PATH=PREFIX/PC_DIR; checks
#                 the version (VERSION) and that the include dir is PREFIX/include; then
#                 compiles SOURCE with CXX -std=c++20 <cflags> into WORK_DIR and runs it
#   no_flag_leak  PREFIX/CMAKE_DIR/vfiopinTargets.cmake sets no INTERFACE_COMPILE_OPTIONS,
#                 INTERFACE_LINK_OPTIONS or INTERFACE_LINK_LIBRARIES, and the Cflags of
#                 PREFIX/PC_DIR/vfiopin.pc hold only -I flags (and there is no Libs)
cmake_minimum_required(VERSION 3.25)
include("${CMAKE_CURRENT_LIST_DIR}/vfiopin_script_utils.cmake")
vfiopin_require_vars(MODE)

# Removes and recreates <dir>.
function(vfiopin_fresh_dir dir)
  file(REMOVE_RECURSE "${dir}")
  file(MAKE_DIRECTORY "${dir}")
endfunction()

if(MODE STREQUAL "install")
  vfiopin_require_vars(BUILD_DIR CONFIG PREFIX)
  vfiopin_fresh_dir("${PREFIX}")
  set(config_args "")
  if(NOT CONFIG STREQUAL "")  # empty in a single-config build without CMAKE_BUILD_TYPE
    set(config_args --config "${CONFIG}")
  endif()
  vfiopin_run(install
    COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" ${config_args} --prefix "${PREFIX}"
            --component vfiopin_Development)

elseif(MODE STREQUAL "consumer")
  vfiopin_require_vars(CXX GENERATOR SOURCE_DIR WORK_DIR)
  vfiopin_fresh_dir("${WORK_DIR}")
  set(args
    -S "${SOURCE_DIR}" -B "${WORK_DIR}" -G "${GENERATOR}"
    "-DCMAKE_CXX_COMPILER=${CXX}"
    -DCMAKE_BUILD_TYPE=Release
    "-DCMAKE_RUNTIME_OUTPUT_DIRECTORY_RELEASE=${WORK_DIR}/bin")
  if(NOT "${MAKE_PROGRAM}" STREQUAL "")
    list(APPEND args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
  endif()
  if(DEFINED PREFIX)
    list(APPEND args "-DCMAKE_PREFIX_PATH=${PREFIX}")
  endif()
  if(DEFINED PACKAGE_DIR)
    list(APPEND args "-Dvfiopin_DIR=${PACKAGE_DIR}")
  endif()
  if(DEFINED VFIOPIN_SOURCE_DIR)
    list(APPEND args "-DVFIOPIN_SOURCE_DIR=${VFIOPIN_SOURCE_DIR}")
  endif()
  vfiopin_run(configure COMMAND "${CMAKE_COMMAND}" ${args})
  if(DEFINED PREFIX)
    # The package must come from the fresh install, not from anywhere else on the system.
    file(STRINGS "${WORK_DIR}/CMakeCache.txt" found REGEX "^vfiopin_DIR:")
    string(REGEX REPLACE "^[^=]*=" "" found "${found}")
    cmake_path(IS_PREFIX PREFIX "${found}" NORMALIZE below)
    if(NOT below)
      message(FATAL_ERROR "find_package found vfiopin in '${found}', not below '${PREFIX}'")
    endif()
  endif()
  vfiopin_run(build COMMAND "${CMAKE_COMMAND}" --build "${WORK_DIR}" --config Release)
  vfiopin_run(run COMMAND "${WORK_DIR}/bin/app")

elseif(MODE STREQUAL "pkg_config")
  vfiopin_require_vars(PKG_CONFIG PREFIX PC_DIR VERSION CXX SOURCE WORK_DIR)
  vfiopin_fresh_dir("${WORK_DIR}")
  set(ENV{PKG_CONFIG_PATH} "${PREFIX}/${PC_DIR}")
  vfiopin_run(modversion COMMAND "${PKG_CONFIG}" --modversion vfiopin OUTPUT_VARIABLE version)
  string(STRIP "${version}" version)
  if(NOT version STREQUAL VERSION)
    message(FATAL_ERROR "pkg-config --modversion vfiopin: '${version}', expected '${VERSION}'")
  endif()
  vfiopin_run(cflags COMMAND "${PKG_CONFIG}" --cflags vfiopin OUTPUT_VARIABLE cflags)
  separate_arguments(cflags UNIX_COMMAND "${cflags}")
  set(expected_include "${PREFIX}/include")
  cmake_path(NORMAL_PATH expected_include)
  set(seen_include FALSE)
  foreach(flag IN LISTS cflags)
    if(flag MATCHES "^-I(.*)$")
      set(dir "${CMAKE_MATCH_1}")
      cmake_path(NORMAL_PATH dir)
      if(dir STREQUAL expected_include)
        set(seen_include TRUE)
      endif()
    endif()
  endforeach()
  if(NOT seen_include)
    message(FATAL_ERROR "pkg-config --cflags vfiopin: '${cflags}' lacks -I${expected_include}")
  endif()
  vfiopin_run(compile COMMAND "${CXX}" -std=c++20 ${cflags} "${SOURCE}" -o "${WORK_DIR}/app")
  vfiopin_run(run COMMAND "${WORK_DIR}/app")

elseif(MODE STREQUAL "no_flag_leak")
  vfiopin_require_vars(PREFIX CMAKE_DIR PC_DIR)
  set(targets_file "${PREFIX}/${CMAKE_DIR}/vfiopinTargets.cmake")
  file(READ "${targets_file}" targets)
  foreach(property IN ITEMS INTERFACE_COMPILE_OPTIONS INTERFACE_LINK_OPTIONS
                            INTERFACE_LINK_LIBRARIES)
    if(targets MATCHES "[^\n]*${property}[^\n]*")
      message(FATAL_ERROR "${targets_file} sets ${property}, which reaches every consumer:\n"
                          "${CMAKE_MATCH_0}")
    endif()
  endforeach()
  set(pc_file "${PREFIX}/${PC_DIR}/vfiopin.pc")
  file(STRINGS "${pc_file}" cflags REGEX "^Cflags:")
  string(REGEX REPLACE "^Cflags:" "" cflags "${cflags}")
  separate_arguments(cflags UNIX_COMMAND "${cflags}")
  foreach(flag IN LISTS cflags)
    if(NOT flag MATCHES "^-I")
      message(FATAL_ERROR "${pc_file}: Cflags may hold only -I flags, not '${flag}'")
    endif()
  endforeach()
  file(STRINGS "${pc_file}" libs REGEX "^Libs(\\.private)?:")
  if(NOT libs STREQUAL "")
    message(FATAL_ERROR "${pc_file}: a header-only library has no Libs: '${libs}'")
  endif()

else()
  message(FATAL_ERROR "${CMAKE_SCRIPT_MODE_FILE}: unknown MODE '${MODE}'")
endif()
