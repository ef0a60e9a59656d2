# Builds TARGET in BUILD_DIR and succeeds only when the build fails with
# diagnostics matching every `// expect: <regex>` line of SOURCE (so a misuse
# is refused for the right reason, e.g. the message and the field it names).
#   cmake -D BUILD_DIR=... -D TARGET=... -D SOURCE=<file.cpp> -P expect_build_failure.cmake
foreach(var BUILD_DIR TARGET SOURCE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "expect_build_failure.cmake: ${var} is not set")
  endif()
endforeach()

file(STRINGS ${SOURCE} expects REGEX "^// expect: ")
list(TRANSFORM expects REPLACE "^// expect: " "")
if(NOT expects)
  message(FATAL_ERROR "${SOURCE}: no `// expect: <regex>` line")
endif()

execute_process(
  COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE out)

if(rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} built, but it must not compile:\n${out}")
endif()
foreach(expect IN LISTS expects)
  string(REGEX MATCH "${expect}" hit "${out}")
  if(NOT hit)
    message(FATAL_ERROR "${TARGET} failed to build, but not with `${expect}`:\n${out}")
  endif()
  message(STATUS "${TARGET} is refused as expected: ${hit}")
endforeach()
