# Builds TARGET in BUILD_DIR and succeeds only when the build fails with a
# diagnostic matching EXPECT (so a misuse is refused for the right reason).
#   cmake -D BUILD_DIR=... -D TARGET=... -D EXPECT=<regex> -P expect_build_failure.cmake
foreach(var BUILD_DIR TARGET EXPECT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "expect_build_failure.cmake: ${var} is not set")
  endif()
endforeach()

execute_process(
  COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE out)

if(rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} built, but it must not compile:\n${out}")
endif()
string(REGEX MATCH "${EXPECT}" hit "${out}")
if(NOT hit)
  message(FATAL_ERROR "${TARGET} failed to build, but not with `${EXPECT}`:\n${out}")
endif()
message(STATUS "${TARGET} is refused as expected: ${hit}")
