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
  CHECK(st->env_end == core->auxv(necro::arch::at::execfn));
  CHECK(st->arg_end == st->env_start);
  CHECK(st->estimates.empty());
}

TEST_CASE("a segment without the auxv gives only estimates", "[plan]") {
  const auto c = necro::test::x86_64_core();
  NECRO_REQUIRE_FIXTURE(c, "x86_64/counter.core");
  auto core = necro::elf::core_view<necro::arch::x86_64>::open(c->string());
  REQUIRE(core);
  // The executable's first page holds no auxv vector.
  const auto* seg = core->segment_at(*core->auxv(necro::arch::at::phdr));
  REQUIRE(seg);
  const auto st = necro::plan::find_initial_stack(*core, *seg);
  REQUIRE(st);
  CHECK_FALSE(st->estimates.empty());
  CHECK(st->arg_start <= st->arg_end);
  CHECK(st->env_start <= st->env_end);
}

// Real cores of tests/data/src/title.c, which rewrites its process title in
// the ways real servers do; title.facts.txt holds the kernel's mm fields, read
// from /proc/self/stat before the rewrite.
namespace {

struct title_case {
  const char* mode;
  bool exact;             ///< every value recoverable as the kernel had it
  const char* env_start;  ///< the source env_start must come from
};

void check_title(const title_case& tc) {
  INFO("mode " << tc.mode);
  const auto facts = necro::test::facts::load("x86_64/title.facts.txt");
  NECRO_REQUIRE_FIXTURE(facts, "x86_64/title.facts.txt");
  const auto path = necro::test::fixture(std::string("x86_64/title-") + tc.mode + ".core");
  NECRO_REQUIRE_FIXTURE(path, std::string("x86_64/title-") + tc.mode + ".core");
  auto core = necro::elf::core_view<necro::arch::x86_64>::open(path->string());
  REQUIRE(core);
  const auto* seg = core->segment_at(*core->auxv(necro::arch::at::execfn));
  REQUIRE(seg);
  const auto st = necro::plan::find_initial_stack(*core, seg);
  REQUIRE(st);
  auto kernel = [&](const char* key) { return facts->number(std::string(tc.mode) + "_" + key); };
  for (const auto& e : st->estimates) UNSCOPED_INFO("estimate: " << e);
  // What the kernel wrote and no title rewrite touches is always exact.
  CHECK(st->start_stack == kernel("start_stack"));
  CHECK(st->env_end == kernel("env_end"));
  CHECK(st->argc == kernel("argc"));
  CHECK(st->envc == kernel("envc"));
  CHECK(st->arg_start <= st->arg_end);
  CHECK(st->arg_end == st->env_start);
  CHECK(st->env_start <= st->env_end);
  if (tc.exact) {
    CHECK(st->estimates.empty());
    CHECK(st->arg_start == kernel("arg_start"));
    CHECK(st->arg_end == kernel("arg_end"));
    CHECK(st->env_start == kernel("env_start"));
    CHECK(st->env_start_from == tc.env_start);
  } else {
    CHECK_FALSE(st->estimates.empty());
  }
}

}  // namespace

TEST_CASE("the initial stack of a program that left its title alone", "[plan][title]") {
  check_title({"intact", true, "envp[0]"});
}

TEST_CASE("the initial stack after a Redis-style setproctitle", "[plan][title]") {
  // argv[1..] moved to the heap, environ rebuilt by setenv, every string zeroed.
  check_title({"redis", true, "envp[0]"});
}

TEST_CASE("the initial stack after an nginx-style setproctitle", "[plan][title]") {
  // env strings copied to the heap and envp repointed; argv[1] = NULL.
  check_title({"nginx", true, "the lengths of the env strings envp points at"});
}

TEST_CASE("the initial stack after a PostgreSQL ps_status-style title", "[plan][title]") {
  // argv and environ copied to the heap; argv[1..] point at the area's end.
  check_title({"ps_status", true, "envp[0]"});
}

TEST_CASE("the initial stack after argv[0]'s string was overwritten", "[plan][title]") {
  check_title({"argv0", true, "envp[0]"});
}

TEST_CASE("the initial stack after argv[1] = NULL", "[plan][title]") {
  check_title({"argv1null", true, "envp[0]"});
}

TEST_CASE("the initial stack after every string was zeroed", "[plan][title]") {
  check_title({"zeroed", true, "envp[0]"});
}

TEST_CASE("the initial stack after the strings and the argv/envp arrays were wiped", "[plan][title]") {
  // Only argc, the auxv and AT_EXECFN's string survive: arg_start and the
  // arg/env boundary can only be estimated, and say so.
  check_title({"wiped", false, ""});
}
