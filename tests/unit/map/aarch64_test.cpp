// criu_thread<aarch64>: a thread of an aarch64 core into CRIU's
// thread_info_aarch64. On the real core (tests/data/aarch64/crash.core,
// written by qemu-aarch64 7.2, which writes NT_PRSTATUS, NT_PRPSINFO and
// NT_AUXV only) every general register is compared with the raw words of
// NT_PRSTATUS's pr_reg; FP/SIMD and TLS, which no core here has (qemu-user
// writes neither, and no aarch64 kernel runs here), on a core built with both
// notes from that real core's NT_PRSTATUS. Donor-less, the same core, its
// file mappings rebuilt from its program (tests/data/bin/crash_aarch64, given
// as resurrect_options::exe: the core has no NT_FILE), is planned, and its
// core_entry compared with the core.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>

#include "support/core_builder.hpp"
#include "support/fixtures.hpp"

namespace {

using arm = necro::arch::aarch64;
using core_t = necro::elf::core_view<arm>;
using bridge = necro::map::criu_thread<arm>;

/// The descriptor of the first note of `type` owned by `owner`, read straight
/// from the file's program headers (not through core_view).
std::vector<std::byte> raw_note(const necro::io::byte_view& file, std::string_view owner, std::uint32_t type) {
  auto eh = file.load<necro::elf::ehdr64>(0, "ELF header");
  REQUIRE(eh);
  for (std::uint64_t i = 0; i < eh->phnum; ++i) {
    auto ph = file.load<necro::elf::phdr64>(eh->phoff + i * sizeof(necro::elf::phdr64), "phdr");
    REQUIRE(ph);
    if (ph->type != necro::arch::elfc::pt_note) continue;
    auto seg = file.sub(ph->offset, ph->filesz, "PT_NOTE");
    REQUIRE(seg);
    std::vector<std::byte> found;
    auto r = necro::elf::for_each_note(*seg, [&](const necro::elf::note& n) -> necro::result<void> {
      if (found.empty() && n.owner == owner && n.type == type) found.assign(n.desc.data(), n.desc.data() + n.desc.size());
      return {};
    });
    REQUIRE(r);
    if (!found.empty()) return found;
  }
  FAIL("no note " << type);
  return {};
}

std::uint64_t word(const std::vector<std::byte>& b, std::size_t off) {
  std::uint64_t v = 0;
  REQUIRE(off + 8 <= b.size());
  std::memcpy(&v, b.data() + off, 8);
  return v;
}

/// pr_reg sits at offset 112 of elf_prstatus: x0-x30, sp, pc, pstate.
constexpr std::size_t pr_reg = 112;

necro::result<necro::pb::core_entry> mapped(const core_t& core, std::vector<std::string>& warnings) {
  necro::pb::core_entry c;
  c.set_mtype(necro::pb::core_entry::AARCH64);
  const auto& t = core.threads().front();
  NECRO_TRY(bridge::set_registers(c, t, core.process(), t.regs(), warnings));
  return c;
}

}  // namespace

TEST_CASE("every general register of the real aarch64 core reaches ti_aarch64", "[map][aarch64]") {
  const auto path = necro::test::aarch64_core();
  NECRO_REQUIRE_FIXTURE(path, "aarch64/crash.core");
  auto core = core_t::open(path->string());
  if (!core) FAIL(core.error().message());
  const auto raw = raw_note(core->bytes(), "CORE", necro::arch::nt::prstatus);
  REQUIRE(raw.size() == sizeof(arm::prstatus));

  std::vector<std::string> warnings;
  auto c = mapped(*core, warnings);
  if (!c) FAIL(c.error().message());
  REQUIRE(c->has_ti_aarch64());
  const auto& g = c->ti_aarch64().gpregs();
  REQUIRE(g.regs_size() == 31);
  for (int i = 0; i < 31; ++i) {
    INFO("x" << i);
    CHECK(g.regs(i) == word(raw, pr_reg + static_cast<std::size_t>(i) * 8));
  }
  CHECK(g.sp() == word(raw, pr_reg + 31 * 8));
  CHECK(g.pc() == word(raw, pr_reg + 32 * 8));
  CHECK(g.pstate() == word(raw, pr_reg + 33 * 8));
  CHECK(bridge::pc(*c) == arm::pc(core->threads().front().regs()));
  CHECK(bridge::sp(*c) == arm::sp(core->threads().front().regs()));
  // The pc is in the program's text, the sp in its stack: the words are registers.
  REQUIRE(core->segment_at(g.pc()));
  CHECK(core->segment_at(g.pc())->executable());
  REQUIRE(core->segment_at(g.sp()));
  CHECK(core->segment_at(g.sp())->writable());

  // qemu-user's core has neither FP/SIMD nor TLS: zeros, and a warning each.
  CHECK(c->ti_aarch64().fpsimd().vregs_size() == 64);
  CHECK(c->ti_aarch64().fpsimd().fpsr() == 0);
  CHECK(c->ti_aarch64().tls() == 0);
  REQUIRE(warnings.size() == 2);
  CHECK_THAT(warnings[0], Catch::Matchers::Contains("no NT_PRFPREG"));
  CHECK_THAT(warnings[1], Catch::Matchers::Contains("no NT_ARM_TLS"));
  CHECK(c->ti_aarch64().gpregs().IsInitialized());
  CHECK(c->ti_aarch64().fpsimd().IsInitialized());
  bridge::set_clear_tid(*c, 0);  // the planner's (from the template or the core's memory)
  CHECK(c->IsInitialized());     // then every required field of thread_info_aarch64 is set
}

