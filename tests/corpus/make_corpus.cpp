// The hostile-input corpus of tests/corpus/corpus_test.sh, made on demand:
//
//   necro_make_corpus list CORE AARCH64_CORE DONOR_DIR          the cases, one a line
//   necro_make_corpus make CORE AARCH64_CORE DONOR_DIR DIR NAME  writes case NAME into DIR
//   necro_make_corpus grow CORE OUT_CORE MIB   the core plus MIB MiB of memory (tests/fault)
//
// Every case is the real fixture (CORE, DONOR_DIR) with one defect: a core cut
// at a structure boundary, a header field that lies, a note that overflows, an
// image with a wrong magic, a 4 GiB entry length, a missing image... The real
// fixture is parsed once (with necro) only to find where its structures are;
// the expected messages are spelled out here, from the ELF and CRIU formats.
// Cases are made one at a time because together they would take ~300 MB.
//
// `list` prints one line per case, tab-separated:
//   group  name  kind  file  expect
// kind: core       `make` writes DIR/case.core; with the pristine donor it must fail
//       donor      `make` writes DIR/case.donor/; with the pristine core it must fail
//       ok-core / ok-donor   tolerated: the patch must succeed; `expect` is `same`
//                  (the output equals the baseline patch byte for byte) or
//                  `differs` (a valid but different image set)
//       print-core `make` writes DIR/case.core; --inspect and --explain must
//                  succeed, print no control byte (but newlines) and print
//                  `expect` (literally: the escaped form of a hostile name)
// file:   the file the one-line error must name: `core`, `zcore` (the core's
//         decompressed content: `CORE (decompressed)`), a donor-relative
//         image name, or `.` for the donor directory itself
// expect: a glob that must match the start of the message after `<file>: `.
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <zstd.h>

#include <fmt/format.h>

#include <necro/arch/x86_64.hpp>
#include <necro/criu/image.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/elf/notes.hpp>
#include <necro/pb/core.pb.h>
#include <necro/pb/mm.pb.h>
#include <necro/pb/pagemap.pb.h>
#include <necro/pb/pstree.pb.h>

#include "support/core_builder.hpp"

namespace {

namespace fs = std::filesystem;
namespace magic = necro::criu::magic;
namespace nt = necro::arch::nt;
namespace off = necro::test::off;
using necro::test::bytes;
using necro::test::peek;
using necro::test::poke;
using x86_core = necro::elf::core_view<necro::arch::x86_64>;
using prstatus = necro::arch::x86_64_abi::prstatus;
using user_regs = necro::arch::x86_64_abi::user_regs;

constexpr std::uint64_t max64 = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t phdr_size = sizeof(necro::elf::phdr64);

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "necro_make_corpus: %s\n", what.c_str());
  std::exit(2);
}

bytes slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) die("cannot read " + p.string());
  const std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  bytes b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

void spill(const fs::path& p, const bytes& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  if (!out) die("cannot write " + p.string());
}

std::string hex(std::uint64_t v) { return fmt::format("{:#x}", v); }

/// Where the structures of the real core are.
struct core_map {
  std::uint64_t size = 0, phoff = 0, phnum = 0;
  std::uint64_t note_phdr = 0, notes = 0, notes_size = 0;
  struct note_at {
    std::uint32_t type;
    std::uint64_t header, desc, descsz;
  };
  std::vector<note_at> notes_at;
  struct load_at {
    std::uint64_t index, header, offset, vaddr, filesz, memsz;
    std::uint32_t flags;
  };
  std::vector<load_at> loads;

  const note_at& note(std::uint32_t type) const {
    for (const auto& n : notes_at)
      if (n.type == type) return n;
    die(fmt::format("the fixture core has no note {:#x}", type));
  }
  const load_at& load_at_vaddr(std::uint64_t vaddr) const {
    for (const auto& l : loads)
      if (l.vaddr <= vaddr && vaddr < l.vaddr + l.memsz) return l;
    die(fmt::format("no PT_LOAD holds {:#x}", vaddr));
  }
};

core_map map_core(const bytes& b) {
  const auto view = necro::test::view_of(b, "fixture");
  auto core = x86_core::parse(view);
  if (!core) die("the fixture core does not parse: " + core.error().message());
  core_map m;
  m.size = b.size();
  m.phoff = core->header().phoff;
  m.phnum = core->header().phnum;
  for (std::uint64_t i = 0; i < m.phnum; ++i) {
    const auto ph = peek<necro::elf::phdr64>(b, m.phoff + i * phdr_size);
    if (ph.type == necro::arch::elfc::pt_note) {
      m.note_phdr = m.phoff + i * phdr_size;
      m.notes = ph.offset;
      m.notes_size = ph.filesz;
    } else if (ph.type == necro::arch::elfc::pt_load) {
      m.loads.push_back({i, m.phoff + i * phdr_size, ph.offset, ph.vaddr, ph.filesz, ph.memsz, ph.flags});
    }
  }
  auto seg = view.sub(m.notes, m.notes_size, "notes");
  if (!seg) die("no notes");
  auto walk = necro::elf::for_each_note(*seg, [&](const necro::elf::note& n) -> necro::result<void> {
    m.notes_at.push_back({n.type, n.file_offset, n.desc.file_offset(), n.desc.size()});
    return {};
  });
  if (!walk) die(walk.error().message());
  if (m.loads.size() < 8 || m.notes_at.size() < 6) die("the fixture core is smaller than expected");
  return m;
}

/// The cases: listed, or the one asked for written out.
class corpus {
 public:
  /// List mode when `only` is empty; else writes case `only` into `out`.
  corpus(bytes core, fs::path donor, fs::path out, std::string only)
      : core_(std::move(core)), donor_(std::move(donor)), out_(std::move(out)), only_(std::move(only)) {}

  bool found() const { return found_; }
  const bytes& core() const { return core_; }
  const fs::path& donor() const { return donor_; }

  /// A core that must be refused with `expect`.
  void bad_core(std::string_view group, const std::string& name, const std::function<bytes()>& make,
                const std::string& expect) {
    if (take(group, name, "core", "core", expect)) spill(out_ / "case.core", make());
  }
  /// A compressed core whose decompressed content must be refused with `expect`.
  void bad_zcore(std::string_view group, const std::string& name, const std::function<bytes()>& make,
                 const std::string& expect) {
    if (take(group, name, "core", "zcore", expect)) spill(out_ / "case.core", make());
  }
  /// The pristine core cut at `len`.
  void cut_core(std::string_view group, const std::string& name, std::uint64_t len, const std::string& expect) {
    bad_core(group, name, [&] { return bytes(core_.begin(), core_.begin() + static_cast<std::ptrdiff_t>(len)); },
             expect);
  }
  /// The pristine core with `edit` applied.
  void edit_core(std::string_view group, const std::string& name, const std::function<void(bytes&)>& edit,
                 const std::string& expect) {
    bad_core(group, name, [&] { return edited(edit); }, expect);
  }
  /// A donor that must be refused with a message naming `file`.
  void bad_donor(std::string_view group, const std::string& name, const std::function<void(const fs::path&)>& edit,
                 const std::string& file, const std::string& expect) {
    if (take(group, name, "donor", file, expect)) edit(copy_donor());
  }
  /// Inputs that are odd but fine: the patch must succeed (`same` or `differs`).
  void ok_core(std::string_view group, const std::string& name, const std::function<void(bytes&)>& edit,
               std::string_view outcome) {
    if (take(group, name, "ok-core", "core", std::string(outcome))) spill(out_ / "case.core", edited(edit));
  }
  void ok_donor(std::string_view group, const std::string& name, const std::function<void(const fs::path&)>& edit,
                std::string_view outcome) {
    if (take(group, name, "ok-donor", ".", std::string(outcome))) edit(copy_donor());
  }
  /// A core with hostile names that plans fine: `--inspect` and `--explain`
  /// must succeed, print no control byte but newlines, and print `escaped`.
  void print_core(std::string_view group, const std::string& name, const std::function<void(bytes&)>& edit,
                  const std::string& escaped) {
    if (take(group, name, "print-core", "core", escaped)) spill(out_ / "case.core", edited(edit));
  }

