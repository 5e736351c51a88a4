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
  if(LOOM_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
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
endfunction()

# An executable that runs the engine loads the media codecs module (engine/media/codecs.h) and the
# local models module (engine/inference/local_models.h) at run time: build them whenever the
# executable is built.
function(loom_needs_media_codecs target)
  add_dependencies(${target} loom_media_codecs loom_local_models)
endfunction()
