// Shared memory on the real fixture (tests/e2e/victims/shmem.c, killed with
// coredump_filter 0xff, and a CRIU 4.x donor of it): VMA kinds against the
// victim's own /proc/PID/maps, objects, ids, which runs of the core go to which
// pagemap, the bytes the victim wrote (its pid seeds every pattern), the
// images commit writes, and the coredump_filter refusal.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>

#include "support/fixtures.hpp"
#include "support/planned.hpp"

namespace fs = std::filesystem;
using necro::plan::vma_kind;

namespace {

/// The victim's pattern (shmem.c): byte i of the region with `salt`.
unsigned char pattern(unsigned salt, std::uint64_t seed, std::size_t i) {
  return static_cast<unsigned char>((i * 131u + salt * 17u + seed * 7u + 1u) & 0xffu);
}

/// A line of the victim's maps: start, shared ('s'), path.
struct map_line {
  std::uint64_t start = 0;
  bool shared = false;
  std::string path;
};

map_line parse_map(const std::string& line) {
  map_line m;
  m.start = std::stoull(line.substr(0, line.find('-')), nullptr, 16);
  const auto perms = line.find(' ') + 1;
  m.shared = line.at(perms + 3) == 's';
  m.path = line.substr(line.find('/'));
  return m;
}

const necro::plan::shmem_object& object(const necro::plan::resurrection& p, vma_kind k) {
  for (const auto& o : p.shared.objects)
    if (o.kind == k) return o;
  FAIL("no object of kind " << necro::plan::describe(k));
  throw;
}

const necro::plan::vma* vma_at(const necro::plan::resurrection& p, std::uint64_t start) {
  for (const auto& v : p.vmas)
    if (v.entry.start() == start) return &v;
  return nullptr;
}

/// The core segment of the VMA that starts at `start`.
const necro::elf::segment& segment_at(const necro::test::planned& f, std::uint64_t start) {
  const auto* v = vma_at(f.plan, start);
  REQUIRE(v);
  REQUIRE(v->segment >= 0);
  return f.core.segments()[static_cast<std::size_t>(v->segment)];
}

struct scratch {
  fs::path dir;
  scratch() {
    char tmpl[] = "/tmp/necro-shmem-test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    dir = tmpl;
  }
  ~scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

/// Sets p_filesz of the PT_LOAD at `vaddr` in the ELF64 core at `path` to 0,
/// as the kernel writes a VMA its coredump_filter leaves out.
void drop_segment(const fs::path& path, std::uint64_t vaddr) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f);
  std::uint64_t phoff = 0;
  std::uint16_t phentsize = 0, phnum = 0;
  f.seekg(32);
  f.read(reinterpret_cast<char*>(&phoff), 8);
  f.seekg(54);
  f.read(reinterpret_cast<char*>(&phentsize), 2);
  f.read(reinterpret_cast<char*>(&phnum), 2);
  for (std::uint16_t i = 0; i < phnum; ++i) {
    std::uint32_t type = 0;
    std::uint64_t va = 0;
    f.seekg(static_cast<std::streamoff>(phoff + i * phentsize));
    f.read(reinterpret_cast<char*>(&type), 4);
    f.seekg(static_cast<std::streamoff>(phoff + i * phentsize + 16));
    f.read(reinterpret_cast<char*>(&va), 8);
    if (type != 1 || va != vaddr) continue;
    const std::uint64_t zero = 0;
    f.seekp(static_cast<std::streamoff>(phoff + i * phentsize + 32));
    f.write(reinterpret_cast<const char*>(&zero), 8);
    return;
  }
  FAIL("no PT_LOAD at " << vaddr);
}

}  // namespace

TEST_CASE("shared memory: NT_FILE paths name the kind", "[plan][shmem]") {
  using necro::plan::kind_of_path;
  using necro::plan::object_name;
  CHECK(kind_of_path("/dev/zero (deleted)") == vma_kind::shared_anon);
  CHECK(kind_of_path("/memfd:necro-shm (deleted)") == vma_kind::memfd);
  CHECK(kind_of_path("/SYSV0000162e (deleted)") == vma_kind::sysv_shm);
  CHECK(kind_of_path("/var/tmp/x (deleted)") == vma_kind::deleted_file);
  CHECK(kind_of_path("/usr/lib/x86_64-linux-gnu/libc.so.6") == vma_kind::file);
  CHECK(kind_of_path("/dev/zero") == vma_kind::file);
  CHECK(object_name(vma_kind::memfd, "/memfd:necro-shm (deleted)") == "necro-shm");
  CHECK(object_name(vma_kind::memfd, "/memfd: (deleted)") == "");
  CHECK(object_name(vma_kind::memfd, "/mem") == "");  // never past the end
  CHECK(object_name(vma_kind::deleted_file, "/var/tmp/x (deleted)") == "/var/tmp/x");
  CHECK(object_name(vma_kind::shared_anon, "/dev/zero (deleted)") == "/dev/zero");
}

