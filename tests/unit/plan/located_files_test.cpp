// A core studied away from the machine that wrote it, on real fixtures:
// disk::locate_files looks each mapped file up under a sysroot, then at its
// path, and takes the first whose build-id is the one the process ran;
// plan::judge_unfound_files lets a file found nowhere come back as anonymous
// memory when the core holds all its pages (counter.core, filter 0xff) and
// refuses, naming it and its build-id, when not (title-intact.core, filter
// 0x13: the libraries' code is not dumped); place_located_files names each
// file where it was found.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <necro/disk/locate.hpp>
#include <necro/necro.hpp>
#include <necro/plan/address_space/located_files.hpp>

#include "support/fixtures.hpp"

namespace {

namespace fs = std::filesystem;
using core_t = necro::elf::core_view<necro::arch::x86_64>;
using necro::disk::file_origin;

struct counter_fixture {
  core_t core;
  std::string binary;    ///< the executable's path as the core recorded it
  std::string build_id;  ///< as make-fixtures.sh recorded it
};

std::optional<counter_fixture> load_counter() {
  const auto c = necro::test::x86_64_core();
  const auto facts = necro::test::facts::load("x86_64/facts.txt");
  if (!c || !facts) return std::nullopt;
  auto core = core_t::open(c->string());
  REQUIRE(core);
  return counter_fixture{std::move(*core), *facts->get("binary"), *facts->get("binary_build_id")};
}

/// Copies the fixture file `rel` to SYSROOT/`as`.
fs::path install(const fs::path& sysroot, const std::string& rel, const std::string& as) {
  const auto from = necro::test::fixture(rel);
  REQUIRE(from);
  const auto to = sysroot / fs::path(as).relative_path();
  fs::create_directories(to.parent_path());
  fs::copy_file(*from, to, fs::copy_options::overwrite_existing);
  return to;
}

bool contains(const std::vector<std::string>& v, const std::string& part) {
  for (const auto& s : v)
    if (s.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("candidates: SYSROOT/P first, then P", "[plan][locate]") {
  const auto c = necro::disk::candidates("/srv/root", "/usr/lib/libx.so");
  REQUIRE(c.size() == 2);
  CHECK(c[0] == std::pair<std::string, file_origin>{"/srv/root/usr/lib/libx.so", file_origin::sysroot});
  CHECK(c[1] == std::pair<std::string, file_origin>{"/usr/lib/libx.so", file_origin::original});
  CHECK(necro::disk::candidates("", "/a").size() == 1);
  CHECK_FALSE(necro::disk::is_lookup_path("/memfd:buf (deleted)"));
  CHECK_FALSE(necro::disk::is_lookup_path("/dev/zero (deleted)"));
  CHECK(necro::disk::is_lookup_path("/usr/lib/libx.so"));
}

TEST_CASE("locate_files: the executable under --sysroot, by its build-id", "[plan][locate]") {
  auto f = load_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core");
  necro::test::scratch_dir root;
  const auto there = install(root.path, "bin/counter", f->binary);
  const auto located = necro::disk::locate_files(f->core, {.facts = {.map_content = false}, .sysroot = root.path});
  const auto& loc = located.locations.at(f->binary);
  CHECK(loc.origin == file_origin::sysroot);
  CHECK(loc.path == there.string());
  REQUIRE(loc.build_id);
  CHECK(*loc.build_id == f->build_id);
  // The facts are the found file's, still filed under the core's path.
  const auto& fact = located.facts.at(f->binary);
  REQUIRE(fact);
  CHECK(fact->size == fs::file_size(there));
  CHECK(fact->build_id == f->build_id);
}

TEST_CASE("locate_files: another build under the sysroot is passed over, with why", "[plan][locate]") {
  auto f = load_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core");
  necro::test::scratch_dir root;
  const auto there = install(root.path, "bin/pool", f->binary);  // same path, another program
  const auto located = necro::disk::locate_files(f->core, {.facts = {.map_content = false}, .sysroot = root.path});
  const auto& loc = located.locations.at(f->binary);
  CHECK(loc.path != there.string());
  REQUIRE_FALSE(loc.rejected.empty());
  CHECK_THAT(loc.rejected.front(), Catch::Matchers::StartsWith(there.string() + ": build-id "));
  CHECK_THAT(loc.rejected.front(), Catch::Matchers::Contains("(the process ran " + f->build_id + ")"));
  if (!fs::exists(f->binary)) CHECK(loc.origin == file_origin::nowhere);
}

TEST_CASE("locate_files: offline reads nothing", "[plan][locate]") {
  auto f = load_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core");
  const auto located = necro::disk::locate_files(f->core, {.facts = {.offline = true}, .sysroot = "/nonexistent"});
  CHECK(located.facts.empty());
  CHECK(located.locations.empty());
}

TEST_CASE("judge_unfound_files: a library found nowhere whose pages are all in the core comes back anonymous",
          "[plan][locate]") {
  auto f = load_counter();  // coredump_filter 0xff: private file mappings dumped whole
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core");
  const std::string libc = "/usr/lib/x86_64-linux-gnu/libc.so.6";
  necro::disk::file_locations located;
  located[libc] = {.path = "", .origin = file_origin::nowhere, .url = "", .build_id = "abcd", .min_size = 1, .rejected = {}};
  located[f->binary] = {.path = f->binary, .origin = file_origin::original, .url = "", .build_id = f->build_id,
                        .min_size = 1, .rejected = {}};
  auto v = necro::plan::judge_unfound_files(f->core, located, {});
  REQUIRE(v);
  CHECK(v->anonymous.contains(libc));
  CHECK(contains(v->warnings, libc + " (build-id abcd) is not on this machine"));
  CHECK(contains(v->warnings, "anonymous memory holding the core's bytes"));

  // Shared, it could not: the file's own pages would be lost on write.
  necro::plan::share_modes shared{.known = true, .shared = {}};
  for (const auto& m : f->core.process().files)
    if (m.path == libc) shared.shared.emplace_back(m.start, m.end);
  auto refused = necro::plan::judge_unfound_files(f->core, located, shared);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message(), Catch::Matchers::Contains("mapped shared"));

  // Forgotten, its ranges are anonymous memory to the planners.
  const auto before = f->core.process().files.size();
  f->core.forget_file_mappings(v->anonymous);
  CHECK(f->core.process().files.size() < before);
  for (const auto& m : f->core.process().files) CHECK(m.path != libc);
}

TEST_CASE("judge_unfound_files: the executable found nowhere is a refusal naming it and its build-id",
          "[plan][locate]") {
  auto f = load_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core");
  necro::disk::file_locations located;
  located[f->binary] = {.path = "", .origin = file_origin::nowhere, .url = "", .build_id = f->build_id,
                        .min_size = 1, .rejected = {"/r/x: not there"}};
  auto r = necro::plan::judge_unfound_files(f->core, located, {});
  REQUIRE_FALSE(r);
  necro::test::check_error(r.error(), f->core.path(), necro::errc::missing,
                           f->binary + " (build-id " + f->build_id + "), the executable (CRIU must open it)");
  CHECK_THAT(r.error().message(), Catch::Matchers::Contains("--sysroot"));
}

TEST_CASE("judge_unfound_files: a file whose code the core lacks (filter 0x13) is refused, its pages counted",
          "[plan][locate]") {
  // title is static: the only file it maps is its executable, whose text the
  // filter left out (only the ELF header page and written data are dumped).
  const auto path = necro::test::fixture("x86_64/title-intact.core");
  NECRO_REQUIRE_FIXTURE(path, "x86_64/title-intact.core");
  auto core = core_t::open(path->string());
  REQUIRE(core);
  const std::string exe = "/tmp/necro-fixture/title";
  std::uint64_t absent = 0, mappings = 0;
  for (const auto& m : core->process().files) {
    if (m.path != exe) continue;
    ++mappings;
    absent += necro::plan::detail::undumped_pages(*core, m.start, m.end);
  }
  CHECK(mappings == 5);
  CHECK(absent == (0x47a000 - 0x401000 + 0x4a2000 - 0x47a000) / 4096);  // its r-x and first r-- mappings
  necro::disk::file_locations located;
  located[exe] = {.path = "", .origin = file_origin::nowhere, .url = "", .build_id = std::nullopt, .min_size = 1,
                  .rejected = {}};
  auto r = necro::plan::judge_unfound_files(*core, located, {});
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Matchers::Contains(exe + " (build-id unknown), the executable"));
}

TEST_CASE("place_located_files: the set names each file where it was found, and --explain says where",
          "[plan][locate]") {
  necro::plan::resurrection p;
  p.files.push_back(necro::criu::make_file_entry(necro::criu::make_reg_file(1, "/opt/app/bin/app", 0)));
  p.files.push_back(necro::criu::make_file_entry(necro::criu::make_reg_file(2, "/usr/lib/libc.so.6", 0)));
  p.files.push_back(necro::criu::make_file_entry(necro::criu::make_reg_file(3, "/opt/app/lib/libgone.so", 0)));
  necro::disk::file_locations located;
  located["/opt/app/bin/app"] = {.path = "/sysroot/opt/app/bin/app", .origin = file_origin::sysroot, .url = "",
                                 .build_id = "aa", .min_size = 1, .rejected = {}};
  located["/usr/lib/libc.so.6"] = {.path = "/usr/lib/libc.so.6", .origin = file_origin::original, .url = "",
                                   .build_id = "bb", .min_size = 1,
                                   .rejected = {"/sysroot/usr/lib/libc.so.6: build-id cc (the process ran bb)"}};
  located["/opt/app/lib/libgone.so"] = {.path = "", .origin = file_origin::nowhere, .url = "", .build_id = "dd",
                                        .min_size = 1, .rejected = {}};
  located["/opt/app/lib/libd.so"] = {.path = "/cache/ee/executable", .origin = file_origin::debuginfod,
                                     .url = "http://127.0.0.1:8002/", .build_id = "ee", .min_size = 1, .rejected = {}};
  necro::plan::place_located_files(p, located, {"/opt/app/lib/libgone.so"});
  CHECK(p.files[0].reg().name() == "/sysroot/opt/app/bin/app");
  CHECK(p.files[1].reg().name() == "/usr/lib/libc.so.6");
  CHECK(p.files[2].reg().name() == "/opt/app/lib/libgone.so");
  CHECK(contains(p.objects, "/opt/app/bin/app: under the sysroot: /sysroot/opt/app/bin/app"));
  CHECK(contains(p.objects, "/usr/lib/libc.so.6: at its path (passed over: /sysroot/usr/lib/libc.so.6: build-id cc"));
  CHECK(contains(p.objects, "/opt/app/lib/libgone.so: nowhere: its pages come from the core, as anonymous memory"));
  CHECK(contains(p.objects, "/opt/app/lib/libd.so: from debuginfod http://127.0.0.1:8002/: /cache/ee/executable"));
}
