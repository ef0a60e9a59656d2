// core_view<x86_64> on malformed cores made by tests/unit/support/core_builder:
// each defect must come back as an error that names the file, points at the
// offending bytes and says what is wrong; no input may crash the parser.
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include <necro/arch/x86_64.hpp>
#include <necro/elf/core_view.hpp>

#include "support/core_builder.hpp"
#include "support/fixtures.hpp"

using necro::errc;
using necro::arch::x86_64;
using x86_core = necro::elf::core_view<x86_64>;
namespace nt = necro::arch::nt;
namespace off = necro::test::off;
namespace small = necro::test::small;
using necro::test::built_core;
using necro::test::bytes;
using necro::test::poke;

namespace {

constexpr std::uint64_t max64 = std::numeric_limits<std::uint64_t>::max();
const std::string name(necro::test::synthetic_name);

/// Parses `image` and checks the error it must give.
void expect_error(const bytes& image, errc code, std::string_view phrase,
                  std::optional<std::uint64_t> offset = std::nullopt) {
  auto r = x86_core::parse(necro::test::view_of(image));
  REQUIRE_FALSE(r);
  necro::test::check_error(r.error(), name, code, phrase, offset);
}

/// Index of the first note of `type` in small_core().
std::size_t note_index(const necro::test::core_builder& b, std::uint32_t type) {
  const auto& n = b.notes();
  for (std::size_t i = 0; i < n.size(); ++i)
    if (n[i].type == type) return i;
  FAIL("no such note");
  return 0;
}

/// small_core() with one note's descriptor replaced.
built_core with_note_desc(std::uint32_t type, bytes desc) {
  auto b = necro::test::small_core();
  b.notes()[note_index(b, type)].desc = std::move(desc);
  return b.build();
}

}  // namespace

TEST_CASE("malformed: the synthetic baseline is valid", "[elf][malformed]") {
  const auto c = necro::test::small_core().build();
  CHECK(x86_core::parse(c.view()));
}

TEST_CASE("malformed: ELF header defects", "[elf][malformed]") {
  auto c = necro::test::small_core().build();
  auto& b = c.image;

  SECTION("bad magic") {
    b[1] = std::byte{'X'};
    expect_error(b, errc::bad_magic, "not an ELF file (bad magic)", 0);
  }
  SECTION("ELFCLASS32") {
    b[off::e_class] = std::byte{1};
    expect_error(b, errc::unsupported, "ELF class 1 is not x86_64's ELFCLASS64", off::e_class);
  }
  SECTION("big-endian") {
    b[off::e_data] = std::byte{2};
    expect_error(b, errc::unsupported, "ELF data encoding 2 is not x86_64's", off::e_data);
  }
  SECTION("wrong machine (EM_AARCH64)") {
    poke(b, off::e_machine, std::uint16_t{183});
    expect_error(b, errc::mismatch, "ELF machine 183 is not x86_64 (62)", off::e_machine);
  }
  SECTION("ET_EXEC instead of ET_CORE") {
    poke(b, off::e_type, std::uint16_t{2});
    expect_error(b, errc::bad_value, "ELF type 2 is not ET_CORE (4): not a core dump", off::e_type);
  }
  SECTION("wrong e_phentsize") {
    poke(b, off::e_phentsize, std::uint16_t{32});
    expect_error(b, errc::bad_value, "e_phentsize 32 is not 56", off::e_phentsize);
  }
  SECTION("shorter than an ELF header") {
    b.resize(63);
    expect_error(b, errc::truncated, "ELF header truncated: need 64 bytes, 63 left", 0);
  }
  SECTION("an empty file") {
    b.clear();
    expect_error(b, errc::truncated, "ELF header truncated: need 64 bytes, 0 left", 0);
  }
}

