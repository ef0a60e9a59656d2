// plan/address_space/executable.hpp: the executable of a core without NT_FILE
// that does not name it (qemu-user's aarch64 core of a static program, as
// qemu wrote it): the candidates and their order, the identity checks that
// accept the right file and reject a wrong one, and read_inputs rebuilding
// the file mappings from it.
#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <necro/arch/aarch64.hpp>
#include <necro/disk/object_files.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/plan/address_space/executable.hpp>
#include <necro/resurrect/inputs.hpp>

#include "support/fixtures.hpp"

namespace {

using core_t = necro::elf::core_view<necro::arch::aarch64>;
using necro::plan::exe_source;

core_t raw_core() {
  const auto path = necro::test::aarch64_core();
  REQUIRE(path);
  auto core = core_t::open(path->string());
  if (!core) FAIL(core.error().message());
  REQUIRE_FALSE(core->process().nt_file);
  return std::move(*core);
}

std::string bin(std::string_view name) { return (necro::test::data_dir() / "bin" / name).string(); }

necro::elf::file_layout layout_of(const std::string& path) {
  auto f = necro::disk::read_object_file(path);
  if (!f.layout) FAIL(path << ": " << f.problem);
  return *f.layout;
}

}  // namespace

TEST_CASE("the executable's candidates: AT_EXECFN, the donor's, pr_psargs, pr_fname, or --exe alone", "[plan][executable]") {
  NECRO_REQUIRE_FIXTURE(necro::test::aarch64_core(), "aarch64/crash.core");
  const auto core = raw_core();
  using c = necro::plan::exe_candidate;
  // pr_psargs's first word is AT_EXECFN again: listed once, under AT_EXECFN.
  CHECK(necro::plan::exe_candidates(core, "", "") ==
        std::vector<c>{{"/tmp/necro-fixture/crash_aarch64", exe_source::execfn}, {"crash_aarch64", exe_source::fname}});
  CHECK(necro::plan::exe_candidates(core, "", "/opt/x/prog") ==
        std::vector<c>{{"/tmp/necro-fixture/crash_aarch64", exe_source::execfn},
                       {"/opt/x/prog", exe_source::donor},
                       {"crash_aarch64", exe_source::fname}});
  // An explicit choice is the only candidate: one that does not fit is refused, not replaced by a guess.
  CHECK(necro::plan::exe_candidates(core, "/some/prog", "/opt/x/prog") ==
        std::vector<c>{{"/some/prog", exe_source::option}});
}

TEST_CASE("executable_fit accepts the program the core ran", "[plan][executable]") {
  NECRO_REQUIRE_FIXTURE(necro::test::aarch64_core(), "aarch64/crash.core");
  const auto core = raw_core();
  auto bias = necro::plan::executable_fit(core, layout_of(bin("crash_aarch64")), "crash_aarch64");
  if (!bias) FAIL(bias.error().message());
  CHECK(*bias == 0);  // ET_EXEC
}

TEST_CASE("executable_fit rejects another program, naming why", "[plan][executable]") {
  NECRO_REQUIRE_FIXTURE(necro::test::aarch64_core(), "aarch64/crash.core");
  const auto core = raw_core();
  const auto why = [&](const necro::elf::file_layout& l) {
    auto r = necro::plan::executable_fit(core, l, "prog");
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == necro::errc::mismatch);
    CHECK(r.error().path() == "prog");
    return r.error().what();
  };
  // The x86-64 counter, offered for the aarch64 core.
  CHECK(why(layout_of(bin("counter"))) == "an x86_64 program (e_machine 62), the core is aarch64's (183)");

  const auto good = layout_of(bin("crash_aarch64"));
  auto entry = good;
  entry.entry += 0x10;
  CHECK(why(entry) == "its entry point 0x400590 is not AT_ENTRY 0x400580");
  auto phnum = good;
  phnum.phnum += 1;
  CHECK(why(phnum) == "AT_PHENT 56 and AT_PHNUM 6 are not its 7 program headers of 56 bytes");
  auto phoff = good;
  phoff.phoff = 0x80;
  CHECK(why(phoff) == "its program headers would be at 0x400080 (bias 0x0), AT_PHDR is 0x400040");
  auto lost = good;
  lost.phoff = 1u << 30;
  CHECK(why(lost) == "its program headers (file offset 0x40000000) are in no PT_LOAD");
  // Its data segment at an address the core has no memory at.
  auto moved = good;
  moved.loads.back().vaddr = 0x600000;
  CHECK(why(moved) == "its PT_LOAD 1 would be mapped at 0x600000-0x60b000, but the core has no memory at 0x600000");
  auto wraps = good;
  wraps.loads.back().memsz = ~std::uint64_t{0} - 0x1000;
  CHECK(why(wraps).find("wraps around the address space") != std::string::npos);
}

TEST_CASE("executable_fit takes a position-independent program's bias from AT_ENTRY", "[plan][executable]") {
  NECRO_REQUIRE_FIXTURE(necro::test::aarch64_core(), "aarch64/crash.core");
  const auto core = raw_core();
  // crash_aarch64 as if linked at 0 as ET_DYN: loaded at 0x400000 it fits.
  auto pie = layout_of(bin("crash_aarch64"));
  pie.type = necro::arch::elfc::et_dyn;
  pie.entry -= 0x400000;
  for (auto& ph : pie.loads) ph.vaddr -= 0x400000;
  auto bias = necro::plan::executable_fit(core, pie, "pie");
  if (!bias) FAIL(bias.error().message());
  CHECK(*bias == 0x400000);
  pie.entry += 0x800;  // a bias that is no page multiple
  auto r = necro::plan::executable_fit(core, pie, "pie");
  REQUIRE_FALSE(r);
  CHECK(r.error().what() == "AT_ENTRY 0x400580 less its entry point 0xd80 is no page-aligned load bias");
}