TEST_CASE("shared memory: VMAs group into objects", "[plan][shmem]") {
  auto make = [](vma_kind k, const char* path, std::uint64_t start, std::uint64_t end, std::uint64_t pgoff) {
    necro::plan::vma v;
    v.kind = k;
    v.label = path;
    v.entry.set_start(start);
    v.entry.set_end(end);
    v.entry.set_pgoff(pgoff);
    return v;
  };
  const std::vector<necro::plan::vma> vmas{
      make(vma_kind::shared_anon, "/dev/zero (deleted)", 0x10000, 0x12000, 0),      // one mmap ...
      make(vma_kind::shared_anon, "/dev/zero (deleted)", 0x12000, 0x13000, 0x2000), // ... split by mprotect
      make(vma_kind::shared_anon, "/dev/zero (deleted)", 0x13000, 0x14000, 0),      // another mmap, adjacent
      make(vma_kind::anon, "[anon]", 0x14000, 0x15000, 0),
      make(vma_kind::memfd, "/memfd:q (deleted)", 0x20000, 0x21000, 0x3000),
      make(vma_kind::shared_anon, "/dev/zero (deleted)", 0x21000, 0x22000, 0x1000), // not a continuation
      make(vma_kind::memfd, "/memfd:q (deleted)", 0x30000, 0x32000, 0),             // same name: same object
  };
  const auto objs = necro::plan::detail::group_objects(vmas);
  REQUIRE(objs.size() == 4);
  CHECK(objs[0].vmas == std::vector<std::size_t>{0, 1});
  CHECK(objs[0].extent == 0x3000);
  CHECK(objs[1].vmas == std::vector<std::size_t>{2});
  CHECK(objs[2].name == "q");
  CHECK(objs[2].vmas == std::vector<std::size_t>{4, 6});
  CHECK(objs[2].extent == 0x4000);
  CHECK(objs[3].vmas == std::vector<std::size_t>{5});
  CHECK(objs[3].extent == 0x2000);
}

TEST_CASE("shared memory: System V shm is refused, saying why", "[plan][shmem]") {
  necro::elf::file_mapping fm{};
  fm.start = 0x7f0000000000;
  fm.end = 0x7f0000001000;
  fm.path = "/SYSV0000162e (deleted)";
  necro::plan::vma v;
  const auto r = necro::plan::detail::shared_vma(vma_kind::sysv_shm, fm, v, "victim.core");
  REQUIRE(!r);
  necro::test::check_error(r.error(), "victim.core", necro::errc::unsupported, "IPC namespace");
}

TEST_CASE("shared memory: the fixture's VMAs have the kinds and share modes the victim's maps show",
          "[plan][shmem]") {
  const auto f = necro::test::plan_shmem();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/shmem.core + shmem.donor");
  const auto facts = necro::test::facts::load("x86_64/shmem.facts.txt");
  REQUIRE(facts);
  const auto n = facts->number("victim_map_count");
  REQUIRE(n == 5u);
  for (std::uint64_t k = 0; k < *n; ++k) {
    const auto m = parse_map(*facts->get(fmt::format("victim_map_{}", k)));
    INFO(m.path << " at " << std::hex << m.start);
    const auto* v = vma_at(f->plan, m.start);
    REQUIRE(v);
    CHECK(v->kind == necro::plan::kind_of_path(m.path));
    CHECK(((v->entry.flags() & necro::criu::mmap_bits::map_shared) != 0) == m.shared);
    CHECK(((v->entry.status() & necro::criu::vma_status::file_shared) != 0) == m.shared);
    CHECK(((v->entry.status() & necro::criu::vma_status::memfd) != 0) == (v->kind != vma_kind::deleted_file));
    CHECK(v->carries_pages == !m.shared);
  }
}

