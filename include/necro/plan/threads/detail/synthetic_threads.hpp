/// necro::plan::detail: the synthetic donor's core-<tid> images
/// (plan/donorless.hpp): registers through the architecture's bridge,
/// thread_core (creds from NT_PRPSINFO, glibc's robust list and
/// clear_child_tid found in the thread's struct pthread, rseq from glibc's
/// __rseq_offset), the leader's task core with default dispositions, and
/// pstree.
#ifndef NECRO_PLAN_THREADS_DETAIL_SYNTHETIC_THREADS_HPP
#define NECRO_PLAN_THREADS_DETAIL_SYNTHETIC_THREADS_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/arch/kernel_abi.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/map/criu_thread.hpp>
#include <necro/pb/core.pb.h>
#include <necro/plan/address_space/layout.hpp>
#include <necro/plan/donorless_options.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan::detail {

/// How far from the thread pointer glibc's struct pthread is searched.
inline constexpr std::uint64_t pthread_window = 4096;
/// The value glibc leaves in rseq_area.cpu_id when registration failed.
inline constexpr std::int32_t rseq_cpu_id_registration_failed = -2;
/// Where struct rseq (linux/rseq.h) keeps cpu_id: after the u32 cpu_id_start.
inline constexpr std::uint64_t rseq_cpu_id_offset = 4;
/// struct robust_list_head (linux/futex.h) on LP64: the list's next pointer,
/// then futex_offset at 8, then list_op_pending: 24 bytes, set_robust_list's length.
inline constexpr std::uint64_t robust_head_futex_offset = 8;
inline constexpr std::uint32_t robust_list_head_size = 24;
inline constexpr std::uint32_t loginuid_unset = 0xffffffffu;

/// Where glibc keeps a thread's kernel-visible pointers (struct pthread).
struct glibc_thread {
  std::uint64_t tid_address = 0;  ///< &pd->tid: set_tid_address's clear_child_tid
  std::uint64_t robust_head = 0;  ///< &pd->robust_head: set_robust_list's head
};

/// The kernel's bound on a robust list walk (ROBUST_LIST_LIMIT).
inline constexpr std::size_t robust_list_limit = 2048;

/// Whether the circular list whose head is at `head` can be the robust list:
/// its next pointers lead back to `head`. A walk that reaches a mapping whose
/// bytes the core does not hold (a robust mutex in a MAP_SHARED file mapping,
/// which the default coredump_filter leaves out) cannot be refuted and counts;
/// a pointer into no mapping, or no way back within the kernel's limit, does not.
template <class Arch>
bool robust_list_closes(const elf::core_view<Arch>& core, std::uint64_t head) {
  std::uint64_t p = head;
  for (std::size_t i = 0; i <= robust_list_limit; ++i) {
    const auto next = core.template read_memory<std::uint64_t>(p);
    if (!next) return p != head && core.segment_at(p) != nullptr;
    if (*next == head) return true;
    if (*next == 0 || !core.segment_at(*next)) return false;
    p = *next;
  }
  return false;
}

/// glibc's struct pthread near the thread pointer: its robust list head sits
/// 16 bytes after pd->tid, which holds the thread's tid (pid_t tid; int pad;
/// void *robust_prev; struct robust_list_head robust_head), is followed by a
/// negative futex_offset, and is a circular list: empty, it points at itself;
/// a thread that holds robust mutexes at death has them on it (docs/pitfalls.md#thread-pointers).
/// nullopt when no such spot is in the core (another libc).
template <class Arch>
std::optional<glibc_thread> find_glibc_thread(const elf::core_view<Arch>& core, std::uint64_t tp, std::int32_t tid) {
  if (tp < pthread_window) return std::nullopt;
  for (std::uint64_t a = tp - pthread_window + 16; a < tp + pthread_window; a += 8) {
    const auto t = core.template read_memory<std::int32_t>(a - 16);
    if (!t || *t != tid) continue;
    const auto futex_offset = core.template read_memory<std::int64_t>(a + robust_head_futex_offset);
    if (!futex_offset || *futex_offset >= 0 || *futex_offset < -static_cast<std::int64_t>(pthread_window)) continue;
    if (robust_list_closes(core, a)) return glibc_thread{a - 16, a};
  }
  return std::nullopt;
}

