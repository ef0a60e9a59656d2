/// necro::plan::detail: the kernel's state of the task that a capture of
/// format 3 holds (necro-catch's BPF task iterator, docs/capture.md) into the
/// threads' core images: every sigaction (tc.sigactions), and per thread the
/// sigaltstack, comm, clear_child_tid, robust list, rseq and scheduling. Each
/// value is checked against the planned address space first: an address in
/// no mapping (a handler outside every VMA or not executable, a sigaltstack
/// not mapped) or a thread the core does not have is a warning naming the
/// capture file and the line's words, and that value keeps the default. Pure.
#ifndef NECRO_PLAN_THREADS_DETAIL_CAPTURE_KERNEL_HPP
#define NECRO_PLAN_THREADS_DETAIL_CAPTURE_KERNEL_HPP
#pragma once

#include <bit>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/arch/kernel_abi.hpp>
#include <necro/capture/model.hpp>
#include <necro/criu/magic.hpp>
#include <necro/io/printable.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/threads/detail/capture_process.hpp>
#include <necro/plan/threads/detail/capture_task.hpp>

namespace necro::plan::detail {

/// set_robust_list's only accepted length (struct robust_list_head on LP64):
/// the kernel keeps the head, not the length.
inline constexpr std::uint32_t robust_list_head_bytes = 24;
/// The kernel's default timer slack (50 us), which a restored thread has.
inline constexpr std::uint64_t default_timer_slack_ns = 50000;

/// The planned VMA that holds `addr`, or null.
inline const vma* vma_at(const resurrection& plan, std::uint64_t addr) {
  for (const auto& v : plan.vmas)
    if (v.entry.start() <= addr && addr < v.entry.end()) return &v;
  return nullptr;
}

/// Why a code address (a handler, a restorer) cannot be one, or empty.
inline std::string code_problem(const resurrection& plan, std::uint64_t addr) {
  const vma* v = vma_at(plan, addr);
  if (!v) return fmt::format("{:#x} lies in no mapping of the core", addr);
  if (!(v->entry.prot() & criu::mmap_bits::prot_exec))
    return fmt::format("{:#x} lies in a mapping that is not executable ({:#x}-{:#x})", addr, v->entry.start(), v->entry.end());
  return {};
}

/// Why a data range [addr, addr+len) is not mapped, or empty.
inline std::string data_problem(const resurrection& plan, std::uint64_t addr, std::uint64_t len) {
  if (len == 0) len = 1;
  if (addr + len < addr) return fmt::format("{:#x}+{:#x} wraps around", addr, len);
  if (!vma_at(plan, addr) || !vma_at(plan, addr + len - 1))
    return fmt::format("{:#x}-{:#x} is not mapped in the core", addr, addr + len);
  return {};
}

/// Why one sigaction cannot be taken, or empty.
inline std::string action_problem(const resurrection& plan, const capture::signal_action& a) {
  if (a.handler > arch::sig::sig_ign)
    if (auto p = code_problem(plan, a.handler); !p.empty()) return "handler " + p;
  if ((a.flags & arch::sa::restorer) && a.restorer != 0)
    if (auto p = code_problem(plan, a.restorer); !p.empty()) return "restorer " + p;
  return {};
}

/// Every sigaction of the capture into tc.sigactions; counts the handlers.
inline void apply_sigactions(resurrection& plan, const capture::kernel_state& k, capture_use& use) {
  auto* tc = plan.threads.front().core.mutable_tc();
  std::uint64_t handled = 0, refused = 0;
  for (const auto& a : k.actions) {
    const int sig = static_cast<int>(a.sig);
    const int i = sigaction_index(sig);
    if (sig == arch::sig::sigkill || sig == arch::sig::sigstop || i < 0 || i >= tc->sigactions_size()) continue;
    if (const auto p = action_problem(plan, a); !p.empty()) {
      plan.warnings.push_back(fmt::format("{}: action sig={}: {}: {} keeps SIG_DFL", capture_txt(use), sig, p,
                                          signal_names(std::uint64_t{1} << (sig - 1))));
      refused |= std::uint64_t{1} << (sig - 1);
      continue;
    }
    auto* sa = tc->mutable_sigactions(i);
    sa->set_sigaction(a.handler), sa->set_flags(a.flags), sa->set_restorer(a.restorer), sa->set_mask(a.mask);
    sa->set_compat_sigaction(false);
    if (a.handler > arch::sig::sig_ign) handled |= std::uint64_t{1} << (sig - 1);
  }
  use.restored.push_back(fmt::format("signal dispositions from the kernel at death: {} handlers{}{}", std::popcount(handled),
                                     handled ? ": " : "", signal_names(handled)));
  if (refused) use.lost.push_back(fmt::format("the handlers of {}: SIG_DFL (see the warnings)", signal_names(refused)));
}

/// One thread's captured state into its core image; what was not taken goes to `skipped`.
inline void apply_thread_state(resurrection& plan, thread_plan& t, const capture::thread_state& s, const capture_use& use) {
  auto* th = t.core.mutable_thread_core();
  const auto warn = [&](std::string_view what, const std::string& p, std::string_view kept) {
    plan.warnings.push_back(fmt::format("{}: thread tid={} {}: {}: {}", capture_txt(use), s.tid, what, p, kept));
  };
  auto* sas = th->mutable_sas();
  if (s.sas_size == 0 || (s.sas_flags & arch::ss::disable)) {
    sas->set_ss_sp(0), sas->set_ss_size(0), sas->set_ss_flags(arch::ss::disable);
  } else if (const auto p = data_problem(plan, s.sas_sp, s.sas_size); !p.empty()) {
    warn("sigaltstack", p, "no sigaltstack");
  } else {
    sas->set_ss_sp(s.sas_sp), sas->set_ss_size(s.sas_size), sas->set_ss_flags(s.sas_flags & arch::ss::autodisarm);
  }
  th->set_comm(s.comm);
  if (t.leader) t.core.mutable_tc()->set_comm(s.comm);
  th->set_sched_policy(s.policy), th->set_sched_prio(s.rt_priority), th->set_sched_nice(s.nice);
  if (s.robust_list == 0) th->set_futex_rla(0), th->set_futex_rla_len(0);
  else if (const auto p = data_problem(plan, s.robust_list, 8); !p.empty()) warn("robust_list", p, "the guess from glibc's struct pthread stays");
  else th->set_futex_rla(s.robust_list), th->set_futex_rla_len(robust_list_head_bytes);
  if (const auto p = s.clear_child_tid ? data_problem(plan, s.clear_child_tid, 4) : std::string(); !p.empty())
    warn("clear_child_tid", p, "the guess from glibc's struct pthread stays");
  else if (t.core.has_thread_info()) t.core.mutable_thread_info()->set_clear_tid_addr(s.clear_child_tid);
  else if (t.core.has_ti_aarch64()) t.core.mutable_ti_aarch64()->set_clear_tid_addr(s.clear_child_tid);
  if (s.rseq == 0) {
    th->clear_rseq_entry();
  } else if (const auto p = data_problem(plan, s.rseq, s.rseq_len ? s.rseq_len : arch::rseq_area_bytes); !p.empty()) {
    warn("rseq", p, "the guess from glibc's __rseq_offset stays");
  } else {
    auto* r = th->mutable_rseq_entry();
    r->set_rseq_abi_pointer(s.rseq), r->set_rseq_abi_size(s.rseq_len ? s.rseq_len : arch::rseq_area_bytes);
    r->set_signature(s.rseq_sig);
    r->clear_rseq_cs_pointer();
  }
}

/// The per-thread state of every captured thread the core has.
inline void apply_threads_state(resurrection& plan, const capture::kernel_state& k, capture_use& use) {
  std::size_t matched = 0;
  std::uint64_t slack_differs = 0;
  for (const auto& s : k.threads) {
    thread_plan* t = nullptr;
    for (auto& p : plan.threads)
      if (p.tid == s.tid) t = &p;
    if (!t) {
      plan.warnings.push_back(fmt::format("{}: thread tid={} is not a thread of the core: its state is ignored",
                                          capture_txt(use), s.tid));
      continue;
    }
    apply_thread_state(plan, *t, s, use);
    ++matched;
    slack_differs += s.timer_slack != default_timer_slack_ns;
  }
  if (matched < plan.threads.size())
    plan.warnings.push_back(fmt::format("{}: {} of the core's {} threads have no thread line: they keep the defaults",
                                        capture_txt(use), plan.threads.size() - matched, plan.threads.size()));
  use.restored.push_back(fmt::format("per-thread state from the kernel at death for {} of {} threads: sigaltstack, name, "
                                     "clear_child_tid, robust list, rseq, scheduling policy and nice",
                                     matched, plan.threads.size()));
  if (slack_differs)
    use.lost.push_back(fmt::format("the timer slack of {} threads: the kernel's default ({} ns) now (CRIU has no field for it)",
                                   slack_differs, default_timer_slack_ns));
}

/// The defaults of a donor-less set that the kernel state now gives.
inline void drop_kernel_defaults(resurrection& plan) {
  std::erase_if(plan.not_in_core, [](const default_taken& d) {
    return d.what == "thread names" || d.what == "clear_child_tid, robust futex list" || d.what == "rseq";
  });
  for (auto& d : plan.not_in_core) {
    if (d.what == "signal handlers")
      d = {"signal handlers", "the victim's own (the kernel's sigactions at death, from the capture)", "not in the core"};
    if (d.what == "itimers, POSIX timers, sigaltstack, personality, scheduling policy")
      d = {"itimers, POSIX timers", "none, none",
           "not in the core, and not yet in the capture: a process that ticks on setitimer or timer_create stops ticking"};
  }
}

/// The kernel state of a capture, or why it is missing, applied to the plan.
/// With a donor (`donorless` false) a missing state changes nothing: the
/// donor's relocated values stay.
inline void apply_kernel_state(resurrection& plan, const capture::process_capture& c, capture_use& use, bool donorless) {
  if (!c.kernel) return;  // a capture older than format 3: apply_task_settings said what is lost
  if (!c.kernel->read()) {
    if (!donorless) return;
    plan.warnings.push_back(fmt::format("{}: the kernel's state of the task was not captured ({}): caught signals take "
                                        "their default action, no sigaltstack, default scheduling, one name for all threads",
                                        capture_txt(use), io::printable(c.kernel->missing)));
    for (auto& d : plan.not_in_core)
      if (d.what == "signal handlers") d.why = "not in the core; the capture's kernel state is missing: " + io::printable(c.kernel->missing);
    return;
  }
  std::erase_if(use.lost, [](const std::string& l) { return l.starts_with("the handlers of "); });
  apply_sigactions(plan, *c.kernel, use);
  apply_threads_state(plan, *c.kernel, use);
  apply_process_state(plan, c, use, donorless);
  drop_kernel_defaults(plan);
}

}  // namespace necro::plan::detail

#endif
