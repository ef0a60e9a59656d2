// necro::elf::read_build_id and victim_build_id: the GNU build-id of the real
// fixture binaries read from the files and from the cores' memory, a tiny
// hand-made ELF image in a file and loaded in a synthetic core, and every way
// its program headers and notes can lie.
#include <cstdint>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include <necro/arch/x86_64.hpp>
#include <necro/elf/build_id.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/mapped_file.hpp>

#include "support/core_builder.hpp"
#include "support/fixtures.hpp"

using necro::errc;
using necro::elf::read_build_id;
using necro::elf::to_hex;
using necro::test::append;
using necro::test::bytes;
using necro::test::check_error;
using necro::test::pad_to;
using necro::test::poke;
using necro::test::view_of;
namespace off = necro::test::off;
namespace elfc = necro::arch::elfc;

namespace {

using core_t = necro::elf::core_view<necro::arch::x86_64>;

constexpr std::string_view elf_name = "tiny.elf";
constexpr std::string_view id_hex = "00112233445566778899aabbccddeeff01020304";

bytes id_bytes() {
  bytes b;
  for (std::size_t i = 0; i < id_hex.size(); i += 2)
    b.push_back(static_cast<std::byte>(std::stoi(std::string(id_hex.substr(i, 2)), nullptr, 16)));
  return b;
}

/// A tiny ELF64 image: Ehdr, three program headers (PT_LOAD of the whole image,
/// an 8-aligned PT_NOTE with a GNU property note, a 4-aligned PT_NOTE with an
/// unrelated note then NT_GNU_BUILD_ID). Where each part is, for poking.
struct tiny_elf {
  bytes image;
  static constexpr std::uint64_t load_phdr = 64, prop_phdr = 64 + 56, id_phdr = 64 + 112;
  static constexpr std::uint64_t prop_notes = 0x100, id_notes = 0x120;
  std::uint64_t id_note = 0;  ///< the NT_GNU_BUILD_ID note header
  std::uint64_t id_desc = 0;  ///< its descriptor
};

tiny_elf make_elf(std::uint16_t type = elfc::et_dyn, std::uint64_t vaddr = 0) {
  tiny_elf t;
  bytes& b = t.image;
  necro::elf::ehdr64 eh{};
  std::copy(elfc::magic.begin(), elfc::magic.end(), eh.ident.begin());
  eh.ident[4] = elfc::class64;
  eh.ident[5] = elfc::data_lsb;
  eh.ident[6] = 1;
  eh.type = type;
  eh.machine = necro::arch::x86_64::e_machine;
  eh.version = 1;
  eh.phoff = 64;
  eh.ehsize = 64;
  eh.phentsize = 56;
  eh.phnum = 3;
  append(b, eh);
  b.resize(tiny_elf::prop_notes);
  // .note.gnu.property: 8-aligned, a 16-byte descriptor.
  necro::test::append_note(b, {"GNU", 5, bytes(16, std::byte{0x5a})});
  REQUIRE(b.size() == tiny_elf::id_notes);
  // An unrelated note whose 5-byte descriptor needs padding, then the build-id.
  necro::test::append_note(b, {"Go", 4, bytes(5, std::byte{0x33})});
  t.id_note = b.size();
  t.id_desc = necro::test::append_note(b, {"GNU", necro::elf::nt_gnu_build_id, id_bytes()});
  const std::uint64_t id_size = b.size() - tiny_elf::id_notes;
  pad_to(b, 0x200);

  necro::elf::phdr64 load{elfc::pt_load, elfc::pf_r, 0, vaddr, vaddr, b.size(), b.size(), 0x1000};
  necro::elf::phdr64 prop{elfc::pt_note, elfc::pf_r, tiny_elf::prop_notes, vaddr + tiny_elf::prop_notes,
                          vaddr + tiny_elf::prop_notes, 32, 32, 8};
  necro::elf::phdr64 id{elfc::pt_note, elfc::pf_r, tiny_elf::id_notes, vaddr + tiny_elf::id_notes,
                        vaddr + tiny_elf::id_notes, id_size, id_size, 4};
  poke(b, tiny_elf::load_phdr, load);
  poke(b, tiny_elf::prop_phdr, prop);
  poke(b, tiny_elf::id_phdr, id);
  return t;
}

std::optional<std::string> hex_of(const bytes& image) {
  auto r = read_build_id(view_of(image, elf_name));
  if (!r) FAIL(r.error().message());
  if (!*r) return std::nullopt;
  return to_hex((*r)->bytes());
}

necro::error error_of(const bytes& image) {
  auto r = read_build_id(view_of(image, elf_name));
  REQUIRE_FALSE(r);
  return r.error();
}

/// A one-thread synthetic core that maps `path` at `start` (file offset 0) with
/// `dumped` bytes of `image` in its PT_LOAD, plus `more` NT_FILE entries.
bytes core_with(const bytes& image, std::uint64_t start, std::uint64_t dumped, std::string path = "/opt/tiny",
                std::uint64_t page_offset = 0) {
  using namespace necro::test;
  core_builder c;
  c.note("CORE", necro::arch::nt::prstatus, prstatus(100, 100, sample_regs(1)));
  c.note("CORE", necro::arch::nt::file, nt_file(4096, {{start, start + 0x1000, page_offset, path}}));
  bytes data(image.begin(), image.begin() + static_cast<std::ptrdiff_t>(std::min<std::uint64_t>(dumped, image.size())));
  c.load(start, 0x1000, elfc::pf_r, data);
  return c.build().image;
}

std::optional<std::string> victim_hex(const bytes& core_image, std::string_view path = "/opt/tiny") {
  auto core = core_t::parse(view_of(core_image));
  REQUIRE(core);
  auto r = necro::elf::victim_build_id(*core, path);
  if (!r) FAIL(r.error().message());
  if (!*r) return std::nullopt;
  return to_hex((*r)->bytes());
}

}  // namespace

