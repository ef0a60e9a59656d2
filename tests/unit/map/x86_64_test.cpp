// necro::map::x86_64 field tables: apply() then extract() gives back every
// register and FPU field; the CRIU names line up with the kernel's; and on the
// real core the message carries the first thread's registers.
#include <array>
#include <cstdint>
#include <cstring>

#include <boost/pfr/core.hpp>
#include <boost/pfr/ops.hpp>
#include <catch2/catch.hpp>

#include <necro/arch/x86_64.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/map/x86_64.hpp>

#include "support/core_builder.hpp"
#include "support/fixtures.hpp"

namespace mx = necro::map::x86_64;
namespace pb = necro::pb;
using necro::arch::x86_64_abi::fpregs;
using necro::arch::x86_64_abi::user_regs;

namespace {

/// Registers whose every field differs and uses the high bits too.
user_regs tricky_regs() {
  user_regs r = necro::test::sample_regs(0xfedcba987654);
  r.rip = 0x00007f1234567890;
  r.rsp = 0x00007ffd00001230;
  r.rax = static_cast<std::uint64_t>(-516);  // -ERESTART_RESTARTBLOCK
  r.orig_rax = 230;                          // clock_nanosleep
  r.eflags = 0x246;
  r.fs_base = 0x00007f0000001740;
  r.gs = 0xffffffffffffffff;
  return r;
}

fpregs tricky_fpregs() {
  fpregs f{};
  f.cwd = 0x037f;
  f.swd = 0xffff;
  f.twd = 0x00ff;
  f.fop = 0x7ff;
  f.rip = 0xffffffff00001234;
  f.rdp = 0x8000000000000000;
  f.mxcsr = 0x1fa0;
  f.mxcsr_mask = 0x2ffff;
  for (std::size_t i = 0; i < f.st_space.size(); ++i) f.st_space[i] = 0x80000000u + static_cast<std::uint32_t>(i);
  for (std::size_t i = 0; i < f.xmm_space.size(); ++i) f.xmm_space[i] = 0xdead0000u ^ static_cast<std::uint32_t>(i);
  for (std::size_t i = 0; i < f.padding.size(); ++i) f.padding[i] = static_cast<std::uint32_t>(i * i);
  return f;
}

template <class T>
bool same_bytes(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

}  // namespace

TEST_CASE("map x86_64: the tables cover every field", "[map][x86_64]") {
  STATIC_REQUIRE(necro::map::covers_all_fields<user_regs>(mx::gpregs));
  STATIC_REQUIRE(necro::map::covers_all_fields<fpregs>(mx::fpregs_table));
  STATIC_REQUIRE(necro::map::row_count(mx::gpregs) == boost::pfr::tuple_size_v<user_regs>);
  STATIC_REQUIRE(necro::map::row_count(mx::fpregs_table) == boost::pfr::tuple_size_v<fpregs>);
}

TEST_CASE("map x86_64: gpregs apply uses CRIU's names for the kernel's fields", "[map][x86_64]") {
  const user_regs r = tricky_regs();
  pb::user_x86_regs_entry m;
  necro::map::apply(mx::gpregs, r, m);
  CHECK(m.IsInitialized());
  CHECK(m.r15() == r.r15);
  CHECK(m.r8() == r.r8);
  CHECK(m.bp() == r.rbp);
  CHECK(m.bx() == r.rbx);
  CHECK(m.ax() == r.rax);
  CHECK(m.cx() == r.rcx);
  CHECK(m.dx() == r.rdx);
  CHECK(m.si() == r.rsi);
  CHECK(m.di() == r.rdi);
  CHECK(m.orig_ax() == r.orig_rax);
  CHECK(m.ip() == r.rip);
  CHECK(m.flags() == r.eflags);
  CHECK(m.sp() == r.rsp);
  CHECK(m.cs() == r.cs);
  CHECK(m.ss() == r.ss);
  CHECK(m.fs_base() == r.fs_base);
  CHECK(m.gs_base() == r.gs_base);
  CHECK(m.ds() == r.ds);
  CHECK(m.es() == r.es);
  CHECK(m.fs() == r.fs);
  CHECK(m.gs() == r.gs);
  CHECK_FALSE(m.has_mode());  // not a table field: left to the caller
}

TEST_CASE("map x86_64: gpregs round trip", "[map][x86_64]") {
  const user_regs r = tricky_regs();
  pb::user_x86_regs_entry m;
  necro::map::apply(mx::gpregs, r, m);
  // Through the wire too, as CRIU would read it.
  pb::user_x86_regs_entry wire;
  REQUIRE(wire.ParseFromString(m.SerializeAsString()));
  auto back = necro::map::extract<user_regs>(mx::gpregs, wire);
  REQUIRE(back);
  CHECK(boost::pfr::eq(*back, r));
  CHECK(same_bytes(*back, r));
}

TEST_CASE("map x86_64: fpregs round trip, arrays as repeated fields", "[map][x86_64]") {
  const fpregs f = tricky_fpregs();
  pb::user_x86_fpregs_entry m;
  necro::map::apply(mx::fpregs_table, f, m);
  CHECK(m.IsInitialized());
  CHECK(m.cwd() == 0x037f);
  CHECK(m.swd() == 0xffff);
  CHECK(m.rip() == f.rip);
  CHECK(m.rdp() == f.rdp);
  CHECK(m.mxcsr_mask() == 0x2ffff);
  REQUIRE(m.st_space_size() == 32);
  REQUIRE(m.xmm_space_size() == 64);
  REQUIRE(m.padding_size() == 24);
  CHECK(m.st_space(31) == 0x8000001fu);
  CHECK(m.xmm_space(63) == (0xdead0000u ^ 63u));
  CHECK_FALSE(m.has_xsave());

  // Applying again replaces the repeated fields instead of appending.
  necro::map::apply(mx::fpregs_table, f, m);
  CHECK(m.xmm_space_size() == 64);

  pb::user_x86_fpregs_entry wire;
  REQUIRE(wire.ParseFromString(m.SerializeAsString()));
  auto back = necro::map::extract<fpregs>(mx::fpregs_table, wire);
  REQUIRE(back);
  CHECK(same_bytes(*back, f));
}

TEST_CASE("map x86_64: extract refuses a repeated field of the wrong length", "[map][x86_64]") {
  pb::user_x86_fpregs_entry m;
  necro::map::apply(mx::fpregs_table, tricky_fpregs(), m);
  m.mutable_xmm_space()->Truncate(3);
  auto back = necro::map::extract<fpregs>(mx::fpregs_table, m);
  REQUIRE_FALSE(back);
  CHECK(back.error().code() == necro::errc::bad_value);
  CHECK_THAT(back.error().message(),
             Catch::Matchers::Contains("user_x86_fpregs_entry.xmm_space has 3 elements, expected 64"));

  m.clear_st_space();
  auto empty = necro::map::extract<fpregs>(mx::fpregs_table, m);
  REQUIRE_FALSE(empty);
  CHECK_THAT(empty.error().message(), Catch::Matchers::Contains("st_space has 0 elements, expected 32"));
}

TEST_CASE("map x86_64: the tables carry the kernel's field names for --explain", "[map][x86_64]") {
  std::vector<std::string_view> names;
  boost::hana::for_each(mx::gpregs, [&](const auto& row) { names.push_back(row.name); });
  REQUIRE(names.size() == 27);
  CHECK(names.front() == "r15");
  CHECK(names[16] == "rip");
  CHECK(names.back() == "gs");
}

TEST_CASE("map x86_64: the real core's first thread lands in user_x86_regs_entry", "[map][x86_64][fixture]") {
  const auto path = necro::test::x86_64_core();
  NECRO_REQUIRE_FIXTURE(path, "x86_64/counter.core");
  auto c = necro::elf::core_view<necro::arch::x86_64>::open(path->string());
  if (!c) FAIL(c.error().message());
  const auto& t = c->threads().front();
  const auto& regs = t.regs();

  pb::user_x86_regs_entry m;
  necro::map::apply(mx::gpregs, regs, m);
  CHECK(m.ip() == regs.rip);
  CHECK(m.sp() == regs.rsp);
  CHECK(m.ax() == regs.rax);
  CHECK(m.orig_ax() == regs.orig_rax);
  CHECK(m.flags() == regs.eflags);
  CHECK(m.fs_base() == regs.fs_base);
  CHECK(m.cs() == 0x33);  // __USER_CS: a 64-bit task
  CHECK(m.ss() == 0x2b);  // __USER_DS
  auto back = necro::map::extract<user_regs>(mx::gpregs, m);
  REQUIRE(back);
  CHECK(same_bytes(*back, regs));

  REQUIRE(t.fpregs);
  pb::user_x86_fpregs_entry f;
  necro::map::apply(mx::fpregs_table, *t.fpregs, f);
  CHECK(f.mxcsr() == t.fpregs->mxcsr);
  CHECK(f.cwd() == t.fpregs->cwd);
  CHECK(f.IsInitialized());
  // The FXSAVE image in NT_X86_XSTATE starts with the same legacy area.
  REQUIRE(t.xstate);
  auto legacy = t.xstate->load<fpregs>(0, "legacy area");
  REQUIRE(legacy);
  CHECK(legacy->mxcsr == t.fpregs->mxcsr);
  CHECK(legacy->xmm_space == t.fpregs->xmm_space);
}