 private:
  bytes edited(const std::function<void(bytes&)>& edit) const {
    bytes b = core_;
    edit(b);
    return b;
  }
  fs::path copy_donor() const {
    const fs::path d = out_ / "case.donor";
    fs::copy(donor_, d, fs::copy_options::recursive);
    return d;
  }
  /// Lists the case, or says whether it is the one to write.
  bool take(std::string_view group, const std::string& name, std::string_view kind, const std::string& file,
            const std::string& expect) {
    if (!names_.insert(name).second) die("two cases are named " + name);
    for (const auto& f : {name, file, expect})
      if (f.find_first_of("\t\n") != std::string::npos) die("a tab or newline in case " + name);
    if (only_.empty()) {
      fmt::print("{}\t{}\t{}\t{}\t{}\n", group, name, kind, file, expect);
      return false;
    }
    if (name != only_) return false;
    found_ = true;
    return true;
  }

  bytes core_;
  fs::path donor_, out_;
  std::string only_;
  std::set<std::string> names_;
  bool found_ = false;
};

// ------------------------------------------------------------------ zstd

/// `b` as one zstd frame with a checksum, as the zstd tool writes it.
bytes zstd_frame(const bytes& b) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  bytes out(ZSTD_compressBound(b.size()));
  const std::size_t n = ZSTD_compress2(cctx, out.data(), out.size(), b.data(), b.size());
  ZSTD_freeCCtx(cctx);
  if (ZSTD_isError(n)) die(fmt::format("zstd: {}", ZSTD_getErrorName(n)));
  out.resize(n);
  return out;
}

/// Compressed cores (systemd-coredump's core.*.zst): the stream's defects
/// name the .zst file; the content's name it "(decompressed)".
void compressed_cores(corpus& c, const core_map& m) {
  const std::string_view g = "compressed-core";
  c.ok_core(g, "zstd-whole", [](bytes& b) { b = zstd_frame(b); }, "same");
  c.bad_core(g, "zstd-cut", [&] {
    auto z = zstd_frame(c.core());
    z.resize(z.size() / 2);
    return z;
  }, "offset 0x*: zstd stream ends inside a frame: the compressed core is cut short");
  c.bad_core(g, "zstd-magic-only", [&] {
    auto z = zstd_frame(c.core());
    z.resize(4);
    return z;
  }, "offset 0x*: zstd stream ends inside a frame");
  c.bad_core(g, "zstd-corrupt", [&] {
    auto z = zstd_frame(c.core());
    for (std::size_t i = z.size() / 3; i < z.size() / 3 + 16; ++i) z[i] ^= std::byte{0x5a};
    return z;
  }, "offset 0x*: zstd stream cannot be decompressed: *");
  c.bad_zcore(g, "zstd-of-a-cut-header", [&] {
    return zstd_frame(bytes(c.core().begin(), c.core().begin() + 32));
  }, "offset 0x0: ELF header truncated: need 64 bytes, 32 left");
  c.bad_zcore(g, "zstd-of-a-cut-load", [&] {
    const auto& l = m.loads.back();
    return zstd_frame(bytes(c.core().begin(), c.core().begin() + static_cast<std::ptrdiff_t>(l.offset + 1)));
  }, fmt::format("offset {}: PT_LOAD (program header {}) at {}: bytes truncated", hex(m.loads.back().offset),
                 m.loads.back().index, hex(m.loads.back().vaddr)));
}

// ------------------------------------------------------------------ cores

/// Moves the program header table of `b` to its end (e_phoff may point
/// anywhere), followed by `extra` headers; returns the new e_phoff.
std::uint64_t move_phdrs(bytes& b, const core_map& m, const std::vector<necro::elf::phdr64>& extra) {
  const bytes table(b.begin() + static_cast<std::ptrdiff_t>(m.phoff),
                    b.begin() + static_cast<std::ptrdiff_t>(m.phoff + m.phnum * phdr_size));
  necro::test::pad_to(b, 8);
  const std::uint64_t at = b.size();
  b.insert(b.end(), table.begin(), table.end());
  for (const auto& ph : extra) necro::test::append(b, ph);
  poke(b, off::e_phoff, at);
  poke(b, off::e_phnum, static_cast<std::uint16_t>(m.phnum + extra.size()));
  return at;
}

std::string truncated(std::uint64_t at, std::string_view what, std::uint64_t need, std::uint64_t left) {
  return fmt::format("offset {}: {} truncated: need {} bytes, {} left", hex(at), what, need, left);
}

std::string load_what(const core_map::load_at& l) {
  return fmt::format("PT_LOAD (program header {}) at {}: bytes", l.index, hex(l.vaddr));
}

/// Cuts at every structure boundary, and inside each structure.
void truncated_cores(corpus& c, const core_map& m) {
  const std::string_view g = "truncated-core";
  const std::uint64_t ehdr = sizeof(necro::elf::ehdr64), table = m.phnum * phdr_size;
  c.cut_core(g, "cut-empty", 0, truncated(0, "ELF header", ehdr, 0));
  c.cut_core(g, "cut-ehdr-half", ehdr / 2, truncated(0, "ELF header", ehdr, ehdr / 2));
  c.cut_core(g, "cut-ehdr-1", ehdr - 1, truncated(0, "ELF header", ehdr, ehdr - 1));
  c.cut_core(g, "cut-after-ehdr", ehdr, truncated(m.phoff, "program header table", table, 0));
  for (const std::uint64_t k : {std::uint64_t{1}, m.phnum / 2, m.phnum - 1}) {
    const std::uint64_t len = m.phoff + k * phdr_size;
    c.cut_core(g, fmt::format("cut-phdr-{}", k), len, truncated(m.phoff, "program header table", table, len - m.phoff));
    c.cut_core(g, fmt::format("cut-phdr-{}-mid", k), len + 20,
               truncated(m.phoff, "program header table", table, len + 20 - m.phoff));
  }
  // The PT_NOTE segment is taken whole before any note is read: every cut in
  // it is reported at the segment's start.
  const auto in_notes = [&](std::uint64_t len) {
    return truncated(m.notes, "PT_NOTE segment", m.notes_size, len - m.notes);
  };
  c.cut_core(g, "cut-after-phdrs", m.phoff + table, in_notes(m.phoff + table));
  for (std::size_t i = 0; i < m.notes_at.size(); ++i) {
    const auto& n = m.notes_at[i];
    c.cut_core(g, fmt::format("cut-note-{}-header", i), n.header, in_notes(n.header));
    c.cut_core(g, fmt::format("cut-note-{}-header-mid", i), n.header + 6, in_notes(n.header + 6));
    c.cut_core(g, fmt::format("cut-note-{}-desc", i), n.desc, in_notes(n.desc));
  }
  const auto& file = m.note(nt::file);
  c.cut_core(g, "cut-nt-file-table", file.desc + 16 + 24 + 8, in_notes(file.desc + 16 + 24 + 8));
  c.cut_core(g, "cut-nt-file-names", file.desc + file.descsz - 3, in_notes(file.desc + file.descsz - 3));
  c.cut_core(g, "cut-after-notes", m.notes + m.notes_size - 1, in_notes(m.notes + m.notes_size - 1));
  // PT_LOADs are checked in program header order, and their data follow that
  // order: a cut inside one is reported for that one.
  for (const auto& l : m.loads) {
    if (l.filesz == 0) continue;
    c.cut_core(g, fmt::format("cut-load-{}", l.index), l.offset, truncated(l.offset, load_what(l), l.filesz, 0));
    c.cut_core(g, fmt::format("cut-load-{}-mid", l.index), l.offset + l.filesz / 2 + 1,
               truncated(l.offset, load_what(l), l.filesz, l.filesz / 2 + 1));
  }
  const auto& last = m.loads.back();
  c.cut_core(g, "cut-last-byte", m.size - 1,
             truncated(last.offset, load_what(last), last.filesz, m.size - 1 - last.offset));
}

