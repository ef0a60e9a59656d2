// core_view<aarch64> and the aarch64 field tables on a real aarch64 core
// (written by qemu-aarch64 for a static program that dereferences NULL).
#include <catch2/catch.hpp>

#include <necro/necro.hpp>

#include "support/fixtures.hpp"

TEST_CASE("an aarch64 core parses with the aarch64 traits", "[elf][aarch64]") {
  const auto path = necro::test::aarch64_core();
  NECRO_REQUIRE_FIXTURE(path, "aarch64/crash.core");
  const auto facts = necro::test::facts::load("aarch64/facts.txt");
  REQUIRE(facts);
  auto core = necro::elf::core_view<necro::arch::aarch64>::open(path->string());
  if (!core) FAIL(core.error().message());
  CHECK(core->threads().size() == *facts->number("core_thread_count"));
  CHECK(core->segments().size() == *facts->number("core_pt_load_count"));
  CHECK(static_cast<std::uint64_t>(core->pid()) == *facts->number("qemu_pid"));
  const auto& t = core->threads().front();
  CHECK(t.prstatus.cursig == static_cast<std::int16_t>(*facts->number("crash_signal")));
  // The pc is inside an executable segment, and the stack pointer in a writable one.
  const auto* text = core->segment_at(t.regs().pc);
  REQUIRE(text);
  CHECK(text->executable());
  const auto* stack = core->segment_at(t.regs().sp);
  REQUIRE(stack);
  CHECK(stack->writable());
  CHECK(core->auxv(necro::arch::at::pagesz) == std::optional<std::uint64_t>(4096));
  // NT_SIGINFO, typed, when the writer of the core gave one.
  const auto si = core->siginfo();
  REQUIRE(si);
  if (*si) CHECK((*si)->si_signo == t.prstatus.cursig);

  // Through the table into CRIU's message and back.
  necro::pb::user_aarch64_regs_entry m;
  necro::map::apply(necro::map::aarch64::gpregs, t.regs(), m);
  CHECK(m.regs_size() == 31);
  CHECK(m.pc() == t.regs().pc);
  CHECK(m.sp() == t.regs().sp);
  auto back = necro::map::extract<necro::arch::aarch64_abi::user_regs>(necro::map::aarch64::gpregs, m);
  REQUIRE(back);
  CHECK(back->regs == t.regs().regs);
  CHECK(back->pstate == t.regs().pstate);
}

TEST_CASE("an aarch64 core is refused by the x86-64 traits, and the other way round", "[elf][aarch64]") {
  const auto a = necro::test::aarch64_core();
  const auto x = necro::test::x86_64_core();
  NECRO_REQUIRE_FIXTURE(a && x, "aarch64/crash.core + x86_64/counter.core");
  auto as_x86 = necro::elf::core_view<necro::arch::x86_64>::open(a->string());
  REQUIRE_FALSE(as_x86);
  necro::test::check_error(as_x86.error(), a->string(), necro::errc::mismatch, "ELF machine 183 is not x86_64", 0x12);
  auto as_arm = necro::elf::core_view<necro::arch::aarch64>::open(x->string());
  REQUIRE_FALSE(as_arm);
  necro::test::check_error(as_arm.error(), x->string(), necro::errc::mismatch, "ELF machine 62 is not aarch64", 0x12);
}

TEST_CASE("the aarch64 fpsimd table round-trips", "[map][aarch64]") {
  necro::arch::aarch64_abi::fpregs fp{};
  for (std::size_t i = 0; i < fp.vregs.size(); ++i) fp.vregs[i] = 0x0101010101010101ULL * i;
  fp.fpsr = 0x10;
  fp.fpcr = 0x3000000;
  necro::pb::user_aarch64_fpsimd_context_entry m;
  necro::map::apply(necro::map::aarch64::fpsimd, fp, m);
  CHECK(m.vregs_size() == 64);
  auto back = necro::map::extract<necro::arch::aarch64_abi::fpregs>(necro::map::aarch64::fpsimd, m);
  REQUIRE(back);
  CHECK(back->vregs == fp.vregs);
  CHECK(back->fpsr == fp.fpsr);
  CHECK(back->fpcr == fp.fpcr);
}
