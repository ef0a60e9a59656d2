/// necro::plan::plan_thread: one victim thread's core_entry, made from a donor
/// thread's image (the template) with the victim's registers, FPU, masks, and
/// every TLS pointer moved by the thread-pointer delta.
#ifndef NECRO_PLAN_THREADS_THREADS_HPP
#define NECRO_PLAN_THREADS_THREADS_HPP
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/arch/elf_core_abi.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/map/criu_thread.hpp>
#include <necro/plan/address_space/layout.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/threads/detail/thread_pointers.hpp>

namespace necro::plan {

/// Donor TLS pointers further than this from the donor's thread pointer are not
/// treated as TLS (struct pthread and the static TLS block sit right there).
inline constexpr std::uint64_t max_tls_distance = 1ULL << 20;

/// Signals in a pending mask that come back pending: all but the one that
/// killed the process and SIGKILL (a restored task must not die again of them).
inline std::vector<int> pending_signals(std::uint64_t mask, int fatal_signal) {
  std::vector<int> out;
  for (int sig = 1; sig <= arch::sig::count; ++sig)
    if ((mask >> (sig - 1)) & 1 && sig != fatal_signal && sig != arch::sig::sigkill) out.push_back(sig);
  return out;
}

/// A raw siginfo_t for a signal the core only lists in a mask: the core keeps
/// no siginfo for it, so it reads as sent by the process itself (SI_TKILL).
inline std::string make_siginfo(int sig, std::int32_t pid, std::uint32_t uid) {
  arch::lp64_core_abi::siginfo si{};
  si.si_signo = sig;
  si.si_code = arch::si::tkill;
  si.kill_pid = pid;
  si.kill_uid = uid;
  std::string raw(sizeof(si), '\0');
  std::memcpy(raw.data(), &si, sizeof(si));
  return raw;
}

/// A donor TLS address moved into the victim's layout: by the thread-pointer
/// delta when it lies near the donor's thread pointer, else by the load delta
/// of the file that holds it; nullopt when it is in neither.
inline std::optional<std::uint64_t> relocate_tls(std::uint64_t v, const std::string& what, std::uint64_t donor_tp,
                                                 std::uint64_t victim_tp, const relocator& reloc, resurrection& out) {
  if (v == 0) return 0;
  if (detail::near(v, donor_tp, max_tls_distance)) {
    const auto moved = by_thread_pointer(v, donor_tp, victim_tp);
    out.relocations.push_back({what, v, moved, "thread-pointer delta"});
    return moved;
  }
  if (auto f = reloc.by_file(v)) {
    out.relocations.push_back({what, v, f->first, f->second});
    return f->first;
  }
  return std::nullopt;
}

/// Signal handlers and restorers are donor addresses
/// (docs/pitfalls.md#signal-handlers): moved by the load delta of the file
/// that holds them. One in no file the donor mapped (JIT code, a freed
/// mapping) would be a jump into whatever the victim has there: that signal
/// gets its default action back instead, with a warning.
inline void relocate_sigactions(pb::task_core_entry& task, const relocator& reloc, resurrection& out) {
  using moved = std::optional<std::pair<std::uint64_t, std::string>>;
  for (int i = 0; i < task.sigactions_size(); ++i) {
    auto* sa = task.mutable_sigactions(i);
    const std::uint64_t handler = sa->sigaction(), restorer = sa->restorer();
    const moved h = handler <= arch::sig::sig_ign ? moved({handler, ""}) : reloc.by_file(handler);  // SIG_DFL, SIG_IGN stay
    const moved r = restorer <= arch::sig::sig_ign ? moved({restorer, ""}) : reloc.by_file(restorer);
    if (!h || !r) {
      out.warnings.push_back(fmt::format("signal {} handler {:#x} (restorer {:#x}) is in no file the donor mapped: "
                                         "{}",
                                         i + 1, handler, restorer,
                                         handler <= arch::sig::sig_ign ? "restorer cleared" : "reset to the default action"));
      if (handler > arch::sig::sig_ign) sa->set_sigaction(arch::sig::sig_dfl);
      sa->set_restorer(0);
      continue;
    }
    for (const auto& [what, from, to] : {std::tuple{"handler", handler, h}, std::tuple{"restorer", restorer, r}}) {
      if (from <= arch::sig::sig_ign) continue;
      out.relocations.push_back({fmt::format("signal {} {}", i + 1, what), from, to->first, to->second});
    }
    sa->set_sigaction(h->first);
    sa->set_restorer(r->first);
  }
}

/// The donor's per-thread pointers moved into the victim
/// (docs/pitfalls.md#rseq-area, docs/pitfalls.md#thread-pointers):
/// clear_child_tid, the robust futex list, the rseq area, the sigaltstack.
/// Where one cannot be moved it is cleared, with a warning: the kernel writes
/// (clear_child_tid), walks (robust list) or registers (rseq: a bad one makes
/// the restore fail) them, and a donor address could be anything in the victim.
template <class Arch>
void relocate_thread_pointers(std::int32_t tid, const pb::core_entry& tmpl, std::uint64_t donor_tp,
                              std::uint64_t victim_tp, const relocator& reloc, pb::core_entry& c, resurrection& out) {
  using bridge = map::criu_thread<Arch>;
  auto tls = [&](std::uint64_t v, const char* what) {
    const auto moved = relocate_tls(v, fmt::format("thread {} {}", tid, what), donor_tp, victim_tp, reloc, out);
    if (!moved)
      out.warnings.push_back(fmt::format("thread {} {} {:#x} is not in the donor's TLS or a mapped file: cleared ({})",
                                         tid, what, v, detail::consequence_of_clearing(what)));
    return moved.value_or(0);
  };
  bridge::set_clear_tid(c, tls(bridge::clear_tid(tmpl), "clear_child_tid"));
  auto* tc = c.mutable_thread_core();
  if (tc->futex_rla() != 0) tc->set_futex_rla(tls(tc->futex_rla(), "robust futex list"));
  if (tc->has_rseq_entry() && tc->rseq_entry().rseq_abi_pointer() != 0) {
    auto* rs = tc->mutable_rseq_entry();
    rs->clear_rseq_cs_pointer();  // no critical section is in flight in a new process
    rs->set_rseq_abi_pointer(tls(rs->rseq_abi_pointer(), "rseq area"));  // CRIU registers no zero area
  }
  if (tc->has_sas() && !(tc->sas().ss_flags() & arch::ss::disable) && tc->sas().ss_sp() != 0) {
    const auto sp = tc->sas().ss_sp();
    if (auto f = reloc.by_file(sp)) {
      out.relocations.push_back({fmt::format("thread {} sigaltstack", tid), sp, f->first, f->second});
      tc->mutable_sas()->set_ss_sp(f->first);
    } else {
      out.warnings.push_back(fmt::format("thread {} sigaltstack {:#x} cannot be relocated: disabled", tid, sp));
      tc->mutable_sas()->set_ss_sp(0);
      tc->mutable_sas()->set_ss_size(0);
      tc->mutable_sas()->set_ss_flags(arch::ss::disable);
    }
  }
}

/// The thread's signal state from the core (docs/pitfalls.md#blocked-masks,
/// docs/pitfalls.md#death-not-redelivered): its blocked mask, and its queue
/// rebuilt from its pending mask, less the death (the donor's pending signals
/// are not the victim's).
template <class Arch>
void plan_thread_signals(const elf::core_view<Arch>& core, const elf::thread_notes<Arch>& t,
                         pb::thread_core_entry& tc, resurrection& out) {
  // The signal that killed the process: the first thread took it
  // (docs/pitfalls.md#first-thread-took-the-signal).
  const int fatal_signal = core.threads().front().prstatus.cursig;
  std::uint32_t uid = 0;
  if (auto ps = core.prpsinfo()) uid = ps->uid;
  tc.set_blk_sigset(t.prstatus.sighold);
  tc.mutable_signals_p()->Clear();
  for (const int sig : pending_signals(t.prstatus.sigpend, fatal_signal)) {
    *tc.mutable_signals_p()->add_signals()->mutable_siginfo() = make_siginfo(sig, core.pid(), uid);
    out.changes.push_back(fmt::format("thread {}: signal {} pending again (the core's pending mask)", t.tid(), sig));
  }
}

/// The leader's process-wide task core: the leader's blocked mask, no shared
/// pending signals, exit code 0, comm from NT_PRPSINFO, and the donor's signal
/// handlers relocated.
template <class Arch>
void plan_leader_task(const elf::core_view<Arch>& core, const elf::thread_notes<Arch>& t, pb::task_core_entry& task,
                      const relocator& reloc, resurrection& out) {
  task.set_blk_sigset(t.prstatus.sighold);
  task.mutable_signals_s()->Clear();
  task.set_exit_code(0);
  if (auto ps = core.prpsinfo()) {
    const auto& fn = ps->fname;
    std::string comm(fn.data(), strnlen(fn.data(), fn.size()));
    if (!comm.empty()) task.set_comm(comm);
  }
  relocate_sigactions(task, reloc, out);
}

/// One victim thread's core_entry from the donor thread image `tmpl`: the
/// victim's registers (rewound), thread pointers, signal state and, for the
/// leader, its task core; a non-leader's image loses the process-wide parts.
template <class Arch>
result<thread_plan> plan_thread(const elf::core_view<Arch>& core, const elf::thread_notes<Arch>& t,
                                std::uint32_t template_tid, const pb::core_entry& tmpl, bool leader,
                                const relocator& reloc, resurrection& out) {
  using bridge = map::criu_thread<Arch>;
  thread_plan tp;
  tp.tid = t.tid();
  tp.template_tid = template_tid;
  tp.leader = leader;
  tp.core = tmpl;
  auto& c = tp.core;
  if (!bridge::has_thread_info(c))
    return fail(error(errc::missing, "", fmt::format("donor thread {} has no thread_info for {}", template_tid, Arch::name)));

  // Registers, rewound like CRIU rewinds a task stopped in a syscall
  // (docs/pitfalls.md#syscall-restart).
  auto regs = t.regs();
  tp.rewind = std::string(Arch::describe(Arch::rewind_syscall(regs)));
  const std::uint64_t donor_tp = bridge::thread_pointer(tmpl);
  const std::uint64_t victim_tp = Arch::thread_pointer(regs, t.regsets());
  {
    auto r = bridge::set_registers(c, t, core.process(), regs, out.warnings);
    if (!r) return fail(std::move(r).error_value().prefix(fmt::format("thread {}: ", t.tid())));
  }
  relocate_thread_pointers<Arch>(t.tid(), tmpl, donor_tp, victim_tp, reloc, c, out);
  plan_thread_signals(core, t, *c.mutable_thread_core(), out);
  if (leader) {
    plan_leader_task(core, t, *c.mutable_tc(), reloc, out);
  } else {
    // Thread images carry no process-wide parts (docs/pitfalls.md#thread-images).
    c.clear_tc();
    c.clear_ids();
  }
  return tp;
}

}  // namespace necro::plan

#endif