TEST_CASE("the build-id of the fixture binaries, read from the files", "[elf][build_id]") {
  for (const auto& [facts_file, binary] : {std::pair{"x86_64/facts.txt", "bin/counter"},
                                           std::pair{"x86_64/pool.facts.txt", "bin/pool"}}) {
    const auto facts = necro::test::facts::load(facts_file);
    const auto path = necro::test::fixture(binary);
    NECRO_REQUIRE_FIXTURE(facts && path, binary);
    auto f = necro::io::mapped_file::open(path->string());
    REQUIRE(f);
    auto id = read_build_id(f->view());
    REQUIRE(id);
    REQUIRE(*id);
    CHECK(to_hex((*id)->bytes()) == *facts->get("binary_build_id"));
  }
}

TEST_CASE("the build-id the victim ran, read from the core's memory", "[elf][build_id]") {
  for (const auto& [facts_file, core_file] : {std::pair{"x86_64/facts.txt", "x86_64/counter.core"},
                                              std::pair{"x86_64/pool.facts.txt", "x86_64/pool.core"}}) {
    const auto facts = necro::test::facts::load(facts_file);
    const auto path = necro::test::fixture(core_file);
    NECRO_REQUIRE_FIXTURE(facts && path, core_file);
    auto core = core_t::open(path->string());
    REQUIRE(core);
    auto id = necro::elf::victim_build_id(*core, *facts->get("binary"));
    REQUIRE(id);
    REQUIRE(*id);
    CHECK(to_hex((*id)->bytes()) == *facts->get("binary_build_id"));
    // The view points into the core's dumped memory.
    CHECK((*id)->origin() == core->path());
    // The libraries carry theirs too (SHA-1: 20 bytes); a path not mapped has none.
    for (const auto& lib : facts->list("core_nt_file_distinct_paths")) {
      auto lid = necro::elf::victim_build_id(*core, lib);
      REQUIRE(lid);
      REQUIRE(*lid);
      CHECK((*lid)->size() == 20);
    }
    auto none = necro::elf::victim_build_id(*core, "/not/mapped");
    REQUIRE(none);
    CHECK_FALSE(*none);
  }
}

