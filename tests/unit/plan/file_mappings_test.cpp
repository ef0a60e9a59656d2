// Cores without NT_FILE on the real fixture (tests/e2e/victims/manymaps.c
// with 65 600 one-page regions: 65 635 VMAs, so the kernel left NT_FILE out
// and counted the program headers with PN_XNUM): the link_map walk, the
// mappings rebuilt from it against the victim's own /proc/PID/maps, the plan
// and --explain, and hostile link_maps.
#include <algorithm>
#include <chrono>
#include <functional>
#include <sstream>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>

#include "support/core_builder.hpp"
#include "support/fixtures.hpp"

namespace {

using core_t = necro::elf::core_view<necro::arch::x86_64>;

/// One "START-END PERMS OFFSET PATH" line of the victim's maps (facts).
struct map_line {
  std::uint64_t start = 0, end = 0, offset = 0;
  std::string path;
};

map_line parse_map(const std::string& line) {
  map_line m;
  const auto dash = line.find('-'), sp1 = line.find(' '), sp2 = line.find(' ', sp1 + 1), sp3 = line.find(' ', sp2 + 1);
  m.start = std::stoull(line.substr(0, dash), nullptr, 16);
  m.end = std::stoull(line.substr(dash + 1, sp1 - dash - 1), nullptr, 16);
  m.offset = std::stoull(line.substr(sp2 + 1, sp3 - sp2 - 1), nullptr, 16);
  m.path = line.substr(sp3 + 1);
  return m;
}

/// Object k of the facts as disk::read_object_file would have found it on the
/// machine that recorded the fixture (its PT_LOADs and build-id, by readelf).
necro::disk::object_file object_of(const necro::test::facts& f, int k) {
  necro::disk::object_file o;
  const std::string key = "object_" + std::to_string(k);
  o.canonical = *f.get(key + "_path");
  necro::elf::file_layout l;
  l.type = necro::arch::elfc::et_dyn;
  l.build_id = f.get(key + "_build_id");
  for (std::uint64_t j = 0; j < *f.number(key + "_load_count"); ++j) {
    std::istringstream in(*f.get(key + "_load_" + std::to_string(j)));
    std::string off, vaddr, filesz, memsz, flags;
    in >> off >> vaddr >> filesz >> memsz >> flags;
    necro::elf::phdr64 ph{};
    ph.type = necro::arch::elfc::pt_load;
    ph.offset = std::stoull(off, nullptr, 16);
    ph.vaddr = std::stoull(vaddr, nullptr, 16);
    ph.filesz = std::stoull(filesz, nullptr, 16);
    ph.memsz = std::stoull(memsz, nullptr, 16);
    ph.align = 0x1000;
    l.loads.push_back(ph);
  }
  o.layout = std::move(l);
  return o;
}

/// The disk as the link_map's names and the executable's name found it:
/// each name maps to the facts object whose build-id the core holds there.
necro::disk::object_files disk_of(const core_t& core, const necro::elf::loaded_objects& lo,
                                const necro::test::facts& f) {
  std::map<std::string, necro::disk::object_file> by_id;
  for (int k = 0; k < static_cast<int>(*f.number("object_count")); ++k) {
    auto o = object_of(f, k);
    by_id.emplace(*o.layout->build_id, std::move(o));
  }
  necro::disk::object_files disk;
  disk.emplace(*f.get("binary"), by_id.at(*f.get("object_0_build_id")));
  for (const auto& o : lo.objects) {
    if (o.name.empty() || o.name.front() != '/') continue;
    auto id = necro::elf::build_id_at(core, o.bias);
    REQUIRE(id);
    REQUIRE(*id);
    disk.emplace(std::string(o.name), by_id.at(necro::elf::to_hex((**id).bytes())));
  }
  return disk;
}

struct fixture_set {
  core_t core;
  necro::test::facts facts;
};

std::optional<fixture_set> open_fixture() {
  const auto c = necro::test::fixture("x86_64/manymaps.core");
  auto f = necro::test::facts::load("x86_64/manymaps.facts.txt");
  if (!c || !f) return std::nullopt;
  auto core = core_t::open(c->string());
  if (!core) FAIL(core.error().message());
  return fixture_set{std::move(*core), std::move(*f)};
}

}  // namespace