TEST_CASE("malformed: program header table defects", "[elf][malformed]") {
  auto c = necro::test::small_core().build();
  auto& b = c.image;

  SECTION("e_phoff past EOF") {
    poke(b, off::e_phoff, std::uint64_t{b.size()});
    expect_error(b, errc::truncated, "program header table truncated: need 224 bytes, 0 left", b.size());
  }
  SECTION("e_phoff near 2^64 (offset + size would wrap)") {
    poke(b, off::e_phoff, max64 - 8);
    expect_error(b, errc::truncated, "program header table truncated", max64 - 8);
  }
  SECTION("e_phnum past EOF") {
    poke(b, off::e_phnum, std::uint16_t{0xfffe});
    expect_error(b, errc::truncated, "program header table truncated: need 3669904 bytes", c.phoff);
  }
  SECTION("PN_XNUM with the section header past EOF") {
    poke(b, off::e_phnum, std::uint16_t{0xffff});
    poke(b, off::e_shoff, std::uint64_t{b.size()});
    expect_error(b, errc::truncated, "PN_XNUM");
  }
  SECTION("PN_XNUM with e_shoff near 2^64 (shoff + 44 would wrap to the ELF header)") {
    poke(b, off::e_phnum, std::uint16_t{0xffff});
    poke(b, off::e_shoff, max64 - 39);
    expect_error(b, errc::truncated, "PN_XNUM");
  }
  SECTION("PN_XNUM with a count beyond the cap") {
    poke(b, off::e_phnum, std::uint16_t{0xffff});
    // Section header 0 over the first PT_LOAD's bytes; its sh_info is at +44.
    poke(b, off::e_shoff, c.load_data[0]);
    poke(b, c.load_data[0] + 44, std::uint32_t{necro::elf::max_segments + 1});
    expect_error(b, errc::limit, "1048577 program headers exceed the cap of 1048576", off::e_phnum);
  }
  SECTION("PT_NOTE past EOF") {
    poke(b, c.note_phdr + off::p_filesz, std::uint64_t{b.size()});
    expect_error(b, errc::truncated, "PT_NOTE segment truncated", c.notes);
  }
}

TEST_CASE("malformed: PT_LOAD defects", "[elf][malformed]") {
  auto c = necro::test::small_core().build();
  auto& b = c.image;
  const auto ph = c.load_phdrs[1];  // the vDSO: filesz == memsz == 0x1000

  SECTION("bytes past EOF") {
    poke(b, ph + off::p_filesz, std::uint64_t{0x10000});
    poke(b, ph + off::p_memsz, std::uint64_t{0x10000});
    expect_error(b, errc::truncated, "PT_LOAD (program header 2) at 0x7ffff7fc1000: bytes truncated: need 65536 bytes",
                 c.load_data[1]);
  }
  SECTION("p_offset past EOF") {
    poke(b, ph + off::p_offset, std::uint64_t{b.size() + 1});
    expect_error(b, errc::truncated, "PT_LOAD (program header 2) at 0x7ffff7fc1000: bytes truncated", b.size() + 1);
  }
  SECTION("p_offset + p_filesz wraps") {
    poke(b, ph + off::p_offset, max64 - 15);
    expect_error(b, errc::truncated, "PT_LOAD (program header 2) at 0x7ffff7fc1000: bytes truncated: need 4096 bytes, 0 left",
                 max64 - 15);
  }
  SECTION("p_vaddr + p_memsz wraps the address space") {
    poke(b, ph + off::p_vaddr, std::uint64_t{0xfffffffffffff000});
    poke(b, ph + off::p_memsz, std::uint64_t{0x2000});
    expect_error(b, errc::bad_value, "PT_LOAD (program header 2) at 0xfffffffffffff000 wraps the address space", ph);
  }
  SECTION("p_filesz > p_memsz") {
    poke(b, ph + off::p_memsz, std::uint64_t{16});
    expect_error(b, errc::bad_value, "PT_LOAD (program header 2) has p_filesz 0x1000 > p_memsz 0x10", ph);
  }
  SECTION("p_vaddr not page aligned") {
    poke(b, ph + off::p_vaddr, std::uint64_t{small::vdso_base + 8});
    expect_error(b, errc::bad_value, "PT_LOAD (program header 2) at 0x7ffff7fc1008 is not page aligned", ph);
  }
  SECTION("p_memsz not a multiple of the page size") {
    // Kernel cores are whole pages; an unaligned size would become a VMA
    // CRIU cannot map. p_filesz <= p_memsz still holds.
    poke(b, ph + off::p_filesz, std::uint64_t{0x800});
    poke(b, ph + off::p_memsz, std::uint64_t{0x1800});
    expect_error(b, errc::bad_value,
                 "PT_LOAD (program header 2) at 0x7ffff7fc1000 has p_memsz 0x1800, not a multiple of the page size 0x1000",
                 ph);
  }
  SECTION("p_memsz smaller than a page") {
    poke(b, ph + off::p_filesz, std::uint64_t{32});
    poke(b, ph + off::p_memsz, std::uint64_t{32});
    expect_error(b, errc::bad_value, "has p_memsz 0x20, not a multiple of the page size 0x1000", ph);
  }
  SECTION("p_vaddr at a page boundary of a larger page size is still fine") {
    // 2 MiB-aligned and whole 4 KiB pages: accepted.
    poke(b, ph + off::p_vaddr, std::uint64_t{0x7ffff7e00000 - 0x200000});
    REQUIRE(x86_core::parse(necro::test::view_of(b)));
  }
  SECTION("two PT_LOADs overlap") {
    poke(b, ph + off::p_vaddr, std::uint64_t{small::exe_base});
    expect_error(b, errc::bad_value, "PT_LOAD at 0x400000 overlaps the one at 0x400000");
  }
  SECTION("a PT_LOAD inside another") {
    poke(b, ph + off::p_vaddr, std::uint64_t{small::stack_base + 0x1000});
    expect_error(b, errc::bad_value, "PT_LOAD at 0x7ffffffdf000 overlaps");
  }
}