TEST_CASE("a tiny ELF image: 4- and 8-aligned notes, no build-id, not ELF", "[elf][build_id]") {
  CHECK(hex_of(make_elf().image) == std::string(id_hex));
  CHECK(hex_of(make_elf(elfc::et_exec, 0x400000).image) == std::string(id_hex));
  // The view is the descriptor, in place.
  auto t = make_elf();
  auto r = read_build_id(view_of(t.image, elf_name));
  REQUIRE(r);
  REQUIRE(*r);
  CHECK((*r)->file_offset() == t.id_desc);
  CHECK((*r)->data() == t.image.data() + t.id_desc);

  SECTION("another note type or owner is not a build-id") {
    poke(t.image, t.id_note + off::n_type, std::uint32_t{4});
    CHECK_FALSE(hex_of(t.image));
  }
  SECTION("no program headers") {
    poke(t.image, off::e_phnum, std::uint16_t{0});
    CHECK_FALSE(hex_of(t.image));
  }
  SECTION("not an ELF file, or too short to be one") {
    CHECK_FALSE(hex_of(bytes(4096, std::byte{'#'})));
    CHECK_FALSE(hex_of(bytes{}));
    CHECK_FALSE(hex_of(bytes{std::byte{0x7f}, std::byte{'E'}}));
  }
  CHECK(to_hex(bytes{}) == "");
  CHECK(to_hex(bytes{std::byte{0x0f}, std::byte{0xa0}}) == "0fa0");
}

TEST_CASE("malformed ELF headers and notes are errors naming the offset", "[elf][build_id]") {
  auto t = make_elf();
  auto& b = t.image;

  SECTION("a header cut short after the magic") {
    b.resize(20);
    check_error(error_of(b), elf_name, errc::truncated, "ELF header truncated: need 64 bytes, 20 left", 0);
  }
  SECTION("ELF32 or big-endian is not read") {
    b[4] = std::byte{1};
    check_error(error_of(b), elf_name, errc::unsupported, "is not ELF64 little-endian", 4);
  }
  SECTION("a wrong e_phentsize") {
    poke(b, off::e_phentsize, std::uint16_t{32});
    check_error(error_of(b), elf_name, errc::bad_value, "e_phentsize 32 is not 56", 54);
  }
  SECTION("truncated program headers: e_phnum runs past the file") {
    poke(b, off::e_phnum, std::uint16_t{0xfff0});
    check_error(error_of(b), elf_name, errc::truncated, "program header table truncated", 64);
  }
  SECTION("truncated program headers: e_phoff near the end of the file") {
    poke(b, off::e_phoff, std::uint64_t{b.size() - 8});
    check_error(error_of(b), elf_name, errc::truncated, "program header table truncated", b.size() - 8);
  }
  SECTION("e_phoff that wraps around") {
    poke(b, off::e_phoff, ~std::uint64_t{0} - 4);
    check_error(error_of(b), elf_name, errc::truncated, "program header table truncated");
  }
  SECTION("a PT_NOTE past the end of the file") {
    poke(b, tiny_elf::id_phdr + off::p_offset, std::uint64_t{b.size() - 4});
    check_error(error_of(b), elf_name, errc::truncated, "PT_NOTE segment truncated", b.size() - 4);
  }
  SECTION("a PT_NOTE whose offset plus size overflows") {
    poke(b, tiny_elf::id_phdr + off::p_offset, ~std::uint64_t{0} - 2);
    check_error(error_of(b), elf_name, errc::truncated, "PT_NOTE segment truncated");
  }
  SECTION("a PT_NOTE larger than the cap") {
    poke(b, tiny_elf::id_phdr + off::p_filesz, necro::elf::max_build_id_note_bytes + 1);
    check_error(error_of(b), elf_name, errc::limit, "exceeds the cap of 65536", tiny_elf::id_phdr);
  }
  SECTION("note size overflow: a descriptor size of 4 GiB") {
    poke(b, t.id_note + off::n_descsz, std::uint32_t{0xffffffff});
    check_error(error_of(b), elf_name, errc::truncated, "note 0x3 descriptor truncated: need 4294967295 bytes",
                t.id_desc);
  }
  SECTION("note size overflow: a name size past the segment") {
    poke(b, t.id_note + off::n_namesz, std::uint32_t{200});
    check_error(error_of(b), elf_name, errc::truncated, "note name truncated", t.id_note + 12);
  }
  SECTION("a build-id of 0 bytes or longer than the cap") {
    poke(b, t.id_note + off::n_descsz, std::uint32_t{0});
    check_error(error_of(b), elf_name, errc::bad_value, "NT_GNU_BUILD_ID of 0 bytes", t.id_desc);
  }
  SECTION("more PT_NOTE headers than the cap, all naming the same notes") {
    const auto n = static_cast<std::uint16_t>(necro::elf::max_build_id_note_segments + 2);
    // A fresh table after the image: PT_NOTEs with no build-id, so the walk goes on.
    const std::uint64_t table = b.size();
    b.resize(table + n * 56u);
    necro::elf::phdr64 note{elfc::pt_note, elfc::pf_r, tiny_elf::prop_notes, 0, 0, 32, 32, 8};
    for (std::uint16_t i = 0; i < n; ++i) poke(b, table + i * 56u, note);
    poke(b, off::e_phoff, table);
    poke(b, off::e_phnum, n);
    check_error(error_of(b), elf_name, errc::limit, "more than 16 PT_NOTE segments",
                table + necro::elf::max_build_id_note_segments * 56u);
  }
}