TEST_CASE("shared memory: objects, ids and images on the fixture", "[plan][shmem]") {
  const auto f = necro::test::plan_shmem();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/shmem.core + shmem.donor");
  const auto facts = necro::test::facts::load("x86_64/shmem.facts.txt");
  REQUIRE(facts);
  const auto& p = f->plan;
  REQUIRE(p.shared.objects.size() == 3);

  const auto& ghost = object(p, vma_kind::deleted_file);
  CHECK(ghost.name == *facts->get("ghost_path"));
  CHECK(ghost.size == 10240);  // 2.5 pages: the donor's size, which fits what the victim mapped
  CHECK(ghost.from_donor);
  CHECK(ghost.ghost.chunks());
  CHECK(ghost.ghost.size() == 10240);
  const auto& mfd = object(p, vma_kind::memfd);
  CHECK(mfd.name == "necro-shm");
  CHECK(mfd.size == 20480);
  CHECK(mfd.from_donor);
  const auto& anon = object(p, vma_kind::shared_anon);
  CHECK(anon.name == "/dev/zero");
  CHECK(anon.size == 12288);
  CHECK_FALSE(anon.from_donor);  // each mmap is its own object: never the donor's

  // Every VMA of an object points at its file entry.
  for (const auto& v : p.vmas) {
    if (!necro::plan::is_shared_memory(v.kind)) continue;
    const auto& o = object(p, v.kind);
    CHECK(v.entry.shmid() == o.file_id);
  }
  // memfd objects: a MEMFD file entry -> a memfd inode whose shmid names the content.
  for (const auto* o : {&mfd, &anon}) {
    const necro::pb::file_entry* fe = nullptr;
    for (const auto& e : p.files)
      if (e.id() == o->file_id) fe = &e;
    REQUIRE(fe);
    REQUIRE(fe->has_memfd());
    const necro::pb::memfd_inode_entry* ino = nullptr;
    for (const auto& m : p.shared.memfd_inodes)
      if (m.inode_id() == fe->memfd().inode_id()) ino = &m;
    REQUIRE(ino);
    CHECK(ino->shmid() == o->content_id);
    CHECK(ino->size() == o->size);
    CHECK(ino->name() == o->name);
    CHECK(o->pages_id != p.pages_id);
    for (const auto& [shmid, pages] : f->donor.shared_memory().shmem_pages) CHECK(o->pages_id != pages);
  }
  CHECK(mfd.pages_id != anon.pages_id);
  CHECK(object(p, vma_kind::memfd).content_id != anon.content_id);
  // The donor's memfd keeps its seals (the victim sealed it the same way).
  for (const auto& m : p.shared.memfd_inodes)
    if (m.name() == "necro-shm") CHECK(m.seals() == (necro::criu::seal::shrink | necro::criu::seal::grow));
  // The ghost: a REG entry of the path, remapped to ghost-file-<content_id>.
  bool remapped = false;
  for (const auto& r : p.shared.remaps)
    remapped = remapped || (r.orig_id() == ghost.file_id && r.remap_id() == ghost.content_id && r.remap_type() == necro::pb::GHOST);
  CHECK(remapped);

  // Images rewritten are not carried; the donor's own /dev/zero memfd (which
  // the victim's shared anonymous memory does not reuse) is carried with its pages.
  for (const auto& c : p.carried) {
    CHECK(c.from != "memfd.img");
    CHECK(c.from != "remap-fpath.img");
    CHECK(c.from != necro::criu::image_name("pagemap-shmem-", mfd.content_id));
    CHECK(c.from != necro::criu::image_name("ghost-file-", ghost.content_id));
  }
  std::size_t carried_shmem = 0, carried_pages = 0;
  for (const auto& c : p.carried) {
    carried_shmem += c.from.starts_with("pagemap-shmem-");
    carried_pages += c.from.starts_with("pages-");
  }
  CHECK(carried_shmem == 1);
  CHECK(carried_pages == 1);
}