/// Headers that lie about the file.
void lying_cores(corpus& c, const core_map& m) {
  const std::string_view g = "lying-core";
  c.edit_core(g, "bad-magic", [](bytes& b) { b[1] = std::byte{'X'}; }, "offset 0x0: not an ELF file (bad magic)");
  c.edit_core(g, "elfclass32", [](bytes& b) { b[off::e_class] = std::byte{1}; },
              "offset 0x4: ELF class 1 is not x86_64's ELFCLASS64");
  c.edit_core(g, "big-endian", [](bytes& b) { b[off::e_data] = std::byte{2}; },
              "offset 0x5: ELF data encoding 2 is not x86_64's");
  c.edit_core(g, "et-exec", [](bytes& b) { poke(b, off::e_type, std::uint16_t{2}); },
              "offset 0x10: ELF type 2 is not ET_CORE (4): not a core dump");
  // e_machine picks the architecture: read as aarch64, the x86-64 notes do not fit.
  c.edit_core(g, "em-aarch64", [](bytes& b) { poke(b, off::e_machine, std::uint16_t{183}); },
              fmt::format("offset {}: NT_PRSTATUS has 336 bytes, aarch64 expects 392", hex(m.note(nt::prstatus).desc)));
  c.edit_core(g, "em-arm", [](bytes& b) { poke(b, off::e_machine, std::uint16_t{40}); },
              "offset 0x12: ELF machine 40 (e_machine) is not an architecture necro reads; it reads x86_64 (62), "
              "aarch64 (183)");
  c.edit_core(g, "phentsize-32", [](bytes& b) { poke(b, off::e_phentsize, std::uint16_t{32}); },
              "offset 0x36: e_phentsize 32 is not 56");
  c.edit_core(g, "phoff-eof", [&](bytes& b) { poke(b, off::e_phoff, m.size); },
              truncated(m.size, "program header table", m.phnum * phdr_size, 0));
  c.edit_core(g, "phoff-wraps", [](bytes& b) { poke(b, off::e_phoff, max64 - 8); },
              fmt::format("offset {}: program header table truncated: need {} bytes, 0 left", hex(max64 - 8),
                          m.phnum * phdr_size));
  c.edit_core(g, "phnum-0xfffe", [](bytes& b) { poke(b, off::e_phnum, std::uint16_t{0xfffe}); },
              truncated(m.phoff, "program header table", 0xfffe * phdr_size, m.size - m.phoff));
  c.edit_core(g, "phnum-0", [](bytes& b) { poke(b, off::e_phnum, std::uint16_t{0}); },
              "no NT_PRSTATUS note: the core has no threads");
  c.edit_core(g, "pn-xnum-shoff-eof", [&](bytes& b) {
                poke(b, off::e_phnum, std::uint16_t{0xffff});
                poke(b, off::e_shoff, m.size - 10);
              },
              truncated(m.size - 10, "section header 0 (PN_XNUM)", 64, 10));
  c.edit_core(g, "pn-xnum-shoff-wraps", [](bytes& b) {
                poke(b, off::e_phnum, std::uint16_t{0xffff});
                poke(b, off::e_shoff, max64 - 20);
              },
              fmt::format("offset {}: section header 0 (PN_XNUM) truncated", hex(max64 - 20)));
  c.edit_core(g, "pn-xnum-count-over-cap", [&](bytes& b) {
                // Section header 0 at the end of the file, sh_info = 2^21.
                poke(b, off::e_phnum, std::uint16_t{0xffff});
                poke(b, off::e_shoff, m.size);
                b.resize(b.size() + 64);
                poke(b, m.size + 44, std::uint32_t{1u << 21});
              },
              "offset 0x38: 2097152 program headers exceed the cap of 1048576");

  // PT_NOTE.
  c.edit_core(g, "note-offset-eof", [&](bytes& b) { poke(b, m.note_phdr + off::p_offset, m.size); },
              truncated(m.size, "PT_NOTE segment", m.notes_size, 0));
  c.edit_core(g, "note-filesz-2^64-1", [&](bytes& b) { poke(b, m.note_phdr + off::p_filesz, max64); },
              truncated(m.notes, "PT_NOTE segment", max64, m.size - m.notes));
  c.edit_core(g, "note-offset-wraps", [&](bytes& b) { poke(b, m.note_phdr + off::p_offset, max64 - 4); },
              truncated(max64 - 4, "PT_NOTE segment", m.notes_size, 0));

  // PT_LOAD: the heap-sized one in the middle (the 7th PT_LOAD of the fixture).
  const auto& l = m.loads[5];
  const std::string ph = fmt::format("offset {}: PT_LOAD (program header {})", hex(l.header), l.index);
  c.edit_core(g, "load-offset-eof", [&](bytes& b) { poke(b, l.header + off::p_offset, m.size); },
              truncated(m.size, load_what(l), l.filesz, 0));
  c.edit_core(g, "load-offset-wraps", [&](bytes& b) { poke(b, l.header + off::p_offset, max64 - 0xfff); },
              truncated(max64 - 0xfff, load_what(l), l.filesz, 0));
  c.edit_core(g, "load-filesz-past-eof", [&](bytes& b) {
                poke(b, l.header + off::p_filesz, m.size);
                poke(b, l.header + off::p_memsz, m.size);
              },
              truncated(l.offset, load_what(l), m.size, m.size - l.offset));
  c.edit_core(g, "load-filesz-over-memsz", [&](bytes& b) { poke(b, l.header + off::p_filesz, l.memsz + 0x1000); },
              fmt::format("{} has p_filesz {} > p_memsz {}", ph, hex(l.memsz + 0x1000), hex(l.memsz)));
  c.edit_core(g, "load-wraps-address-space", [&](bytes& b) { poke(b, l.header + off::p_memsz, max64 - 0xfff); },
              fmt::format("{} at {} wraps the address space", ph, hex(l.vaddr)));
  c.edit_core(g, "load-empty", [&](bytes& b) {
                poke(b, l.header + off::p_filesz, std::uint64_t{0});
                poke(b, l.header + off::p_memsz, std::uint64_t{0});
              },
              fmt::format("{} at {} has p_memsz 0", ph, hex(l.vaddr)));
  c.edit_core(g, "load-unaligned", [&](bytes& b) { poke(b, l.header + off::p_vaddr, l.vaddr + 0x10); },
              fmt::format("{} at {} is not page aligned", ph, hex(l.vaddr + 0x10)));
  c.edit_core(g, "load-memsz-unaligned", [&](bytes& b) { poke(b, l.header + off::p_memsz, l.memsz + 0x10); },
              fmt::format("{} at {} has p_memsz {}, not a multiple of the page size 0x1000", ph, hex(l.vaddr),
                          hex(l.memsz + 0x10)));
  const auto& next = m.loads[6];
  c.edit_core(g, "loads-overlap", [&](bytes& b) { poke(b, next.header + off::p_vaddr, l.vaddr + 0x1000); },
              fmt::format("offset {}: PT_LOAD at {} overlaps the one at {}", hex(next.header), hex(l.vaddr + 0x1000),
                          hex(l.vaddr)));
  c.edit_core(g, "loads-same-address", [&](bytes& b) { poke(b, next.header + off::p_vaddr, l.vaddr); },
              // Either header may be named: both are at the same address.
              fmt::format("offset 0x*: PT_LOAD at {} overlaps the one at {}", hex(l.vaddr), hex(l.vaddr)));
  // 20000 PT_NOTE headers naming the same 100000 empty notes: walked each,
  // 2 * 10^9 notes (half an hour). Linux writes one PT_NOTE; the cap is 16.
  constexpr std::uint64_t many = 20000, empty_notes = 100000;
  c.edit_core(g, "note-segments-quadratic", [&](bytes& b) {
                const std::uint64_t notes = b.size();
                b.resize(b.size() + empty_notes * 12);
                necro::elf::phdr64 note{};
                note.type = necro::arch::elfc::pt_note;
                note.offset = notes;
                note.filesz = empty_notes * 12;
                note.align = 4;
                move_phdrs(b, m, std::vector<necro::elf::phdr64>(many, note));
              },
              // The fixture's own PT_NOTE is the first; the 17th is extra header 15.
              fmt::format("offset {}: more than 16 PT_NOTE segments",
                          hex((m.size + empty_notes * 12 + 7) / 8 * 8 + (m.phnum + 15) * phdr_size)));
  // A PT_LOAD whose memsz reaches up to the next one: 10^10 pages of which
  // the core has a handful. Planning must not walk them one by one.
  c.ok_core(g, "load-memsz-huge", [&](bytes& b) {
              poke(b, l.header + off::p_memsz, next.vaddr - l.vaddr);
            },
            "differs");
}

