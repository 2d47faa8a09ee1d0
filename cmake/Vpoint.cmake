# Shared build settings for every vpoint target.

add_library(vpoint_warnings INTERFACE)
target_compile_options(vpoint_warnings INTERFACE -Wall -Wextra -Wno-missing-field-initializers)
# Boost.Asio/Beast coroutines; no deprecated Asio names.
target_compile_definitions(vpoint_warnings INTERFACE BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)

if(VPOINT_ASAN)
  target_compile_options(vpoint_warnings INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(vpoint_warnings INTERFACE -fsanitize=address,undefined)
endif()

# vpoint_library(name SOURCES... DEPS...): a module library with its public headers under include/.
function(vpoint_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(${name} PUBLIC vpoint_warnings ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# vpoint_add_test(name SOURCES... LIBS... [TRUTH]): one Catch2 executable, each TEST_CASE a ctest test.
# TRUTH: the test cases tagged [truth] get the ctest label `truth` too (issue 12: `ctest -L truth` runs every
# "never greener than the truth" test of the suite).
function(vpoint_add_test name)
  cmake_parse_arguments(ARG "TRUTH" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE vpoint_warnings vpoint_catch_main ${ARG_LIBS})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  # NoTests: a test whose name ctest mangled (brackets in a name break CMake lists) fails instead of passing
  # empty. (Catch2 v2 takes one --warn; every test case asserts, checked with --warn NoAssertions by hand.)
  set(common WORKING_DIRECTORY ${CMAKE_SOURCE_DIR} EXTRA_ARGS --warn NoTests)
  if(ARG_TRUTH)
    catch_discover_tests(${name} TEST_SPEC "~[truth]" ${common} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 300)
    # PROPERTIES cannot carry a list (Catch's script splits it), so the two labels are set by a ctest include
    # file of ours that runs after Catch's and names the tests through TEST_LIST.
    catch_discover_tests(${name} TEST_SPEC "[truth]" ${common} TEST_LIST ${name}_truth PROPERTIES TIMEOUT 300)
    set(labels_file ${CMAKE_CURRENT_BINARY_DIR}/${name}_truth_labels.cmake)
    file(WRITE ${labels_file} "if(${name}_truth)\n  set_tests_properties(\${${name}_truth} PROPERTIES LABELS \"${ARG_LABELS};truth\")\nendif()\n")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${labels_file})
  else()
    catch_discover_tests(${name} ${common} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 300)
  endif()
endfunction()
