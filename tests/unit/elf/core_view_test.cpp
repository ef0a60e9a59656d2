// necro::elf::core_view<x86_64> on a valid synthetic core (every value known)
// and on the real core of tests/data/x86_64 (checked against facts.txt and
// invariants any Linux core must satisfy).
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include <unistd.h>

#include <catch2/catch.hpp>

#include <necro/arch/x86_64.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/elf/notes.hpp>

#include "support/core_builder.hpp"
#include "support/fixtures.hpp"

using necro::arch::x86_64;
using x86_core = necro::elf::core_view<x86_64>;
namespace at = necro::arch::at;
namespace small = necro::test::small;
using necro::test::bytes;

// ------------------------------------------------------------ synthetic core

TEST_CASE("core_view: parses a valid synthetic core", "[elf][core_view]") {
  const auto built = necro::test::small_core().build();
  auto r = x86_core::parse(built.view());
  REQUIRE(r);
  const x86_core& c = *r;

  CHECK(c.path() == necro::test::synthetic_name);
  CHECK(c.file() == nullptr);
  CHECK(c.header().machine == x86_64::e_machine);
  CHECK(c.bytes().size() == built.image.size());

  SECTION("threads in core order; the leader is the one whose tid is the pid") {
    REQUIRE(c.threads().size() == 2);
    CHECK(c.threads()[0].tid() == small::first_tid);
    CHECK(c.threads()[1].tid() == small::pid);
    CHECK(c.pid() == small::pid);
    CHECK(c.leader().tid() == small::pid);
    CHECK(c.threads()[0].prstatus.cursig == necro::arch::sig::sigsegv);
    CHECK(c.threads()[0].regs().rip == small::exe_base + 0x10);
    CHECK(c.threads()[0].regs().r15 == 0x1000);  // sample_regs(1): field 0
    CHECK(c.threads()[1].regs().gs == 0x2000 + 26);
    for (const auto& t : c.threads()) {
      REQUIRE(t.fpregs);
      CHECK(t.fpregs->cwd == 0x37f);
      CHECK(t.fpregs->mxcsr == 0x1f80);
      CHECK(t.fpregs->xmm_space[5] == 15);
      REQUIRE(t.xstate);
      CHECK(t.xstate->size() == 832);
      CHECK(t.others.empty());
    }
  }

  SECTION("process-wide notes") {
    const auto& p = c.process();
    REQUIRE(p.prpsinfo);
    auto ps = c.prpsinfo();
    REQUIRE(ps);
    CHECK(ps->pid == small::pid);
    CHECK(std::string_view(ps->fname.data()) == "synthetic");
    REQUIRE(p.siginfo);
    CHECK(p.siginfo->size() == 128);
    const auto si = c.siginfo();  // typed: the builder filled it with 0x11
    REQUIRE(si);
    REQUIRE(*si);
    CHECK((*si)->si_signo == 0x11111111);
    CHECK((*si)->kill_uid == 0x11111111u);
    CHECK(p.unknown_notes == 1);
    CHECK_FALSE(p.xsave_layout);
  }

  SECTION("auxv, up to and including AT_NULL") {
    const auto& a = c.process().auxv;
    REQUIRE(a.size() == 5);
    CHECK(a.back().key == at::null);
    CHECK(c.auxv(at::pagesz) == 4096u);
    CHECK(c.auxv(at::sysinfo_ehdr) == small::vdso_base);
    CHECK_FALSE(c.auxv(at::random));
    REQUIRE(c.process().auxv_bytes);
    CHECK(c.process().auxv_bytes->size() == 5 * 16);
  }

  SECTION("NT_FILE entries with byte offsets") {
    const auto& f = c.process().files;
    CHECK(c.process().file_page_size == 4096);
    REQUIRE(f.size() == 3);
    CHECK(f[0].path == small::exe_path);
    CHECK(f[0].start == small::exe_base);
    CHECK(f[0].end == small::exe_base + 0x1000);
    CHECK(f[1].path == small::lib_path);
    CHECK(f[2].path == small::lib_path);
    CHECK(f[2].offset == 0x28 * 4096);
  }

  SECTION("segments, their bytes and lookups") {
    const auto& s = c.segments();
    REQUIRE(s.size() == 3);
    CHECK(s[0].vaddr == small::exe_base);
    CHECK(s[0].filesz == 64);
    CHECK(s[0].memsz == 0x1000);
    CHECK_FALSE(s[0].complete());
    CHECK(s[0].executable());
    CHECK_FALSE(s[0].writable());
    CHECK(s[0].bytes.size() == 64);
    CHECK(s[0].bytes.file_offset() == built.load_data[0]);
    CHECK(s[1].complete());
    CHECK(s[2].writable());
    CHECK(s[2].end() == small::stack_base + 0x21000);

    CHECK(c.segment_at(small::exe_base) == &s[0]);
    CHECK(c.segment_at(small::exe_base + 0xfff) == &s[0]);
    CHECK(c.segment_at(small::exe_base + 0x1000) == nullptr);
    CHECK(c.segment_at(small::exe_base - 1) == nullptr);
    CHECK(c.segment_at(0) == nullptr);
    CHECK(c.segment_at(~std::uint64_t{0}) == nullptr);
    CHECK(c.segment_at(small::stack_base + 0x20fff) == &s[2]);
  }

  SECTION("memory: views of the dumped bytes, never across a PT_LOAD's end") {
    const auto all = c.memory(small::exe_base);
    REQUIRE(all);
    CHECK(all->size() == 64);  // the dumped part of the program's first page
    CHECK(all->file_offset() == c.segment_at(small::exe_base)->offset);
    const auto tail = c.memory(small::exe_base + 60, 4);
    REQUIRE(tail);
    CHECK(tail->size() == 4);
    CHECK(tail->file_offset() == all->file_offset() + 60);
    CHECK(c.memory(small::exe_base + 64, 0));  // right past the dumped bytes: empty
    CHECK_FALSE(c.memory(small::exe_base + 61, 4));
    CHECK_FALSE(c.memory(small::exe_base + 65));  // in the VMA, not dumped
    CHECK_FALSE(c.memory(0x1000, 1));
  }

  SECTION("read_memory and read_string") {
    CHECK(c.read_memory<std::uint64_t>(small::stack_base + 8) == 0x1122334455667788u);
    CHECK(c.read_memory<std::uint8_t>(small::exe_base + 63) == 0x90);
    // In the VMA but past what was dumped: not invented.
    CHECK_FALSE(c.read_memory<std::uint8_t>(small::exe_base + 64));
    CHECK_FALSE(c.read_memory<std::uint64_t>(small::exe_base + 60));
    CHECK_FALSE(c.read_memory<std::uint8_t>(0x1000));

    auto execfn = c.auxv(at::execfn);
    REQUIRE(execfn);
    CHECK(c.read_string(*execfn) == small::exe_path);
    CHECK(c.read_string(*execfn + 9) == small::exe_path.substr(9));
    // Longer than `max`, or running off the dumped bytes without a NUL.
    CHECK_FALSE(c.read_string(*execfn, 4));
    CHECK(c.read_string(*execfn, small::exe_path.size() + 1) == small::exe_path);
    CHECK_FALSE(c.read_string(small::exe_base));  // 0x90... up to the end, no NUL
    CHECK_FALSE(c.read_string(small::exe_base + 64));
    CHECK_FALSE(c.read_string(0x10));

    auto magic = c.read_memory<std::array<unsigned char, 4>>(*c.auxv(at::sysinfo_ehdr));
    REQUIRE(magic);
    CHECK(*magic == necro::arch::elfc::magic);
  }
}

