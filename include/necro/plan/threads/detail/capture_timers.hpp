/// necro::plan::detail: the interval and POSIX timers of a format 4 capture
/// (necro-catch's BPF step, docs/capture.md) into the leader's
/// tc.timers, replacing the donor's or the donor-less zeros: each re-armed
/// with the time it had left at death. A POSIX timer on a clock timer_create
/// does not take, or naming a thread (SIGEV_THREAD_ID target, per-thread CPU
/// clock) or process the core does not have, would make CRIU's restore fail:
/// it is dropped with a warning naming the capture file and the line's words.
/// Pure.
#ifndef NECRO_PLAN_THREADS_DETAIL_CAPTURE_TIMERS_HPP
#define NECRO_PLAN_THREADS_DETAIL_CAPTURE_TIMERS_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/capture/model.hpp>
#include <necro/io/printable.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/threads/detail/capture_process.hpp>
#include <necro/plan/threads/detail/timer_clocks.hpp>

namespace necro::plan::detail {

inline constexpr std::uint64_t ns_per_us = 1000, ns_per_s = 1000000000;

/// A duration in words for --explain: "100 ms", "1.5 s", "250 us".
inline std::string duration_words(std::uint64_t ns) {
  if (ns >= ns_per_s) return fmt::format("{:g} s", static_cast<double>(ns) / ns_per_s);
  if (ns >= 1000000) return fmt::format("{:g} ms", static_cast<double>(ns) / 1000000);
  return fmt::format("{:g} us", static_cast<double>(ns) / ns_per_us);
}

/// An itimer entry (seconds and microseconds): a time left that is not zero
/// stays at least 1 us (0 would disarm it, or make CRIU arm it a whole interval late).
inline pb::itimer_entry itimer_entry_of(const capture::interval_timer& t) {
  pb::itimer_entry e;
  const std::uint64_t left_us = (t.value_ns + ns_per_us - 1) / ns_per_us;
  e.set_isec(t.interval_ns / ns_per_s), e.set_iusec(t.interval_ns % ns_per_s / ns_per_us);
  e.set_vsec(left_us / 1000000), e.set_vusec(left_us % 1000000);
  return e;
}

/// Whether a tid is one of the plan's threads.
inline bool is_core_thread(const resurrection& plan, std::int32_t tid) {
  return std::any_of(plan.threads.begin(), plan.threads.end(), [&](const thread_plan& t) { return t.tid == tid; });
}

/// Why a captured POSIX timer cannot be restored here, or empty.
inline std::string posix_timer_problem(const resurrection& plan, const capture::posix_timer& t) {
  if (!timer_clock_known(t.clock)) return fmt::format("clock {} is no clock timer_create takes", t.clock);
  if (is_cpu_clock(t.clock) && cpu_clock_pid(t.clock) != 0) {
    const auto pid = cpu_clock_pid(t.clock);
    if (cpu_clock_per_thread(t.clock) ? !is_core_thread(plan, pid) : pid != plan.pid)
      return fmt::format("its CPU clock is {} {}'s, not one of the core's", cpu_clock_per_thread(t.clock) ? "thread" : "process", pid);
  }
  if (t.notify == sigev_thread_id && !is_core_thread(plan, t.tid))
    return fmt::format("it signals thread {} (SIGEV_THREAD_ID), not a thread of the core", t.tid);
  return {};
}

/// A captured POSIX timer as CRIU's entry: a nanosecond time left, at least 1 ns when armed.
inline pb::posix_timer_entry posix_entry_of(const capture::posix_timer& t) {
  pb::posix_timer_entry e;
  e.set_it_id(static_cast<std::uint32_t>(t.id)), e.set_clock_id(static_cast<std::uint32_t>(t.clock));
  e.set_si_signo(t.signo), e.set_it_sigev_notify(t.notify), e.set_sival_ptr(t.sigev_value);
  e.set_overrun(t.overrun);
  e.set_isec(t.interval_ns / ns_per_s), e.set_insec(t.interval_ns % ns_per_s);
  e.set_vsec(t.value_ns / ns_per_s), e.set_vnsec(t.value_ns % ns_per_s);
  if (t.notify == sigev_thread_id) e.set_notify_thread_id(t.tid);
  return e;
}

/// "ITIMER_REAL every 100 ms, next in 12 ms" for the itimers that are set.
inline std::vector<std::string> itimer_words(const std::vector<capture::interval_timer>& all) {
  static constexpr const char* names[] = {"ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF"};
  std::vector<std::string> out;
  for (const auto& t : all) {
    if (t.which > 2 || (t.value_ns == 0 && t.interval_ns == 0)) continue;
    out.push_back(fmt::format("{} {}{}", names[t.which], t.interval_ns ? "every " + duration_words(t.interval_ns) : "once",
                              t.value_ns ? ", next in " + duration_words(t.value_ns) : ", due (one interval after the restore)"));
  }
  return out;
}

/// The capture's timers into the leader's tc.timers; warnings and --explain lines.
inline void apply_timers(resurrection& plan, const capture::timers_state& ts, capture_use& use) {
  auto* timers = plan.threads.front().core.mutable_tc()->mutable_timers();
  std::vector<const capture::interval_timer*> by_which(3, nullptr);
  for (const auto& t : ts.itimers)
    if (t.which < 3) by_which[t.which] = &t;
  const capture::interval_timer none{};
  *timers->mutable_real() = itimer_entry_of(by_which[0] ? *by_which[0] : none);
  *timers->mutable_virt() = itimer_entry_of(by_which[1] ? *by_which[1] : none);
  *timers->mutable_prof() = itimer_entry_of(by_which[2] ? *by_which[2] : none);
  timers->clear_posix();
  std::size_t dropped = 0;
  for (const auto& t : ts.posix) {
    if (const auto p = posix_timer_problem(plan, t); !p.empty()) {
      plan.warnings.push_back(fmt::format("{}: posix-timer id={} clock={} tid={}: {}: not restored", capture_txt(use, t.line), t.id,
                                          t.clock, t.tid, p));
      ++dropped;
      continue;
    }
    *timers->add_posix() = posix_entry_of(t);
  }
  const auto words = itimer_words(ts.itimers);
  use.restored.push_back(fmt::format("timers from the kernel at death, re-armed with the time they had left: {}; {} POSIX timers{}",
                                     words.empty() ? "no interval timer" : fmt::format("{}", fmt::join(words, ", ")),
                                     ts.posix.size() - dropped, dropped ? fmt::format(" ({} dropped, see the warnings)", dropped) : ""));
  if (dropped) use.lost.push_back(fmt::format("{} POSIX timers the core's threads cannot hold (see the warnings)", dropped));
}

/// The "itimers, POSIX timers" default of a donor-less plan: gone when the
/// capture gave them, else why they stay none.
inline void note_timer_default(resurrection& plan, const std::string& why_none) {
  for (auto it = plan.not_in_core.begin(); it != plan.not_in_core.end(); ++it) {
    if (!it->what.starts_with("itimers, POSIX timers")) continue;
    if (why_none.empty()) plan.not_in_core.erase(it);
    else it->why = why_none;
    return;
  }
}

/// The timers of a capture's kernel state, if it has them (format 4). With a
/// donor, a capture without them leaves the donor's (their tids remapped by
/// remap_donor_timers); donor-less the default stays, with the reason.
inline void apply_capture_timers(resurrection& plan, const capture::process_capture& c, capture_use& use, bool donorless) {
  if (!c.kernel || !c.kernel->read()) return;  // apply_kernel_state said so
  if (!c.kernel->timers) {
    if (donorless)
      note_timer_default(plan, "not in the core, and this capture (format " + std::to_string(c.version) +
                                   ") predates timers: a process that ticks on setitimer or timer_create stops ticking");
    return;
  }
  if (!c.kernel->timers->read()) {
    const auto why = io::printable(c.kernel->timers->missing);
    plan.warnings.push_back(fmt::format("{}: the timers were not captured ({}): {}", capture_txt(use), why,
                                        donorless ? "no interval or POSIX timer is armed" : "the donor's stay"));
    if (donorless) note_timer_default(plan, "not in the core; the capture's timers are missing: " + why);
    return;
  }
  apply_timers(plan, *c.kernel->timers, use);
  note_timer_default(plan, "");
}

}  // namespace necro::plan::detail

#endif
