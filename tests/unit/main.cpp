// The Catch2 v2 main, compiled once and linked into every unit test
// (v2 has no Catch2WithMain target).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
