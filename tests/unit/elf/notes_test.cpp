// necro::elf::for_each_note: the note walk over a PT_NOTE segment — order,
// 4-byte alignment, absolute offsets, caps, and every way a note can run past
// its segment; then the walk over the real x86-64 and aarch64 cores.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <necro/arch/common.hpp>
#include <necro/elf/notes.hpp>
#include <necro/elf/types.hpp>
#include <necro/io/mapped_file.hpp>

#include "support/core_builder.hpp"
#include "support/fixtures.hpp"

using necro::errc;
using necro::result;
using necro::elf::for_each_note;
using necro::elf::note;
using necro::test::bytes;
using necro::test::check_error;
using necro::test::note_spec;

namespace {

constexpr std::uint64_t seg_base = 0x340;  // where the segment "is" in its file

struct stream {
  bytes b;
  std::vector<std::uint64_t> headers, descs;
  necro::io::byte_view view(std::string_view name = "notes.core") const {
    return necro::io::byte_view(std::span<const std::byte>(b.data(), b.size()), seg_base, name);
  }
};

stream make_stream(const std::vector<note_spec>& notes) {
  stream s;
  for (const auto& n : notes) {
    s.headers.push_back(s.b.size());
    s.descs.push_back(necro::test::append_note(s.b, n));
  }
  return s;
}

std::vector<note> collect(const necro::io::byte_view& v, result<void>& status) {
  std::vector<note> out;
  status = for_each_note(v, [&](const note& n) -> result<void> {
    out.push_back(n);
    return {};
  });
  return out;
}

bytes filled(std::size_t n, std::uint8_t v) { return bytes(n, std::byte{v}); }

}  // namespace

TEST_CASE("notes: walks every note in order with aligned names and descriptors", "[elf][notes]") {
  // Owner lengths 5 ("CORE\0"), 6 ("LINUX\0"), 1 (""), 4 ("GNU\0"); odd descriptor sizes.
  const auto s = make_stream({{"CORE", 1, filled(5, 0xa1)},
                              {"LINUX", 0x202, filled(7, 0xb2)},
                              {"", 9, filled(0, 0)},
                              {"GNU", 3, filled(16, 0xc3)}});
  result<void> status;
  const auto notes = collect(s.view(), status);
  REQUIRE(status);
  REQUIRE(notes.size() == 4);

  CHECK(notes[0].owner == "CORE");
  CHECK(notes[0].type == 1);
  CHECK(notes[0].desc.size() == 5);
  CHECK(notes[0].file_offset == seg_base + s.headers[0]);
  CHECK(notes[0].desc.file_offset() == seg_base + s.descs[0]);
  CHECK(notes[0].desc.origin() == "notes.core");
  CHECK(std::to_integer<int>(notes[0].desc.bytes()[4]) == 0xa1);

  CHECK(notes[1].owner == "LINUX");
  CHECK(notes[1].type == 0x202);
  CHECK(notes[1].desc.size() == 7);
  CHECK(notes[1].desc.file_offset() == seg_base + s.descs[1]);
  CHECK(s.descs[1] % 4 == 0);

  CHECK(notes[2].owner.empty());
  CHECK(notes[2].desc.empty());

  CHECK(notes[3].owner == "GNU");
  CHECK(notes[3].desc.size() == 16);
  CHECK(notes[3].file_offset == seg_base + s.headers[3]);
}

TEST_CASE("notes: an empty segment has no notes", "[elf][notes]") {
  const bytes none;
  result<void> status;
  const auto notes = collect(necro::test::view_of(none), status);
  CHECK(status);
  CHECK(notes.empty());
}

TEST_CASE("notes: the last descriptor may end without its padding", "[elf][notes]") {
  auto s = make_stream({{"CORE", 6, filled(6, 1)}});
  s.b.resize(s.b.size() - 2);  // drop the 2 padding bytes
  result<void> status;
  const auto notes = collect(s.view(), status);
  REQUIRE(status);
  REQUIRE(notes.size() == 1);
  CHECK(notes[0].desc.size() == 6);
}

