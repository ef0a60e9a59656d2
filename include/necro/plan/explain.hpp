/// necro::plan::explain: the plan in words — VMAs, threads, relocations, page
/// runs and warnings — for `criu-necromancer --explain`. Every string that
/// comes from the core or the images (VMA labels, paths, image names) goes
/// through io::printable: the text is safe to print on a terminal.
#ifndef NECRO_PLAN_EXPLAIN_HPP
#define NECRO_PLAN_EXPLAIN_HPP
#pragma once

#include <algorithm>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/magic.hpp>
#include <necro/io/printable.hpp>
#include <necro/plan/pages/pages.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan {

/// What the page engine decided for the plan's candidate runs
/// (write::classify_pages): the pages `commit` will write and elide.
struct page_decision {
  elision_stats pages;           ///< kept, zero and file-equal pages
  std::uint64_t hole_pages = 0;  ///< zero pages that are holes of a sparse core
  std::uint64_t entries = 0;     ///< pagemap entries of the kept pages
};

/// Read, write and execute permission as /proc/PID/maps shows them: "r-x".
inline std::string rwx(bool read, bool write, bool execute) {
  return {read ? 'r' : '-', write ? 'w' : '-', execute ? 'x' : '-'};
}

/// A VMA's PROT_* bits as rwx().
inline std::string prot_string(std::uint32_t prot) {
  return rwx(prot & criu::mmap_bits::prot_read, prot & criu::mmap_bits::prot_write, prot & criu::mmap_bits::prot_exec);
}

/// A VMA's kind and share mode, when it is shared memory or shared: " (memfd, shared)".
inline std::string vma_note(const vma& v) {
  const bool shared = (v.entry.status() & criu::vma_status::file_shared) != 0;
  if (!is_shared_memory(v.kind)) return shared ? " (shared)" : "";
  return fmt::format(" ({}, {})", describe(v.kind), shared ? "shared" : "private");
}

/// The shared-memory objects: where each one's content comes from and goes.
inline void explain_shared(std::back_insert_iterator<std::string> it, const shared_memory_plan& sp) {
  if (sp.objects.empty()) return;
  fmt::format_to(it, "\nshared memory ({} objects, content from the core):\n", sp.objects.size());
  for (const auto& o : sp.objects) {
    std::uint64_t pages = 0;
    for (const auto& r : o.runs) pages += r.pages;
    const auto to = o.kind == vma_kind::deleted_file
                        ? fmt::format("ghost-file-{}.img", o.content_id)
                        : fmt::format("pagemap-shmem-{}.img + pages-{}.img", o.content_id, o.pages_id);
    fmt::format_to(it, "  {} {}: {} bytes, file id {}, {} candidate pages -> {} ({})\n", describe(o.kind),
                   io::printable(o.name), o.size, o.file_id, pages, to,
                   o.from_donor ? "the donor's object, refilled" : "new: the donor has none");
  }
}

/// The pages paragraph: what will be written and elided when `decided` is
/// given, else the candidates only, labelled as such.
inline void explain_pages(std::string& o, const resurrection& p, bool verbose, const page_decision* decided) {
  auto it = std::back_inserter(o);
  const auto& s = p.stats;
  if (decided) {
    const auto& d = decided->pages;
    fmt::format_to(it, "\npages: {} written in {} runs; elided: {} zero pages ({} of them holes in the core), "
                       "{} equal to their file\n", d.kept_pages, decided->entries, d.zero_pages, decided->hole_pages,
        d.file_pages);
    fmt::format_to(it, "  of {} candidate pages in {} runs; {} past end of file, {} not in the core\n",
        s.candidate_pages, p.runs.size(), s.past_eof_pages, s.not_dumped_pages);
  } else {
    fmt::format_to(it, "\npages: {} candidates in {} runs (zero pages and pages equal to their file are elided "
                       "while writing: not counted here), {} past end of file, {} not in the core\n",
        s.candidate_pages, p.runs.size(), s.past_eof_pages, s.not_dumped_pages);
  }
  if (verbose)
    for (const auto& r : p.runs)
      fmt::format_to(it, "  candidate {:#014x} {:6} pages from core offset {:#x}\n", r.vaddr, r.pages, r.core_offset);
}

/// Donor-less only: each value taken because the core does not hold it.
inline void explain_not_in_core(std::back_insert_iterator<std::string> it, const resurrection& p) {
  if (p.not_in_core.empty()) return;
  fmt::format_to(it, "\nnot in the core ({} defaults taken; no donor):\n", p.not_in_core.size());
  for (const auto& d : p.not_in_core)
    fmt::format_to(it, "  {}: {} ({})\n", io::printable(d.what), io::printable(d.value), io::printable(d.why));
}

/// What the capture at death gave, and what does not come back.
inline void explain_capture(std::back_insert_iterator<std::string> it, const resurrection& p) {
  using io::printable;
  if (!p.capture) return;
  const auto& c = *p.capture;
  fmt::format_to(it, "\nfrom the capture {}:\n", printable(c.dir));
  for (const auto& r : c.restored) fmt::format_to(it, "  {}\n", printable(r));
  for (const auto& r : c.closed) fmt::format_to(it, "  closed {}\n", printable(r));
  for (const auto& r : c.lost) fmt::format_to(it, "  lost: {}\n", printable(r));
}