/// Notes that lie about their sizes and counts.
void lying_notes(corpus& c, const core_map& m) {
  const std::string_view g = "lying-note";
  const auto& ps = m.note(nt::prstatus);
  c.edit_core(g, "namesz-2^32-1", [&](bytes& b) { poke(b, ps.header + off::n_namesz, std::uint32_t{0xffffffff}); },
              fmt::format("offset {}: note name size 4294967295 exceeds 256", hex(ps.header)));
  c.edit_core(g, "namesz-257", [&](bytes& b) { poke(b, ps.header + off::n_namesz, std::uint32_t{257}); },
              fmt::format("offset {}: note name size 257 exceeds 256", hex(ps.header)));
  c.edit_core(g, "descsz-2^32-1", [&](bytes& b) { poke(b, ps.header + off::n_descsz, std::uint32_t{0xffffffff}); },
              truncated(ps.desc, "note 0x1 descriptor", 0xffffffff, m.notes + m.notes_size - ps.desc));
  const auto& fl = m.note(nt::file);
  c.edit_core(g, "nt-file-descsz-past-segment", [&](bytes& b) {
                poke(b, fl.header + off::n_descsz, static_cast<std::uint32_t>(m.notes_size));
              },
              truncated(fl.desc, "note 0x46494c45 descriptor", m.notes_size, m.notes + m.notes_size - fl.desc));
  c.edit_core(g, "prstatus-4-short", [&](bytes& b) { poke(b, ps.header + off::n_descsz, std::uint32_t{332}); },
              fmt::format("offset {}: NT_PRSTATUS has 332 bytes, x86_64 expects 336", hex(ps.desc)));
  c.edit_core(g, "prstatus-8-long", [&](bytes& b) { poke(b, ps.header + off::n_descsz, std::uint32_t{344}); },
              fmt::format("offset {}: NT_PRSTATUS has 344 bytes, x86_64 expects 336", hex(ps.desc)));
  c.edit_core(g, "prstatus-renamed", [&](bytes& b) { b[ps.header + 12] = std::byte{'X'}; },  // "XORE"
              "no NT_PRSTATUS note: the core has no threads");
  const auto& fp = m.note(nt::prfpreg);
  c.edit_core(g, "fpregs-4-short", [&](bytes& b) { poke(b, fp.header + off::n_descsz, std::uint32_t{508}); },
              fmt::format("offset {}: FP regset note has 508 bytes, expected 512", hex(fp.desc)));
  const auto& ax = m.note(nt::auxv);
  c.edit_core(g, "auxv-not-pairs", [&](bytes& b) {
                poke(b, ax.header + off::n_descsz, static_cast<std::uint32_t>(ax.descsz - 8));
              },
              fmt::format("offset {}: NT_AUXV size {} is not a multiple of 16", hex(ax.desc), ax.descsz - 8));
  const std::uint64_t auxv_room = (m.notes + m.notes_size - ax.desc) / 16 * 16;
  c.edit_core(g, "auxv-over-cap", [&](bytes& b) {
                poke(b, ax.header + off::n_descsz, static_cast<std::uint32_t>(auxv_room));
              },
              fmt::format("offset {}: NT_AUXV has {} words, cap is 1024", hex(ax.desc), auxv_room / 8));
  c.edit_core(g, "nt-file-count-2^32", [&](bytes& b) { poke(b, fl.desc, std::uint64_t{1} << 32); },
              fmt::format("offset {}: NT_FILE count 4294967296 exceeds the cap of 1048576", hex(fl.desc)));
  c.edit_core(g, "nt-file-count-2^64-1", [&](bytes& b) { poke(b, fl.desc, max64); },
              fmt::format("offset {}: NT_FILE count 18446744073709551615 exceeds the cap of 1048576", hex(fl.desc)));
  const std::uint64_t too_many = (fl.descsz - 16) / 24 + 1;
  c.edit_core(g, "nt-file-table-past-note", [&](bytes& b) { poke(b, fl.desc, too_many); },
              truncated(fl.desc + 16, fmt::format("NT_FILE table of {} entries", too_many), too_many * 24,
                        fl.descsz - 16));
  c.edit_core(g, "nt-file-page-size-0", [&](bytes& b) { poke(b, fl.desc + 8, std::uint64_t{0}); },
              fmt::format("offset {}: NT_FILE page size 0 is not a power of two", hex(fl.desc + 8)));
  c.edit_core(g, "nt-file-page-size-4095", [&](bytes& b) { poke(b, fl.desc + 8, std::uint64_t{4095}); },
              fmt::format("offset {}: NT_FILE page size 4095 is not a power of two", hex(fl.desc + 8)));
  c.edit_core(g, "nt-file-end-before-start", [&](bytes& b) {
                const auto e = fl.desc + 16 + 24;  // entry 1
                const auto start = peek<std::uint64_t>(b, e), end = peek<std::uint64_t>(b, e + 8);
                poke(b, e, end);
                poke(b, e + 8, start);
              },
              fmt::format("offset {}: NT_FILE entry 1 ends", hex(fl.desc + 16 + 24)));
  c.edit_core(g, "nt-file-offset-overflows", [&](bytes& b) { poke(b, fl.desc + 16 + 16, max64 / 2); },
              fmt::format("offset {}: NT_FILE entry 0 offset overflows", hex(fl.desc + 16 + 16)));
  const std::uint64_t count = peek<std::uint64_t>(c.core(), fl.desc);
  const std::uint64_t names = fl.desc + 16 + count * 24;
  c.edit_core(g, "nt-file-names-unterminated", [&](bytes& b) {
                for (std::uint64_t i = names; i < fl.desc + fl.descsz; ++i)
                  if (b[i] == std::byte{0}) b[i] = std::byte{'A'};
              },
              fmt::format("offset {}: NT_FILE name 0 is not NUL-terminated", hex(names)));
  // A note segment of empty notes (every header all zeros): each advances 12
  // bytes and none is a thread; a tail shorter than a header is an error.
  const std::uint64_t tail = m.notes_size % 12;
  c.edit_core(g, "notes-all-zero", [&](bytes& b) { std::memset(b.data() + m.notes, 0, m.notes_size); },
              tail == 0 ? std::string("no NT_PRSTATUS note: the core has no threads")
                        : truncated(m.notes + m.notes_size - tail, "note header", 12, tail));
  // 2^20 + 1 empty notes: the note cap ends the walk.
  c.edit_core(g, "notes-over-cap", [&](bytes& b) {
                const std::uint64_t n = (necro::elf::max_notes + 1) * 12;
                poke(b, m.note_phdr + off::p_offset, std::uint64_t{b.size()});
                poke(b, m.note_phdr + off::p_filesz, n);
                b.resize(b.size() + n);
              },
              fmt::format("offset {}: more than 1048576 notes", hex(m.size + necro::elf::max_notes * 12)));
}