TEST_CASE("notes: an owner name without its NUL is kept whole", "[elf][notes]") {
  bytes b;
  necro::test::append(b, necro::elf::nhdr{4, 4, 7});
  necro::test::append(b, std::string_view("ABCD"));
  necro::test::append(b, std::uint32_t{42});
  result<void> status;
  const auto notes = collect(necro::test::view_of(b), status);
  REQUIRE(status);
  REQUIRE(notes.size() == 1);
  CHECK(notes[0].owner == "ABCD");
}

TEST_CASE("notes: malformed notes are errors that point at the note", "[elf][notes]") {
  auto s = make_stream({{"CORE", 1, filled(8, 1)}, {"CORE", 2, filled(8, 2)}});
  const std::uint64_t second = s.headers[1];
  result<void> status;

  SECTION("a header cut short") {
    s.b.resize(second + 8);
    (void)collect(s.view(), status);
    REQUIRE_FALSE(status);
    check_error(status.error(), "notes.core", errc::truncated, "note header truncated: need 12 bytes, 8 left",
                seg_base + second);
  }
  SECTION("a name size beyond the cap") {
    necro::test::poke(s.b, second + necro::test::off::n_namesz, std::uint32_t{necro::elf::max_note_name + 1});
    (void)collect(s.view(), status);
    REQUIRE_FALSE(status);
    check_error(status.error(), "notes.core", errc::bad_value, "note name size 257 exceeds 256", seg_base + second);
  }
  SECTION("a name size of 2^32-1 (would overflow when aligned)") {
    necro::test::poke(s.b, second + necro::test::off::n_namesz, std::uint32_t{0xffffffff});
    (void)collect(s.view(), status);
    REQUIRE_FALSE(status);
    check_error(status.error(), "notes.core", errc::bad_value, "note name size 4294967295", seg_base + second);
  }
  SECTION("a name that runs past the segment") {
    s.b.resize(second + 14);
    (void)collect(s.view(), status);
    REQUIRE_FALSE(status);
    check_error(status.error(), "notes.core", errc::truncated, "note name truncated: need 5 bytes, 2 left",
                seg_base + second + 12);
  }
  SECTION("a descriptor size of 2^32-1") {
    necro::test::poke(s.b, second + necro::test::off::n_descsz, std::uint32_t{0xffffffff});
    (void)collect(s.view(), status);
    REQUIRE_FALSE(status);
    check_error(status.error(), "notes.core", errc::truncated,
                "note 0x2 descriptor truncated: need 4294967295 bytes, 8 left", seg_base + s.descs[1]);
  }
  SECTION("a descriptor one byte longer than the segment") {
    necro::test::poke(s.b, second + necro::test::off::n_descsz, std::uint32_t{9});
    (void)collect(s.view(), status);
    REQUIRE_FALSE(status);
    check_error(status.error(), "notes.core", errc::truncated, "need 9 bytes, 8 left", seg_base + s.descs[1]);
  }
}

TEST_CASE("notes: the callback's error stops the walk and is returned", "[elf][notes]") {
  const auto s = make_stream({{"CORE", 1, {}}, {"CORE", 2, {}}, {"CORE", 3, {}}});
  int seen = 0;
  auto status = for_each_note(s.view(), [&](const note& n) -> result<void> {
    ++seen;
    if (n.type == 2) return necro::fail(n.desc.error_at(0, errc::bad_value, "type 2 is unwelcome"));
    return {};
  });
  REQUIRE_FALSE(status);
  CHECK(seen == 2);
  check_error(status.error(), "notes.core", errc::bad_value, "type 2 is unwelcome", seg_base + s.descs[1]);
}

TEST_CASE("notes: a stream of empty notes is capped", "[elf][notes]") {
  // Each empty note is 12 bytes (namesz 0, descsz 0): max_notes + 1 of them.
  bytes b((necro::elf::max_notes + 1) * 12, std::byte{0});
  std::uint64_t seen = 0;
  auto status = for_each_note(necro::test::view_of(b), [&](const note&) -> result<void> {
    ++seen;
    return {};
  });
  REQUIRE_FALSE(status);
  CHECK(seen == necro::elf::max_notes);
  check_error(status.error(), std::string(necro::test::synthetic_name), errc::limit, "more than 1048576 notes",
              necro::elf::max_notes * 12);
}

