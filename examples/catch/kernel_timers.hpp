// necro-catch: the task iterator's timer records (bpf/task_state.h) into the
// capture's timers. The kernel keeps absolute expiries: hrtimers on their
// clock base, CPU timers in the CPU time of a thread or of the thread group.
// Time left = expiry - that clock's "now" at the read: for hrtimers the
// iterator's bpf_ktime_get_ns() (CLOCK_MONOTONIC) plus the base clock's
// offset to CLOCK_MONOTONIC measured right after it; for CPU timers the CPU
// time the iterator sampled. A timer queued but already due gets 1 ns (it
// fires at once); one not queued gets 0 (a periodic one then waits for its
// signal's delivery to re-arm: CRIU arms it with one interval).
#pragma once

#include <linux/types.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/capture/model.hpp>

#include "bpf/task_state.h"

namespace catcher {

/// The raw timer records of one read.
struct timer_records {
  bool seen = false;  ///< the itimers record was read
  necro_ts_itimers itimers{};
  std::vector<necro_ts_posix_timer> posix;
  std::map<std::int32_t, necro_ts_cpu_sample> samples;  ///< by tid
};

/// Offsets of clock bases to CLOCK_MONOTONIC (clock_gettime(c) - clock_gettime(MONOTONIC)), ns.
using clock_offsets = std::map<std::int32_t, std::int64_t>;

/// Time left until `expires` from `now`: 1 ns when armed but due, 0 when not armed.
inline std::uint64_t time_left(bool armed, std::int64_t expires, std::int64_t now) {
  if (!armed) return 0;
  return expires > now ? static_cast<std::uint64_t>(expires - now) : 1;
}

/// A CPU clock's sample: PROF (kind 0) user+system, VIRT (1) user, SCHED (2) runtime.
inline std::uint64_t cpu_sample(unsigned kind, std::uint64_t utime, std::uint64_t stime, std::uint64_t sum_exec) {
  return kind == 0 ? utime + stime : kind == 1 ? utime : sum_exec;
}

/// The thread group's CPU time of one kind: its cputimer when running (it is
/// while a process CPU timer is armed), else the sum of its threads.
inline std::uint64_t group_sample(const timer_records& r, unsigned kind) {
  if (r.itimers.group_running)
    return cpu_sample(kind, r.itimers.group_utime, r.itimers.group_stime, r.itimers.group_sum_exec);
  std::uint64_t s = 0;
  for (const auto& [tid, t] : r.samples) s += cpu_sample(kind, t.utime, t.stime, t.sum_exec);
  return s;
}

/// One POSIX timer; its CPU clock names the thread it resolved to (a
/// CLOCK_THREAD_CPUTIME_ID timer's clock says "pid 0": whichever thread
/// restores it), or a reason it is skipped.
inline std::string posix_from_record(const timer_records& r, const necro_ts_posix_timer& t, const clock_offsets& off,
                                     necro::capture::posix_timer& p) {
  p.id = t.id, p.signo = static_cast<std::uint32_t>(t.signo), p.notify = static_cast<std::uint32_t>(t.notify);
  p.tid = t.target, p.sigev_value = t.sigev_value, p.interval_ns = t.interval;
  p.overrun = static_cast<std::uint32_t>(std::clamp<std::int64_t>(t.overrun, 0, 0x7fffffff));  // timer_getoverrun's clamp
  p.clock = t.clock;
  const auto expires = static_cast<std::int64_t>(t.expires);
  if (t.clock < 0) {
    const unsigned kind = static_cast<unsigned>(t.clock) & 3u;
    const bool per_thread = static_cast<unsigned>(t.clock) & 4u;
    std::uint64_t now = 0;
    if (per_thread) {
      const auto s = r.samples.find(t.cpu_tid);
      if (s == r.samples.end()) return fmt::format("timer {}: its CPU clock's thread {} was not seen", t.id, t.cpu_tid);
      now = cpu_sample(kind, s->second.utime, s->second.stime, s->second.sum_exec);
      if ((t.clock >> 3) == -1)  // pid 0: the creating thread's clock
        p.clock = static_cast<std::int32_t>((~static_cast<std::uint32_t>(t.cpu_tid) << 3) | (static_cast<unsigned>(t.clock) & 7u));
    } else {
      now = group_sample(r, kind);
    }
    p.value_ns = time_left(t.armed, expires, static_cast<std::int64_t>(now));
    return {};
  }
  const auto o = off.find(t.base_clock);
  if (o == off.end()) return fmt::format("timer {}: clock base {} unknown to necro-catch", t.id, t.base_clock);
  p.value_ns = time_left(t.armed, expires, static_cast<std::int64_t>(r.itimers.now) + o->second);
  return {};
}

/// The capture's timers from the raw records and the clock offsets.
inline necro::capture::timers_state timers_from_records(const timer_records& r, const clock_offsets& off) {
  necro::capture::timers_state ts;
  if (!r.seen) return ts.missing = "the task iterator wrote no timer record", ts;
  const auto& it = r.itimers;
  if (it.layout == NECRO_TS_TIMERS_UNKNOWN_LAYOUT)
    return ts.missing = "this kernel's signal_struct.posix_timers is neither an hlist nor a list: timers not read", ts;
  if (it.posix_more) return ts.missing = fmt::format("more than {} POSIX timers: timers not read", NECRO_TS_MAX_POSIX_TIMERS), ts;
  if (it.posix_count != r.posix.size())
    return ts.missing = fmt::format("{} POSIX timer records for {} timers: the output is cut", r.posix.size(), it.posix_count), ts;
  const auto now = static_cast<std::int64_t>(it.now);
  ts.itimers.push_back({0, time_left(it.real_armed, static_cast<std::int64_t>(it.real_expires), now), it.real_incr});
  const auto cpu_left = [&](std::uint64_t expires, unsigned kind) {
    return time_left(expires != 0, static_cast<std::int64_t>(expires), static_cast<std::int64_t>(group_sample(r, kind)));
  };
  ts.itimers.push_back({1, cpu_left(it.virt_expires, 1), it.virt_incr});
  ts.itimers.push_back({2, cpu_left(it.prof_expires, 0), it.prof_incr});
  for (const auto& t : r.posix) {
    necro::capture::posix_timer p;
    if (auto why = posix_from_record(r, t, off, p); !why.empty()) return ts.missing = why, ts;
    ts.posix.push_back(p);
  }
  std::sort(ts.posix.begin(), ts.posix.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return ts;
}

}  // namespace catcher