TEST_CASE("malformed: note framing defects", "[elf][malformed]") {
  auto c = necro::test::small_core().build();
  auto& b = c.image;
  const auto second = c.note_headers[1];  // NT_PRFPREG of thread 1

  SECTION("namesz 2^32-1") {
    poke(b, second + off::n_namesz, std::uint32_t{0xffffffff});
    expect_error(b, errc::bad_value, "note name size 4294967295 exceeds 256", second);
  }
  SECTION("descsz 2^32-1") {
    poke(b, second + off::n_descsz, std::uint32_t{0xffffffff});
    expect_error(b, errc::truncated, "note 0x2 descriptor truncated: need 4294967295 bytes", c.note_descs[1]);
  }
  SECTION("descsz past the PT_NOTE segment") {
    const auto seg_end = c.notes + necro::test::peek<std::uint64_t>(b, c.note_phdr + off::p_filesz);
    const auto last = c.note_headers.back();
    poke(b, last + off::n_descsz, static_cast<std::uint32_t>(seg_end - c.note_descs.back() + 1));
    expect_error(b, errc::truncated, "descriptor truncated", c.note_descs.back());
  }
}

TEST_CASE("malformed: note payload defects", "[elf][malformed]") {
  SECTION("NT_PRSTATUS one byte short") {
    auto c = necro::test::small_core();
    auto& d = c.notes()[0].desc;
    d.pop_back();
    const auto built = c.build();
    expect_error(built.image, errc::bad_value, "NT_PRSTATUS has 335 bytes, x86_64 expects 336", built.note_descs[0]);
  }
  SECTION("NT_PRSTATUS one byte long") {
    auto c = necro::test::small_core();
    c.notes()[0].desc.push_back(std::byte{0});
    const auto built = c.build();
    expect_error(built.image, errc::bad_value, "NT_PRSTATUS has 337 bytes", built.note_descs[0]);
  }
  SECTION("no NT_PRSTATUS at all") {
    auto c = necro::test::small_core();
    auto& n = c.notes();
    std::erase_if(n, [](const auto& x) { return x.type == nt::prstatus; });
    expect_error(c.build().image, errc::missing, "no NT_PRSTATUS note: the core has no threads");
  }
  SECTION("FP regset of the wrong size") {
    auto c = necro::test::small_core();
    c.notes()[1].desc.resize(511);
    const auto built = c.build();
    expect_error(built.image, errc::bad_value, "FP regset note has 511 bytes, expected 512", built.note_descs[1]);
  }
  SECTION("NT_PRPSINFO too short") {
    auto c = necro::test::small_core();
    const auto i = note_index(c, nt::prpsinfo);
    c.notes()[i].desc.resize(100);
    const auto built = c.build();
    expect_error(built.image, errc::truncated, "NT_PRPSINFO truncated: need 136 bytes, 100 left",
                 built.note_descs[i]);
  }
  SECTION("NT_AUXV not made of pairs") {
    const auto built = with_note_desc(nt::auxv, bytes(24));
    expect_error(built.image, errc::bad_value, "NT_AUXV size 24 is not a multiple of 16");
  }
  SECTION("NT_AUXV beyond the cap") {
    const auto built = with_note_desc(nt::auxv, bytes((necro::elf::max_auxv_words + 2) * 8));
    expect_error(built.image, errc::limit, "NT_AUXV has 1026 words, cap is 1024");
  }
}