TEST_CASE("core_view: pid and leader fall back to the first thread without NT_PRPSINFO", "[elf][core_view]") {
  auto b = necro::test::small_core();
  auto& n = b.notes();
  n.erase(std::remove_if(n.begin(), n.end(), [](const auto& x) { return x.type == necro::arch::nt::prpsinfo; }),
          n.end());
  const auto built = b.build();
  auto r = x86_core::parse(built.view());
  REQUIRE(r);
  CHECK_FALSE(r->prpsinfo());
  CHECK(r->pid() == small::first_tid);
  CHECK(r->leader().tid() == small::first_tid);
}

TEST_CASE("core_view: regsets before any NT_PRSTATUS are skipped, not attached", "[elf][core_view]") {
  auto b = necro::test::small_core();
  auto& n = b.notes();
  n.insert(n.begin(), necro::test::note_spec{"LINUX", 0x401, bytes(8)});
  const auto built = b.build();
  auto r = x86_core::parse(built.view());
  REQUIRE(r);
  CHECK(r->process().unknown_notes == 2);
  CHECK(r->threads()[0].others.empty());
}

TEST_CASE("core_view: unknown LINUX regsets stay with their thread", "[elf][core_view]") {
  auto b = necro::test::small_core();
  auto& n = b.notes();
  // After the first thread's xstate: NT_X86_SHSTK.
  n.insert(n.begin() + 3, necro::test::note_spec{"LINUX", necro::arch::nt::x86_shstk, bytes(24)});
  n.push_back(necro::test::note_spec{"LINUX", necro::arch::nt::x86_xsave_layout, bytes(64)});
  const auto built = b.build();
  auto r = x86_core::parse(built.view());
  REQUIRE(r);
  REQUIRE(r->threads()[0].others.size() == 1);
  CHECK(r->threads()[0].others[0].type == necro::arch::nt::x86_shstk);
  CHECK(r->threads()[0].others[0].desc.size() == 24);
  CHECK(r->threads()[1].others.empty());
  REQUIRE(r->process().xsave_layout);
  CHECK(r->process().xsave_layout->size() == 64);
}

