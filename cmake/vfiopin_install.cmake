# SPDX-License-Identifier: Apache-2.0
#
# Install rules and package files of vfiopin (included from the top-level CMakeLists.txt when
# VFIOPIN_INSTALL is ON).
#
# vfiopin is header-only, so everything goes to arch-independent places:
#   include/vfiopin/...                     the headers (the FILE_SET of the target)
#   share/cmake/vfiopin/                    vfiopinConfig.cmake, ...ConfigVersion.cmake,
#                                           vfiopinTargets.cmake (vfiopin::vfiopin)
#   share/pkgconfig/vfiopin.pc              Cflags: -I${includedir}, nothing else
# All of it is the install component vfiopin_Development (`cmake --install <build> --component
# vfiopin_Development` installs just the library, without the tools).
# The build tree also gets vfiopinConfig.cmake and vfiopinTargets.cmake, so a consumer can
# point vfiopin_DIR at a build directory without installing.
include_guard(GLOBAL)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(VFIOPIN_INSTALL_CMAKEDIR "${CMAKE_INSTALL_DATADIR}/cmake/vfiopin" CACHE STRING
  "Where vfiopinConfig.cmake is installed, relative to the prefix")
set(VFIOPIN_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_DATADIR}/pkgconfig" CACHE STRING
  "Where vfiopin.pc is installed, relative to the prefix")
mark_as_advanced(VFIOPIN_INSTALL_CMAKEDIR VFIOPIN_INSTALL_PKGCONFIGDIR)

# INCLUDES DESTINATION also sets INTERFACE_INCLUDE_DIRECTORIES on the imported target, for
# consumers whose CMake is older than 3.23 and skips the exported FILE_SET.
install(TARGETS vfiopin
  EXPORT vfiopinTargets
  FILE_SET HEADERS COMPONENT vfiopin_Development
  INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(EXPORT vfiopinTargets
  NAMESPACE vfiopin::
  DESTINATION "${VFIOPIN_INSTALL_CMAKEDIR}"
  COMPONENT vfiopin_Development)
export(EXPORT vfiopinTargets
  NAMESPACE vfiopin::
  FILE "${PROJECT_BINARY_DIR}/vfiopinTargets.cmake")

configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/vfiopinConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/vfiopinConfig.cmake"
  INSTALL_DESTINATION "${VFIOPIN_INSTALL_CMAKEDIR}")
# Before 1.0 a minor release may break the API, so only the same 0.y matches a request.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/vfiopinConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion
  ARCH_INDEPENDENT)
install(FILES
    "${PROJECT_BINARY_DIR}/vfiopinConfig.cmake"
    "${PROJECT_BINARY_DIR}/vfiopinConfigVersion.cmake"
  DESTINATION "${VFIOPIN_INSTALL_CMAKEDIR}"
  COMPONENT vfiopin_Development)

# The .pc file finds its prefix from its own place (${pcfiledir}), so it stays right when the
# tree is installed with `cmake --install --prefix` elsewhere or relocated (DESTDIR, a
# package). An absolute install dir is used as it is.
if(IS_ABSOLUTE "${VFIOPIN_INSTALL_PKGCONFIGDIR}")
  set(VFIOPIN_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH vfiopin_pc_up
    "/prefix/${VFIOPIN_INSTALL_PKGCONFIGDIR}" "/prefix")
  string(REGEX REPLACE "/$" "" vfiopin_pc_up "${vfiopin_pc_up}")
  set(VFIOPIN_PC_PREFIX "\${pcfiledir}/${vfiopin_pc_up}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(VFIOPIN_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(VFIOPIN_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(
  "${CMAKE_CURRENT_LIST_DIR}/vfiopin.pc.in"
  "${PROJECT_BINARY_DIR}/vfiopin.pc"
  @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/vfiopin.pc"
  DESTINATION "${VFIOPIN_INSTALL_PKGCONFIGDIR}"
  COMPONENT vfiopin_Development)