// ------------------------------------------------------------ real cores

namespace {

/// The PT_NOTE segments of a mapped core, found without core_view.
std::vector<necro::io::byte_view> note_segments(const necro::io::byte_view& whole) {
  std::vector<necro::io::byte_view> out;
  auto eh = whole.load<necro::elf::ehdr64>(0, "ELF header");
  REQUIRE(eh);
  for (std::uint64_t i = 0; i < eh->phnum; ++i) {
    auto ph = whole.load<necro::elf::phdr64>(eh->phoff + i * sizeof(necro::elf::phdr64), "phdr");
    REQUIRE(ph);
    if (ph->type != necro::arch::elfc::pt_note) continue;
    auto seg = whole.sub(ph->offset, ph->filesz, "PT_NOTE");
    REQUIRE(seg);
    out.push_back(*seg);
  }
  return out;
}

/// readelf's names for the note types make-fixtures.sh counts.
std::string readelf_name(const note& n) {
  namespace nt = necro::arch::nt;
  if (n.owner == "CORE") {
    switch (n.type) {
      case nt::prstatus: return "NT_PRSTATUS";
      case nt::prfpreg: return "NT_FPREGSET";
      case nt::prpsinfo: return "NT_PRPSINFO";
      case nt::auxv: return "NT_AUXV";
      case nt::siginfo: return "NT_SIGINFO";
      case nt::file: return "NT_FILE";
      default: break;
    }
  }
  if (n.owner == "LINUX" && n.type == nt::x86_xstate) return "NT_X86_XSTATE";
  return "other";
}

void check_against_facts(const std::filesystem::path& core, const necro::test::facts& facts) {
  auto f = necro::io::mapped_file::open(core.string());
  REQUIRE(f);
  const auto segs = note_segments(f->view());
  REQUIRE_FALSE(segs.empty());
  if (auto n = facts.number("core_pt_note_count")) CHECK(segs.size() == *n);

  std::map<std::string, std::uint64_t> counts;
  std::uint64_t total = 0;
  for (const auto& seg : segs) {
    auto status = for_each_note(seg, [&](const note& n) -> result<void> {
      CHECK((n.owner == "CORE" || n.owner == "LINUX"));
      CHECK(n.file_offset % 4 == 0);
      CHECK(n.desc.file_offset() % 4 == 0);
      ++counts[readelf_name(n)];
      ++total;
      return {};
    });
    REQUIRE(status);
  }
  const auto types = facts.list("core_note_types");
  if (!types.empty()) CHECK(total == types.size());
  for (const char* t : {"NT_PRSTATUS", "NT_PRPSINFO", "NT_SIGINFO", "NT_AUXV", "NT_FILE", "NT_FPREGSET",
                        "NT_X86_XSTATE"}) {
    std::string key = std::string("core_") + t + "_count";
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (auto want = facts.number(key)) {
      INFO(t);
      CHECK(counts[t] == *want);
    }
  }
  CHECK(counts["NT_PRSTATUS"] >= 1);
}

}  // namespace

TEST_CASE("notes: the real x86-64 core's notes match the fixture's facts", "[elf][notes][fixture]") {
  const auto core = necro::test::x86_64_core();
  NECRO_REQUIRE_FIXTURE(core, "x86_64/counter.core");
  const auto facts = necro::test::facts::load("x86_64/facts.txt");
  NECRO_REQUIRE_FIXTURE(facts, "x86_64/facts.txt");
  check_against_facts(*core, *facts);
}

TEST_CASE("notes: the real aarch64 core's notes match the fixture's facts", "[elf][notes][fixture]") {
  const auto core = necro::test::aarch64_core();
  NECRO_REQUIRE_FIXTURE(core, "aarch64/crash.core");
  const auto facts = necro::test::facts::load("aarch64/facts.txt");
  NECRO_REQUIRE_FIXTURE(facts, "aarch64/facts.txt");
  check_against_facts(*core, *facts);
}
