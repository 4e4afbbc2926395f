# v2x_module(<name> SOURCES ... DEPS ... [PRIVATE_DEPS ...])
#   One library per stage folder: target v2x_<name>, alias v2x::<name>, public headers in include/.
#   A module with no sources yet is an INTERFACE library holding only its headers.
function(v2x_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  if(M_SOURCES)
    add_library(v2x_${name} ${M_SOURCES})
    target_include_directories(v2x_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
    target_link_libraries(v2x_${name} PUBLIC ${M_DEPS} PRIVATE ${M_PRIVATE_DEPS})
  else()
    add_library(v2x_${name} INTERFACE)
    target_include_directories(v2x_${name} INTERFACE ${CMAKE_CURRENT_SOURCE_DIR}/include)
    target_link_libraries(v2x_${name} INTERFACE ${M_DEPS})
  endif()
  add_library(v2x::${name} ALIAS v2x_${name})
endfunction()

# v2x_test(<name> SOURCES ... DEPS ... [LABELS unit|integration] [TIMEOUT s])
#   GoogleTest executable registered with CTest (gtest_discover_tests), run from the source tree root so
#   tests can reach config/, data/ and ../shared/realdata.
function(v2x_test name)
  if(NOT V2X_BUILD_TESTS OR V2X_TRAINER_ONLY)
    return()
  endif()
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest GTest::gtest_main)
  include(GoogleTest)
  gtest_discover_tests(${name} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                       PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
                       DISCOVERY_TIMEOUT 60)
endfunction()
