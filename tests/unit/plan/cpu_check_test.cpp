// plan::check_cpu, the pure CPU check: features the core has and this CPU
// lacks are a refusal naming them; more features here are fine; --force-cpu
// goes on with a warning and keeps only this CPU's XSAVE components;
// --offline and another architecture compare nothing. core_cpu() on the real
// fixtures, fit_xsave() on a plan.
#include <cstdint>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include <necro/arch/aarch64.hpp>
#include <necro/arch/x86_64.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/plan/cpu/cpu_check.hpp>

#include "support/fixtures.hpp"

using necro::plan::check_cpu;
using necro::plan::cpu_facts;
using necro::plan::cpu_outcome;

namespace {

constexpr std::uint64_t avx = 0x7, avx512 = 0xe7, amx = 0x60000;
constexpr std::uint64_t sse2_hwcap = 0x1f8bfbff;  // an x86-64 CPUID.1:EDX

cpu_facts x86(std::uint64_t xcr0, std::uint64_t in_use = 0x2) {
  return {.arch = "x86_64", .xfeatures = xcr0, .xfeatures_in_use = in_use, .hwcap = sse2_hwcap, .hwcap2 = 0x2,
          .platform = "x86_64"};
}

std::string refusal(const cpu_facts& core, const cpu_facts& here) {
  const auto c = check_cpu(core, here, false);
  REQUIRE_FALSE(c);
  CHECK(c.error().code() == necro::errc::mismatch);
  CHECK_THAT(c.error().what(), Catch::Contains("--force-cpu"));
  return c.error().what();
}

}  // namespace

TEST_CASE("cpu check: XSAVE components this CPU lacks are refused by name", "[plan][cpu]") {
  const auto what = refusal(x86(avx512, 0xa2), x86(avx));
  CHECK_THAT(what, Catch::Contains("this CPU lacks: avx512 opmask (in use at death), zmm_hi256, hi16_zmm (in use at death);"));
  CHECK_THAT(what, !Catch::Contains("avx,"));
  // A bit nobody has named yet is named by its number.
  CHECK_THAT(refusal(x86(avx | (1ULL << 25)), x86(avx512)), Catch::Contains("xfeature bit 25"));
  CHECK_THAT(refusal(x86(avx | (1ULL << 9)), x86(avx512)), Catch::Contains("pkru"));
}

TEST_CASE("cpu check: a CPU with more features than the dead one is fine", "[plan][cpu]") {
  auto here = x86(avx512 | (1ULL << 9) | amx);
  here.hwcap2 = 0x3;
  const auto c = check_cpu(x86(avx), here, false);
  REQUIRE(c);
  CHECK(c->outcome == cpu_outcome::has_all);
  CHECK(c->missing.empty());
  CHECK_FALSE(c->warning);
  CHECK_FALSE(c->keep_xfeatures);
  CHECK(c->line == "the core's XSAVE features (x87, sse, avx), HWCAP (fpu, tsc, cx8, sep, cmov, clflush, mmx, fxsr, "
                   "sse, sse2), HWCAP2 (fsgsbase), platform x86_64 compared with this machine's: this CPU has all of them");
}

TEST_CASE("cpu check: --force-cpu goes on with a warning and this CPU's XSAVE components", "[plan][cpu]") {
  const auto c = check_cpu(x86(avx512, 0xa2), x86(avx), true);
  REQUIRE(c);
  CHECK(c->outcome == cpu_outcome::forced);
  REQUIRE(c->warning);
  CHECK_THAT(*c->warning, Catch::StartsWith("--force-cpu: ") && Catch::Contains("zmm_hi256") &&
                              Catch::Contains("SIGILL") && Catch::Contains("dropped"));
  CHECK_THAT(c->line, Catch::Contains("this CPU lacks avx512 opmask (in use at death), zmm_hi256, hi16_zmm (in use at death); --force-cpu"));
  CHECK(c->keep_xfeatures == avx);
  CHECK(c->missing.size() == 3);
}

TEST_CASE("cpu check: HWCAP compares x86-64's instruction bits, HWCAP2 every bit", "[plan][cpu]") {
  auto core = x86(avx);
  auto here = x86(avx);
  core.hwcap = sse2_hwcap | (1ULL << 28);  // ht: the machine's topology, not an instruction
  here.hwcap = sse2_hwcap & ~(1ULL << 28);
  REQUIRE(check_cpu(core, here, false));
  here.hwcap = sse2_hwcap & ~(1ULL << 26);
  CHECK_THAT(refusal(core, here), Catch::Contains("hwcap sse2"));
  here = x86(avx);
  here.hwcap2 = 0;
  CHECK_THAT(refusal(core, here), Catch::Contains("hwcap2 fsgsbase"));
  core.hwcap2 = 0x1 | (1ULL << 7);
  here.hwcap2 = 0x2;
  const auto what = refusal(core, here);
  CHECK_THAT(what, Catch::Contains("hwcap2 ring3mwait, hwcap2 bit 7"));
  // No keep_xfeatures when only HWCAP bits are forced past.
  const auto forced = check_cpu(core, here, true);
  REQUIRE(forced);
  CHECK_FALSE(forced->keep_xfeatures);
}

TEST_CASE("cpu check: another platform is named", "[plan][cpu]") {
  auto here = x86(avx);
  here.platform = "i686";
  CHECK_THAT(refusal(x86(avx), here), Catch::Contains("platform x86_64 (this machine i686)"));
}

