# check_headers.cmake - the public headers stay listed and layered:
#   cmake -D SOURCE_DIR=<repo> -P tests/tools/check_headers.cmake
# 1. necro/necro.hpp includes every public header (not detail/) but those in
#    a docs/ folder, which serve the docs generators only (tests/tools/) and
#    which it must not include: every consumer would compile them;
# 2. docs/api.md names every public header;
# 3. a header includes only necro headers of its own layer or one below it
#    (io < arch < elf < disk < criu < map < capture < plan < write < resurrect), so data
#    flows one way and io/ knows nothing of ELF or CRIU and plan/ reads no disk.
# Fails with one line per offence.
set(layers io arch elf disk criu map capture plan write lazy resurrect)
set(inc ${SOURCE_DIR}/include)
file(GLOB_RECURSE headers RELATIVE ${inc} ${inc}/necro/*.hpp)
file(READ ${inc}/necro/necro.hpp umbrella)
file(READ ${SOURCE_DIR}/docs/api.md api)
set(problems "")
foreach(h IN LISTS headers)
  if(h STREQUAL "necro/necro.hpp")
    continue()
  endif()
  if(NOT h MATCHES "/detail/")
    string(FIND "${umbrella}" "#include <${h}>" at)
    if(h MATCHES "/docs/")
      if(NOT at EQUAL -1)
        string(APPEND problems "necro/necro.hpp includes <${h}>: docs/ headers serve the docs generators only\n")
      endif()
    elseif(at EQUAL -1)
      string(APPEND problems "necro/necro.hpp does not include <${h}>\n")
    endif()
    string(FIND "${api}" "`${h}`" at)
    if(at EQUAL -1)
      string(APPEND problems "docs/api.md does not name `${h}`\n")
    endif()
  endif()
  if(NOT h MATCHES "^necro/([a-z_0-9]+)/")
    continue()  # config.hpp, version.hpp: below every layer
  endif()
  set(from ${CMAKE_MATCH_1})
  list(FIND layers ${from} own)
  if(own EQUAL -1)
    string(APPEND problems "${h}: its folder is not a known layer (${layers})\n")
    continue()
  endif()
  file(STRINGS ${inc}/${h} lines REGEX "^#include <necro/[a-z_0-9]+/")
  foreach(line IN LISTS lines)
    string(REGEX MATCH "<necro/([a-z_0-9]+)/[^>]*>" target "${line}")
    set(to ${CMAKE_MATCH_1})
    if(to STREQUAL "pb")
      continue()  # generated messages: below every layer
    endif()
    list(FIND layers ${to} other)
    if(other GREATER own)
      string(APPEND problems "${h} includes ${target}: ${to}/ is above ${from}/\n")
    endif()
  endforeach()
endforeach()
if(problems)
  message(FATAL_ERROR "public headers:\n${problems}")
endif()
list(LENGTH headers n)
string(REPLACE ";" " < " order "${layers}")
message(STATUS "${n} headers: listed in necro.hpp and docs/api.md, layered ${order}")