/// Cores that parse but cannot be planned against the donor.
void other_cores(corpus& c, const core_map& m, const fs::path& aarch64) {
  const std::string_view g = "other-core";
  const auto& ps = m.note(nt::prstatus);
  const std::uint64_t rsp = ps.desc + offsetof(prstatus, regs) + offsetof(user_regs, rsp);
  // Guesses that fail are warnings now, with values CRIU accepts: these plan,
  // and the patch differs from the baseline where the core does.
  c.ok_core(g, "sp-unmapped", [&](bytes& b) { poke(b, rsp, std::uint64_t{0x1000}); }, "differs");
  const auto& stack = m.load_at_vaddr(peek<std::uint64_t>(c.core(), rsp));
  c.ok_core(g, "stack-wiped", [&](bytes& b) { std::memset(b.data() + stack.offset, 0, stack.filesz); }, "differs");
  // An auxv of 480 copies of (AT_PHDR, v) before the real pairs, and a 128 MiB
  // stack below the real one made of (AT_PHDR, v): every aligned position
  // matches 7 KiB of the auxv before it fails. A naive search does 10^11
  // byte compares (minutes); it must take one pass.
  const auto& ax = m.note(nt::auxv);
  c.ok_core(g, "stack-auxv-lookalikes", [&](bytes& b) {
                const std::uint64_t phdr_value = [&] {
                  for (std::uint64_t o = 0; o + 16 <= ax.descsz; o += 16)
                    if (peek<std::uint64_t>(b, ax.desc + o) == necro::arch::at::phdr)
                      return peek<std::uint64_t>(b, ax.desc + o + 8);
                  die("the fixture's auxv has no AT_PHDR");
                }();
                bytes pair;
                necro::test::append(pair, necro::arch::at::phdr);
                necro::test::append(pair, phdr_value);
                // The notes again, at the end, with the auxv grown.
                const std::uint64_t notes = b.size();
                for (const auto& n : m.notes_at) {
                  const auto h = peek<necro::elf::nhdr>(b, n.header);
                  necro::test::note_spec spec;
                  spec.owner = std::string(reinterpret_cast<const char*>(b.data() + n.header + 12),
                                           h.namesz > 0 ? h.namesz - 1 : 0);
                  spec.type = n.type;
                  if (n.type == nt::auxv)
                    for (int i = 0; i < 480; ++i) spec.desc.insert(spec.desc.end(), pair.begin(), pair.end());
                  spec.desc.insert(spec.desc.end(), b.begin() + static_cast<std::ptrdiff_t>(n.desc),
                                   b.begin() + static_cast<std::ptrdiff_t>(n.desc + n.descsz));
                  necro::test::append_note(b, spec);
                }
                poke(b, m.note_phdr + off::p_offset, notes);
                poke(b, m.note_phdr + off::p_filesz, b.size() - notes);
                // The stack, 128 MiB longer at the bottom.
                constexpr std::uint64_t grow = 128u << 20;
                necro::test::pad_to(b, 4096);
                const std::uint64_t data = b.size();
                b.reserve(b.size() + grow + stack.filesz);
                for (std::uint64_t i = 0; i < grow / 16; ++i) b.insert(b.end(), pair.begin(), pair.end());
                b.insert(b.end(), c.core().begin() + static_cast<std::ptrdiff_t>(stack.offset),
                         c.core().begin() + static_cast<std::ptrdiff_t>(stack.offset + stack.filesz));
                poke(b, stack.header + off::p_offset, data);
                poke(b, stack.header + off::p_vaddr, stack.vaddr - grow);
                poke(b, stack.header + off::p_filesz, stack.filesz + grow);
                poke(b, stack.header + off::p_memsz, stack.memsz + grow);
              },
              "differs");
  // A real core of another architecture.
  if (fs::exists(aarch64))
    c.bad_core(g, "aarch64-core", [&] { return slurp(aarch64); },
               "an aarch64 core, but the donor's *core-*.img is a dump of X86_64: the donor must run on the same "
               "architecture");
  // The fixture with its executable renamed in NT_FILE: a core of another
  // program than the donor's.
  const auto& fl = m.note(nt::file);
  c.edit_core(g, "another-program", [&](bytes& b) {
                const std::string_view exe = "/tmp/necro-fixture/counter";
                auto* p = reinterpret_cast<char*>(b.data() + fl.desc);
                const std::string_view names(p, fl.descsz);
                for (auto at = names.find(exe); at != std::string_view::npos; at = names.find(exe, at + 1))
                  p[at + exe.size() - 1] = 'Y';
              },
              "the core is of /tmp/necro-fixture/counteY but the donor runs /tmp/necro-fixture/counter: dump a "
              "donor of the same program");
  // The same with a newline and a terminal escape in the name: the message
  // quotes the name, and must stay one line.
  c.edit_core(g, "another-program-control-chars", [&](bytes& b) {
                const std::string_view exe = "/tmp/necro-fixture/counter";
                auto* p = reinterpret_cast<char*>(b.data() + fl.desc);
                const std::string_view names(p, fl.descsz);
                for (auto at = names.find(exe); at != std::string_view::npos; at = names.find(exe, at + 1)) {
                  p[at + exe.size() - 2] = '\n';
                  p[at + exe.size() - 1] = '\x1b';
                }
              },
              "the core is of /tmp/necro-fixture/count?x0a?x1b but the donor runs /tmp/necro-fixture/counter");
  // A small synthetic x86-64 core of another program (tests/unit/support).
  c.bad_core(g, "synthetic-program", [] { return necro::test::small_core().build().image; },
             "NT_AUXV has no AT_PHDR: cannot find the executable");
}

