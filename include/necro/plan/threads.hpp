/// necro::plan::plan_thread: one victim thread's core_entry, made from a donor
/// thread's image (the template) with the victim's registers, FPU, masks, and
/// every TLS pointer moved by the thread-pointer delta.
#ifndef NECRO_PLAN_THREADS_HPP
#define NECRO_PLAN_THREADS_HPP
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/elf/core_view.hpp>
#include <necro/map/criu_thread.hpp>
#include <necro/plan/layout.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan {

/// Donor TLS pointers further than this from the donor's thread pointer are not
/// treated as TLS (struct pthread and the static TLS block sit right there).
inline constexpr std::uint64_t max_tls_distance = 1ULL << 20;

namespace detail {
inline bool near(std::uint64_t a, std::uint64_t b) {
  return (a > b ? a - b : b - a) < max_tls_distance;
}
}  // namespace detail

/// Signals in a pending mask that come back pending: all but the one that
/// killed the process and SIGKILL (a restored task must not die again of them).
inline std::vector<int> pending_signals(std::uint64_t mask, int fatal_signal) {
  std::vector<int> out;
  for (int sig = 1; sig <= 64; ++sig)
    if ((mask >> (sig - 1)) & 1 && sig != fatal_signal && sig != arch::sig::sigkill) out.push_back(sig);
  return out;
}

/// A raw siginfo_t for a signal the core only lists in a mask: the core keeps
/// no siginfo for it, so it reads as sent by the process itself (SI_TKILL).
inline std::string make_siginfo(int sig, std::int32_t pid, std::uint32_t uid) {
  std::string raw(128, '\0');
  const std::int32_t si_code = -6;  // SI_TKILL
  std::memcpy(raw.data(), &sig, 4);
  std::memcpy(raw.data() + 8, &si_code, 4);
  std::memcpy(raw.data() + 16, &pid, 4);  // _kill.si_pid
  std::memcpy(raw.data() + 20, &uid, 4);  // _kill.si_uid
  return raw;
}

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

  // Registers, rewound like CRIU rewinds a task stopped in a syscall (pitfall 5).
  auto regs = t.regs();
  switch (Arch::rewind_syscall(regs)) {
    case Arch::rewind::restart: tp.rewind = "interrupted syscall restarted (ax = orig_ax, ip -= 2)"; break;
    case Arch::rewind::eintr: tp.rewind = "interrupted syscall returns -EINTR"; break;
    case Arch::rewind::none: break;
  }
  // The signal that killed the process: the first thread took it (pitfall 6).
  const int fatal_signal = core.threads().front().prstatus.cursig;
  std::uint32_t uid = 0;
  if (auto ps = core.prpsinfo()) uid = ps->uid;
  const std::uint64_t donor_tp = bridge::thread_pointer(tmpl);
  const std::uint64_t victim_tp = Arch::thread_pointer(regs);
  {
    auto r = bridge::set_registers(c, regs, t.fpregs, t.xstate, core.process().xsave_layout, out.warnings);
    if (!r) return fail(std::move(r).error_value().prefix(fmt::format("thread {}: ", t.tid())));
  }

  auto tls = [&](std::uint64_t v, const std::string& what) -> std::uint64_t {
    if (v == 0) return 0;
    if (detail::near(v, donor_tp)) {
      const auto moved = by_thread_pointer(v, donor_tp, victim_tp);
      out.relocations.push_back({fmt::format("thread {} {}", t.tid(), what), v, moved, "thread-pointer delta"});
      return moved;
    }
    if (auto f = reloc.by_file(v)) {
      out.relocations.push_back({fmt::format("thread {} {}", t.tid(), what), v, f->first, f->second});
      return f->first;
    }
    out.warnings.push_back(fmt::format("thread {} {} {:#x} is not in the donor's TLS or a mapped file: left as is",
                                       t.tid(), what, v));
    return v;
  };

  // clear_child_tid and the robust futex list live in struct pthread (pitfall 8).
  bridge::set_clear_tid(c, tls(bridge::clear_tid(tmpl), "clear_child_tid"));
  auto* tc = c.mutable_thread_core();
  if (tc->futex_rla() != 0) tc->set_futex_rla(tls(tc->futex_rla(), "robust futex list"));
  // Masks from the core (pitfall 15). The donor's pending signals are not the
  // victim's: the queue is rebuilt from the core's pending mask, less the death
  // (pitfall 16).
  tc->set_blk_sigset(t.prstatus.sighold);
  tc->mutable_signals_p()->Clear();
  for (const int sig : pending_signals(t.prstatus.sigpend, fatal_signal)) {
    *tc->mutable_signals_p()->add_signals()->mutable_siginfo() = make_siginfo(sig, core.pid(), uid);
    out.changes.push_back(fmt::format("thread {}: signal {} pending again (the core's pending mask)", t.tid(), sig));
  }
  if (tc->has_rseq_entry() && tc->rseq_entry().rseq_abi_pointer() != 0) {
    auto* rs = tc->mutable_rseq_entry();
    rs->set_rseq_abi_pointer(tls(rs->rseq_abi_pointer(), "rseq area"));
    rs->clear_rseq_cs_pointer();  // no critical section is in flight in a new process
  }
  if (tc->has_sas() && !(tc->sas().ss_flags() & 2 /* SS_DISABLE */) && tc->sas().ss_sp() != 0) {
    const auto sp = tc->sas().ss_sp();
    if (auto f = reloc.by_file(sp)) {
      out.relocations.push_back({fmt::format("thread {} sigaltstack", t.tid()), sp, f->first, f->second});
      tc->mutable_sas()->set_ss_sp(f->first);
    } else {
      out.warnings.push_back(fmt::format("thread {} sigaltstack {:#x} cannot be relocated: disabled", t.tid(), sp));
      tc->mutable_sas()->set_ss_sp(0);
      tc->mutable_sas()->set_ss_size(0);
      tc->mutable_sas()->set_ss_flags(2);
    }
  }

  if (leader) {
    auto* task = c.mutable_tc();
    task->set_blk_sigset(t.prstatus.sighold);
    task->mutable_signals_s()->Clear();
    task->set_exit_code(0);
    if (auto ps = core.prpsinfo()) {
      const auto& fn = ps->fname;
      std::string comm(fn.data(), strnlen(fn.data(), fn.size()));
      if (!comm.empty()) task->set_comm(comm);
    }
    for (int i = 0; i < task->sigactions_size(); ++i) {
      auto* sa = task->mutable_sigactions(i);
      for (auto [get, set, what] :
           {std::tuple{&pb::sa_entry::sigaction, &pb::sa_entry::set_sigaction, "handler"},
            std::tuple{&pb::sa_entry::restorer, &pb::sa_entry::set_restorer, "restorer"}}) {
        const std::uint64_t v = (sa->*get)();
        if (v <= 1) continue;  // SIG_DFL, SIG_IGN
        if (auto f = reloc.by_file(v)) {
          out.relocations.push_back({fmt::format("signal {} {}", i + 1, what), v, f->first, f->second});
          (sa->*set)(f->first);
        } else {
          return fail(error(errc::mismatch, "",
                            fmt::format("signal {} {} {:#x} is in no file the donor mapped: cannot relocate it", i + 1,
                                        what, v)));
        }
      }
    }
  } else {
    // Thread images carry no process-wide parts (pitfall 7).
    c.clear_tc();
    c.clear_ids();
  }
  return tp;
}

}  // namespace necro::plan

#endif
