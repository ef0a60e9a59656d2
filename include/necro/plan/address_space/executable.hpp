/// necro::plan: the executable of a core that does not name it — no NT_FILE,
/// and no dynamic linker's list that would (a static program; qemu-user's
/// cores, which never have NT_FILE). `exe_candidates()`: the paths to try, in
/// order, each with where it came from (resurrect_options::exe, AT_EXECFN,
/// the donor's executable, NT_PRPSINFO); `executable_fit()`: whether a file's
/// ELF headers fit the core, since the core holds no build-id to identify it
/// (AT_ENTRY, AT_PHDR, AT_PHENT, AT_PHNUM, its PT_LOADs inside the core's
/// memory, the build-id where the core does hold one); `choose_executable()`:
/// the first candidate that fits, or an error naming each one tried and why;
/// `explain_executable()`. Pure: the files are read by disk::read_object_files.
#ifndef NECRO_PLAN_ADDRESS_SPACE_EXECUTABLE_HPP
#define NECRO_PLAN_ADDRESS_SPACE_EXECUTABLE_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/disk/object_files.hpp>
#include <necro/elf/build_id.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/elf/file_layout.hpp>
#include <necro/elf/types.hpp>
#include <necro/io/error.hpp>
#include <necro/io/printable.hpp>
#include <necro/map/architectures.hpp>

