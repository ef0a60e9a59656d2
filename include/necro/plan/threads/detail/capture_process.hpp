/// necro::plan::detail: the process-wide kernel state of a format 4 capture
/// (necro-catch's BPF step: personality, securebits, no_new_privs, seccomp,
/// mm flags, and each VMA's madvise and mlock bits) into the core, creds and
/// mm images. What CRIU cannot restore (seccomp filters: their programs are
/// not captured; a dumpable of 2) keeps the default with a warning and a line
/// in the capture's "lost" list. An advised range that is no VMA of the plan
/// is a warning naming the capture file and the line's words. Pure.
#ifndef NECRO_PLAN_THREADS_DETAIL_CAPTURE_PROCESS_HPP
#define NECRO_PLAN_THREADS_DETAIL_CAPTURE_PROCESS_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/capture/model.hpp>
#include <necro/criu/magic.hpp>
#include <necro/io/printable.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/threads/detail/capture_task.hpp>

namespace necro::plan::detail {

/// mm->flags bits (include/linux/sched/coredump.h, mm_types.h): the dumpable
/// mode in bits 0-1 (SUID_DUMP_*), MMF_DISABLE_THP at bit 24.
inline constexpr std::uint64_t mmf_dumpable_mask = 3, mmf_disable_thp = std::uint64_t{1} << 24;
inline constexpr int seccomp_mode_strict = 1, seccomp_mode_filter = 2;

/// Where a warning's line is: `DIR/capture.txt:LINE` (`DIR/capture.txt` for a
/// record not read from a file); the warning then quotes the line's words.
inline std::string capture_txt(const capture_use& use, std::size_t line = 0) {
  return io::printable(use.dir + "/capture.txt") + (line ? fmt::format(":{}", line) : std::string());
}

/// The names of CRIU madv bits, for --explain.
inline std::string advice_names(std::uint64_t madv, bool locked) {
  constexpr std::pair<unsigned, const char*> names[] = {{1, "random"},     {2, "sequential"}, {10, "dontfork"},
                                                        {12, "mergeable"}, {14, "hugepage"},  {15, "nohugepage"},
                                                        {16, "dontdump"},  {18, "wipeonfork"}};
  std::vector<std::string> out;
  for (const auto& [bit, name] : names)
    if (madv >> bit & 1) out.emplace_back(name);
  if (locked) out.emplace_back("mlock");
  return fmt::format("{}", fmt::join(out, ","));
}

/// Personality, securebits, no_new_privs and seccomp into the task and every thread.
inline void apply_task_flags(resurrection& plan, const capture::process_state& p, capture_use& use, bool donorless) {
  plan.threads.front().core.mutable_tc()->set_personality(p.personality);
  note_personality(use, p.personality);
  for (auto& t : plan.threads) {
    auto* th = t.core.mutable_thread_core();
    if (th->has_creds()) th->mutable_creds()->set_secbits(p.securebits), th->mutable_creds()->set_no_new_privs(p.no_new_privs);
    if (p.seccomp_mode == seccomp_mode_strict) th->set_seccomp_mode(pb::seccomp_mode::strict), th->clear_seccomp_filter();
  }
  use.restored.push_back(fmt::format("process settings from the kernel at death: personality {:#x}, securebits {:#x}, "
                                     "no_new_privs {}{}",
                                     p.personality, p.securebits, p.no_new_privs,
                                     p.seccomp_mode == seccomp_mode_strict ? ", seccomp strict mode" : ""));
  if (p.seccomp_mode == seccomp_mode_filter && donorless) {
    plan.warnings.push_back(fmt::format("{}: process seccomp=2: the victim ran under {} seccomp filter(s), whose programs "
                                        "are not captured: it comes back without them",
                                        capture_txt(use, p.line), p.seccomp_filters < 0 ? std::string("its") : fmt::format("{}", p.seccomp_filters)));
    use.lost.push_back("the seccomp filters: the process runs unfiltered (CRIU needs the filter programs, which necro-catch does not read)");
  }
}

/// THP-disable and the dumpable mode into the mm image.
inline void apply_mm_flags(resurrection& plan, const capture::process_state& p, capture_use& use) {
  const bool thp_disabled = p.mm_flags & mmf_disable_thp;
  plan.mm.set_thp_disabled(thp_disabled);
  const auto dumpable = p.mm_flags & mmf_dumpable_mask;
  if (dumpable <= 1) plan.mm.set_dumpable(static_cast<std::int32_t>(dumpable));
  else use.lost.push_back(fmt::format("dumpable mode {} (suid_dumpable): prctl(PR_SET_DUMPABLE) takes only 0 or 1, it is {} now",
                                      dumpable, plan.mm.dumpable()));
  use.restored.push_back(fmt::format("mm flags from the kernel at death: THP {}, dumpable {}",
                                     thp_disabled ? "disabled (PR_SET_THP_DISABLE)" : "enabled", plan.mm.dumpable()));
}

/// Every planned VMA's madvise bits and MAP_LOCKED from the capture's
/// `madvise` lines: the victim's own replace the donor's or the defaults.
inline void apply_vma_advice(resurrection& plan, const capture::kernel_state& k, capture_use& use) {
  const auto set = [&](std::size_t i, std::uint64_t madv, bool locked) {
    for (auto* e : {&plan.vmas[i].entry, plan.mm.mutable_vmas(static_cast<int>(i))}) {
      if (madv) e->set_madv(madv);
      else e->clear_madv();
      e->set_flags(locked ? e->flags() | criu::mmap_bits::map_locked : e->flags() & ~criu::mmap_bits::map_locked);
    }
  };
  const bool same_order = plan.mm.vmas_size() == static_cast<int>(plan.vmas.size());
  if (!same_order) return;  // not a planned mm: nothing to match
  for (std::size_t i = 0; i < plan.vmas.size(); ++i) set(i, 0, false);
  std::size_t advised = 0;
  for (const auto& a : k.vmas) {
    std::size_t covered = 0, hits = 0;
    // plan.vmas is sorted and does not overlap: start at the first VMA that
    // ends above the range (tens of thousands of VMAs, as many advised).
    const auto first = std::partition_point(plan.vmas.begin(), plan.vmas.end(),
                                            [&](const vma& v) { return v.entry.end() <= a.start; });
    for (auto i = static_cast<std::size_t>(first - plan.vmas.begin()); i < plan.vmas.size(); ++i) {
      const auto& e = plan.vmas[i].entry;
      if (e.start() >= a.end) break;
      if (e.start() < a.start || e.end() > a.end) continue;  // straddles: judged below
      set(i, a.madv, a.locked), covered += e.end() - e.start(), ++hits;
    }
    if (covered != a.end - a.start)
      plan.warnings.push_back(fmt::format("{}: madvise start={:#x} end={:#x} ({}): {} of its {} bytes are VMAs of the core: "
                                          "the rest keeps no advice",
                                          capture_txt(use, a.line), a.start, a.end, advice_names(a.madv, a.locked), covered,
                                          a.end - a.start));
    advised += hits;
  }
  use.restored.push_back(fmt::format("madvise and mlock bits from the kernel at death on {} VMAs", advised));
}

/// The process-wide state of a format 4 capture into the plan.
inline void apply_process_state(resurrection& plan, const capture::process_capture& c, capture_use& use, bool donorless) {
  if (!c.kernel || !c.kernel->read() || c.version < 4) return;
  if (c.kernel->process) apply_task_flags(plan, *c.kernel->process, use, donorless), apply_mm_flags(plan, *c.kernel->process, use);
  apply_vma_advice(plan, *c.kernel, use);
  std::erase_if(plan.not_in_core, [](const default_taken& d) { return d.what == "THP and madvise bits"; });
}

}  // namespace necro::plan::detail

#endif
