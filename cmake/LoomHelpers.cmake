# Target helpers: every Loom target gets the same warnings and layout through these.

function(loom_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wshadow=local)  # GCC's spelling; clang has no =local
  endif()
  # GCC 12 reports -Wrestrict inside libstdc++'s own std::string concatenation (GCC bug 105651), a
  # false positive in code we do not own.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  # GCC's -Wmaybe-uninitialized misfires under -fsanitize (seen in libstdc++'s <regex>; GCC's manual
  # advises against sanitizers with -Werror). scripts/test.sh builds the sanitized tree with clang.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND LOOM_SANITIZE)
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
  endif()
  if(LOOM_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# LOOM_SANITIZE=ON: every target, the run-time modules included, is built with AddressSanitizer and
# UndefinedBehaviorSanitizer at -O1 with line tables (a Debug build keeps assert() on). A UBSan
# finding aborts like an ASan one, so no report can scroll past a passing test. Every executable gets
# the runtimes' default options from tests/support/sanitizer_defaults.cpp (loom_sanitizer_runtime
# below), so a test binary, loom-cli or loom run by hand behaves as under CTest; ASAN_OPTIONS & co.
# still override.
# Sanitized code runs several times slower: CTest timeouts are multiplied by LOOM_TEST_TIMEOUT_SCALE
# (loom_test_timeout), 4 under LOOM_SANITIZE unless set.
macro(loom_setup_sanitizers)
  if(LOOM_SANITIZE)
    if(LOOM_FUZZ)
      message(FATAL_ERROR "LOOM_SANITIZE and LOOM_FUZZ are separate builds (scripts/fuzz.sh sanitizes its own)")
    endif()
    # float-cast-overflow is not part of GCC's "undefined"; out-of-range float-to-int casts are easy to
    # write in media code (durations, frame rates, scaled sizes).
    set(_loom_sanitize -fsanitize=address,undefined,float-cast-overflow
      -fno-sanitize-recover=undefined,float-cast-overflow)
    # Line tables are all a report's file:line stacks need, and build and link faster than full -g.
    if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
      set(_loom_debug_info -gline-tables-only)
    else()
      set(_loom_debug_info -g1)
    endif()
    add_compile_options(${_loom_sanitize} -fno-omit-frame-pointer -O1 ${_loom_debug_info})
    add_link_options(${_loom_sanitize})
    add_library(loom_sanitizer_defaults OBJECT ${PROJECT_SOURCE_DIR}/tests/support/sanitizer_defaults.cpp)
    target_compile_definitions(loom_sanitizer_defaults PRIVATE
      LOOM_LSAN_SUPPRESSIONS="${PROJECT_SOURCE_DIR}/tests/support/lsan.supp"
      LOOM_UBSAN_SUPPRESSIONS="${PROJECT_SOURCE_DIR}/tests/support/ubsan.supp")
    if(NOT LOOM_TEST_TIMEOUT_SCALE)
      set(LOOM_TEST_TIMEOUT_SCALE 4)
    endif()
  elseif(NOT LOOM_TEST_TIMEOUT_SCALE)
    set(LOOM_TEST_TIMEOUT_SCALE 1)
  endif()
endmacro()

# loom_sanitizer_runtime(TARGET): an executable's sanitizer default options (no-op without
# LOOM_SANITIZE). An OBJECT library, because nothing references the hooks: an archive member would
# never be linked in.
function(loom_sanitizer_runtime target)
  if(LOOM_SANITIZE)
    target_link_libraries(${target} PRIVATE loom_sanitizer_defaults)
  endif()
endfunction()

# loom_test_timeout(TEST SECONDS): a CTest timeout in seconds as measured on a normal build, scaled
# by LOOM_TEST_TIMEOUT_SCALE.
function(loom_test_timeout test seconds)
  math(EXPR scaled "${seconds} * ${LOOM_TEST_TIMEOUT_SCALE}")
  set_tests_properties(${test} PROPERTIES TIMEOUT ${scaled})
endfunction()

# loom_add_library(NAME SOURCES ... [LINK ...] [PUBLIC_LINK ...])
function(loom_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LINK;PUBLIC_LINK" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  loom_set_warnings(${name})
  target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  if(ARG_PUBLIC_LINK)
    target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_LINK})
  endif()
  if(ARG_LINK)
    target_link_libraries(${name} PRIVATE ${ARG_LINK})
  endif()
endfunction()

# loom_add_test(NAME SOURCES ... LINK ... [LABELS ...] [QT])
# GoogleTest tests are discovered one CTest test per TEST(); QtTest executables are one CTest test.
function(loom_add_test name)
  cmake_parse_arguments(ARG "QT" "" "SOURCES;LINK;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  loom_set_warnings(${name})
  target_link_libraries(${name} PRIVATE ${ARG_LINK})
  loom_needs_media_codecs(${name})
  loom_sanitizer_runtime(${name})
  target_compile_definitions(${name} PRIVATE
    LOOM_SOURCE_DIR="${PROJECT_SOURCE_DIR}" LOOM_BINARY_DIR="${PROJECT_BINARY_DIR}")
  if(ARG_QT)
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES ENVIRONMENT "QT_QPA_PLATFORM=offscreen" LABELS "${ARG_LABELS}")
  else()
    target_link_libraries(${name} PRIVATE GTest::gtest GTest::gtest_main)
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()

# loom_add_bench(NAME SOURCES ... LINK ...): engine-only benchmark drivers.
function(loom_add_bench name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LINK" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  loom_set_warnings(${name})
  target_link_libraries(${name} PRIVATE ${ARG_LINK})
  loom_needs_media_codecs(${name})
  loom_sanitizer_runtime(${name})
endfunction()

# An executable that runs the engine loads the media codecs module (engine/media/codecs.h) and the
# local models module (engine/inference/local_models.h) at run time: build them whenever the
# executable is built.
function(loom_needs_media_codecs target)
  add_dependencies(${target} loom_media_codecs loom_local_models)
endfunction()
