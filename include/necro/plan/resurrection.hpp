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
};

/// CRIU keeps at most this many auxv words on x86-64 (pitfall 2).
inline constexpr int max_saved_auxv_words = 44;

namespace detail {

inline std::uint64_t page_align_up(std::uint64_t v, std::uint64_t page) { return (v + page - 1) / page * page; }

}  // namespace detail

/// Plans the resurrection of the process in `core` into the image set of `donor`.
template <class Arch>
result<resurrection> plan_resurrection(const elf::core_view<Arch>& core, const criu::image_set& donor,
                                       const io::file_facts& disk, const options& opt = {}) {
  resurrection out;
  const std::string core_path(core.path());
  out.pid = core.pid();
  out.donor_pid = donor.pid();
  if (out.pid <= 0) return fail(error(errc::bad_value, core_path, fmt::format("process id {} is not valid", out.pid)));

  const auto& dcore = donor.leader_core();
  if (static_cast<int>(dcore.mtype()) != Arch::criu_march)
    return fail(error(errc::mismatch, (donor.dir() / criu::image_name("core-", donor.pid())).string(),
                      fmt::format("the donor is not an {} dump", Arch::name)));

  // Address space.
  NECRO_TRY_ASSIGN(auto as, plan_address_space(core, donor, disk, opt.offline, out.warnings));
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
    NECRO_TRY_ASSIGN(auto tp, plan_thread(core, t, tmpl_tid, donor.cores().at(tmpl_tid), false, reloc, out));
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
  {
    const auto& dl = reloc.donor();
    const auto& vl = reloc.victim();
    const auto d = dl.find(as.exe_path);
    const auto v = vl.find(as.exe_path);
    if (d == dl.end() || v == vl.end())
      return fail(error(errc::missing, core_path, fmt::format("{} is not mapped in both processes", as.exe_path)));
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
  }
  if (as.heap) {
    mm.set_mm_start_brk(out.vmas[*as.heap].entry.start());
    mm.set_mm_brk(out.vmas[*as.heap].entry.end());
  } else {
    const auto brk = detail::page_align_up(as.exe_end, Arch::page_size);
    mm.set_mm_start_brk(brk);
    mm.set_mm_brk(brk);
  }
  if (!as.stack) return fail(error(errc::missing, core_path, "no segment holds the main thread's stack pointer"));
  {
    const auto& seg = core.segments()[static_cast<std::size_t>(out.vmas[*as.stack].segment)];
    const auto st = find_initial_stack(core, seg);
    if (!st)
      return fail(error(errc::missing, core_path,
                        "the initial stack (argc, argv, envp, auxv) was not found on the main thread's stack"));
    mm.set_mm_start_stack(st->start_stack);
    mm.set_mm_arg_start(st->arg_start);
    mm.set_mm_arg_end(st->arg_end);
    mm.set_mm_env_start(st->env_start);
    mm.set_mm_env_end(st->env_end);
  }
  {
    // Saved auxv without the AT_NULL pair (pitfall 2).
    mm.clear_mm_saved_auxv();
    for (const auto& a : core.process().auxv) {
      if (a.key == arch::at::null) break;
      mm.add_mm_saved_auxv(a.key);
      mm.add_mm_saved_auxv(a.value);
    }
    if (mm.mm_saved_auxv_size() > max_saved_auxv_words)
      return fail(error(errc::unsupported, core_path,
                        fmt::format("NT_AUXV has {} words without AT_NULL; CRIU accepts at most {}",
                                    mm.mm_saved_auxv_size(), max_saved_auxv_words)));
  }

  plan_pages(core, out);
  out.pages_id = donor.pages_id();
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
    out.carried.push_back({name, to});
  }

  // What changed, in words.
  out.changes.push_back(fmt::format("pid {} -> {}", donor.pid(), out.pid));
  out.changes.push_back(fmt::format("{} VMAs from the core (donor had {})", out.vmas.size(), donor.mm().vmas_size()));
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
