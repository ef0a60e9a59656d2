// Test support: builds ELF cores in memory (header, program headers, notes,
// PT_LOAD bytes) and records where each part landed, so tests can corrupt
// exact bytes and check that necro names them.
#ifndef NECRO_TEST_SUPPORT_CORE_BUILDER_HPP
#define NECRO_TEST_SUPPORT_CORE_BUILDER_HPP
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <necro/arch/common.hpp>
#include <necro/arch/x86_64.hpp>
#include <necro/elf/types.hpp>
#include <necro/io/byte_view.hpp>

namespace necro::test {

using bytes = std::vector<std::byte>;

/// The name in-memory cores carry in error messages.
inline constexpr std::string_view synthetic_name = "synthetic.core";

template <class T>
void append(bytes& b, const T& v) {
  static_assert(std::is_trivially_copyable_v<T>);
  const auto at = b.size();
  b.resize(at + sizeof(T));
  std::memcpy(b.data() + at, &v, sizeof(T));
}

inline void append(bytes& b, std::string_view s) {
  const auto at = b.size();
  b.resize(at + s.size());
  std::memcpy(b.data() + at, s.data(), s.size());
}

inline void pad_to(bytes& b, std::size_t align) {
  while (b.size() % align != 0) b.push_back(std::byte{0});
}

/// Overwrites sizeof(T) bytes at `off` (which must lie inside `b`).
template <class T>
void poke(bytes& b, std::uint64_t off, const T& v) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (off > b.size() || sizeof(T) > b.size() - off) throw std::out_of_range("poke past the end");
  std::memcpy(b.data() + off, &v, sizeof(T));
}

template <class T>
T peek(const bytes& b, std::uint64_t off) {
  if (off > b.size() || sizeof(T) > b.size() - off) throw std::out_of_range("peek past the end");
  T v;
  std::memcpy(&v, b.data() + off, sizeof(T));
  return v;
}

template <class T>
bytes to_bytes(const T& v) {
  bytes b;
  append(b, v);
  return b;
}

/// A view over `b` named like a file, for core_view::parse.
inline io::byte_view view_of(const bytes& b, std::string_view name = synthetic_name) {
  return io::byte_view(std::span<const std::byte>(b.data(), b.size()), 0, name);
}

struct note_spec {
  std::string owner;  ///< without the NUL; namesz counts it
  std::uint32_t type = 0;
  bytes desc;
};

/// Appends one note (Nhdr, NUL-terminated owner, descriptor, 4-byte padding);
/// returns where its descriptor starts.
inline std::uint64_t append_note(bytes& b, const note_spec& n) {
  const elf::nhdr h{static_cast<std::uint32_t>(n.owner.size() + 1), static_cast<std::uint32_t>(n.desc.size()),
                    n.type};
  append(b, h);
  append(b, std::string_view(n.owner));
  b.push_back(std::byte{0});
  pad_to(b, 4);
  const std::uint64_t desc = b.size();
  b.insert(b.end(), n.desc.begin(), n.desc.end());
  pad_to(b, 4);
  return desc;
}

struct load_spec {
  std::uint64_t vaddr = 0, memsz = 0;
  std::uint32_t flags = arch::elfc::pf_r;
  bytes data;  ///< p_filesz = data.size()
};

/// Where build() put each part (absolute offsets into `image`).
struct built_core {
  bytes image;
  std::uint64_t phoff = 0;
  std::uint64_t note_phdr = 0;               ///< the PT_NOTE program header
  std::vector<std::uint64_t> load_phdrs;     ///< each PT_LOAD's program header
  std::uint64_t notes = 0;                   ///< start of the PT_NOTE segment
  std::vector<std::uint64_t> note_headers;   ///< each note's Nhdr
  std::vector<std::uint64_t> note_descs;     ///< each note's descriptor
  std::vector<std::uint64_t> load_data;      ///< each PT_LOAD's bytes

  io::byte_view view() const { return view_of(image); }
  /// Offset of field `field_off` inside program header `phdr`.
  static constexpr std::uint64_t phdr_field(std::uint64_t phdr, std::uint64_t field_off) {
    return phdr + field_off;
  }
};

/// Offsets of Elf64_Ehdr / Elf64_Phdr / Elf64_Nhdr fields.
namespace off {
inline constexpr std::uint64_t e_class = 4, e_data = 5, e_type = 16, e_machine = 18, e_phoff = 32,
                               e_shoff = 40, e_phentsize = 54, e_phnum = 56;
inline constexpr std::uint64_t p_type = 0, p_flags = 4, p_offset = 8, p_vaddr = 16, p_filesz = 32,
                               p_memsz = 40;
inline constexpr std::uint64_t n_namesz = 0, n_descsz = 4, n_type = 8;
}  // namespace off