/// Odd but valid cores: the patch must succeed.
void tolerated_cores(corpus& c, const core_map& m) {
  const std::string_view g = "tolerated-core";
  // PT_LOADs out of address order: the kernel writes them sorted, but nothing
  // requires it. The plan (and so the output) must not change.
  const auto& a = m.loads[5];
  const auto& b = m.loads[6];
  c.ok_core(g, "loads-unsorted", [&](bytes& img) {
              const auto pa = peek<necro::elf::phdr64>(img, a.header);
              const auto pb = peek<necro::elf::phdr64>(img, b.header);
              poke(img, a.header, pb);
              poke(img, b.header, pa);
            },
            "same");
  // A partial dump (coredump_filter): the heap's tail was not dumped.
  c.ok_core(g, "partial-dump", [&](bytes& img) { poke(img, a.header + off::p_filesz, std::uint64_t{0x1000}); },
            "differs");
  // Terminal escapes, a C1 CSI, a byte that is not UTF-8, a backslash, DEL
  // and a newline in the path of the dynamic loader in NT_FILE (same length,
  // so the note's layout stays; not libc, whose signal restorer must be
  // relocated by name): the core plans, and what --inspect and --explain
  // print from it is escaped (io::printable).
  const auto& fl = m.note(nt::file);
  c.print_core(g, "nt-file-path-escapes", [&](bytes& img) {
                 const std::string_view from = "x86_64-linux-gnu/ld-linux-x86-64.so.2";
                 const std::string evil = "\x1b[2J\x1b]0;x\x07\xc2\x9b\xff\\\x7f\n/ld-linux-x86-64.so.2";
                 if (evil.size() != from.size()) die("the hostile loader path must keep the length");
                 auto* p = reinterpret_cast<char*>(img.data() + fl.desc);
                 const std::string_view names(p, fl.descsz);
                 int n = 0;
                 for (auto at = names.find(from); at != std::string_view::npos; at = names.find(from, at + 1), ++n)
                   std::memcpy(p + at, evil.data(), evil.size());
                 if (n == 0) die("the fixture's NT_FILE has no dynamic loader");
               },
               "\\x1b[2J\\x1b]0;x\\x07\\xc2\\x9b\\xff\\\\\\x7f\\x0a/ld-linux-x86-64.so.2");
  // Unknown notes are skipped: retype the XSAVE layout note.
  c.ok_core(g, "unknown-note", [&](bytes& img) {
              for (const auto& n : m.notes_at)
                if (n.type == nt::x86_xsave_layout) poke(img, n.header + off::n_type, std::uint32_t{0x7777});
            },
            "same");
}

// ------------------------------------------------------------------ donors

std::uint32_t pid_of(const fs::path& donor) {
  const bytes b = slurp(donor / "pstree.img");
  auto r = necro::criu::entry_reader::open(necro::test::view_of(b, "pstree.img"), magic::pstree);
  if (!r) die(r.error().message());
  necro::pb::pstree_entry e;
  auto ok = r->next(e);
  if (!ok || !*ok) die("the fixture donor's pstree.img has no entry");
  return e.pid();
}

void edit_file(const fs::path& p, const std::function<void(bytes&)>& edit) {
  bytes b = slurp(p);
  edit(b);
  spill(p, b);
}