namespace necro::plan {

/// Where a candidate path for the executable came from.
enum class exe_source {
  option,  ///< resurrect_options::exe (--exe): the only candidate when given
  execfn,  ///< AT_EXECFN: the string on the dumped initial stack
  donor,   ///< the donor's mm exe_file
  psargs,  ///< NT_PRPSINFO pr_psargs, its first word when it is a path
  fname,   ///< NT_PRPSINFO pr_fname (at most 15 bytes of the program's name)
};

inline std::string_view describe(exe_source s) noexcept {
  switch (s) {
    case exe_source::option: return "--exe";
    case exe_source::execfn: return "AT_EXECFN";
    case exe_source::donor: return "the donor's executable";
    case exe_source::psargs: return "NT_PRPSINFO pr_psargs";
    case exe_source::fname: return "NT_PRPSINFO pr_fname";
  }
  return "?";
}

struct exe_candidate {
  std::string path;
  exe_source source = exe_source::option;
  friend bool operator==(const exe_candidate&, const exe_candidate&) = default;
};

/// A NUL-terminated (or full) fixed-size char array of a core note as a string.
template <std::size_t N>
std::string fixed_string(const std::array<char, N>& a) {
  const auto end = std::find(a.begin(), a.end(), '\0');
  return std::string(a.begin(), end);
}

/// The paths to try for the executable of `core`, in order, duplicates left
/// out: `exe` alone when given (an explicit choice that does not fit is an
/// error, never replaced by a guess); else AT_EXECFN, `donor_exe`, the first
/// word of pr_psargs when it holds a '/', pr_fname. Each is read under the
/// sysroot first (disk::read_object_file(name, sysroot)).
template <class Arch>
std::vector<exe_candidate> exe_candidates(const elf::core_view<Arch>& core, const std::string& exe,
                                          const std::string& donor_exe) {
  std::vector<exe_candidate> out;
  auto add = [&out](std::string p, exe_source s) {
    if (p.empty()) return;
    if (std::none_of(out.begin(), out.end(), [&](const auto& c) { return c.path == p; }))
      out.push_back({std::move(p), s});
  };
  if (!exe.empty()) {
    add(exe, exe_source::option);
    return out;
  }
  if (auto fn = core.auxv(arch::at::execfn))
    if (auto s = core.read_string(*fn)) add(std::string(*s), exe_source::execfn);
  add(donor_exe, exe_source::donor);
  if (auto ps = core.prpsinfo()) {
    const std::string args = fixed_string(ps->psargs);
    const std::string first = args.substr(0, args.find(' '));
    if (first.find('/') != std::string::npos) add(first, exe_source::psargs);
    add(fixed_string(ps->fname), exe_source::fname);
  }
  return out;
}

namespace detail {

/// The name of the architecture of ELF machine `m`, or its number.
inline std::string machine_name(std::uint16_t m) {
  std::string name = fmt::format("machine {}", m);
  map::for_machine(m, [&](auto tag) { name = decltype(tag)::type::name; });
  return name;
}

/// The address where the loader finds the program headers, less the bias:
/// inside the PT_LOAD that maps e_phoff from the file (as the kernel computes AT_PHDR).
inline std::optional<std::uint64_t> phdr_vaddr(const elf::file_layout& f) {
  for (const auto& ph : f.loads)
    if (f.phoff >= ph.offset && f.phoff - ph.offset < ph.filesz) return ph.vaddr + (f.phoff - ph.offset);
  return std::nullopt;
}

/// Why [start, end) is not all in the core's memory ("" when it is).
template <class Arch>
std::string memory_gap(const elf::core_view<Arch>& core, std::uint64_t start, std::uint64_t end) {
  for (std::uint64_t at = start; at < end;) {
    const auto* s = core.segment_at(at);
    if (!s) return fmt::format("the core has no memory at {:#x}", at);
    at = s->end();  // > at: segment_at returned the segment holding it
  }
  return {};
}

}  // namespace detail

/// Whether the ELF file `f` is the program of `core`: of the core's
/// architecture; its entry point and program headers where the auxiliary
/// vector says (AT_ENTRY, AT_PHDR, AT_PHENT, AT_PHNUM); each PT_LOAD, as the
/// loader would map it at that bias, inside the core's memory; and, where the
/// core holds the ELF header at its first PT_LOAD, the same build-id. The load
/// bias, or an error (errc::mismatch, naming `path`) that says what does not fit.
template <class Arch>
result<std::uint64_t> executable_fit(const elf::core_view<Arch>& core, const elf::file_layout& f,
                                     const std::string& path) {
  const auto no = [&path](std::string why) { return fail(error(errc::mismatch, path, std::move(why))); };
  if (f.machine != Arch::e_machine)
    return no(fmt::format("an {} program (e_machine {}), the core is {}'s ({})", detail::machine_name(f.machine),
                          f.machine, Arch::name, Arch::e_machine));
  const auto entry = core.auxv(arch::at::entry), phdr = core.auxv(arch::at::phdr);
  const auto phent = core.auxv(arch::at::phent), phnum = core.auxv(arch::at::phnum);
  if (!entry || !phdr || !phent || !phnum)
    return no("the core's NT_AUXV lacks AT_ENTRY, AT_PHDR, AT_PHENT or AT_PHNUM: nothing to check the file against");
  const std::uint64_t bias = f.type == arch::elfc::et_exec ? 0 : *entry - f.entry;
  if (f.entry + bias != *entry)
    return no(fmt::format("its entry point {:#x} is not AT_ENTRY {:#x}", f.entry, *entry));
  if (bias % Arch::page_size != 0)
    return no(fmt::format("AT_ENTRY {:#x} less its entry point {:#x} is no page-aligned load bias", *entry, f.entry));
  const auto at = detail::phdr_vaddr(f);
  if (!at) return no(fmt::format("its program headers (file offset {:#x}) are in no PT_LOAD", f.phoff));
  if (*at + bias != *phdr)
    return no(fmt::format("its program headers would be at {:#x} (bias {:#x}), AT_PHDR is {:#x}", *at + bias, bias,
                          *phdr));
  if (*phent != sizeof(elf::phdr64) || *phnum != f.phnum)
    return no(fmt::format("AT_PHENT {} and AT_PHNUM {} are not its {} program headers of {} bytes", *phent, *phnum,
                          f.phnum, sizeof(elf::phdr64)));
  for (std::size_t i = 0; i < f.loads.size(); ++i) {
    const auto& ph = f.loads[i];
    const std::uint64_t start = (bias + ph.vaddr) & ~(Arch::page_size - 1);
    const std::uint64_t end = (bias + ph.vaddr + ph.memsz + Arch::page_size - 1) & ~(Arch::page_size - 1);
    if (end < start || ph.vaddr + ph.memsz < ph.vaddr)
      return no(fmt::format("its PT_LOAD {} (vaddr {:#x}, memsz {:#x}) wraps around the address space", i, ph.vaddr,
                            ph.memsz));
    if (auto gap = detail::memory_gap(core, start, end); !gap.empty())
      return no(fmt::format("its PT_LOAD {} would be mapped at {:#x}-{:#x}, but {}", i, start, end, gap));
  }
  const std::uint64_t first = (bias + f.loads.front().vaddr) & ~(Arch::page_size - 1);
  if (auto id = elf::build_id_at(core, first); id && *id && f.build_id && elf::to_hex((**id).bytes()) != *f.build_id)
    return no(fmt::format("its build-id {} is not the {} the core holds at {:#x}", *f.build_id,
                          elf::to_hex((**id).bytes()), first));
  return bias;
}

/// The executable chosen for a core, and the candidates rejected before it.
struct chosen_executable {
  exe_candidate candidate;
  const disk::object_file* file = nullptr;  ///< in the disk::object_files given to choose_executable
  std::uint64_t bias = 0;
  std::vector<std::string> rejected;  ///< "path (source): why", in the order tried
};

/// The first of `candidates` that `disk` found, is ELF and fits the core
/// (executable_fit). None: an error (errc::missing, naming the core) that
/// lists every candidate and why it was rejected.
template <class Arch>
result<chosen_executable> choose_executable(const elf::core_view<Arch>& core,
                                            const std::vector<exe_candidate>& candidates,
                                            const disk::object_files& disk) {
  chosen_executable out;
  for (const auto& c : candidates) {
    const std::string label = fmt::format("{} ({})", io::printable(c.path), describe(c.source));
    const auto it = disk.find(c.path);
    if (it == disk.end() || !it->second.layout) {
      out.rejected.push_back(
          fmt::format("{}: {}", label, it == disk.end() ? std::string("not looked up") : it->second.problem));
      continue;
    }
    auto bias = executable_fit(core, *it->second.layout, it->second.canonical);
    if (!bias) {
      out.rejected.push_back(fmt::format("{}: {}", label, bias.error().what()));
      continue;
    }
    out.candidate = c;
    out.file = &it->second;
    out.bias = *bias;
    return out;
  }
  if (candidates.empty())
    return fail(error(errc::missing, std::string(core.path()),
                      "the core names no executable: no AT_EXECFN string in its memory, no NT_PRPSINFO name"));
  return fail(error(errc::missing, std::string(core.path()),
                    fmt::format("no candidate for the executable fits the core: {}", fmt::join(out.rejected, "; "))));
}

/// For --explain and --inspect: the executable, where its path came from and
/// what was checked; the candidates rejected before it.
inline std::string explain_executable(const chosen_executable& e) {
  std::string s = fmt::format(
      "executable: {} (from {}), load bias {:#x}: its ELF headers on disk fit the core (machine, AT_ENTRY, AT_PHDR, "
      "AT_PHENT, AT_PHNUM, its PT_LOADs in the core's memory)\n",
      io::printable(e.file ? e.file->canonical : e.candidate.path), describe(e.candidate.source), e.bias);
  for (const auto& r : e.rejected) s += fmt::format("  rejected {}\n", r);
  return s;
}

}  // namespace necro::plan

#endif