TEST_CASE("the build-id of a file loaded in a synthetic core", "[elf][build_id]") {
  constexpr std::uint64_t base = 0x7f0000400000;
  const auto dyn = make_elf();
  CHECK(victim_hex(core_with(dyn.image, base, dyn.image.size())) == std::string(id_hex));
  // ET_EXEC: no bias, the notes are at their p_vaddr.
  const auto exec = make_elf(elfc::et_exec, 0x400000);
  CHECK(victim_hex(core_with(exec.image, 0x400000, exec.image.size())) == std::string(id_hex));
  // A prelinked ET_DYN (first PT_LOAD at 0x10000) loaded elsewhere.
  const auto pre = make_elf(elfc::et_dyn, 0x10000);
  CHECK(victim_hex(core_with(pre.image, base, pre.image.size())) == std::string(id_hex));

  SECTION("nothing dumped, or the notes not dumped: unknown") {
    CHECK_FALSE(victim_hex(core_with(dyn.image, base, 0)));
    CHECK_FALSE(victim_hex(core_with(dyn.image, base, tiny_elf::id_notes + 4)));
  }
  SECTION("mapped only from a later offset: no header to read") {
    CHECK_FALSE(victim_hex(core_with(dyn.image, base, dyn.image.size(), "/opt/tiny", 1)));
  }
  SECTION("another path") { CHECK_FALSE(victim_hex(core_with(dyn.image, base, dyn.image.size()), "/opt/other")); }
  SECTION("malformed headers in memory are errors naming the core and its offset") {
    auto bad = dyn.image;
    poke(bad, tiny_elf::id_phdr + off::p_filesz, necro::elf::max_build_id_note_bytes + 1);
    const auto image = core_with(bad, base, bad.size());
    auto core = core_t::parse(view_of(image));
    REQUIRE(core);
    auto r = necro::elf::victim_build_id(*core, "/opt/tiny");
    REQUIRE_FALSE(r);
    const std::uint64_t load_data = core->segments().front().offset;
    check_error(r.error(), necro::test::synthetic_name, errc::limit, "exceeds the cap",
                load_data + tiny_elf::id_phdr);
  }
}

TEST_CASE("notes in an 8-aligned PT_NOTE are padded to 8 bytes", "[elf][build_id]") {
  // "Linux\0" is 6 bytes: its descriptor starts at 24 with 8-byte alignment, at 20 with 4.
  bytes b;
  append(b, necro::elf::nhdr{6, 8, 1});
  append(b, std::string_view("Linux\0", 6));
  pad_to(b, 8);
  append(b, std::uint64_t{0x1122334455667788});
  append(b, necro::elf::nhdr{4, 20, necro::elf::nt_gnu_build_id});
  append(b, std::string_view("GNU\0", 4));
  const auto desc = b.size();
  const auto id = id_bytes();
  b.insert(b.end(), id.begin(), id.end());
  pad_to(b, 8);
  std::vector<necro::elf::note> seen;
  auto r = necro::elf::for_each_note(
      view_of(b, elf_name),
      [&seen](const necro::elf::note& n) -> necro::result<void> {
        seen.push_back(n);
        return {};
      },
      necro::elf::note_align::eight);
  if (!r) FAIL(r.error().message());
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].owner == "Linux");
  CHECK(seen[0].desc.file_offset() == 24);
  CHECK(seen[1].owner == "GNU");
  CHECK(seen[1].desc.file_offset() == desc);
  CHECK(to_hex(seen[1].desc.bytes()) == id_hex);
  // Read as 4-aligned, the same bytes do not hold that build-id.
  seen.clear();
  auto four = necro::elf::for_each_note(view_of(b, elf_name), [&seen](const necro::elf::note& n) -> necro::result<void> {
    seen.push_back(n);
    return {};
  });
  CHECK((!four || seen.size() != 2 || seen[1].desc.file_offset() != desc));
}
