# Build-speed settings for radiossl's own programs (never forced on consumers of the library).
# Parsing LibTorch costs 10-15 s per translation unit: lld, ccache, one shared precompiled header
# and Ninja job pools keep a cold build of everything within a few minutes on 2 cores.

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()

find_program(RADIOSSL_LLD ld.lld)
if(RADIOSSL_LLD)
  set(RADIOSSL_LINK_OPTIONS -fuse-ld=lld)
endif()

option(RADIOSSL_CCACHE "Compile through ccache when it is installed" ON)
find_program(RADIOSSL_CCACHE_PROGRAM ccache)
if(RADIOSSL_CCACHE AND RADIOSSL_CCACHE_PROGRAM AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  # With a PCH, ccache needs these sloppiness settings to hit at all.
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      ${RADIOSSL_CCACHE_PROGRAM})
endif()

# Each torch translation unit peaks at about 1.1 GB; links are serialised.
set_property(GLOBAL APPEND PROPERTY JOB_POOLS radiossl_link=1)
set(CMAKE_JOB_POOL_LINK radiossl_link)

# One precompiled header for every program of ours (tests, examples, benchmarks, compile-fail). Catch2 is
# needed by the tests alone: without them (tools/run-main.sh) the header is built without it.
set(RADIOSSL_CATCH2_TARGET "")
if(RADIOSSL_BUILD_TESTS)
  find_package(Catch2 REQUIRED)   # 2.x, or 3.x under 2.x's names (tests/support/catch.hpp)
  if(Catch2_VERSION VERSION_LESS 2 OR NOT Catch2_VERSION VERSION_LESS 4)
    message(FATAL_ERROR "radiossl's tests need Catch2 2.x or 3.x; found ${Catch2_VERSION} in ${Catch2_DIR}")
  endif()
  list(APPEND CMAKE_MODULE_PATH ${Catch2_DIR})   # Catch.cmake (catch_discover_tests)
  set(RADIOSSL_CATCH2_TARGET Catch2::Catch2)
endif()
add_library(radiossl_pch OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch/pch.cpp)
target_link_libraries(radiossl_pch PUBLIC radiossl::radiossl ${RADIOSSL_CATCH2_TARGET})
target_precompile_headers(radiossl_pch PRIVATE ${PROJECT_SOURCE_DIR}/cmake/pch/pch.hpp)
set_target_properties(radiossl_pch PROPERTIES POSITION_INDEPENDENT_CODE OFF)

# Warnings as errors on our own code only; LibTorch comes in as a SYSTEM include.
# On by default only with the compiler CI uses (GCC 12): newer ones warn inside the dependencies' templates as
# they are inlined into ours (GCC 14 on Debian 13: -Warray-bounds in LibTorch's autograd::Function::apply,
# -Waggressive-loop-optimizations in range-v3's to<vector>), which is no reason to stop a user's build.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  set(_radiossl_werror_default ON)
else()
  set(_radiossl_werror_default OFF)
endif()
option(RADIOSSL_WERROR "Warnings are errors in the project's own targets" ${_radiossl_werror_default})
set(RADIOSSL_WARNINGS -Wall -Wextra -Wpedantic -Wno-unused-parameter)
if(RADIOSSL_WERROR)
  list(APPEND RADIOSSL_WARNINGS -Werror)
endif()
target_compile_options(radiossl_pch PRIVATE ${RADIOSSL_WARNINGS})

# radiossl_program(target): the settings every program of ours shares.
function(radiossl_program target)
  target_link_libraries(${target} PRIVATE radiossl::radiossl ${RADIOSSL_CATCH2_TARGET})
  target_compile_options(${target} PRIVATE ${RADIOSSL_WARNINGS})
  target_link_options(${target} PRIVATE ${RADIOSSL_LINK_OPTIONS})
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
  target_precompile_headers(${target} REUSE_FROM radiossl_pch)
endfunction()
