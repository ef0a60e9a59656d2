// necro::plan::check_build_ids: online planning compares the build-id the
// victim ran (read from the core) with the one on disk. On the real counter
// fixture, with disk facts gathered from tests/data/bin and re-keyed to the
// paths the core recorded; then the unknown cases on a synthetic core.
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>
#include <necro/plan/address_space/build_ids.hpp>
#include <necro/disk/facts.hpp>

#include "support/core_builder.hpp"
#include "support/fixtures.hpp"

namespace {

using core_t = necro::elf::core_view<necro::arch::x86_64>;

struct loaded {
  core_t core;
  necro::criu::image_set donor;
  std::string binary;    ///< the executable's path as the core recorded it
  std::string build_id;  ///< what make-fixtures.sh recorded for it
};

std::optional<loaded> load_counter() {
  const auto c = necro::test::x86_64_core();
  const auto d = necro::test::x86_64_donor();
  const auto facts = necro::test::facts::load("x86_64/facts.txt");
  if (!c || !d || !facts) return std::nullopt;
  auto core = core_t::open(c->string());
  REQUIRE(core);
  auto donor = necro::criu::image_set::load(*d);
  REQUIRE(donor);
  return loaded{std::move(*core), std::move(*donor), *facts->get("binary"), *facts->get("binary_build_id")};
}

/// Facts gathered (with build-ids) from the fixture file `rel`, filed under `as`.
necro::io::file_facts facts_of(const std::string& rel, const std::string& as) {
  const auto p = necro::test::fixture(rel);
  REQUIRE(p);
  auto gathered = necro::disk::gather_file_facts(std::vector<std::string>{p->string()}, {.map_content = false});
  REQUIRE(gathered.size() == 1);
  REQUIRE(gathered.begin()->second);
  necro::io::file_facts disk;
  disk.emplace(as, gathered.begin()->second);
  return disk;
}

bool mentions_build_id(const std::vector<std::string>& warnings) {
  for (const auto& w : warnings)
    if (w.find("build-id") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("gathering reads the build-id of regular ELF files only when asked", "[plan][build_id]") {
  const auto facts = necro::test::facts::load("x86_64/facts.txt");
  const auto bin = necro::test::fixture("bin/counter");
  const auto readme = necro::test::fixture("README.md");
  NECRO_REQUIRE_FIXTURE(facts && bin && readme, "bin/counter");
  const std::vector<std::string> paths{bin->string(), readme->string(), necro::test::data_dir().string(),
                                       (necro::test::data_dir() / "no-such-file").string()};
  const auto with = necro::disk::gather_file_facts(paths, {.map_content = false});
  REQUIRE(with.at(paths[0]));
  CHECK(with.at(paths[0])->build_id == facts->get("binary_build_id"));
  CHECK_FALSE(with.at(paths[0])->content);  // read through a temporary mapping
  CHECK_FALSE(with.at(paths[1])->build_id);  // not ELF
  CHECK_FALSE(with.at(paths[2])->build_id);  // a directory
  CHECK_FALSE(with.at(paths[3]));
  // With the content mapped, the build-id comes from that mapping.
  const auto mapped = necro::disk::gather_file_facts(paths);  // mapped and build-ids: the defaults
  CHECK(mapped.at(paths[0])->content);
  CHECK(mapped.at(paths[0])->build_id == facts->get("binary_build_id"));
  const auto without = necro::disk::gather_file_facts(paths, {.build_ids = false});
  CHECK_FALSE(without.at(paths[0])->build_id);
  CHECK(without.at(paths[0])->content);
  CHECK_FALSE(necro::io::stat_files(paths).at(paths[0])->build_id);  // io/ reads no build-id
  CHECK(necro::disk::gather_file_facts(paths, {.offline = true}).empty());
}

TEST_CASE("gather_disk_facts: every file the core maps, build-ids on by default", "[plan][build_id]") {
  auto f = load_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor + facts.txt");
  const auto disk = necro::disk::gather_disk_facts(f->core);
  std::set<std::string> paths;
  for (const auto& m : f->core.process().files) paths.emplace(m.path);
  REQUIRE(disk.size() == paths.size());
  std::size_t with_id = 0;
  for (const auto& [path, fact] : disk) {
    INFO(path);
    CHECK(paths.count(path) == 1);
    if (!fact || !fact->content) continue;  // not on this machine
    // The build-id, where the file has one, is the one its mapped content holds.
    const auto id = necro::elf::read_build_id(fact->content->view());
    REQUIRE(id);
    CHECK(fact->build_id == (*id ? std::optional(necro::elf::to_hex((**id).bytes())) : std::nullopt));
    with_id += fact->build_id.has_value();
  }
  // This machine has at least the dynamic linker the fixture names, with a build-id.
  CHECK(with_id >= 1);
  const auto without = necro::disk::gather_disk_facts(f->core, {.build_ids = false});
  for (const auto& [path, fact] : without) CHECK((!fact || !fact->build_id));
  CHECK(necro::disk::gather_disk_facts(f->core, {.offline = true}).empty());
}

TEST_CASE("online planning checks the executable's build-id against the disk", "[plan][build_id]") {
  auto f = load_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor + facts.txt");
  // libc and ld.so are left out of the facts: the donor recorded their sizes,
  // and a file with no facts is not checked.

  SECTION("the same binary: the plan goes ahead and names the build-id") {
    const auto disk = facts_of("bin/counter", f->binary);
    REQUIRE(disk.at(f->binary)->build_id == f->build_id);
    auto plan = necro::plan::plan_resurrection(f->core, f->donor, disk, {});
    if (!plan) FAIL(plan.error().message());
    CHECK(plan->exe_path == f->binary);
    CHECK(plan->exe_build_id == f->build_id);
    CHECK_FALSE(mentions_build_id(plan->warnings));
    CHECK_THAT(necro::plan::explain(*plan),
               Catch::Matchers::Contains(fmt::format("executable {} (build-id {})", f->binary, f->build_id)));
  }

  SECTION("another binary at the same path: refused, naming the path and both build-ids") {
    const auto pool = necro::test::facts::load("x86_64/pool.facts.txt");
    REQUIRE(pool);
    // Given the size the donor recorded, so that only the build-id tells them apart.
    auto disk = facts_of("bin/pool", f->binary);
    REQUIRE(disk.at(f->binary)->build_id == pool->get("binary_build_id"));
    disk.at(f->binary)->size = facts_of("bin/counter", f->binary).at(f->binary)->size;
    auto plan = necro::plan::plan_resurrection(f->core, f->donor, disk, {});
    REQUIRE_FALSE(plan);
    necro::test::check_error(plan.error(), f->binary, necro::errc::mismatch,
                             fmt::format("build-id on disk is {} but the victim ran {}: the file changed since the crash",
                                         *pool->get("binary_build_id"), f->build_id));
    CHECK_THAT(plan.error().message(), Catch::Matchers::Contains("--offline"));

    // --offline skips the check (and every other look at the disk).
    auto offline = necro::plan::plan_resurrection(f->core, f->donor, disk, {.offline = true});
    if (!offline) FAIL(offline.error().message());
    CHECK(offline->exe_build_id == f->build_id);  // still read from the core
  }

  SECTION("no build-id on disk: no check") {
    // Another file with the recorded size but no build-id (not gathered, or none).
    auto disk = facts_of("bin/pool", f->binary);
    disk.at(f->binary)->size = facts_of("bin/counter", f->binary).at(f->binary)->size;
    disk.at(f->binary)->build_id.reset();
    auto plan = necro::plan::plan_resurrection(f->core, f->donor, disk, {});
    if (!plan) FAIL(plan.error().message());
    CHECK_FALSE(mentions_build_id(plan->warnings));
  }
}

TEST_CASE("build-ids the core cannot tell are not checked", "[plan][build_id]") {
  using namespace necro::test;
  // A synthetic core mapping /opt/tiny at offset 0 whose header page was not
  // dumped (coredump_filter without bit 4), and /opt/data from a later offset.
  core_builder c;
  c.note("CORE", necro::arch::nt::prstatus, prstatus(100, 100, sample_regs(1)));
  c.note("CORE", necro::arch::nt::file,
         nt_file(4096, {{0x10000, 0x11000, 0, "/opt/tiny"}, {0x20000, 0x21000, 3, "/opt/data"}}));
  c.load(0x10000, 0x1000, necro::arch::elfc::pf_r, {});
  c.load(0x20000, 0x1000, necro::arch::elfc::pf_r, bytes(0x1000, std::byte{0x7f}));
  const auto image = c.build().image;
  auto core = core_t::parse(view_of(image));
  REQUIRE(core);

  necro::io::file_facts disk;
  disk.emplace("/opt/tiny", necro::io::file_fact{0x1000, 0100755, nullptr, "aabbcc"});
  disk.emplace("/opt/data", necro::io::file_fact{0x4000, 0100644, nullptr, std::nullopt});
  std::vector<std::string> warnings;
  REQUIRE(necro::plan::check_build_ids(*core, disk, warnings));
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] == "/opt/tiny has build-id aabbcc on disk, but the core lacks its ELF headers or notes: not checked");
  // Missing from disk, or no facts at all: nothing to compare.
  disk.clear();
  disk.emplace("/opt/tiny", std::nullopt);
  warnings.clear();
  REQUIRE(necro::plan::check_build_ids(*core, disk, warnings));
  CHECK(warnings.empty());
}