TEST_CASE("a core of 65 635 VMAs has no NT_FILE and counts its program headers with PN_XNUM", "[plan][nt_file]") {
  auto fx = open_fixture();
  NECRO_REQUIRE_FIXTURE(fx, "x86_64/manymaps.core");
  CHECK(fx->core.header().phnum == 0xffff);
  CHECK(fx->core.segments().size() == *fx->facts.number("core_pt_load_count"));
  CHECK(fx->core.segments().size() > 65535);
  CHECK(*fx->facts.number("core_nt_file_count") == 0);
  CHECK_FALSE(fx->core.process().nt_file);
  CHECK(fx->core.process().files.empty());
}

TEST_CASE("the dynamic linker's link_map lists the executable and the four objects", "[plan][nt_file]") {
  auto fx = open_fixture();
  NECRO_REQUIRE_FIXTURE(fx, "x86_64/manymaps.core");
  auto lo = necro::elf::read_loaded_objects(fx->core);
  REQUIRE(lo);
  REQUIRE(lo->objects.size() >= 5);  // exe, vdso, libc, ld.so, libm, libz (some order)
  CHECK(lo->objects.front().name.empty());
  CHECK(lo->objects.front().bias == lo->exe.bias);
  CHECK(lo->exe.bias == parse_map(*fx->facts.get("victim_map_0")).start);  // PIE: first PT_LOAD at vaddr 0
  std::vector<std::string> names;
  for (const auto& o : lo->objects) names.emplace_back(o.name);
  for (const auto* want : {"libc.so.6", "libm.so.6", "libz.so.1", "ld-linux-x86-64.so.2"}) {
    INFO(want);
    CHECK(std::any_of(names.begin(), names.end(), [&](const auto& n) { return n.find(want) != std::string::npos; }));
  }
}

TEST_CASE("the rebuilt file mappings are the victim's /proc/PID/maps file mappings", "[plan][nt_file]") {
  auto fx = open_fixture();
  NECRO_REQUIRE_FIXTURE(fx, "x86_64/manymaps.core");
  auto lo = necro::elf::read_loaded_objects(fx->core);
  REQUIRE(lo);
  const auto disk = disk_of(fx->core, *lo, fx->facts);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = necro::plan::rebuild_file_mappings(fx->core, *lo, {*fx->facts.get("binary")}, disk);
  const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(r);
  WARN("rebuild_file_mappings on " << r->vma_count << " VMAs: " << ms << " ms");
  std::vector<map_line> want;
  const std::string data = *fx->facts.get("data_file");
  std::uint64_t data_start = 0;
  for (std::uint64_t k = 0; k < *fx->facts.number("victim_map_count"); ++k) {
    auto m = parse_map(*fx->facts.get("victim_map_" + std::to_string(k)));
    if (m.path == data) data_start = m.start;
    else want.push_back(m);
  }
  REQUIRE(r->entries.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("entry " << i << ": " << want[i].path);
    CHECK(r->entries[i].start == want[i].start);
    CHECK(r->entries[i].end == want[i].end);
    CHECK(r->entries[i].offset == want[i].offset);
    CHECK(r->entries[i].path == want[i].path);
  }
  CHECK(r->objects.size() == 5);
  for (const auto& o : r->objects) CHECK(o.build_id.size() == 40);  // every one checked against the core
  // The data file is no link_map object: named in the warning, left anonymous.
  REQUIRE(r->warnings.size() == 1);
  CHECK_THAT(r->warnings[0], Catch::Contains(fmt::format("{:#x}-{:#x}", data_start, data_start + 0x1000)));
  CHECK_THAT(r->warnings[0], Catch::StartsWith("1 segment(s) look like mappings of files not in"));
  const auto text = necro::plan::explain_rebuilt(*r);
  CHECK_THAT(text, Catch::StartsWith("file mappings rebuilt: the core has no NT_FILE note"));
  CHECK_THAT(text, Catch::Contains("sysctl kernel.core_file_note_size_limit=6291456"));
}