TEST_CASE("shared memory: content comes from the shared mappings and holds the victim's bytes", "[plan][shmem]") {
  const auto f = necro::test::plan_shmem();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/shmem.core + shmem.donor");
  const auto facts = necro::test::facts::load("x86_64/shmem.facts.txt");
  REQUIRE(facts);
  const auto seed = *facts->number("victim_seed");
  const auto tick = *facts->number("victim_last_tick_written");
  const auto& p = f->plan;
  const auto bytes = f->core.bytes();

  // salt of each shared region in shmem.c: anon 1, mfd 2, ghost 4.
  for (const auto& [kind, salt] : {std::pair{vma_kind::shared_anon, 1u}, {vma_kind::memfd, 2u}, {vma_kind::deleted_file, 4u}}) {
    const auto& o = object(p, kind);
    INFO(necro::plan::describe(kind));
    // One run: the whole object, from the SHARED mapping's segment.
    REQUIRE(o.runs.size() == 1);
    CHECK(o.runs[0].vaddr == 0);
    CHECK(o.runs[0].pages == (o.size + 4095) / 4096);
    const necro::plan::vma* shared = nullptr;
    for (const auto& v : p.vmas)
      if (v.kind == kind && (v.entry.flags() & necro::criu::mmap_bits::map_shared)) shared = &v;
    REQUIRE(shared);
    CHECK(o.runs[0].core_offset == segment_at(*f, shared->entry.start()).offset);
    // The counter (first word) is the last tick written (or the next one,
    // when death came between the update and the write), then the pattern.
    std::uint64_t counter = 0;
    std::memcpy(&counter, bytes.data() + o.runs[0].core_offset, 8);
    CHECK((counter == tick || counter == tick + 1));
    std::size_t bad = 0;
    for (std::size_t i = 8; i < o.size; ++i)
      bad += static_cast<unsigned char>(bytes.data()[o.runs[0].core_offset + i]) != pattern(salt, seed, i);
    CHECK(bad == 0);
  }

  // The process's own pagemap: nothing of the shared VMAs, all of the private ones.
  for (const auto& v : p.vmas) {
    if (!necro::plan::is_shared_memory(v.kind)) continue;
    std::uint64_t in_runs = 0;
    for (const auto& r : p.runs)
      if (r.vaddr >= v.entry.start() && r.vaddr < v.entry.end()) in_runs += r.pages;
    const bool shared = v.entry.flags() & necro::criu::mmap_bits::map_shared;
    CHECK(in_runs == (shared ? 0 : (v.page_limit - v.entry.start()) / 4096));
  }

  // The memfd object's pages as a plan for the page engine.
  const auto sub = necro::plan::shmem_page_plan(object(p, vma_kind::memfd), 4096);
  REQUIRE(sub.runs.size() == 1);
  CHECK(sub.runs[0].vaddr == 0);
  CHECK(sub.runs[0].pages == 5);
  CHECK(sub.runs[0].flags == necro::criu::pe::present);
}

TEST_CASE("shared memory: commit writes memfd.img, pagemap-shmem, pages and the ghost file", "[write][shmem]") {
  const auto f = necro::test::plan_shmem();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/shmem.core + shmem.donor");
  scratch s;
  auto rep = necro::write::commit(f->plan, f->core, f->donor, s.dir / "out", {.durable = false});
  REQUIRE(rep);
  const auto out = s.dir / "out";
  const auto core = f->core.bytes();

  auto inodes = necro::criu::read_image<necro::pb::memfd_inode_entry>(out, "memfd.img", necro::criu::magic::memfd_inode);
  REQUIRE(inodes);
  CHECK(inodes->size() == f->plan.shared.memfd_inodes.size());

  for (const auto& o : f->plan.shared.objects) {
    INFO(o.name);
    std::string content;
    if (o.kind == vma_kind::deleted_file) {
      const auto img = necro::test::slurp(out / necro::criu::image_name("ghost-file-", o.content_id));
      auto file = necro::io::mapped_file::open((out / necro::criu::image_name("ghost-file-", o.content_id)).string());
      REQUIRE(file);
      auto r = necro::criu::entry_reader::open(file->view(), necro::criu::magic::ghost_file);
      REQUIRE(r);
      necro::pb::ghost_file_entry g;
      REQUIRE(r->next(g).value());
      CHECK(g.size() == o.size);
      necro::pb::ghost_chunk_entry c;
      REQUIRE(r->next(c).value());
      CHECK(c.off() == 0);
      CHECK(c.len() == o.size);
      // The chunk's raw bytes follow its entry and end the image.
      CHECK(img.size() == 8 + 4 + g.ByteSizeLong() + 4 + c.ByteSizeLong() + o.size);
      content = img.substr(img.size() - o.size);
    } else {
      auto file = necro::io::mapped_file::open((out / necro::criu::image_name("pagemap-shmem-", o.content_id)).string());
      REQUIRE(file);
      auto r = necro::criu::entry_reader::open(file->view(), necro::criu::magic::shmem_pagemap);
      REQUIRE(r);
      necro::pb::pagemap_head head;
      REQUIRE(r->next(head).value());
      CHECK(head.pages_id() == o.pages_id);
      auto entries = r->read_all<necro::pb::pagemap_entry>();
      REQUIRE(entries);
      REQUIRE(entries->size() == 1);
      CHECK((*entries)[0].vaddr() == 0);
      CHECK((*entries)[0].nr_pages() == o.size / 4096);
      content = necro::test::slurp(out / necro::criu::image_name("pages-", o.pages_id));
    }
    REQUIRE(content.size() == o.size);
    CHECK(std::memcmp(content.data(), core.data() + o.runs[0].core_offset, o.size) == 0);
  }
}