TEST_CASE("choose_executable takes the first candidate that fits and says why the others did not",
          "[plan][executable]") {
  NECRO_REQUIRE_FIXTURE(necro::test::aarch64_core(), "aarch64/crash.core");
  const auto core = raw_core();
  const std::vector<necro::plan::exe_candidate> candidates{{"/nonexistent/necro-prog", exe_source::execfn},
                                                           {bin("counter"), exe_source::donor},
                                                           {bin("crash_aarch64"), exe_source::fname}};
  necro::disk::object_files disk;
  for (const auto& c : candidates) disk.emplace(c.path, necro::disk::read_object_file(c.path));

  auto chosen = necro::plan::choose_executable(core, candidates, disk);
  if (!chosen) FAIL(chosen.error().message());
  CHECK(chosen->candidate.source == exe_source::fname);
  CHECK(chosen->bias == 0);
  REQUIRE(chosen->rejected.size() == 2);
  CHECK(chosen->rejected[0] == "/nonexistent/necro-prog (AT_EXECFN): not found on this machine");
  CHECK(chosen->rejected[1].find("(the donor's executable): an x86_64 program") != std::string::npos);
  const auto text = necro::plan::explain_executable(*chosen);
  CHECK(text.find("crash_aarch64 (from NT_PRPSINFO pr_fname), load bias 0x0") != std::string::npos);
  CHECK(text.find("  rejected /nonexistent/necro-prog (AT_EXECFN): not found") != std::string::npos);

  // None fits: every candidate named, with its reason.
  const std::vector<necro::plan::exe_candidate> wrong(candidates.begin(), candidates.begin() + 2);
  auto none = necro::plan::choose_executable(core, wrong, disk);
  REQUIRE_FALSE(none);
  CHECK(none.error().code() == necro::errc::missing);
  CHECK(none.error().what().find("no candidate for the executable fits the core: /nonexistent/necro-prog (AT_EXECFN): "
                                 "not found on this machine; ") == 0);
  CHECK(none.error().what().find("e_machine 62") != std::string::npos);
  auto empty = necro::plan::choose_executable(core, {}, disk);
  REQUIRE_FALSE(empty);
  CHECK(empty.error().what().find("the core names no executable") != std::string::npos);
}

TEST_CASE("read_inputs rebuilds the raw qemu core's file mappings from --exe", "[resurrect][executable]") {
  NECRO_REQUIRE_FIXTURE(necro::test::aarch64_core(), "aarch64/crash.core");
  necro::resurrect_options o;
  o.exe = bin("crash_aarch64");
  auto in = necro::read_inputs(raw_core(), std::nullopt, o);
  if (!in) FAIL(in.error().message());
  const auto& files = in->core.process().files;
  REQUIRE(files.size() == 3);
  CHECK(in->core.process().files_rebuilt);
  const auto canonical = necro::disk::canonical_path(bin("crash_aarch64"));
  REQUIRE(canonical);
  // text at 0x400000 from offset 0; RELRO and data from 0x8c000 on.
  CHECK((files[0].start == 0x400000 && files[0].end == 0x47e000 && files[0].offset == 0));
  CHECK((files[1].start == 0x48c000 && files[1].end == 0x490000 && files[1].offset == 0x8c000));
  CHECK((files[2].start == 0x490000 && files[2].end == 0x493000 && files[2].offset == 0x90000));
  for (const auto& f : files) CHECK(f.path == *canonical);
  CHECK(in->rebuilt.find("executable: " + *canonical + " (from --exe), load bias 0x0") == 0);
  CHECK(in->rebuilt.find("a static program") != std::string::npos);
  CHECK(in->rebuilt.find("qemu-user writes none") != std::string::npos);
}

TEST_CASE("read_inputs refuses the raw core when no candidate fits, naming each and --exe", "[resurrect][executable]") {
  NECRO_REQUIRE_FIXTURE(necro::test::aarch64_core(), "aarch64/crash.core");
  SECTION("no --exe: AT_EXECFN and pr_fname are not on this machine") {
    // (unless make-fixtures.sh left /tmp/necro-fixture/crash_aarch64 here: then it fits)
    if (necro::disk::canonical_path("/tmp/necro-fixture/crash_aarch64")) return;
    auto in = necro::read_inputs(raw_core(), std::nullopt, {});
    REQUIRE_FALSE(in);
    const auto m = in.error().message();
    CHECK(m.find("no NT_FILE, and the dynamic linker's list cannot be read: address 0x400040: executable program "
                 "header 0 is not in the core's memory; no candidate for the executable fits the core: "
                 "/tmp/necro-fixture/crash_aarch64 (AT_EXECFN): not found on this machine; crash_aarch64 "
                 "(NT_PRPSINFO pr_fname): ") != std::string::npos);
    CHECK(m.ends_with("; name the program with --exe PATH"));
  }
  SECTION("--exe of another architecture") {
    necro::resurrect_options o;
    o.exe = bin("counter");
    auto in = necro::read_inputs(raw_core(), std::nullopt, o);
    REQUIRE_FALSE(in);
    const auto m = in.error().message();
    CHECK(m.find("(--exe): an x86_64 program (e_machine 62), the core is aarch64's (183)") != std::string::npos);
    CHECK(m.find("name the program with --exe") == std::string::npos);
  }
  SECTION("--offline reads no file") {
    necro::resurrect_options o;
    o.exe = bin("crash_aarch64");
    o.offline = true;
    auto in = necro::read_inputs(raw_core(), std::nullopt, o);
    REQUIRE_FALSE(in);
    CHECK(in.error().what().find("which --offline does not read") != std::string::npos);
  }
}