TEST_CASE("core_view: open() maps a core file and reports the path", "[elf][core_view]") {
  const auto built = necro::test::small_core().build();
  const auto path = std::filesystem::temp_directory_path() /
                    ("necro-core-view-" + std::to_string(::getpid()) + ".core");
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(built.image.data()), static_cast<std::streamsize>(built.image.size()));
  }
  auto r = x86_core::open(path.string());
  std::filesystem::remove(path);  // the mapping survives the unlink
  REQUIRE(r);
  CHECK(r->path() == path.string());
  REQUIRE(r->file() != nullptr);
  CHECK(r->file()->size() == built.image.size());
  // Moving the view keeps every inner view valid.
  x86_core moved = std::move(*r);
  CHECK(moved.read_string(*moved.auxv(at::execfn)) == small::exe_path);
  CHECK(moved.process().files[0].path == small::exe_path);
  CHECK(moved.segment_at(small::exe_base) == &moved.segments()[0]);

  auto missing = x86_core::open(path.string());
  REQUIRE_FALSE(missing);
  necro::test::check_error(missing.error(), path.string(), necro::errc::io, "cannot open");
}

// ------------------------------------------------------------ the real core

TEST_CASE("core_view: the real x86-64 core", "[elf][core_view][fixture]") {
  const auto path = necro::test::x86_64_core();
  NECRO_REQUIRE_FIXTURE(path, "x86_64/counter.core");
  const auto facts_opt = necro::test::facts::load("x86_64/facts.txt");
  NECRO_REQUIRE_FIXTURE(facts_opt, "x86_64/facts.txt");
  const auto& facts = *facts_opt;
  auto r = x86_core::open(path->string());
  if (!r) FAIL(r.error().message());
  const x86_core& c = *r;
  const auto binary = facts.get("binary");

  SECTION("threads and pid") {
    const auto want = facts.number("core_thread_count");
    REQUIRE(want);
    CHECK(c.threads().size() == *want);
    if (auto pid = facts.number("victim_pid")) CHECK(c.pid() == static_cast<std::int32_t>(*pid));
    CHECK(c.leader().tid() == c.pid());
    const auto& first = c.threads().front();
    if (auto sig = facts.number("victim_signal")) {
      CHECK(first.prstatus.cursig == static_cast<std::int16_t>(*sig));
      REQUIRE(c.process().siginfo);
      auto signo = c.process().siginfo->load<std::int32_t>(0, "si_signo");
      REQUIRE(signo);
      CHECK(*signo == static_cast<std::int32_t>(*sig));
      // The typed NT_SIGINFO says the same: the signal the first thread took.
      const auto si = c.siginfo();
      REQUIRE(si);
      REQUIRE(*si);
      CHECK((*si)->si_signo == first.prstatus.cursig);
      CHECK((*si)->si_signo == static_cast<std::int32_t>(*sig));
      CHECK((*si)->si_signo == first.prstatus.info.si_signo);
    }
    for (const auto& t : c.threads()) {
      CHECK(t.fpregs.has_value());
      CHECK(t.xstate.has_value());
      CHECK(t.xstate->size() >= 576);  // legacy area + header at least
      CHECK(t.fpregs->mxcsr_mask != 0);
      // Each thread is stopped in user code, on a writable stack.
      const auto* text = c.segment_at(t.regs().rip);
      REQUIRE(text != nullptr);
      CHECK(text->executable());
      const auto* stack = c.segment_at(t.regs().rsp);
      REQUIRE(stack != nullptr);
      CHECK(stack->writable());
      CHECK(c.segment_at(t.regs().fs_base) != nullptr);
    }
    auto ps = c.prpsinfo();
    REQUIRE(ps);
    CHECK(std::string_view(ps->fname.data()) == "counter");
  }

  SECTION("segments are page aligned, sorted and disjoint") {
    const auto& segs = c.segments();
    if (auto n = facts.number("core_pt_load_count")) CHECK(segs.size() == *n);
    REQUIRE_FALSE(segs.empty());
    for (std::size_t i = 0; i < segs.size(); ++i) {
      const auto& s = segs[i];
      INFO("segment " << i << " at " << std::hex << s.vaddr);
      CHECK(s.vaddr % 4096 == 0);
      CHECK(s.memsz % 4096 == 0);
      CHECK(s.filesz <= s.memsz);
      CHECK(s.bytes.size() == s.filesz);
      CHECK(s.bytes.file_offset() == s.offset);
      if (i > 0) CHECK(segs[i - 1].end() <= s.vaddr);
      CHECK(c.segment_at(s.vaddr) == &s);
      CHECK(c.segment_at(s.end() - 1) == &s);
    }
    // [vsyscall] is the last mapping on x86-64.
    CHECK(segs.back().vaddr == x86_64::vsyscall_start);
  }

  SECTION("NT_FILE names the program and libc, and each range is a segment") {
    const auto& files = c.process().files;
    if (auto n = facts.number("core_nt_file_entry_count")) CHECK(files.size() == *n);
    if (auto page = facts.number("core_nt_file_page_size")) CHECK(c.process().file_page_size == *page);
    CHECK(c.process().file_page_size == 4096);
    REQUIRE(files.size() >= 5);  // the program (several ranges), libc, ld.so
    bool has_program = false, has_libc = false, has_ld = false;
    for (const auto& f : files) {
      INFO(f.path);
      CHECK(f.start < f.end);
      CHECK(f.offset % 4096 == 0);
      CHECK(f.path.starts_with("/"));
      if (binary && f.path == *binary) has_program = true;
      if (f.path.find("/libc.so.6") != std::string_view::npos) has_libc = true;
      if (f.path.find("/ld-linux-x86-64.so.2") != std::string_view::npos) has_ld = true;
      const auto* s = c.segment_at(f.start);
      REQUIRE(s != nullptr);
      CHECK(s->vaddr == f.start);
      CHECK(s->end() == f.end);
    }
    if (binary) CHECK(has_program);
    CHECK(has_libc);
    CHECK(has_ld);
    if (auto distinct = facts.list("core_nt_file_distinct_paths"); !distinct.empty()) {
      for (const auto& p : distinct) {
        INFO(p);
        CHECK(std::any_of(files.begin(), files.end(), [&](const auto& f) { return f.path == p; }));
      }
    }
  }

  SECTION("NT_FILE entries equal a reading of the note at the kernel's offsets") {
    // The note's own bytes, read as the kernel writes them (fs/binfmt_elf.c):
    // count and page size, then start, end and page offset 24 bytes apart.
    std::optional<necro::io::byte_view> desc;
    const auto& eh = c.header();
    for (std::uint64_t i = 0; i < eh.phnum; ++i) {
      const auto ph = c.bytes().load<necro::elf::phdr64>(eh.phoff + i * sizeof(necro::elf::phdr64), "phdr");
      REQUIRE(ph);
      if (ph->type != necro::arch::elfc::pt_note) continue;
      const auto notes = c.bytes().sub(ph->offset, ph->filesz, "notes");
      REQUIRE(notes);
      REQUIRE(necro::elf::for_each_note(*notes, [&](const necro::elf::note& n) -> necro::result<void> {
        if (n.owner == "CORE" && n.type == necro::arch::nt::file) desc = n.desc;
        return {};
      }));
    }
    REQUIRE(desc);
    auto u64 = [&](std::uint64_t off) {
      std::uint64_t v = 0;
      REQUIRE(desc->covers(off, 8));
      std::memcpy(&v, desc->data() + off, 8);
      return v;
    };
    const auto& files = c.process().files;
    REQUIRE(u64(0) == files.size());
    const std::uint64_t page = u64(8);
    CHECK(page == c.process().file_page_size);
    std::uint64_t name = 16 + files.size() * 24;
    for (std::size_t i = 0; i < files.size(); ++i) {
      INFO("entry " << i);
      CHECK(files[i].start == u64(16 + i * 24));
      CHECK(files[i].end == u64(16 + i * 24 + 8));
      CHECK(files[i].offset == u64(16 + i * 24 + 16) * page);
      const std::string_view recorded(reinterpret_cast<const char*>(desc->data() + name));
      CHECK(files[i].path == recorded);
      name += recorded.size() + 1;
    }
  }

  SECTION("auxv: page size, vDSO, entry point and AT_EXECFN") {
    CHECK(c.auxv(at::pagesz) == 4096u);
    CHECK(c.process().auxv.back().key == at::null);

    const auto vdso = c.auxv(at::sysinfo_ehdr);
    REQUIRE(vdso);
    const auto* vs = c.segment_at(*vdso);
    REQUIRE(vs != nullptr);
    CHECK(vs->vaddr == *vdso);
    CHECK(vs->executable());
    CHECK(c.read_memory<std::array<unsigned char, 4>>(*vdso) == necro::arch::elfc::magic);

    const auto entry = c.auxv(at::entry);
    REQUIRE(entry);
    const auto* es = c.segment_at(*entry);
    REQUIRE(es != nullptr);
    CHECK(es->executable());

    const auto phdr = c.auxv(at::phdr);
    REQUIRE(phdr);
    CHECK(c.segment_at(*phdr) != nullptr);
    CHECK(c.auxv(at::phent) == sizeof(necro::elf::phdr64));

    const auto execfn = c.auxv(at::execfn);
    REQUIRE(execfn);
    const auto name = c.read_string(*execfn);
    REQUIRE(name);
    if (binary) CHECK(*name == *binary);
    CHECK(name->ends_with("/counter"));
    // The AT_EXECFN string sits on the initial stack, near its top.
    const auto* ss = c.segment_at(*execfn);
    REQUIRE(ss != nullptr);
    CHECK(ss->writable());
    CHECK(ss->end() - *execfn < 4096);
  }

  SECTION("memory the program wrote is in the core") {
    if (auto addr = facts.number("gdb_counter_addr")) {
      const auto value = facts.number("gdb_counter_value");
      REQUIRE(value);
      CHECK(c.read_memory<std::uint64_t>(*addr) == *value);
    }
    if (auto buf = facts.number("gdb_pattern_buf_addr")) {
      CHECK(c.read_string(*buf) == "NECRO-COUNTER-PATTERN");
      for (std::uint64_t i = 100; i < 4096; i += 397) {
        INFO("pattern byte " << i);
        CHECK(c.read_memory<std::uint8_t>(*buf + i) == static_cast<std::uint8_t>((i * 7 + 0x5a) & 0xff));
      }
    }
  }
}

TEST_CASE("core_view: an aarch64 core is refused by the x86-64 reader", "[elf][core_view][fixture]") {
  const auto path = necro::test::aarch64_core();
  NECRO_REQUIRE_FIXTURE(path, "aarch64/crash.core");
  auto r = x86_core::open(path->string());
  REQUIRE_FALSE(r);
  necro::test::check_error(r.error(), path->string(), necro::errc::mismatch, "ELF machine 183 is not x86_64 (62)",
                           18);
}