namespace {

using necro::test::bytes;

/// The real core's notes and first PT_LOAD again, plus NT_PRFPREG and
/// NT_ARM_TLS (of `tls_size` bytes) after its NT_PRSTATUS.
necro::test::built_core with_fp_and_tls(const core_t& real, const arm::fpregs& fp, std::uint64_t tpidr,
                                        std::size_t tls_size) {
  const auto raw = raw_note(real.bytes(), "CORE", necro::arch::nt::prstatus);
  necro::test::core_builder b;
  b.note("CORE", necro::arch::nt::prstatus, bytes(raw.begin(), raw.end()));
  b.note("CORE", necro::arch::nt::prfpreg, necro::test::to_bytes(fp));
  bytes tls(tls_size, std::byte{0});
  std::memcpy(tls.data(), &tpidr, std::min<std::size_t>(8, tls_size));
  b.note("LINUX", necro::arch::nt::arm_tls, tls);
  const auto& s = real.segments().back();
  b.load(s.vaddr, s.memsz, s.flags, bytes(s.bytes.data(), s.bytes.data() + s.bytes.size()));
  auto built = b.build();
  necro::test::poke(built.image, necro::test::off::e_machine, arm::e_machine);
  return built;
}

arm::fpregs sample_fpsimd() {
  arm::fpregs fp{};
  for (std::size_t i = 0; i < fp.vregs.size(); ++i) fp.vregs[i] = 0x0f0e0d0c0b0a0908ULL ^ (i * 0x0101010101010101ULL);
  fp.fpsr = 0x08000010;  // QC | IXC
  fp.fpcr = 0x03c00000;  // RMode, FZ, DN
  return fp;
}

}  // namespace

TEST_CASE("NT_PRFPREG and NT_ARM_TLS reach ti_aarch64's fpsimd and tls", "[map][aarch64]") {
  const auto path = necro::test::aarch64_core();
  NECRO_REQUIRE_FIXTURE(path, "aarch64/crash.core");
  auto real = core_t::open(path->string());
  if (!real) FAIL(real.error().message());
  const auto fp = sample_fpsimd();
  const std::uint64_t tpidr = 0x0000fffff7ff8f20ULL;
  // 8 bytes (TPIDR_EL0), and 16 (with TPIDR2_EL0, kernels with SME).
  for (const std::size_t tls_size : {std::size_t{8}, std::size_t{16}}) {
    INFO("NT_ARM_TLS of " << tls_size << " bytes");
    const auto built = with_fp_and_tls(*real, fp, tpidr, tls_size);
    auto core = core_t::parse(built.view());
    if (!core) FAIL(core.error().message());
    REQUIRE(core->threads().size() == 1);
    const auto& t = core->threads().front();
    REQUIRE(t.tls);
    CHECK(t.thread_pointer() == tpidr);
    CHECK(t.others.empty());

    std::vector<std::string> warnings;
    auto c = mapped(*core, warnings);
    if (!c) FAIL(c.error().message());
    CHECK(warnings.empty());
    const auto& f = c->ti_aarch64().fpsimd();
    REQUIRE(f.vregs_size() == 64);
    for (int i = 0; i < 64; ++i) CHECK(f.vregs(i) == fp.vregs[static_cast<std::size_t>(i)]);
    CHECK(f.fpsr() == fp.fpsr);
    CHECK(f.fpcr() == fp.fpcr);
    CHECK(c->ti_aarch64().tls() == tpidr);
    CHECK(bridge::thread_pointer(*c) == tpidr);
    CHECK(c->ti_aarch64().gpregs().pc() == real->threads().front().regs().pc);
  }
}

TEST_CASE("a short NT_ARM_TLS is an error naming its offset", "[map][aarch64]") {
  const auto path = necro::test::aarch64_core();
  NECRO_REQUIRE_FIXTURE(path, "aarch64/crash.core");
  auto real = core_t::open(path->string());
  if (!real) FAIL(real.error().message());
  const auto built = with_fp_and_tls(*real, sample_fpsimd(), 1, 4);
  auto core = core_t::parse(built.view());
  REQUIRE_FALSE(core);
  necro::test::check_error(core.error(), std::string(necro::test::synthetic_name), necro::errc::bad_value,
                           "NT_ARM_TLS has 4 bytes, expected at least 8", built.note_descs[2]);
}