TEST_CASE("with the rebuilt mappings the resurrection plans, and --explain says so", "[plan][nt_file]") {
  auto fx = open_fixture();
  NECRO_REQUIRE_FIXTURE(fx, "x86_64/manymaps.core");
  const auto donor_dir = necro::test::fixture("x86_64/manymaps.donor");
  NECRO_REQUIRE_FIXTURE(donor_dir, "x86_64/manymaps.donor");
  auto donor = necro::criu::image_set::load(*donor_dir);
  REQUIRE(donor);
  // Without the rebuild the executable cannot be found.
  auto refused = necro::plan::plan_resurrection(fx->core, *donor, {}, {.offline = true});
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message(), Catch::Contains("no NT_FILE entry covers AT_PHDR"));

  auto lo = necro::elf::read_loaded_objects(fx->core);
  REQUIRE(lo);
  auto r = necro::plan::rebuild_file_mappings(fx->core, *lo, {*fx->facts.get("binary")},
                                              disk_of(fx->core, *lo, fx->facts));
  REQUIRE(r);
  const auto n = r->entries.size();
  fx->core.adopt_file_mappings(std::move(r->entries));
  CHECK(fx->core.process().files_rebuilt);
  core_t moved = std::move(fx->core);  // the adopted paths move with the view
  REQUIRE(moved.process().files.size() == n);
  CHECK(moved.process().files.front().path == *fx->facts.get("binary"));

  const auto t0 = std::chrono::steady_clock::now();
  auto p = necro::plan::plan_resurrection(moved, *donor, {}, {.offline = true});
  const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!p) FAIL(p.error().message());
  WARN("plan_resurrection on " << moved.segments().size() << " PT_LOADs: " << ms << " ms");
  CHECK(p->exe_path == *fx->facts.get("binary"));
  // Every PT_LOAD is a VMA, but the kernel's vvar pages, which become the donor's vvar.
  CHECK(p->vmas.size() <= moved.segments().size());
  CHECK(p->vmas.size() + 3 >= moved.segments().size());
  std::size_t file_vmas = 0;
  for (const auto& v : p->vmas) file_vmas += v.entry.shmid() != 0;
  CHECK(file_vmas == n);
  const auto text = necro::plan::explain(*p);
  CHECK_THAT(text, Catch::Contains("file mappings rebuilt (25 entries): the core has no NT_FILE note"));
}

TEST_CASE("hostile link_maps: a cycle, an l_name outside the core, no r_debug", "[plan][nt_file]") {
  const auto c = necro::test::fixture("x86_64/manymaps.core");
  NECRO_REQUIRE_FIXTURE(c, "x86_64/manymaps.core");
  const std::string s = necro::test::slurp(*c);
  necro::test::bytes pristine(s.size());
  std::memcpy(pristine.data(), s.data(), s.size());
  auto core = core_t::parse(necro::test::view_of(pristine, "manymaps.core"));
  REQUIRE(core);
  auto lo = necro::elf::read_loaded_objects(*core);
  REQUIRE(lo);
  const auto file_at = [&](std::uint64_t addr) {
    const auto* seg = core->segment_at(addr);
    REQUIRE(seg);
    return seg->offset + (addr - seg->vaddr);
  };
  const auto walk = [&](const std::function<void(necro::test::bytes&)>& edit) {
    auto b = pristine;
    edit(b);
    auto edited = core_t::parse(necro::test::view_of(b, "manymaps.core"));
    REQUIRE(edited);
    auto r = necro::elf::read_loaded_objects(*edited);
    REQUIRE_FALSE(r);
    return r.error().message();
  };
  const auto& objs = lo->objects;
  CHECK_THAT(walk([&](auto& b) { necro::test::poke(b, file_at(objs[3].at + 24), objs[1].at); }),
             Catch::Contains(fmt::format("address {:#x}: link_map chain loops back", objs[1].at)));
  CHECK_THAT(walk([&](auto& b) { necro::test::poke(b, file_at(objs[2].at + 8), std::uint64_t{0x42}); }),
             Catch::Contains("address 0x42: link_map at") && Catch::Contains("l_name is not a NUL-terminated"));
  CHECK_THAT(walk([&](auto& b) { necro::test::poke(b, file_at(*lo->r_debug + 8), std::uint64_t{0x1000}); }),
             Catch::Contains("address 0x1000: link_map l_addr is not in the core's memory"));
  // An l_name with no NUL within PATH_MAX: a page of 'A's, no NUL after it in that VMA.
  const auto* page = core->segment_at(objs[2].at);
  REQUIRE(page);
  CHECK_THAT(walk([&](auto& b) {
               const std::uint64_t at = page->offset + page->filesz - 1024;
               std::memset(b.data() + at, 'A', 1024);
               necro::test::poke(b, file_at(objs[2].at + 8), page->vaddr + page->filesz - 1024);
             }),
             Catch::Contains("l_name is not a NUL-terminated string of at most 4096 bytes"));
}