TEST_CASE("shared memory: a core without the shared pages names the coredump_filter bit", "[plan][shmem]") {
  const auto c = necro::test::fixture("x86_64/shmem.core");
  const auto d = necro::test::fixture("x86_64/shmem.donor");
  NECRO_REQUIRE_FIXTURE(c && d, "x86_64/shmem.core + shmem.donor");
  const auto f = necro::test::plan_shmem();
  REQUIRE(f);
  const auto& anon = object(f->plan, vma_kind::shared_anon);
  std::uint64_t anon_start = 0, private_memfd = 0;
  for (const auto& v : f->plan.vmas) {
    if (v.kind == vma_kind::shared_anon) anon_start = v.entry.start();
    if (v.kind == vma_kind::memfd && !(v.entry.flags() & necro::criu::mmap_bits::map_shared)) private_memfd = v.entry.start();
  }
  REQUIRE(anon_start);
  REQUIRE(private_memfd);
  scratch s;
  const auto copy = s.dir / "filtered.core";

  SECTION("the shared anonymous memory left out (no bit 1): refused") {
    fs::copy_file(*c, copy);
    drop_segment(copy, anon_start);
    auto core = necro::test::x86_64_core_view::open(copy.string());
    REQUIRE(core);
    auto donor = necro::criu::image_set::load(*d);
    REQUIRE(donor);
    const auto p = necro::plan::plan_resurrection(*core, *donor, {}, {.offline = true});
    REQUIRE(!p);
    necro::test::check_error(p.error(), copy.string(), necro::errc::missing, "coredump_filter lacked bit 1",
                             anon.runs[0].core_offset);
  }
  SECTION("only the private memfd mapping left out: the shared one holds the content") {
    fs::copy_file(*c, copy);
    drop_segment(copy, private_memfd);
    auto core = necro::test::x86_64_core_view::open(copy.string());
    REQUIRE(core);
    auto donor = necro::criu::image_set::load(*d);
    REQUIRE(donor);
    const auto p = necro::plan::plan_resurrection(*core, *donor, {}, {.offline = true});
    REQUIRE(p);
    CHECK(p->stats.not_dumped_pages == 5);
    CHECK(object(*p, vma_kind::memfd).runs.size() == 1);
  }
}

TEST_CASE("shared memory: a broken memfd.img or ghost file of the donor is one error naming it", "[criu][shmem]") {
  const auto d = necro::test::fixture("x86_64/shmem.donor");
  NECRO_REQUIRE_FIXTURE(d, "x86_64/shmem.donor");
  for (const char* name : {"memfd.img", "remap-fpath.img", "ghost-file-1.img", "pagemap-shmem-"}) {
    INFO(name);
    scratch s;
    const auto copy = s.dir / "donor";
    fs::copy(*d, copy);
    fs::path victim;
    for (const auto& e : fs::directory_iterator(copy))
      if (e.path().filename().string().starts_with(name)) victim = e.path();
    REQUIRE(!victim.empty());
    fs::resize_file(victim, 10);  // the magic words and half an entry's length
    const auto set = necro::criu::image_set::load(copy);
    REQUIRE(!set);
    CHECK(set.error().path() == victim.string());
  }
}