TEST_CASE("the aarch64 tls table round-trips", "[map][aarch64]") {
  necro::pb::thread_info_aarch64 ti;
  necro::map::apply(necro::map::aarch64::tls, necro::arch::aarch64_abi::arm_tls{0x1234}, ti);
  CHECK(ti.tls() == 0x1234);
  auto back = necro::map::extract<necro::arch::aarch64_abi::arm_tls>(necro::map::aarch64::tls, ti);
  REQUIRE(back);
  CHECK(back->tpidr == 0x1234);
}

TEST_CASE("the architecture list dispatches on e_machine", "[map][aarch64]") {
  std::string seen;
  CHECK(necro::map::for_machine(183, [&](auto tag) { seen = decltype(tag)::type::name; }));
  CHECK(seen == "aarch64");
  CHECK(necro::map::for_machine(62, [&](auto tag) { seen = decltype(tag)::type::name; }));
  CHECK(seen == "x86_64");
  CHECK_FALSE(necro::map::for_machine(40, [&](auto) { seen = "called"; }));
  CHECK(seen == "x86_64");
  CHECK(necro::map::known_machines() == "x86_64 (62), aarch64 (183)");
}

TEST_CASE("a donor-less plan of the aarch64 core holds the core's registers in its core_entry", "[map][aarch64][plan]") {
  // The real core as qemu wrote it: its file mappings rebuilt from the program on disk.
  const auto path = necro::test::aarch64_core();
  const auto exe = necro::test::fixture("bin/crash_aarch64");
  NECRO_REQUIRE_FIXTURE(path && exe, "aarch64/crash.core + bin/crash_aarch64");
  auto qemu_core = core_t::open(path->string());
  if (!qemu_core) FAIL(qemu_core.error().message());
  necro::resurrect_options options;
  options.exe = *exe;
  auto in = necro::read_inputs(std::move(*qemu_core), std::nullopt, options);
  if (!in) FAIL(in.error().message());
  auto* core = &in->core;
  REQUIRE(core->process().files.size() == 3);
  auto donor = necro::plan::synthesize_donor(*core, {});
  if (!donor) FAIL(donor.error().message());
  auto plan = necro::plan::plan_donorless(*core, *donor, {}, {.offline = true});
  if (!plan) FAIL(plan.error().message());

  REQUIRE(plan->threads.size() == 1);
  const auto& tp = plan->threads.front();
  CHECK(tp.tid == core->pid());
  CHECK(tp.leader);
  const auto& c = tp.core;
  CHECK(c.mtype() == necro::pb::core_entry::AARCH64);
  CHECK_FALSE(c.has_thread_info());  // no x86 part
  REQUIRE(c.has_ti_aarch64());
  CHECK(c.IsInitialized());
  const auto raw = raw_note(core->bytes(), "CORE", necro::arch::nt::prstatus);
  const auto& g = c.ti_aarch64().gpregs();
  REQUIRE(g.regs_size() == 31);
  for (int i = 0; i < 31; ++i) {
    INFO("x" << i);
    CHECK(g.regs(i) == word(raw, pr_reg + static_cast<std::size_t>(i) * 8));
  }
  CHECK(g.sp() == word(raw, pr_reg + 31 * 8));
  CHECK(g.pc() == word(raw, pr_reg + 32 * 8));
  CHECK(g.pstate() == word(raw, pr_reg + 33 * 8));
  // The core has neither NT_PRFPREG nor NT_ARM_TLS: zeros, said in the warnings.
  CHECK(c.ti_aarch64().fpsimd().vregs_size() == 64);
  CHECK(c.ti_aarch64().tls() == 0);
  const auto warned = [&](std::string_view what) {
    return std::any_of(plan->warnings.begin(), plan->warnings.end(),
                       [&](const std::string& w) { return w.find(what) != std::string::npos; });
  };
  CHECK(warned("no NT_PRFPREG in the core"));
  CHECK(warned("no NT_ARM_TLS in the core"));
  // Masks from the core; the fatal SIGSEGV is not pending again.
  CHECK(c.thread_core().blk_sigset() == core->threads().front().prstatus.sighold);
  CHECK(c.tc().blk_sigset() == core->threads().front().prstatus.sighold);
  for (const auto& s : c.thread_core().signals_p().signals()) {
    std::int32_t signo = 0;
    std::memcpy(&signo, s.siginfo().data(), 4);
    CHECK(signo != necro::arch::sig::sigsegv);
  }
  // The saved auxv: NT_AUXV's pairs without AT_NULL, within arm64's 40 words.
  CHECK(plan->mm.mm_saved_auxv_size() <= arm::max_saved_auxv_words);
  CHECK(plan->mm.mm_saved_auxv_size() == static_cast<int>(std::min<std::size_t>(
                                             2 * (core->process().auxv.size() - 1), arm::max_saved_auxv_words)));
  // No VMA is taken for a vsyscall page (arm64 has none).
  for (const auto& v : plan->vmas) CHECK(v.label != "[vsyscall]");
}