void bad_images(corpus& c) {
  const std::string_view g = "bad-image";
  const std::uint32_t pid = pid_of(c.donor());
  const std::string core_img = fmt::format("core-{}.img", pid), mm_img = fmt::format("mm-{}.img", pid),
                    pm_img = fmt::format("pagemap-{}.img", pid), fs_img = fmt::format("fs-{}.img", pid),
                    ids_img = fmt::format("ids-{}.img", pid);
  struct parsed {
    std::string file;
    std::uint32_t magic;
    std::string_view entry;
  };
  const parsed images[] = {{"inventory.img", magic::inventory, "inventory_entry"},
                           {"pstree.img", magic::pstree, "pstree_entry"},
                           {core_img, magic::core, "core_entry"},
                           {mm_img, magic::mm, "mm_entry"},
                           {"files.img", magic::files, "file_entry"},
                           {pm_img, magic::pagemap, "pagemap_head"},
                           // Only renamed, never used by the planner, but criu restore needs them.
                           {fs_img, magic::fs, "fs_entry"},
                           {ids_img, magic::ids, "task_kobj_ids_entry"}};
  for (const auto& im : images) {
    const bool inv = im.magic == magic::inventory;
    const std::uint64_t magic_at = inv ? 0 : 4, first = inv ? 4 : 8;
    const std::string stem = im.file.substr(0, im.file.find_first_of("-."));
    const fs::path rel = im.file;
    c.bad_donor(g, stem + "-wrong-magic", [&](const fs::path& d) { edit_file(d / rel, [&](bytes& b) { poke(b, magic_at, std::uint32_t{0x12345678}); }); },
                im.file,
                fmt::format("offset {}: image magic 0x12345678 is not the expected {:#010x}", hex(magic_at), im.magic));
    if (!inv)
      c.bad_donor(g, stem + "-wrong-common-magic",
                  [&](const fs::path& d) { edit_file(d / rel, [&](bytes& b) { poke(b, 0, std::uint32_t{0x12345678}); }); },
                  im.file,
                  fmt::format("offset 0x0: bad image magic 0x12345678, expected {:#010x}", magic::common));
    c.bad_donor(g, stem + "-empty", [&](const fs::path& d) { edit_file(d / rel, [](bytes& b) { b.clear(); }); },
                im.file,
                truncated(0, inv ? "image magic" : "image common magic", 4, 0));
    c.bad_donor(g, stem + "-length-4GiB",
                [&](const fs::path& d) { edit_file(d / rel, [&](bytes& b) { poke(b, first, std::uint32_t{0xffffffff}); }); },
                im.file,
                fmt::format("offset {}: {} entry of 4294967295 bytes exceeds the cap of 67108864", hex(first), im.entry));
    c.bad_donor(g, stem + "-length-at-cap",
                [&](const fs::path& d) { edit_file(d / rel, [&](bytes& b) { poke(b, first, std::uint32_t{64u << 20}); }); },
                im.file,
                fmt::format("offset {}: {} entry truncated: need 67108864 bytes", hex(first + 4), im.entry));
    c.bad_donor(g, stem + "-length-cut",
                [&](const fs::path& d) { edit_file(d / rel, [&](bytes& b) { b.resize(first + 2); }); },
                im.file, truncated(first, fmt::format("{} entry size", im.entry), 4, 2));
    std::uint32_t len = 0;
    {
      const bytes b = slurp(c.donor() / rel);
      len = peek<std::uint32_t>(b, first);
    }
    c.bad_donor(g, stem + "-entry-cut",
                [&](const fs::path& d) { edit_file(d / rel, [&](bytes& b) { b.resize(first + 4 + len / 2); }); },
                im.file, truncated(first + 4, fmt::format("{} entry", im.entry), len, len / 2));
    c.bad_donor(g, stem + "-garbage-protobuf",
                [&](const fs::path& d) {
                  edit_file(d / rel, [&](bytes& b) { std::memset(b.data() + first + 4, 0xff, len); });
                },
                im.file,
                fmt::format("offset {}: {} entry does not parse (bad wire data)", hex(first),
                            im.entry));
    // Missing, or not a regular file (a FIFO must not block the open). The
    // inventory is looked for in the directory listing, files.img is optional
    // to the loader (the planner then misses the executable's entry).
    const auto absent = [&](std::string_view otherwise) {
      if (inv) return std::string("no inventory.img: not a CRIU image directory");
      if (im.magic == magic::files) return std::string("no regular file entry * for the donor's executable");
      return std::string(otherwise);
    };
    c.bad_donor(g, stem + "-missing", [&](const fs::path& d) { fs::remove(d / rel); }, inv ? "." : im.file,
                absent("missing from the donor dump (criu restore needs it)"));
    c.bad_donor(g, stem + "-fifo",
                [&](const fs::path& d) {
                  fs::remove(d / rel);
                  if (::mkfifo((d / rel).c_str(), 0644) != 0) die("mkfifo");
                },
                inv ? "." : im.file, absent("not a regular file"));
    c.bad_donor(g, stem + "-directory",
                [&](const fs::path& d) {
                  fs::remove(d / rel);
                  fs::create_directory(d / rel);
                },
                inv ? "." : im.file, absent("not a regular file"));
  }
  // Structure, not framing.
  c.bad_donor(g, "pstree-no-entry",
              [&](const fs::path& d) { edit_file(d / "pstree.img", [](bytes& b) { b.resize(8); }); }, "pstree.img",
              "no process in pstree");
  c.bad_donor(g, "pstree-two-processes",
              [&](const fs::path& d) {
                edit_file(d / "pstree.img", [](bytes& b) {
                  const bytes entry(b.begin() + 8, b.end());
                  b.insert(b.end(), entry.begin(), entry.end());
                });
              },
              "pstree.img", "the dump holds 2 processes");
  // Well framed, but without a field CRIU requires: protobuf logs such a
  // message on stderr unless asked not to; the error must stay one line.
  c.bad_donor(g, "pstree-required-field-missing",
              [&](const fs::path& d) {
                edit_file(d / "pstree.img", [](bytes& b) {
                  necro::pb::pstree_entry e;
                  e.set_ppid(0);
                  e.add_threads(1);
                  const std::string body = e.SerializePartialAsString();
                  b.resize(8);
                  necro::test::append(b, static_cast<std::uint32_t>(body.size()));
                  necro::test::append(b, std::string_view(body));
                });
              },
              "pstree.img", "offset 0x8: pstree_entry entry lacks required fields: pid");
  c.bad_donor(g, "mm-vma-required-field-missing",
              [&](const fs::path& d) {
                edit_file(d / mm_img, [](bytes& b) {
                  necro::pb::mm_entry e;
                  if (!e.ParseFromArray(b.data() + 12, static_cast<int>(peek<std::uint32_t>(b, 8))))
                    die("the fixture's mm image does not parse");
                  e.mutable_vmas(1)->clear_start();
                  const std::string body = e.SerializePartialAsString();
                  b.resize(8);
                  necro::test::append(b, static_cast<std::uint32_t>(body.size()));
                  necro::test::append(b, std::string_view(body));
                });
              },
              mm_img, "offset 0x8: mm_entry entry lacks required fields: vmas?1?.start");  // a glob: ? for the brackets
  c.bad_donor(g, "pagemap-no-head",
              [&](const fs::path& d) { edit_file(d / pm_img, [](bytes& b) { b.resize(8); }); }, pm_img,
              "pagemap has no head");
  c.bad_donor(g, "donor-of-another-program",
              [&](const fs::path& d) {
                edit_file(d / "files.img", [](bytes& b) {
                  const std::string_view from = "/tmp/necro-fixture/counter";
                  auto* p = reinterpret_cast<char*>(b.data());
                  const std::string s(p, b.size());
                  const auto at = s.find(from);
                  if (at == std::string::npos) die("files.img does not name the fixture's executable");
                  p[at + from.size() - 1] = 'X';
                });
              },
              "core",
              "the core is of /tmp/necro-fixture/counter but the donor runs /tmp/necro-fixture/counteX: dump a "
              "donor of the same program");
}

/// Rewrites the single entry of image `p` (image magic `m`) through `edit`.
template <class Msg>
void edit_entry(const fs::path& p, std::uint32_t m, const std::function<void(Msg&)>& edit) {
  const bytes b = slurp(p);
  const std::string name = p.string();  // the view keeps a reference to its name
  auto r = necro::criu::entry_reader::open(necro::test::view_of(b, name), m);
  if (!r) die(r.error().message());
  Msg e;
  auto ok = r->next(e);
  if (!ok || !*ok) die(p.string() + " has no entry");
  edit(e);
  necro::criu::image_builder out(m);
  out.add(e);
  const std::string& s = out.bytes();
  spill(p, bytes(reinterpret_cast<const std::byte*>(s.data()), reinterpret_cast<const std::byte*>(s.data() + s.size())));
}

/// The pstree's threads set to `tids`.
void set_threads(const fs::path& d, const std::vector<std::uint32_t>& tids) {
  edit_entry<necro::pb::pstree_entry>(d / "pstree.img", magic::pstree, [&](necro::pb::pstree_entry& e) {
    e.clear_threads();
    for (const auto t : tids) e.add_threads(t);
  });
}