/// An x86-64 ELF core under construction. Layout: Ehdr, one PT_NOTE phdr then
/// the PT_LOAD phdrs, the notes, then each PT_LOAD's bytes (the last byte of
/// the file belongs to the last PT_LOAD, so any truncation cuts something).
class core_builder {
 public:
  core_builder& note(std::string owner, std::uint32_t type, bytes desc) {
    notes_.push_back(note_spec{std::move(owner), type, std::move(desc)});
    return *this;
  }
  core_builder& load(std::uint64_t vaddr, std::uint64_t memsz, std::uint32_t flags, bytes data) {
    loads_.push_back(load_spec{vaddr, memsz, flags, std::move(data)});
    return *this;
  }
  std::vector<note_spec>& notes() { return notes_; }
  const std::vector<note_spec>& notes() const { return notes_; }
  std::vector<load_spec>& loads() { return loads_; }
  const std::vector<load_spec>& loads() const { return loads_; }

  built_core build() const {
    built_core out;
    bytes& b = out.image;
    const std::uint64_t phnum = 1 + loads_.size();

    elf::ehdr64 eh{};
    std::copy(arch::elfc::magic.begin(), arch::elfc::magic.end(), eh.ident.begin());
    eh.ident[4] = arch::elfc::class64;
    eh.ident[5] = arch::elfc::data_lsb;
    eh.ident[6] = 1;  // EV_CURRENT
    eh.type = arch::elfc::et_core;
    eh.machine = arch::x86_64::e_machine;
    eh.version = 1;
    eh.phoff = sizeof(elf::ehdr64);
    eh.ehsize = sizeof(elf::ehdr64);
    eh.phentsize = sizeof(elf::phdr64);
    eh.phnum = static_cast<std::uint16_t>(phnum);
    append(b, eh);
    out.phoff = eh.phoff;

    // Program headers, patched below once the offsets are known.
    out.note_phdr = b.size();
    b.resize(b.size() + phnum * sizeof(elf::phdr64));
    for (std::size_t i = 0; i < loads_.size(); ++i)
      out.load_phdrs.push_back(out.note_phdr + (i + 1) * sizeof(elf::phdr64));

    out.notes = b.size();
    for (const auto& n : notes_) {
      out.note_headers.push_back(b.size());
      out.note_descs.push_back(append_note(b, n));
    }
    const std::uint64_t notes_size = b.size() - out.notes;

    elf::phdr64 np{};
    np.type = arch::elfc::pt_note;
    np.offset = out.notes;
    np.filesz = notes_size;
    np.align = 4;
    poke(b, out.note_phdr, np);

    for (std::size_t i = 0; i < loads_.size(); ++i) {
      pad_to(b, 16);
      out.load_data.push_back(b.size());
      elf::phdr64 lp{};
      lp.type = arch::elfc::pt_load;
      lp.flags = loads_[i].flags;
      lp.offset = b.size();
      lp.vaddr = loads_[i].vaddr;
      lp.filesz = loads_[i].data.size();
      lp.memsz = loads_[i].memsz;
      lp.align = 4096;
      poke(b, out.load_phdrs[i], lp);
      b.insert(b.end(), loads_[i].data.begin(), loads_[i].data.end());
    }
    return out;
  }

 private:
  std::vector<note_spec> notes_;
  std::vector<load_spec> loads_;
};

// ------------------------------------------------------------ note payloads

using x86_prstatus = arch::x86_64_abi::prstatus;
using x86_prpsinfo = arch::x86_64_abi::prpsinfo;
using x86_fpregs = arch::x86_64_abi::fpregs;

/// Registers with a distinct value in every field.
inline arch::x86_64_abi::user_regs sample_regs(std::uint64_t seed) {
  std::array<std::uint64_t, sizeof(arch::x86_64_abi::user_regs) / 8> w{};
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = seed * 0x1000 + i;
  arch::x86_64_abi::user_regs r{};
  static_assert(sizeof(w) == sizeof(r));
  std::memcpy(&r, w.data(), sizeof(r));
  return r;
}

inline bytes prstatus(std::int32_t tid, std::int32_t pid, const arch::x86_64_abi::user_regs& regs,
                      std::int16_t cursig = 0) {
  x86_prstatus p{};
  p.info.si_signo = cursig;
  p.cursig = cursig;
  p.sighold = 0x10000;
  p.pid = tid;
  p.ppid = 1;
  p.pgrp = pid;
  p.sid = pid;
  p.regs = regs;
  p.fpvalid = 1;
  return to_bytes(p);
}

inline bytes prpsinfo(std::int32_t pid, std::string_view fname) {
  x86_prpsinfo p{};
  p.pid = pid;
  p.ppid = 1;
  p.pgrp = pid;
  p.sid = pid;
  for (std::size_t i = 0; i < fname.size() && i + 1 < p.fname.size(); ++i) p.fname[i] = fname[i];
  return to_bytes(p);
}

inline bytes auxv(std::initializer_list<std::pair<std::uint64_t, std::uint64_t>> pairs) {
  bytes b;
  for (const auto& [k, v] : pairs) {
    append(b, k);
    append(b, v);
  }
  return b;
}

struct nt_file_entry {
  std::uint64_t start, end, page_offset;
  std::string path;
};