/// glibc's __rseq_offset, read from the core's memory at the symbol's address
/// in the file that defines it (nullopt, with the reason, when it cannot be
/// or glibc registered no rseq).
template <class Arch>
std::optional<std::int64_t> glibc_rseq_offset(const elf::core_view<Arch>& core, const donorless_options& opt,
                                              std::string& why) {
  if (!opt.rseq) return why = opt.rseq_missing, std::nullopt;
  const auto layout = victim_files(core.process());
  const auto f = layout.find(opt.rseq->file);
  if (f == layout.end()) return why = fmt::format("{} is not mapped by the process", opt.rseq->file), std::nullopt;
  const std::uint64_t base = f->second.base();
  const auto size = core.template read_memory<std::uint32_t>(base + opt.rseq->size_symbol);
  const auto offset = core.template read_memory<std::int64_t>(base + opt.rseq->offset_symbol);
  if (!size || !offset)
    return why = fmt::format("__rseq_size/__rseq_offset of {} are not in the core's memory", opt.rseq->file), std::nullopt;
  if (*size == 0) return why = "glibc registered no rseq area (__rseq_size is 0)", std::nullopt;
  return *offset;
}

/// The thread's rseq registration: glibc's area at tp + __rseq_offset, unless
/// the area says its registration failed.
template <class Arch>
std::optional<pb::rseq_entry> thread_rseq(const elf::core_view<Arch>& core, std::uint64_t tp, std::int64_t offset) {
  const std::uint64_t area = tp + static_cast<std::uint64_t>(offset);
  const auto cpu_id = core.template read_memory<std::int32_t>(area + rseq_cpu_id_offset);
  if (!cpu_id || *cpu_id == rseq_cpu_id_registration_failed) return std::nullopt;
  pb::rseq_entry r;
  r.set_rseq_abi_pointer(area);
  r.set_rseq_abi_size(arch::rseq_area_bytes);
  r.set_signature(map::criu_thread<Arch>::rseq_signature);
  return r;
}

/// Credentials from NT_PRPSINFO's uid and gid (real = effective = saved = fs);
/// capabilities: the necro process's own for uid 0, none otherwise.
inline pb::creds_entry synthetic_creds(std::uint32_t uid, std::uint32_t gid, const donorless_options& opt) {
  pb::creds_entry c;
  for (auto set : {&pb::creds_entry::set_uid, &pb::creds_entry::set_euid, &pb::creds_entry::set_suid,
                   &pb::creds_entry::set_fsuid})
    (c.*set)(uid);
  for (auto set : {&pb::creds_entry::set_gid, &pb::creds_entry::set_egid, &pb::creds_entry::set_sgid,
                   &pb::creds_entry::set_fsgid})
    (c.*set)(gid);
  for (std::size_t i = 0; i < opt.cap_eff.size(); ++i) {
    c.add_cap_inh(0);
    c.add_cap_prm(uid == 0 ? opt.cap_eff[i] : 0);
    c.add_cap_eff(uid == 0 ? opt.cap_eff[i] : 0);
    c.add_cap_bnd(opt.cap_bnd[i]);
  }
  c.set_secbits(0);
  return c;
}

/// The process name from NT_PRPSINFO (empty without it).
template <class Arch>
std::string process_comm(const elf::core_view<Arch>& core) {
  const auto ps = core.prpsinfo();
  if (!ps) return {};
  return std::string(ps->fname.data(), strnlen(ps->fname.data(), ps->fname.size()));
}

