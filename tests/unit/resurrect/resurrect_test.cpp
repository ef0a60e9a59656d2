// necro::resurrect and its steps on the real fixtures: the one call writes
// what the steps write; a compressed core gives the plain one's set; what
// does not fit is an error naming the file, never an exception or a half set.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>

#include "support/fixtures.hpp"

namespace fs = std::filesystem;

namespace {

/// Offline, no capture, no fsync: what the fixture needs on any machine.
necro::resurrect_options fixture_options(const fs::path& core, const fs::path& donor, const fs::path& out) {
  necro::resurrect_options o;
  o.core = core;
  o.donor = donor;
  o.out = out;
  o.capture = necro::capture_choice::none;
  o.offline = true;
  o.durable = false;
  return o;
}

necro::resurrect_options counter_options(const fs::path& out) {
  return fixture_options(*necro::test::x86_64_core(), *necro::test::x86_64_donor(), out);
}

}  // namespace

TEST_CASE("resurrect: one call writes the set the steps write", "[resurrect]") {
  NECRO_REQUIRE_FIXTURE(necro::test::x86_64_core() && necro::test::x86_64_donor(), "x86_64/counter.core + counter.donor");
  necro::test::scratch_dir s;
  const auto whole = necro::resurrect(counter_options(s.path / "one-call"));
  REQUIRE(whole);
  CHECK(whole->plan.pid == 14190);
  CHECK(whole->commit.out_dir == s.path / "one-call");
  CHECK(whole->commit.page_bytes > 0);
  CHECK(whole->rebuilt.empty());  // the core has NT_FILE

  // The same by steps, as the CLI takes them.
  const auto o = counter_options(s.path / "steps");
  auto file = necro::open_core(o, true);
  REQUIRE(file);
  auto written = necro::with_core<necro::write::commit_report>(std::move(*file), [&](auto core) {
    using Arch = typename decltype(core)::arch_type;
    CHECK(std::string(Arch::name) == "x86_64");
    auto donor = necro::load_donor(o);
    REQUIRE(donor);
    auto in = necro::read_inputs(std::move(core), std::move(*donor), o);
    REQUIRE(in);
    auto planned = necro::plan_session(std::move(*in), o);
    REQUIRE(planned);
    CHECK(planned->plan.pid == whole->plan.pid);
    const auto text = necro::explain(*planned, false);
    REQUIRE(text);
    CHECK(text->find("resurrection of pid 14190") != std::string::npos);
    return necro::commit(*planned, o);
  });
  REQUIRE(written);
  const auto a = necro::test::files_in(s.path / "one-call"), b = necro::test::files_in(s.path / "steps");
  CHECK(a.size() >= 10);
  CHECK(a == b);
}

TEST_CASE("resurrect: a zstd core gives the plain core's set", "[resurrect]") {
  const auto packed = necro::test::fixture("x86_64/pool.core.zst");
  const auto plain = necro::test::fixture("x86_64/pool.core");
  const auto donor = necro::test::fixture("x86_64/pool.donor");
  NECRO_REQUIRE_FIXTURE(packed && plain && donor, "x86_64/pool.core.zst, its unpacked copy and pool.donor");
  necro::test::scratch_dir s;
  auto o = fixture_options(*packed, *donor, s.path / "packed");
  std::uint64_t reported = 0;
  REQUIRE(necro::resurrect(o, {.decompress = [&](const necro::io::decompress_progress& p) { reported = p.out_done; }}));
  o.core = *plain;
  o.out = s.path / "plain";
  REQUIRE(necro::resurrect(o));
  CHECK(necro::test::files_in(s.path / "packed") == necro::test::files_in(s.path / "plain"));
  CHECK(reported > 0);
}

TEST_CASE("resurrect: without a donor the core alone makes the set", "[resurrect]") {
  NECRO_REQUIRE_FIXTURE(necro::test::x86_64_core(), "x86_64/counter.core");
  necro::test::scratch_dir s;
  auto o = counter_options(s.path / "synthesized");
  o.donor.clear();
  const auto done = necro::resurrect(o);
  REQUIRE(done);
  CHECK(fs::exists(s.path / "synthesized" / "pstree.img"));
  CHECK(fs::exists(s.path / "synthesized" / "core-14190.img"));
  CHECK(done->plan.pid == 14190);
}

TEST_CASE("resurrect: what cannot be done is an error naming the file, and nothing is written", "[resurrect]") {
  NECRO_REQUIRE_FIXTURE(necro::test::x86_64_core() && necro::test::x86_64_donor() && necro::test::aarch64_core(),
                        "x86_64/counter.core, counter.donor, aarch64/crash.core");
  necro::test::scratch_dir s;
  SECTION("no donor and no output directory") {
    auto o = counter_options({});
    o.donor.clear();
    const auto r = necro::resurrect(o);
    REQUIRE_FALSE(r);
    CHECK(r.error().message().find("needs an output directory") != std::string::npos);
  }
  SECTION("a donor of another architecture") {
    auto o = counter_options(s.path / "out");
    o.core = *necro::test::aarch64_core();
    const auto r = necro::resurrect(o);
    REQUIRE_FALSE(r);
    CHECK(r.error().message().find("the donor must run on the same architecture") != std::string::npos);
  }
  SECTION("a capture that is not there") {
    auto o = counter_options(s.path / "out");
    o.capture = necro::capture_choice::given;
    o.capture_dir = s.path / "no-such-capture";
    const auto r = necro::resurrect(o);
    REQUIRE_FALSE(r);
    CHECK(r.error().message().find("no-such-capture") != std::string::npos);
  }
  SECTION("a file that is not a core") {
    auto o = counter_options(s.path / "out");
    o.core = fs::path(NECRO_TEST_DATA) / "x86_64" / "facts.txt";
    const auto r = necro::resurrect(o);
    REQUIRE_FALSE(r);
    CHECK(r.error().message().find("facts.txt") != std::string::npos);
  }
  SECTION("a cancelled write") {
    std::atomic<bool> cancel{true};
    auto o = counter_options(s.path / "out");
    o.cancel = &cancel;
    const auto r = necro::resurrect(o);
    REQUIRE_FALSE(r);
    CHECK(r.error().message().find("interrupted") != std::string::npos);
  }
  CHECK_FALSE(fs::exists(s.path / "out"));
}

TEST_CASE("resurrect: --inspect's reading is tolerant, the plan's is not", "[resurrect]") {
  NECRO_REQUIRE_FIXTURE(necro::test::aarch64_core() && necro::test::x86_64_donor(), "aarch64/crash.core, counter.donor");
  const auto o = fixture_options(*necro::test::aarch64_core(), *necro::test::x86_64_donor(), {});
  auto file = necro::open_core(o, false);
  REQUIRE(file);
  const auto text = necro::with_core<std::string>(std::move(*file), [&](auto core) -> necro::result<std::string> {
    NECRO_TRY_ASSIGN(auto donor, necro::load_donor(o));
    NECRO_TRY_ASSIGN(const auto in, necro::read_inputs(std::move(core), std::move(donor), o, necro::input_check::tolerant));
    return necro::inspect(in);
  });
  REQUIRE(text);
  CHECK(text->find(": aarch64, pid 14339") != std::string::npos);
  CHECK(text->find("warning: file mappings not rebuilt") != std::string::npos);
  CHECK(text->find("no aarch64 registers (a dump of another architecture)") != std::string::npos);
}
