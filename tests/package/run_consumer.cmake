# Builds and runs a necro consumer project (ctest driver).
#   MODE=find_package:     installs NECRO_BUILD_DIR into WORK_DIR/prefix, then
#                          builds tests/package/find_package against it.
#   MODE=add_subdirectory: builds tests/package/add_subdirectory, which pulls
#                          in NECRO_SOURCE_DIR.
# The consumer then reads CORE (when it exists) and must print its threads.
foreach(var MODE NECRO_SOURCE_DIR WORK_DIR CXX GENERATOR CORE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_consumer.cmake: ${var} is not set")
  endif()
endforeach()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(config_args -G "${GENERATOR}" -D CMAKE_CXX_COMPILER=${CXX} -D CMAKE_BUILD_TYPE=Release)

if(MODE STREQUAL "find_package")
  if(NOT DEFINED NECRO_BUILD_DIR)
    message(FATAL_ERROR "run_consumer.cmake: NECRO_BUILD_DIR is not set")
  endif()
  set(prefix ${WORK_DIR}/prefix)
  run("install" ${CMAKE_COMMAND} --install ${NECRO_BUILD_DIR} --prefix ${prefix})
  # No headers of the source tree may be needed: check a few landed.
  foreach(hdr necro/elf/core_view.hpp necro/criu/image.hpp necro/pb/core.pb.h)
    if(NOT EXISTS ${prefix}/include/${hdr})
      message(FATAL_ERROR "install did not provide include/${hdr}")
    endif()
  endforeach()
  list(APPEND config_args -D CMAKE_PREFIX_PATH=${prefix} -D NECRO_EXPECT_PREFIX=${prefix})
elseif(MODE STREQUAL "add_subdirectory")
  list(APPEND config_args -D NECRO_SOURCE_DIR=${NECRO_SOURCE_DIR})
else()
  message(FATAL_ERROR "run_consumer.cmake: unknown MODE ${MODE}")
endif()

run("configure" ${CMAKE_COMMAND} -S ${NECRO_SOURCE_DIR}/tests/package/${MODE} -B ${WORK_DIR}/build ${config_args})
run("build" ${CMAKE_COMMAND} --build ${WORK_DIR}/build --parallel 2)

set(exe ${WORK_DIR}/build/necro_consumer)
execute_process(COMMAND ${exe} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "usage: ")
  message(FATAL_ERROR "consumer without arguments: exit ${rc}, expected 2 and a usage line:\n${out}${err}")
endif()
if(EXISTS ${CORE})
  run("consumer ${CORE}" ${exe} ${CORE})
  if(NOT run_output MATCHES "threads: [1-9][0-9]*\n")
    message(FATAL_ERROR "consumer printed no thread count:\n${run_output}")
  endif()
  message(STATUS "consumer (${MODE}): ${run_output}")
else()
  message(STATUS "consumer (${MODE}) built; ${CORE} is missing, not run on a core")
endif()