/// The leader's task core: default dispositions, zero itimers, the necro
/// process's rlimits, PF_* flags and comm from NT_PRPSINFO.
template <class Arch>
pb::task_core_entry synthetic_task_core(const elf::core_view<Arch>& core, const donorless_options& opt) {
  pb::task_core_entry tc;
  tc.set_task_state(criu::task_state::alive);
  tc.set_exit_code(0);
  tc.set_personality(0);
  const auto ps = core.prpsinfo();
  tc.set_flags(ps ? static_cast<std::uint32_t>(ps->flag) : 0);
  tc.set_blk_sigset(core.leader().prstatus.sighold);
  tc.set_comm(process_comm(core));
  auto* timers = tc.mutable_timers();
  for (auto* it : {timers->mutable_real(), timers->mutable_virt(), timers->mutable_prof()})
    it->set_isec(0), it->set_iusec(0), it->set_vsec(0), it->set_vusec(0);
  for (const auto& [cur, max] : opt.rlimits) {
    auto* r = tc.mutable_rlimits()->add_rlimits();
    r->set_cur(cur);
    r->set_max(max);
  }
  tc.mutable_signals_s();
  tc.set_loginuid(loginuid_unset);
  tc.set_oom_score_adj(0);
  for (int sig = 1; sig <= arch::sig::count; ++sig) {  // CRIU keeps all but SIGKILL and SIGSTOP
    if (sig == arch::sig::sigkill || sig == arch::sig::sigstop) continue;
    auto* sa = tc.add_sigactions();
    sa->set_sigaction(0), sa->set_flags(0), sa->set_restorer(0), sa->set_mask(0), sa->set_compat_sigaction(false);
  }
  tc.set_child_subreaper(false);
  return tc;
}

/// One thread's thread_core.
template <class Arch>
pb::thread_core_entry synthetic_thread_core(const elf::core_view<Arch>& core, const elf::thread_notes<Arch>& t,
                                            const donorless_options& opt, const std::optional<glibc_thread>& pt,
                                            const std::optional<pb::rseq_entry>& rseq) {
  pb::thread_core_entry c;
  c.set_futex_rla(pt ? pt->robust_head : 0);
  c.set_futex_rla_len(pt ? robust_list_head_size : 0);
  const auto ps = core.prpsinfo();
  c.set_sched_nice(ps ? ps->nice : 0);
  c.set_sched_policy(0);
  c.set_blk_sigset(t.prstatus.sighold);
  auto* sas = c.mutable_sas();
  sas->set_ss_sp(0), sas->set_ss_size(0), sas->set_ss_flags(arch::ss::disable);
  c.mutable_signals_p();
  *c.mutable_creds() = synthetic_creds(ps ? ps->uid : 0, ps ? ps->gid : 0, opt);
  c.set_comm(process_comm(core));
  if (rseq) *c.mutable_rseq_entry() = *rseq;
  return c;
}

/// Counts for the defaults' wording.
struct thread_findings {
  std::size_t threads = 0, glibc = 0, rseq = 0;
};

