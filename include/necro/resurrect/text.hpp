/// The words criu-necromancer prints, for any tool that wants them:
/// `inspect()` summarises a core and its donor (--inspect), `summary()` says
/// what a resurrection wrote. Every name from a core or an image goes through
/// io::printable: a hostile core can put newlines and terminal escapes there.
#ifndef NECRO_RESURRECT_TEXT_HPP
#define NECRO_RESURRECT_TEXT_HPP
#pragma once

#include <string.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <necro/arch/common.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/printable.hpp>
#include <necro/map/criu_thread.hpp>
#include <necro/plan/explain.hpp>
#include <necro/plan/plan.hpp>
#include <necro/resurrect/inputs.hpp>
#include <necro/write/commit.hpp>

namespace necro {

/// The name of the signal a core was dumped for, glibc's ("SIGSEGV"), for
/// the core-dumping signals; any other (SIGSYS, SIGXCPU, a realtime one)
/// reads "signal".
inline std::string signal_name(int sig) {
  namespace s = arch::sig;
  constexpr std::array named{s::sigquit, s::sigill, s::sigtrap, s::sigabrt, s::sigbus, s::sigfpe, s::sigsegv};
  const char* abbrev = std::ranges::find(named, sig) != named.end() ? ::sigabbrev_np(sig) : nullptr;
  return abbrev ? fmt::format("SIG{}", abbrev) : std::string("signal");
}

namespace detail {

template <class Arch>
void inspect_threads(std::back_insert_iterator<std::string> o, const elf::core_view<Arch>& core) {
  if (!core.threads().empty()) {
    const int sig = core.threads().front().prstatus.cursig;
    fmt::format_to(o, "  killed by {} ({}) in thread {}\n", signal_name(sig), sig, core.threads().front().tid());
  }
  fmt::format_to(o, "  threads ({}):\n", core.threads().size());
  for (const auto& t : core.threads()) {
    const std::string_view extra = Arch::regset_names(t.regsets());
    fmt::format_to(o, "    tid {:<7} pc {:#014x} sp {:#014x} {} {:#014x}{}{}{}\n", t.tid(), Arch::pc(t.regs()),
                   Arch::sp(t.regs()), Arch::thread_pointer_name, t.thread_pointer(), extra.empty() ? "" : " ", extra,
                   t.fpregs ? "" : " (no FP registers)");
  }
}

/// A fixed-size C string field of the core, up to its NUL.
template <class Field>
std::string_view c_field(const Field& f) {
  return {f.data(), ::strnlen(f.data(), f.size())};
}

template <class Arch>
void inspect_core(std::back_insert_iterator<std::string> o, const elf::core_view<Arch>& core) {
  using io::printable;
  fmt::format_to(o, "core {}: {}, pid {}", printable(core.path()), Arch::name, core.pid());
  if (auto ps = core.prpsinfo()) fmt::format_to(o, ", {} ({})", printable(c_field(ps->fname)), printable(c_field(ps->psargs)));
  fmt::format_to(o, "\n");
  inspect_threads(o, core);
  std::uint64_t dumped = 0, total = 0;
  for (const auto& s : core.segments()) {
    dumped += s.filesz;
    total += s.memsz;
  }
  fmt::format_to(o, "  segments: {} PT_LOADs, {} KiB of {} KiB dumped\n", core.segments().size(), dumped / 1024,
                 total / 1024);
  for (const auto& s : core.segments()) {
    std::string label;
    for (const auto& f : core.process().files)
      if (f.start == s.vaddr) label = fmt::format("{} +{:#x}", printable(f.path), f.offset);
    if (core.auxv(arch::at::sysinfo_ehdr) == s.vaddr) label = "[vdso]";
    fmt::format_to(o, "    {:#014x}-{:#014x} {} {:>8} KiB{} {}\n", s.vaddr, s.end(),
                   plan::rwx(s.readable(), s.writable(), s.executable()), s.memsz / 1024,
                   s.complete() ? "" : fmt::format(" ({} KiB dumped)", s.filesz / 1024), label);
  }
  fmt::format_to(o, "  auxv: {} entries; AT_SYSINFO_EHDR {:#x}, AT_PHDR {:#x}, AT_ENTRY {:#x}",
                 core.process().auxv.size(), core.auxv(arch::at::sysinfo_ehdr).value_or(0),
                 core.auxv(arch::at::phdr).value_or(0), core.auxv(arch::at::entry).value_or(0));
  if (auto fn = core.auxv(arch::at::execfn))
    if (auto s = core.read_string(*fn)) fmt::format_to(o, ", AT_EXECFN {}", printable(*s));
  fmt::format_to(o, "\n  notes skipped: {}\n", core.process().unknown_notes);
}

template <class Arch>
void inspect_donor(std::back_insert_iterator<std::string> o, const criu::image_set& d) {
  using bridge = map::criu_thread<Arch>;
  using io::printable;
  fmt::format_to(o, "donor {}: pid {}, {} thread(s), {} VMAs, {} files, pages-{}.img\n", printable(d.dir().string()),
                 d.pid(), d.process().threads_size(), d.mm().vmas_size(), d.files().size(), d.pages_id());
  for (const auto& [tid, c] : d.cores()) {
    if (!bridge::has_thread_info(c)) {
      fmt::format_to(o, "    tid {:<7} no {} registers (a dump of another architecture)\n", tid, Arch::name);
      continue;
    }
    fmt::format_to(o, "    tid {:<7} pc {:#014x} sp {:#014x} {} {:#014x}\n", tid, bridge::pc(c), bridge::sp(c),
                   Arch::thread_pointer_name, bridge::thread_pointer(c));
  }
  if (const auto* exe = d.reg_file(d.mm().exe_file_id())) fmt::format_to(o, "  executable: {}\n", printable(exe->name()));
  std::vector<std::string> names;
  for (const auto& n : d.file_names()) names.push_back(printable(n));
  fmt::format_to(o, "  images: {}\n", fmt::join(names, " "));
}

}  // namespace detail

/// --inspect: the core, how its file mappings were rebuilt, the warnings,
/// and the donor when there is one.
template <class Arch>
std::string inspect(const inputs<Arch>& in) {
  std::string out;
  auto o = std::back_inserter(out);
  detail::inspect_core(o, in.core);
  out += in.rebuilt;
  for (const auto& w : in.warnings) fmt::format_to(o, "  warning: {}\n", io::printable(w));
  if (in.donor) detail::inspect_donor<Arch>(o, *in.donor);
  return out;
}

/// What a written set holds; with `restore_follows` false, how to restore it.
inline std::string summary(const plan::resurrection& plan, const write::commit_report& rep, bool restore_follows) {
  using io::printable;
  std::string out;
  auto o = std::back_inserter(out);
  const auto& pg = rep.pages;
  fmt::format_to(o, "resurrected pid {} ({} thread(s)) into {}\n", plan.pid, plan.threads.size(),
                 printable(rep.out_dir.string()));
  fmt::format_to(o, "  {} VMAs, {} pages written ({} MiB), {} relocations\n", plan.vmas.size(), pg.pages.kept_pages,
                 rep.page_bytes >> 20, plan.relocations.size());
  fmt::format_to(o, "  elided {} MiB: {} zero pages ({} of them holes in the core), {} pages equal to their file\n",
                 pg.bytes_elided >> 20, pg.pages.zero_pages, pg.hole_pages, pg.pages.file_pages);
  if (pg.bytes_cloned > 0)
    fmt::format_to(o, "  cloned {} MiB from the core: extents shared, no page read (--no-reflink reads and elides)\n",
                   pg.bytes_cloned >> 20);
  for (const auto& t : plan.threads)
    if (!t.rewind.empty()) fmt::format_to(o, "  thread {}: {}\n", t.tid, printable(t.rewind));
  if (plan.capture)
    fmt::format_to(o, "  from the capture {}: {} fds and settings; {} closed, {} lost (--explain lists them)\n",
                   printable(plan.capture->dir), plan.capture->restored.size(), plan.capture->closed.size(),
                   plan.capture->lost.size());
  for (const auto& w : plan.warnings) fmt::format_to(o, "  warning: {}\n", printable(w));
  if (!rep.kept_donor.empty())
    fmt::format_to(o, "  the donor's original images are in {}\n", printable(rep.kept_donor.string()));
  if (!restore_follows)
    fmt::format_to(o, "restore with: criu restore -D {} -d   (add -s to leave it stopped for a debugger)\n",
                   printable(rep.out_dir.string()));
  return out;
}

}  // namespace necro

#endif