/// Well-framed images that contradict each other: a pstree whose leader is
/// not among its threads, a thread listed twice, thread cores without
/// registers or of another architecture. Each is refused, naming the image.
void inconsistent_images(corpus& c) {
  const std::string_view g = "inconsistent-image";
  const std::uint32_t pid = pid_of(c.donor()), other = pid + 1;
  const std::string core_img = fmt::format("core-{}.img", pid), other_img = fmt::format("core-{}.img", other);
  // The threads' core images are there; the leader's is not among them.
  c.bad_donor(g, "leader-not-a-thread",
              [&](const fs::path& d) {
                set_threads(d, {other});
                fs::rename(d / core_img, d / other_img);
              },
              "pstree.img", fmt::format("pid {} is not among the process's threads ({})", pid, other));
  c.bad_donor(g, "leader-not-a-thread-core-kept",
              [&](const fs::path& d) {
                set_threads(d, {other});
                fs::copy_file(d / core_img, d / other_img);
              },
              "pstree.img", fmt::format("pid {} is not among the process's threads ({})", pid, other));
  c.bad_donor(g, "thread-listed-twice", [&](const fs::path& d) { set_threads(d, {pid, pid}); }, "pstree.img",
              fmt::format("thread {} is listed twice", pid));
  c.bad_donor(g, "leader-without-registers",
              [&](const fs::path& d) {
                edit_entry<necro::pb::core_entry>(d / core_img, magic::core,
                                                  [](necro::pb::core_entry& e) { e.clear_thread_info(); });
              },
              core_img, "core_entry of thread * has no registers (thread_info) for its architecture (mtype 1)");
  c.bad_donor(g, "thread-without-registers",
              [&](const fs::path& d) {
                set_threads(d, {pid, other});
                fs::copy_file(d / core_img, d / other_img);
                edit_entry<necro::pb::core_entry>(d / other_img, magic::core, [](necro::pb::core_entry& e) {
                  e.clear_thread_info();
                  e.clear_tc();
                  e.clear_ids();
                });
              },
              other_img, "core_entry of thread * has no registers (thread_info) for its architecture (mtype 1)");
  c.bad_donor(g, "thread-of-another-architecture",
              [&](const fs::path& d) {
                set_threads(d, {pid, other});
                fs::copy_file(d / core_img, d / other_img);
                edit_entry<necro::pb::core_entry>(d / other_img, magic::core, [](necro::pb::core_entry& e) {
                  e.set_mtype(necro::pb::core_entry::AARCH64);
                });
              },
              other_img, "core_entry of thread * has mtype 3, the leader's has 1");
  c.bad_donor(g, "leader-without-task-core",
              [&](const fs::path& d) {
                edit_entry<necro::pb::core_entry>(d / core_img, magic::core,
                                                  [](necro::pb::core_entry& e) { e.clear_tc(); });
              },
              core_img, "the main thread's core_entry has no task core (tc)");
}

/// Donor defects necro does not read: the patch succeeds, and is the same.
void tolerated_images(corpus& c) {
  const std::string_view g = "tolerated-image";
  const std::uint32_t pid = pid_of(c.donor());
  const std::string pm_img = fmt::format("pagemap-{}.img", pid);
  // necro writes its own pagemap and pages from the core: the donor's page
  // entries and pages-*.img are never read, so they cannot mislead it.
  c.ok_donor(g, "pagemap-past-pages",
             [&](const fs::path& d) {
               edit_file(d / pm_img, [](bytes& b) {
                 // One more entry: 2^20 present pages that pages-*.img does not have.
                 necro::pb::pagemap_entry pe;
                 pe.set_vaddr(0x1000);
                 pe.set_compat_nr_pages(1u << 20);
                 pe.set_nr_pages(1u << 20);
                 pe.set_flags(necro::criu::pe::present);
                 const std::string e = pe.SerializeAsString();
                 necro::test::append(b, static_cast<std::uint32_t>(e.size()));
                 necro::test::append(b, std::string_view(e));
               });
             },
             "same");
  c.ok_donor(g, "pages-missing", [&](const fs::path& d) {
               for (const auto& e : fs::directory_iterator(d))
                 if (e.path().filename().string().starts_with("pages-")) fs::remove(e.path());
             },
             "same");
  c.ok_donor(g, "pages-truncated", [&](const fs::path& d) {
               for (const auto& e : fs::directory_iterator(d))
                 if (e.path().filename().string().starts_with("pages-")) fs::resize_file(e.path(), 100);
             },
             "same");
}

}  // namespace

/// The fixture core grown by one anonymous read-write PT_LOAD of `mib` MiB of
/// data that is neither zero nor alike (a big malloc the victim made): a real
/// core whose patch takes a while, for the interruption tests. The program
/// header table moves to the end of the file (e_phoff may point anywhere).
void grow(const fs::path& from, const fs::path& to, std::uint64_t mib) {
  const bytes core = slurp(from);
  const core_map m = map_core(core);
  std::uint64_t top = 0;
  for (const auto& l : m.loads)
    if (l.vaddr < 0x7f0000000000 && l.vaddr + l.memsz > top) top = l.vaddr + l.memsz;
  const std::uint64_t vaddr = (top + (1ull << 32)) & ~((1ull << 32) - 1);  // a gap above the heap
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(core.data()), static_cast<std::streamsize>(core.size()));
  const std::uint64_t data_at = (core.size() + 4095) / 4096 * 4096;
  const std::string pad(data_at - core.size(), '\0');
  out.write(pad.data(), static_cast<std::streamsize>(pad.size()));
  std::vector<std::uint64_t> chunk((1u << 20) / 8);
  for (std::uint64_t i = 0; i < mib; ++i) {
    for (std::size_t k = 0; k < chunk.size(); ++k) chunk[k] = (i << 20 | k * 8) * 0x9e3779b97f4a7c15ull | 1;
    out.write(reinterpret_cast<const char*>(chunk.data()), static_cast<std::streamsize>(chunk.size() * 8));
  }
  const std::uint64_t phoff = data_at + (mib << 20);
  out.write(reinterpret_cast<const char*>(core.data() + m.phoff), static_cast<std::streamsize>(m.phnum * phdr_size));
  necro::elf::phdr64 ph{};
  ph.type = necro::arch::elfc::pt_load;
  ph.flags = necro::arch::elfc::pf_r | necro::arch::elfc::pf_w;
  ph.offset = data_at;
  ph.vaddr = vaddr;
  ph.filesz = ph.memsz = mib << 20;
  ph.align = 4096;
  out.write(reinterpret_cast<const char*>(&ph), sizeof ph);
  out.seekp(off::e_phoff);
  out.write(reinterpret_cast<const char*>(&phoff), sizeof phoff);
  const auto phnum = static_cast<std::uint16_t>(m.phnum + 1);
  out.seekp(off::e_phnum);
  out.write(reinterpret_cast<const char*>(&phnum), sizeof phnum);
  if (!out.flush()) die("cannot write " + to.string());
}

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  if (mode == "grow" && argc == 5) {
    grow(argv[2], argv[3], std::stoull(argv[4]));
    return 0;
  }
  if (!((mode == "list" && argc == 5) || (mode == "make" && argc == 7))) {
    std::fprintf(stderr,
                 "usage: %s list CORE AARCH64_CORE DONOR_DIR\n"
                 "       %s make CORE AARCH64_CORE DONOR_DIR DIR NAME\n"
                 "       %s grow CORE OUT_CORE MIB\n",
                 argv[0], argv[0], argv[0]);
    return 2;
  }
  bytes core = slurp(argv[2]);
  const core_map m = map_core(core);
  corpus c(std::move(core), argv[4], mode == "make" ? argv[5] : "", mode == "make" ? argv[6] : "");
  truncated_cores(c, m);
  lying_cores(c, m);
  lying_notes(c, m);
  other_cores(c, m, argv[3]);
  tolerated_cores(c, m);
  bad_images(c);
  inconsistent_images(c);
  tolerated_images(c);
  compressed_cores(c, m);
  if (mode == "make" && !c.found()) die(fmt::format("no case named {}", argv[6]));
  return 0;
}
