/// necro::plan::plan_resurrection: (core, donor images, disk facts) -> plan.
/// A pure function: it reads only its arguments and writes nothing.
#ifndef NECRO_PLAN_RESURRECTION_HPP
#define NECRO_PLAN_RESURRECTION_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/plan/address_space.hpp>
#include <necro/plan/build_ids.hpp>
#include <necro/plan/eventpoll.hpp>
#include <necro/plan/initial_stack.hpp>
#include <necro/plan/layout.hpp>
#include <necro/plan/pages.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/threads.hpp>

namespace necro::plan {

/// What the caller decides.
struct options {
  /// Skip on-disk checks of mapped files (inspecting a core on another machine).
  bool offline = false;
  /// The share mode of the victim's VMAs, from a capture at death: decides
  /// memfd and deleted-file mappings the donor has no match for.
  share_modes shares = {};
};

/// The bytes of a donor image made in memory (nullopt: copy it from the donor's directory).
inline std::optional<std::string> carried_bytes(const criu::image_set& donor, std::string_view name) {
  if (const auto* b = donor.image_bytes(name)) return *b;
  return std::nullopt;
}

namespace detail {

inline std::uint64_t page_align_up(std::uint64_t v, std::uint64_t page) { return (v + page - 1) / page * page; }

}  // namespace detail

/// mm's start/end code and data: the donor's, moved by the executable's load
/// delta (pitfall 18). Without the executable in both layouts, the victim's
/// own mappings of it stand in (code: its executable range, data: all of it
/// above the code), with a warning; prctl(PR_SET_MM_MAP) needs start_code <
/// end_code and start_data <= end_data.
inline void plan_code_data(const address_space& as, const relocator& reloc, resurrection& out) {
  auto& mm = out.mm;
  const auto d = reloc.donor().find(as.exe_path);
  const auto v = reloc.victim().find(as.exe_path);
  if (d != reloc.donor().end() && v != reloc.victim().end()) {
    const std::uint64_t delta = v->second.base() - d->second.base();
    for (auto [get, set, name] :
         {std::tuple{&pb::mm_entry::mm_start_code, &pb::mm_entry::set_mm_start_code, "start_code"},
          std::tuple{&pb::mm_entry::mm_end_code, &pb::mm_entry::set_mm_end_code, "end_code"},
          std::tuple{&pb::mm_entry::mm_start_data, &pb::mm_entry::set_mm_start_data, "start_data"},
          std::tuple{&pb::mm_entry::mm_end_data, &pb::mm_entry::set_mm_end_data, "end_data"}}) {
      const std::uint64_t from = (mm.*get)();
      (mm.*set)(from + delta);
      out.relocations.push_back({fmt::format("mm {}", name), from, from + delta, "executable load delta"});
    }
    return;
  }
  std::uint64_t code_lo = UINT64_MAX, code_hi = 0, lo = UINT64_MAX, hi = 0;
  for (const auto& x : out.vmas) {
    if (x.kind != vma_kind::exe) continue;
    lo = std::min(lo, x.entry.start());
    hi = std::max(hi, x.entry.end());
    if (!(x.entry.prot() & criu::mmap_bits::prot_exec)) continue;
    code_lo = std::min(code_lo, x.entry.start());
    code_hi = std::max(code_hi, x.entry.end());
  }
  if (hi == 0) lo = hi = as.exe_end;  // the executable has no VMA of its own: an empty range at its end
  if (code_hi == 0) code_lo = lo, code_hi = std::max(hi, lo + 1);
  // Data follows the code: everything of the executable above it (a superset).
  const std::uint64_t data_lo = std::min(code_hi, hi), data_hi = hi;
  mm.set_mm_start_code(code_lo);
  mm.set_mm_end_code(code_hi);
  mm.set_mm_start_data(data_lo);
  mm.set_mm_end_data(data_hi);
  out.warnings.push_back(fmt::format("{} is not mapped in both processes: start/end code {:#x}-{:#x} and data "
                                     "{:#x}-{:#x} taken from the victim's mappings of it (estimates)",
                                     as.exe_path, code_lo, code_hi, data_lo, data_hi));
}

/// A warning for private pages the core lacks (coredump_filter): they get no
/// data, so anonymous ones restore as zeros and file-backed ones as the file
/// on disk, without the changes the process made (relocations, .data).
template <class Arch>
void warn_not_dumped(const elf::core_view<Arch>& core, resurrection& out) {
  if (out.stats.not_dumped_pages == 0) return;
  std::uint64_t anon = 0;
  for (const auto& v : out.vmas) {
    if (!v.carries_pages || !v.anonymous || v.segment < 0) continue;
    const auto& seg = core.segments()[static_cast<std::size_t>(v.segment)];
    anon += (seg.memsz - std::min(seg.memsz, seg.filesz)) / Arch::page_size;
  }
  out.warnings.push_back(fmt::format("{} pages of private memory are not in the core (coredump_filter left them "
                                     "out): {} anonymous ones come back as zeros, {} file-backed ones as the file "
                                     "on disk, without the process's changes; use coredump_filter 0xff",
                                     out.stats.not_dumped_pages, anon, out.stats.not_dumped_pages - std::min(anon, out.stats.not_dumped_pages)));
}

/// mm's brk range: the heap VMA, else an empty heap right after the executable.
template <class Arch>
void plan_brk(const address_space& as, const criu::image_set& donor, resurrection& out) {
  if (as.heap) {
    const auto& heap = out.vmas[*as.heap].entry;
    out.mm.set_mm_start_brk(heap.start());
    out.mm.set_mm_brk(heap.end());
    // A heap glued to the executable may hold bss below start_brk (one VMA):
    // start_brk sits where it sits in the donor, after the same executable.
    const auto dexe = detail::donor_exe_end(donor);
    if (heap.start() == as.exe_end && dexe != 0 && donor.mm().mm_start_brk() >= dexe)
      out.mm.set_mm_start_brk(std::min(heap.end(), as.exe_end + (donor.mm().mm_start_brk() - dexe)));
    return;
  }
  const auto brk = detail::page_align_up(as.exe_end, Arch::page_size);
  out.mm.set_mm_start_brk(brk);
  out.mm.set_mm_brk(brk);
  out.warnings.push_back(fmt::format("no brk heap found (no anonymous rw VMA within {} MiB above the executable): "
                                     "start_brk = brk = {:#x}, the end of the executable; malloc's brk arena, if "
                                     "it had one, is restored as plain memory",
                                     max_brk_gap >> 20, brk));
}

/// The segment of the main thread's initial stack: the [stack] VMA, else the
/// segment that holds AT_EXECFN's string; nullptr if the core has neither.
template <class Arch>
const elf::segment* initial_stack_segment(const elf::core_view<Arch>& core, const address_space& as,
                                          const resurrection& out) {
  if (as.stack && out.vmas[*as.stack].segment >= 0)
    return &core.segments()[static_cast<std::size_t>(out.vmas[*as.stack].segment)];
  const auto execfn = core.auxv(arch::at::execfn);
  return execfn ? core.segment_at(*execfn) : nullptr;
}

/// mm's start_stack and arg/env ranges from the victim's initial stack
/// (pitfall 17); values only estimated are warnings, and with nothing to go
/// by the donor's stay (ordered addresses the kernel accepts).
template <class Arch>
void plan_initial_stack(const elf::core_view<Arch>& core, const address_space& as, resurrection& out) {
  const auto* seg = initial_stack_segment(core, as, out);
  if (!seg) out.warnings.push_back("no segment of the core holds the main thread's initial stack");
  const auto st = find_initial_stack(core, seg);
  if (!st) {
    out.warnings.push_back("the initial stack was not found (no stack segment, no AT_EXECFN): start_stack and the "
                           "arg/env ranges stay the donor's; /proc/PID/cmdline and environ will read wrong");
    return;
  }
  auto& mm = out.mm;
  mm.set_mm_start_stack(st->start_stack);
  mm.set_mm_arg_start(st->arg_start);
  mm.set_mm_arg_end(st->arg_end);
  mm.set_mm_env_start(st->env_start);
  mm.set_mm_env_end(st->env_end);
  out.changes.push_back(fmt::format("initial stack: argc {}, envc {}; start_stack from {}, arg_start from {}, "
                                    "env_start from {}, env_end from {}",
                                    st->argc, st->envc, st->start_stack_from, st->arg_start_from,
                                    st->env_start_from, st->env_end_from));
  for (const auto& e : st->estimates) out.warnings.push_back("initial stack: " + e);
}

/// mm's saved auxv: NT_AUXV without the AT_NULL pair (pitfall 2). CRIU takes
/// at most Arch::max_saved_auxv_words; the kernel only shows the saved copy in
/// /proc/PID/auxv (the process reads its own from the stack), so the
/// trailing pairs beyond are dropped, with a warning.
template <class Arch>
void plan_saved_auxv(const elf::core_view<Arch>& core, resurrection& out) {
  auto& mm = out.mm;
  mm.clear_mm_saved_auxv();
  std::vector<std::uint64_t> dropped;
  for (const auto& a : core.process().auxv) {
    if (a.key == arch::at::null) break;
    if (mm.mm_saved_auxv_size() + 2 > Arch::max_saved_auxv_words) {
      dropped.push_back(a.key);
      continue;
    }
    mm.add_mm_saved_auxv(a.key);
    mm.add_mm_saved_auxv(a.value);
  }
  if (!dropped.empty())
    out.warnings.push_back(fmt::format("NT_AUXV has {} pairs; CRIU keeps at most {}: the saved auxv (only shown in "
                                       "/proc/PID/auxv) drops the trailing keys {}",
                                       Arch::max_saved_auxv_words / 2 + dropped.size(), Arch::max_saved_auxv_words / 2,
                                       fmt::join(dropped, ", ")));
}

/// The donor must be a dump of the core's architecture: an error naming the
/// core and the donor's core image otherwise.
template <class Arch>
result<void> check_donor_architecture(const std::string& core_path, const criu::image_set& donor) {
  const auto& dcore = donor.leader_core();
  if (static_cast<int>(dcore.mtype()) == Arch::criu_march) return {};
  return fail(error(errc::mismatch, core_path,
                    fmt::format("an {} core, but the donor's {} is a dump of {}: the donor must run on the same "
                                "architecture",
                                Arch::name, (donor.dir() / criu::image_name("core-", donor.pid())).string(),
                                pb::core_entry::march_Name(dcore.mtype()))));
}

/// Plans the resurrection of the process in `core` into the image set of `donor`.
template <class Arch>
result<resurrection> plan_resurrection(const elf::core_view<Arch>& core, const criu::image_set& donor,
                                       const io::file_facts& disk, const options& opt = {}) {
  resurrection out;
  const std::string core_path(core.path());
  out.pid = core.pid();
  out.donor_pid = donor.pid();
  if (out.pid <= 0) return fail(error(errc::bad_value, core_path, fmt::format("process id {} is not valid", out.pid)));

  NECRO_TRY(check_donor_architecture<Arch>(core_path, donor));
  const auto& dcore = donor.leader_core();

  // Address space.
  NECRO_TRY_ASSIGN(auto as, plan_address_space(core, donor, disk, opt.offline, out.warnings, opt.shares));
  out.vmas = std::move(as.vmas);
  out.files = std::move(as.files);
  out.shared = std::move(as.shared);
  out.exe_path = as.exe_path;
  out.exe_build_id = victim_build_id_hex(core, as.exe_path, out.warnings).value_or("");

  // Files rebuilt or upgraded since the crash would run foreign code.
  if (!opt.offline) NECRO_TRY(check_build_ids(core, disk, out.warnings));

  // Files changed on disk since the donor was dumped make CRIU refuse (bad size).
  for (const auto& f : out.files) {
    if (!f.has_reg() || !f.reg().has_size() || is_ghost(out.shared, f.id())) continue;  // a ghost is not on disk
    const auto it = disk.find(f.reg().name());
    if (it != disk.end() && it->second && it->second->size != f.reg().size())
      return fail(error(errc::mismatch, f.reg().name(),
                        fmt::format("size on disk is {} but the donor dump recorded {}: the file changed; "
                                    "dump a new donor",
                                    it->second->size, f.reg().size())));
  }

  // Relocation of donor addresses, by file load deltas.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> donor_anon;
  for (const auto& v : donor.mm().vmas())
    if (v.status() & criu::vma_status::anon_private) donor_anon.emplace_back(v.start(), v.end());
  const relocator reloc(donor_files(donor), victim_files(core.process()), std::move(donor_anon));

  // Threads: the leader first, then the others in the core's order. Templates:
  // the donor's leader for the leader, the donor's other threads in order for
  // the rest (the last one again when the donor has fewer).
  std::vector<std::uint32_t> donor_others;
  for (const auto tid : donor.process().threads()) {
    out.donor_tids.push_back(tid);
    if (tid != donor.pid()) donor_others.push_back(tid);
  }
  const auto& leader = core.leader();
  {
    NECRO_TRY_ASSIGN(auto tp, plan_thread(core, leader, donor.pid(), dcore, true, reloc, out));
    out.threads.push_back(std::move(tp));
  }
  std::size_t next_template = 0;
  for (const auto& t : core.threads()) {
    if (&t == &leader) continue;
    std::uint32_t tmpl_tid = donor.pid();
    if (!donor_others.empty()) tmpl_tid = donor_others[std::min(next_template++, donor_others.size() - 1)];
    const auto* tmpl = donor.thread_core(tmpl_tid);
    if (!tmpl) return fail(error(errc::missing, donor.dir().string(), fmt::format("no core image of thread {}", tmpl_tid)));
    NECRO_TRY_ASSIGN(auto tp, plan_thread(core, t, tmpl_tid, *tmpl, false, reloc, out));
    out.threads.push_back(std::move(tp));
  }

  // pstree: the victim's pid and tids; group and session follow the donor's
  // relation to its own pid (a setsid'd donor leads its session).
  out.pstree = donor.process();
  out.pstree.set_pid(static_cast<std::uint32_t>(out.pid));
  if (out.pstree.pgid() == donor.pid()) out.pstree.set_pgid(static_cast<std::uint32_t>(out.pid));
  if (out.pstree.sid() == donor.pid()) out.pstree.set_sid(static_cast<std::uint32_t>(out.pid));
  out.pstree.clear_threads();
  for (const auto& t : out.threads) out.pstree.add_threads(static_cast<std::uint32_t>(t.tid));

  // mm.
  out.mm = donor.mm();
  auto& mm = out.mm;
  mm.clear_vmas();
  for (const auto& v : out.vmas) *mm.add_vmas() = v.entry;
  plan_code_data(as, reloc, out);
  plan_brk<Arch>(as, donor, out);
  relocate_eventpolls(out.files, reloc, epoll_targets_of(donor, out, as.heap, reloc), out);
  plan_initial_stack(core, as, out);
  plan_saved_auxv(core, out);

  plan_pages(core, out);
  out.pages_id = donor.pages_id();
  warn_not_dumped(core, out);
  assign_pages_ids(donor, out.shared);

  // Donor files carried over: per-pid images renamed, the rest copied.
  for (const auto& name : donor.file_names()) {
    if (const auto c = carry_shared(name, donor, out.shared); c != carry::as_usual) {
      if (c == carry::copy) out.carried.push_back({name, name});
      continue;
    }
    if (name.starts_with("pages-") || name == "pstree.img" || name == "files.img" || name.ends_with(".log") ||
        name.starts_with("stats-"))
      continue;
    bool drop = name == criu::image_name("mm-", donor.pid()) || name == criu::image_name("pagemap-", donor.pid());
    for (const auto tid : donor.process().threads()) drop = drop || name == criu::image_name("core-", tid);
    if (drop) continue;
    std::string to = name;
    for (const char* prefix : {"fs-", "ids-"})
      if (name == criu::image_name(prefix, donor.pid())) to = criu::image_name(prefix, static_cast<std::uint64_t>(out.pid));
    out.carried.push_back({name, to, carried_bytes(donor, name)});
  }

  // What changed, in words.
  out.changes.push_back(fmt::format("pid {} -> {}", donor.pid(), out.pid));
  out.changes.push_back(fmt::format("{} VMAs from the core (donor had {})", out.vmas.size(), donor.mm().vmas_size()));
  if (core.process().files_rebuilt)
    out.changes.push_back(fmt::format("file mappings rebuilt ({} entries): the core has no NT_FILE note; they come "
                                      "from the dynamic linker's link_map and the objects' program headers on disk",
                                      core.process().files.size()));
  for (const auto& o : out.shared.objects)
    out.changes.push_back(fmt::format("{} {}: {} bytes from the core ({})", describe(o.kind), o.name, o.size,
                                      o.from_donor ? "the donor's object, refilled" : "new: the donor has none"));
  if (out.files.size() != donor.files().size())
    out.changes.push_back(fmt::format("{} file entries added for files only the victim mapped",
                                      out.files.size() - donor.files().size()));
  return out;
}

}  // namespace necro::plan

#endif
