// find_initial_stack on the real fixture core.
#include <catch2/catch.hpp>

#include <necro/necro.hpp>

#include "support/fixtures.hpp"

TEST_CASE("the initial stack is found from NT_AUXV", "[plan]") {
  const auto c = necro::test::x86_64_core();
  NECRO_REQUIRE_FIXTURE(c, "x86_64/counter.core");
  auto core = necro::elf::core_view<necro::arch::x86_64>::open(c->string());
  REQUIRE(core);
  const auto sp = core->leader().regs().rsp;
  const auto* seg = core->segment_at(sp);
  REQUIRE(seg);
  const auto st = necro::plan::find_initial_stack(*core, *seg);
  REQUIRE(st);
  CHECK(st->argc == 1);
  CHECK(st->envc == 2);  // PATH and LANG: the fixture runs with a minimal environment
  CHECK(core->read_string(st->arg_start) == std::optional<std::string_view>("/tmp/necro-fixture/counter"));
  CHECK(core->read_string(st->env_start) == std::optional<std::string_view>("PATH=/usr/bin:/bin"));
  CHECK(st->start_stack > sp);  // main's frames sit below argc
  CHECK(st->start_stack < seg->end());
}

TEST_CASE("no initial stack in a segment without the auxv", "[plan]") {
  const auto c = necro::test::x86_64_core();
  NECRO_REQUIRE_FIXTURE(c, "x86_64/counter.core");
  auto core = necro::elf::core_view<necro::arch::x86_64>::open(c->string());
  REQUIRE(core);
  // The executable's first page holds no auxv vector.
  const auto* seg = core->segment_at(*core->auxv(necro::arch::at::phdr));
  REQUIRE(seg);
  CHECK_FALSE(necro::plan::find_initial_stack(*core, *seg));
}