/// The thread defaults in words (and warnings where a fallback was taken).
template <class Arch>
void describe_thread_defaults(const elf::core_view<Arch>& core, const std::optional<std::int64_t>& rseq_offset,
                              const std::string& rseq_why, const thread_findings& found,
                              std::vector<std::string>& warnings, std::vector<default_taken>& defaults) {
  const auto ps = core.prpsinfo();
  const std::uint32_t uid = ps ? ps->uid : 0, gid = ps ? ps->gid : 0;
  defaults.push_back({"credentials",
                      fmt::format("uid {} gid {}{} as real, effective, saved and fs ids; no supplementary groups; "
                                  "capabilities: {}",
                                  uid, gid, ps ? " (NT_PRPSINFO)" : " (no NT_PRPSINFO)",
                                  uid == 0 ? "the necro process's own (uid 0)" : "none (uid is not 0)"),
                      "only uid and gid are in the core"});
  if (found.glibc == found.threads)
    defaults.push_back({"clear_child_tid, robust futex list",
                        "each thread's glibc struct pthread, found in the core (pd->tid, pd->robust_head)",
                        "set_tid_address and set_robust_list are not in the core"});
  else
    warnings.push_back(fmt::format("{} of {} threads: glibc's struct pthread was not found near the thread pointer: "
                                   "clear_child_tid and the robust futex list are not registered (a pthread_join of "
                                   "such a thread never returns; robust mutexes it holds are not marked EOWNERDEAD)",
                                   found.threads - found.glibc, found.threads));
  if (rseq_offset) {
    defaults.push_back({"rseq", fmt::format("registered at thread pointer {:+#x} (glibc's __rseq_offset, read from the "
                                            "core) for {} of {} threads",
                                            *rseq_offset, found.rseq, found.threads),
                        "the rseq registration is not in the core"});
    return;
  }
  defaults.push_back({"rseq", "not registered", rseq_why});
  warnings.push_back(fmt::format("rseq is not registered ({}): glibc's sched_getcpu() may read a stale CPU; a program "
                                 "started under examples/norseq has no rseq area to lose",
                                 rseq_why));
}

/// A core_entry per thread; the leader's carries the task core.
template <class Arch>
result<void> synthesize_threads(const elf::core_view<Arch>& core, const donorless_options& opt,
                                std::map<std::uint32_t, pb::core_entry>& cores, std::vector<std::string>& warnings,
                                std::vector<default_taken>& defaults) {
  using bridge = map::criu_thread<Arch>;
  std::string rseq_why;
  const auto rseq_offset = glibc_rseq_offset(core, opt, rseq_why);
  thread_findings found;
  for (const auto& t : core.threads()) {
    pb::core_entry c;
    bridge::synthetic_thread_info(c, t);
    const std::uint64_t tp = t.thread_pointer();
    const auto pt = find_glibc_thread(core, tp, t.tid());
    const auto rseq = rseq_offset ? thread_rseq(core, tp, *rseq_offset) : std::nullopt;
    bridge::set_clear_tid(c, pt ? pt->tid_address : 0);
    *c.mutable_thread_core() = synthetic_thread_core(core, t, opt, pt, rseq);
    if (&t == &core.leader()) *c.mutable_tc() = synthetic_task_core(core, opt);
    found.threads++, found.glibc += pt.has_value(), found.rseq += rseq.has_value();
    if (!cores.emplace(static_cast<std::uint32_t>(t.tid()), std::move(c)).second)
      return fail(error(errc::bad_value, std::string(core.path()), fmt::format("thread {} has two NT_PRSTATUS notes", t.tid())));
  }
  describe_thread_defaults(core, rseq_offset, rseq_why, found, warnings, defaults);
  return {};
}

/// pstree: the victim's pid and threads (leader first, then the core's
/// order: plan_resurrection's templates then pair each thread with itself);
/// ppid 0 (restore makes it CRIU's child), group and session from NT_PRPSINFO.
template <class Arch>
pb::pstree_entry synthesize_pstree(const elf::core_view<Arch>& core) {
  pb::pstree_entry p;
  const auto pid = static_cast<std::uint32_t>(core.pid());
  p.set_pid(pid);
  p.set_ppid(0);
  const auto ps = core.prpsinfo();
  p.set_pgid(ps && ps->pgrp > 0 ? static_cast<std::uint32_t>(ps->pgrp) : pid);
  p.set_sid(ps && ps->sid > 0 ? static_cast<std::uint32_t>(ps->sid) : pid);
  p.add_threads(static_cast<std::uint32_t>(core.leader().tid()));
  for (const auto& t : core.threads())
    if (&t != &core.leader()) p.add_threads(static_cast<std::uint32_t>(t.tid()));
  return p;
}

}  // namespace necro::plan::detail

#endif