TEST_CASE("malformed: NT_FILE defects", "[elf][malformed]") {
  using necro::test::nt_file;
  using necro::test::nt_file_entry;
  const std::vector<nt_file_entry> entries = {{0x400000, 0x401000, 0, "/bin/a"},
                                              {0x401000, 0x402000, 1, "/bin/a"},
                                              {0x7f0000000000, 0x7f0000001000, 0, "/lib/libc.so.6"}};
  const std::size_t file_note = note_index(necro::test::small_core(), nt::file);
  auto desc_at = [&](const built_core& b) { return b.note_descs[file_note]; };

  SECTION("count 2^32") {
    const auto b = with_note_desc(nt::file, nt_file(4096, entries, std::uint64_t{1} << 32));
    expect_error(b.image, errc::limit, "NT_FILE count 4294967296 exceeds the cap of 1048576", desc_at(b));
  }
  SECTION("count 2^64-1") {
    const auto b = with_note_desc(nt::file, nt_file(4096, entries, max64));
    expect_error(b.image, errc::limit, "NT_FILE count 18446744073709551615 exceeds the cap", desc_at(b));
  }
  SECTION("a count under the cap whose table does not fit") {
    const auto b = with_note_desc(nt::file, nt_file(4096, entries, 1000));
    expect_error(b.image, errc::truncated, "NT_FILE table of 1000 entries truncated: need 24000 bytes",
                 desc_at(b) + 16);
  }
  SECTION("names not NUL-terminated") {
    auto d = nt_file(4096, entries);
    d.pop_back();  // the last name loses its NUL
    const auto b = with_note_desc(nt::file, d);
    const std::uint64_t last_name = 16 + 3 * 24 + 7 + 7;
    expect_error(b.image, errc::truncated, "NT_FILE name 2 is not NUL-terminated", desc_at(b) + last_name);
  }
  SECTION("no names at all") {
    const auto b = with_note_desc(nt::file, nt_file(4096, entries, std::nullopt, false));
    expect_error(b.image, errc::truncated, "NT_FILE name 0 is not NUL-terminated", desc_at(b) + 16 + 3 * 24);
  }
  SECTION("fewer names than entries") {
    auto d = nt_file(4096, entries);
    d.resize(d.size() - 15);  // drop "/lib/libc.so.6\0"
    const auto b = with_note_desc(nt::file, d);
    expect_error(b.image, errc::truncated, "NT_FILE name 2 truncated: need 1 bytes, 0 left");
  }
  SECTION("shorter than its header") {
    const auto b = with_note_desc(nt::file, bytes(12));
    expect_error(b.image, errc::truncated, "NT_FILE page size truncated: need 8 bytes, 4 left", desc_at(b) + 8);
  }
  SECTION("page size 0") {
    const auto b = with_note_desc(nt::file, nt_file(0, entries));
    expect_error(b.image, errc::bad_value, "NT_FILE page size 0 is not a power of two", desc_at(b) + 8);
  }
  SECTION("page size 4095") {
    const auto b = with_note_desc(nt::file, nt_file(4095, entries));
    expect_error(b.image, errc::bad_value, "NT_FILE page size 4095 is not a power of two", desc_at(b) + 8);
  }
  SECTION("an entry that ends before it starts") {
    auto e = entries;
    e[1].end = 0x400000;
    const auto b = with_note_desc(nt::file, nt_file(4096, e));
    expect_error(b.image, errc::bad_value, "NT_FILE entry 1 ends (0x400000) before it starts (0x401000)",
                 desc_at(b) + 16 + 24);
  }
  SECTION("a page offset whose byte offset overflows") {
    auto e = entries;
    e[2].page_offset = max64 / 4096 + 1;
    const auto b = with_note_desc(nt::file, nt_file(4096, e));
    expect_error(b.image, errc::bad_value, "NT_FILE entry 2 offset overflows", desc_at(b) + 16 + 48 + 16);
  }
}