TEST_CASE("cpu check: AMX not in use at death is a warning, in use a refusal", "[plan][cpu]") {
  const auto unused = check_cpu(x86(avx512 | amx, 0xa2), x86(avx512), false);
  REQUIRE(unused);
  CHECK(unused->outcome == cpu_outcome::amx_unused);
  REQUIRE(unused->warning);
  CHECK_THAT(*unused->warning, Catch::Contains("amx tilecfg, amx tiledata") && Catch::Contains("ARCH_REQ_XCOMP_PERM"));
  CHECK(unused->keep_xfeatures == avx512);
  CHECK_THAT(refusal(x86(avx512 | amx, 0xa2 | (1ULL << 18)), x86(avx512)),
             Catch::Contains("amx tiledata (in use at death)") && !Catch::Contains("amx tilecfg"));
  // With another missing feature the refusal names that one.
  CHECK_THAT(refusal(x86(avx512 | amx), x86(avx)), Catch::Contains("avx512 opmask") && !Catch::Contains("amx"));
}

TEST_CASE("cpu check: --offline and another architecture compare nothing", "[plan][cpu]") {
  const auto offline = check_cpu(x86(avx512 | (1ULL << 9)), std::nullopt, false);
  REQUIRE(offline);
  CHECK(offline->outcome == cpu_outcome::not_compared);
  CHECK_THAT(offline->line, Catch::StartsWith("not compared with this machine's (--offline); the core's XSAVE "
                                              "features (x87, sse, avx, avx512 opmask, zmm_hi256, hi16_zmm, pkru)"));
  const cpu_facts arm{.arch = "aarch64", .xfeatures = std::nullopt, .xfeatures_in_use = 0, .hwcap = 0xffff,
                      .hwcap2 = 0, .platform = "aarch64"};
  const auto other = check_cpu(arm, x86(avx), false);
  REQUIRE(other);
  CHECK(other->outcome == cpu_outcome::other_machine);
  CHECK(other->line == "not checked (the core is aarch64, this machine x86_64)");
  cpu_facts bare;
  bare.arch = "x86_64";
  const auto nothing = check_cpu(bare, x86(avx), false);
  REQUIRE(nothing);
  CHECK(nothing->outcome == cpu_outcome::nothing_to_compare);
}

TEST_CASE("cpu check: aarch64 on aarch64 compares HWCAP and HWCAP2 but evtstrm", "[plan][cpu]") {
  const cpu_facts core{.arch = "aarch64", .xfeatures = std::nullopt, .xfeatures_in_use = 0,
                       .hwcap = 0x7 | (1ULL << 22), .hwcap2 = 0x2, .platform = "aarch64"};
  cpu_facts here = core;
  here.hwcap = 0x3 | (1ULL << 22);
  const auto c = check_cpu(core, here, false);
  REQUIRE(c);  // evtstrm (bit 2) is the kernel's timer, not an instruction
  CHECK_THAT(c->line, Catch::Contains("HWCAP (fp, asimd, sve), HWCAP2 (sve2)"));
  here.hwcap = 0x7;
  here.hwcap2 = 0;
  CHECK_THAT(refusal(core, here), Catch::Contains("hwcap sve, hwcap2 sve2"));
}

TEST_CASE("cpu check: core_cpu reads XCR0, XSTATE_BV and the auxv of the real fixtures", "[plan][cpu]") {
  const auto path = necro::test::x86_64_core();
  NECRO_REQUIRE_FIXTURE(path, "x86_64/counter.core");
  auto core = necro::elf::core_view<necro::arch::x86_64>::open(path->string());
  REQUIRE(core);
  const auto f = necro::plan::core_cpu(*core);
  CHECK(f.arch == "x86_64");
  REQUIRE(f.xfeatures);
  CHECK((*f.xfeatures & avx512) == avx512);  // recorded on an AVX-512 machine
  CHECK((f.xfeatures_in_use & ~*f.xfeatures) == 0);
  CHECK(f.hwcap == sse2_hwcap);
  CHECK(f.platform == "x86_64");

  const auto apath = necro::test::aarch64_core();
  NECRO_REQUIRE_FIXTURE(apath, "aarch64/crash.core");
  auto acore = necro::elf::core_view<necro::arch::aarch64>::open(apath->string());
  REQUIRE(acore);
  const auto a = necro::plan::core_cpu(*acore);
  CHECK(a.arch == "aarch64");
  CHECK_FALSE(a.xfeatures);
  CHECK(a.hwcap);
}

TEST_CASE("cpu check: fit_xsave keeps only this CPU's XSAVE components", "[plan][cpu]") {
  necro::plan::resurrection p;
  p.threads.emplace_back();
  auto* xs = p.threads[0].core.mutable_thread_info()->mutable_fpregs()->mutable_xsave();
  necro::map::criu_thread<necro::arch::x86_64>::size_xsave(*xs, avx512 | (1ULL << 9));
  xs->set_xstate_bv(0x2a6);
  necro::plan::cpu_check c;
  necro::plan::fit_xsave(p, c);  // nothing to keep: unchanged
  CHECK(xs->pkru_size() == 2);
  c.keep_xfeatures = avx;
  necro::plan::fit_xsave(p, c);
  CHECK(xs->xstate_bv() == 0x6);
  CHECK(xs->ymmh_space_size() == 64);
  CHECK(xs->opmask_reg_size() == 0);
  CHECK(xs->zmm_upper_size() == 0);
  CHECK(xs->hi16_zmm_size() == 0);
  CHECK(xs->pkru_size() == 0);
}