/// Each victim thread and the donor thread whose image served as its template;
/// without a donor, each thread's own synthesized image.
inline void explain_threads(std::back_insert_iterator<std::string> it, const resurrection& p) {
  using io::printable;
  const bool donorless = !p.not_in_core.empty();
  if (donorless)
    fmt::format_to(it, "\nthreads ({}, each from its own notes):\n", p.threads.size());
  else
    fmt::format_to(it, "\nthreads ({}; the donor has {}):\n", p.threads.size(), p.donor_tids.size());
  std::map<std::uint32_t, int> uses;
  for (const auto& t : p.threads) {
    const bool reused = uses[t.template_tid]++ > 0;
    const std::string rewind = t.rewind.empty() ? "" : "; " + printable(t.rewind);
    if (donorless) {
      fmt::format_to(it, "  tid {}{}{}\n", t.tid, t.leader ? " (leader)" : "", rewind);
      continue;
    }
    fmt::format_to(it, "  tid {}{} <- donor thread {}{}{}\n", t.tid, t.leader ? " (leader)" : "", t.template_tid,
        reused ? " (reused: the donor has fewer threads)" : "", rewind);
  }
  std::vector<std::uint32_t> unused;
  for (const auto tid : p.donor_tids)
    if (!uses.count(tid)) unused.push_back(tid);
  if (!unused.empty())
    fmt::format_to(it, "  donor threads left out (the victim has fewer): {}\n", fmt::join(unused, ", "));
}

/// Donor addresses moved into the victim's layout. A donor-less set is the
/// victim's own layout: every delta is zero, so only a count is worth saying.
inline void explain_relocations(std::back_insert_iterator<std::string> it, const resurrection& p) {
  using io::printable;
  const auto moved = std::count_if(p.relocations.begin(), p.relocations.end(),
                                   [](const relocation& r) { return r.from != r.to; });
  if (!p.not_in_core.empty() && moved == 0) {
    fmt::format_to(it, "\naddresses: the victim's own ({} pointers checked, none moved: no donor)\n",
        p.relocations.size());
    return;
  }
  fmt::format_to(it, "\nrelocated donor addresses ({}):\n", p.relocations.size());
  for (const auto& r : p.relocations)
    fmt::format_to(it, "  {}: {:#x} -> {:#x} ({})\n", printable(r.what), r.from, r.to, printable(r.how));
}

/// A readable report of the plan. `verbose` adds every candidate page run;
/// `decided` (write::classify_pages) says which pages will be written.
inline std::string explain(const resurrection& p, bool verbose = false, const page_decision* decided = nullptr) {
  using io::printable;
  std::string o;
  auto it = std::back_inserter(o);
  if (p.not_in_core.empty())
    fmt::format_to(it, "resurrection of pid {} into donor images of pid {}\n", p.pid, p.donor_pid);
  else
    fmt::format_to(it, "resurrection of pid {} without a donor: images synthesized from the core\n", p.pid);
  fmt::format_to(it, "executable {} (build-id {})\n", printable(p.exe_path),
      p.exe_build_id.empty() ? "unknown" : p.exe_build_id);
  if (!p.cpu.empty()) fmt::format_to(it, "cpu: {}\n", printable(p.cpu));
  explain_threads(it, p);
  fmt::format_to(it, "\naddress space ({} VMAs):\n", p.vmas.size());
  for (const auto& v : p.vmas) {
    const auto& e = v.entry;
    fmt::format_to(it, "  {:#014x}-{:#014x} {} {}{}{}\n", e.start(), e.end(), prot_string(e.prot()), printable(v.label),
        e.pgoff() ? fmt::format(" +{:#x}", e.pgoff()) : std::string(), vma_note(v));
  }
  if (!p.objects.empty()) {
    fmt::format_to(it, "\nmapped files on this machine:\n");
    for (const auto& l : p.objects) fmt::format_to(it, "  {}\n", printable(l));
  }
  explain_shared(it, p.shared);
  explain_pages(o, p, verbose, decided);
  explain_relocations(it, p);
  fmt::format_to(it, "\nchanges:\n");
  for (const auto& c : p.changes) fmt::format_to(it, "  {}\n", printable(c));
  fmt::format_to(it, "  mm: code {:#x}-{:#x} data {:#x}-{:#x} brk {:#x}-{:#x} stack {:#x}\n", p.mm.mm_start_code(),
      p.mm.mm_end_code(), p.mm.mm_start_data(), p.mm.mm_end_data(), p.mm.mm_start_brk(), p.mm.mm_brk(),
      p.mm.mm_start_stack());
  fmt::format_to(it, "  mm: args {:#x}-{:#x} env {:#x}-{:#x}, {} auxv words\n", p.mm.mm_arg_start(), p.mm.mm_arg_end(),
      p.mm.mm_env_start(), p.mm.mm_env_end(), p.mm.mm_saved_auxv_size());
  for (const auto& c : p.carried)
    if (c.from != c.to) fmt::format_to(it, "  {} -> {}\n", printable(c.from), printable(c.to));
  explain_capture(it, p);
  explain_not_in_core(it, p);
  if (!p.warnings.empty()) {
    fmt::format_to(it, "\nwarnings:\n");
    for (const auto& w : p.warnings) fmt::format_to(it, "  {}\n", printable(w));
  }
  return o;
}

}  // namespace necro::plan

#endif