/// An NT_FILE payload; `count` overrides the entry count written.
inline bytes nt_file(std::uint64_t page_size, const std::vector<nt_file_entry>& entries,
                     std::optional<std::uint64_t> count = std::nullopt, bool terminate_names = true) {
  bytes b;
  append(b, count.value_or(entries.size()));
  append(b, page_size);
  for (const auto& e : entries) {
    append(b, e.start);
    append(b, e.end);
    append(b, e.page_offset);
  }
  for (const auto& e : entries) {
    append(b, std::string_view(e.path));
    if (terminate_names) b.push_back(std::byte{0});
  }
  return b;
}

// ------------------------------------------------------------ a valid core

/// What small_core() puts in, for assertions.
namespace small {
inline constexpr std::int32_t pid = 4711;
inline constexpr std::int32_t first_tid = 4712;  // took the signal; not the leader
inline constexpr std::uint64_t exe_base = 0x400000;
inline constexpr std::uint64_t stack_base = 0x7ffffffde000;
inline constexpr std::uint64_t vdso_base = 0x7ffff7fc1000;
inline constexpr std::string_view exe_path = "/usr/bin/synthetic";
inline constexpr std::string_view lib_path = "/usr/lib/x86_64-linux-gnu/libc.so.6";
inline constexpr std::uint32_t unknown_type = 0x4e4b4e55;  // a made-up note type
}  // namespace small

/// A small, valid x86-64 core: two threads (the first is not the leader), FP
/// and xstate regsets, PRPSINFO, SIGINFO, AUXV, NT_FILE, an unknown note and
/// three PT_LOADs (one not fully dumped). About 3 KiB.
inline core_builder small_core() {
  using namespace arch;
  core_builder c;
  auto regs1 = sample_regs(1);
  regs1.rip = small::exe_base + 0x10;
  regs1.rsp = small::stack_base + 0x800;
  auto regs2 = sample_regs(2);
  regs2.rip = small::exe_base + 0x20;

  x86_fpregs fp{};
  fp.cwd = 0x37f;
  fp.mxcsr = 0x1f80;
  fp.mxcsr_mask = 0xffff;
  for (std::size_t i = 0; i < fp.xmm_space.size(); ++i) fp.xmm_space[i] = static_cast<std::uint32_t>(i * 3);

  bytes xstate(832, std::byte{0});
  poke(xstate, 0, fp);
  poke(xstate, 512, std::uint64_t{7});  // xstate_bv: x87 | SSE | AVX

  c.note("CORE", nt::prstatus, prstatus(small::first_tid, small::pid, regs1, sig::sigsegv));
  c.note("CORE", nt::prfpreg, to_bytes(fp));
  c.note("LINUX", nt::x86_xstate, xstate);
  c.note("CORE", nt::prstatus, prstatus(small::pid, small::pid, regs2));
  c.note("CORE", nt::prfpreg, to_bytes(fp));
  c.note("LINUX", nt::x86_xstate, xstate);
  c.note("CORE", nt::prpsinfo, prpsinfo(small::pid, "synthetic"));
  c.note("CORE", nt::siginfo, bytes(128, std::byte{0x11}));
  c.note("CORE", nt::auxv,
         auxv({{at::sysinfo_ehdr, small::vdso_base},
               {at::pagesz, 4096},
               {at::entry, small::exe_base + 0x10},
               {at::execfn, small::stack_base + 0x100},
               {at::null, 0}}));
  c.note("CORE", nt::file,
         nt_file(4096, {{small::exe_base, small::exe_base + 0x1000, 0, std::string(small::exe_path)},
                        {0x7ffff7dc0000, 0x7ffff7de8000, 0, std::string(small::lib_path)},
                        {0x7ffff7de8000, 0x7ffff7f3d000, 0x28, std::string(small::lib_path)}}));
  c.note("CORE", small::unknown_type, bytes(8, std::byte{0x22}));

  // The executable, dumped partly (p_filesz < p_memsz).
  bytes exe(64, std::byte{0x90});
  c.load(small::exe_base, 0x1000, elfc::pf_r | elfc::pf_x, exe);
  // The vDSO: one page, given in full (a PT_LOAD is whole pages).
  bytes vdso(0x1000, std::byte{0});
  std::copy(elfc::magic.begin(), elfc::magic.end(), reinterpret_cast<unsigned char*>(vdso.data()));
  c.load(small::vdso_base, vdso.size(), elfc::pf_r | elfc::pf_x, vdso);
  // The stack with the AT_EXECFN string at +0x100.
  bytes stack(0x100 + small::exe_path.size() + 1 + 7, std::byte{0});
  std::memcpy(stack.data() + 0x100, small::exe_path.data(), small::exe_path.size());
  poke(stack, 0x8, std::uint64_t{0x1122334455667788});
  c.load(small::stack_base, 0x21000, elfc::pf_r | elfc::pf_w, stack);
  return c;
}

}  // namespace necro::test

#endif