TEST_CASE("malformed: thread count is capped", "[elf][malformed]") {
  necro::test::core_builder c;
  const auto ps = necro::test::prstatus(1, 1, necro::test::sample_regs(1));
  for (std::uint64_t i = 0; i <= necro::elf::max_threads; ++i) c.note("CORE", nt::prstatus, ps);
  const auto built = c.build();
  expect_error(built.image, errc::limit, "more than 65536 threads", built.note_descs.back());
}

TEST_CASE("malformed: every truncation of a valid core is an error", "[elf][malformed]") {
  const auto c = necro::test::small_core().build();
  for (std::size_t n = 0; n < c.image.size(); ++n) {
    // An exact-size copy, so a sanitizer sees any read past the end.
    const bytes cut(c.image.begin(), c.image.begin() + static_cast<std::ptrdiff_t>(n));
    auto r = x86_core::parse(necro::test::view_of(cut));
    INFO("truncated to " << n << " of " << c.image.size() << " bytes");
    REQUIRE_FALSE(r);
    REQUIRE(r.error().path() == name);
    REQUIRE(r.error().code() == errc::truncated);
    REQUIRE_THAT(r.error().message(), Catch::Matchers::Contains("truncated: need"));
  }
}

TEST_CASE("malformed: corrupting any single byte never crashes", "[elf][malformed]") {
  const auto c = necro::test::small_core().build();
  std::size_t errors = 0;
  for (std::size_t i = 0; i < c.image.size(); ++i) {
    for (std::uint8_t flip : {std::uint8_t{0xff}, std::uint8_t{0x80}, std::uint8_t{0x01}}) {
      bytes b = c.image;
      b[i] ^= std::byte{flip};
      auto r = x86_core::parse(necro::test::view_of(b));
      if (!r) {
        ++errors;
        INFO(r.error().message());
        REQUIRE(r.error().path() == name);
        REQUIRE_FALSE(r.error().what().empty());
      } else {
        // Whatever parsed must still be internally consistent.
        REQUIRE_FALSE(r->threads().empty());
        for (const auto& s : r->segments()) REQUIRE(s.bytes.size() == s.filesz);
      }
    }
  }
  CHECK(errors > 0);
}

TEST_CASE("malformed: random multi-byte corruption never crashes", "[elf][malformed]") {
  const auto c = necro::test::small_core().build();
  std::mt19937_64 rng(0x6e6563726f);  // fixed seed: reproducible
  std::uniform_int_distribution<std::size_t> pos(0, c.image.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255), count(1, 8);
  for (int iter = 0; iter < 3000; ++iter) {
    bytes b = c.image;
    for (int k = count(rng); k > 0; --k) b[pos(rng)] = static_cast<std::byte>(byte(rng));
    auto r = x86_core::parse(necro::test::view_of(b));
    if (!r) REQUIRE(r.error().path() == name);
  }
}
