/// necro::plan::detail: the donor's POSIX timers follow the threads
/// (issue 21, docs/pitfalls.md#posix-timers-name-threads). A timer on a
/// per-thread CPU clock (pthread_getcpuclockid) names a tid in its clock id,
/// a SIGEV_THREAD_ID timer in its target; CRIU restores both literally, so a
/// donor tid makes `timer_create` fail (`Can't create posix timer - 0: -22`)
/// and the whole restore with it. Each donor tid becomes the victim thread
/// that took that donor thread as its template; a timer whose thread has no
/// counterpart is dropped with a warning. Pure.
#ifndef NECRO_PLAN_THREADS_DETAIL_DONOR_TIMERS_HPP
#define NECRO_PLAN_THREADS_DETAIL_DONOR_TIMERS_HPP
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <fmt/format.h>

#include <necro/plan/plan.hpp>
#include <necro/plan/threads/detail/timer_clocks.hpp>

namespace necro::plan::detail {

/// Donor tid -> victim tid: each victim thread's template, the first victim
/// thread to take it; the donor's pid is the victim's.
inline std::map<std::int32_t, std::int32_t> donor_tid_map(const resurrection& plan) {
  std::map<std::int32_t, std::int32_t> m;
  m.emplace(static_cast<std::int32_t>(plan.donor_pid), plan.pid);
  for (const auto& t : plan.threads) m.emplace(static_cast<std::int32_t>(t.template_tid), t.tid);
  return m;
}

/// One donor timer's tids moved to the victim's; empty, or why it cannot be.
inline std::string remap_timer(pb::posix_timer_entry& t, const std::map<std::int32_t, std::int32_t>& tids) {
  const auto clock = static_cast<std::int32_t>(t.clock_id());
  if (is_cpu_clock(clock) && cpu_clock_pid(clock) != 0) {
    const auto it = tids.find(cpu_clock_pid(clock));
    if (it == tids.end())
      return fmt::format("its CPU clock {} is {} {}'s, which has no counterpart in the victim", clock,
                         cpu_clock_per_thread(clock) ? "thread" : "process", cpu_clock_pid(clock));
    t.set_clock_id(static_cast<std::uint32_t>(cpu_clock_of(clock, it->second)));
  }
  if (t.has_notify_thread_id() && t.notify_thread_id() != 0) {
    const auto it = tids.find(t.notify_thread_id());
    if (it != tids.end()) t.set_notify_thread_id(it->second);
    else if (t.it_sigev_notify() & sigev_thread_id)
      return fmt::format("it signals donor thread {} (SIGEV_THREAD_ID), which has no counterpart in the victim",
                         t.notify_thread_id());
    else t.clear_notify_thread_id();  // the kernel reads no tid for other notify modes
  }
  return {};
}

/// The leader image's POSIX timers (the donor's) remapped to the victim's tids.
inline void remap_donor_timers(resurrection& plan) {
  if (plan.threads.empty() || !plan.threads.front().core.has_tc() || !plan.threads.front().core.tc().has_timers()) return;
  auto* timers = plan.threads.front().core.mutable_tc()->mutable_timers();
  if (timers->posix_size() == 0) return;
  const auto tids = donor_tid_map(plan);
  pb::task_timers_entry kept = *timers;
  kept.clear_posix();
  for (auto t : timers->posix()) {
    // What remap_timer() may change: the clock and the thread to notify.
    const auto clock = t.clock_id();
    const auto notify = t.notify_thread_id();
    const bool had_notify = t.has_notify_thread_id();
    if (auto why = remap_timer(t, tids); !why.empty()) {
      plan.warnings.push_back(fmt::format("the donor's POSIX timer {}: {}: dropped (CRIU would fail to create it)",
                                          t.it_id(), why));
      continue;
    }
    if (t.clock_id() != clock || t.notify_thread_id() != notify || t.has_notify_thread_id() != had_notify)
      plan.changes.push_back(fmt::format("the donor's POSIX timer {}: clock {}, thread {}: follows the threads",
                                         t.it_id(), static_cast<std::int32_t>(t.clock_id()), t.notify_thread_id()));
    *kept.add_posix() = t;
  }
  *timers = std::move(kept);
}

}  // namespace necro::plan::detail

#endif
