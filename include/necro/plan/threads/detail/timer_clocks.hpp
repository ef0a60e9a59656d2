/// necro::plan::detail: what a POSIX timer's clock id says. CPU clocks are
/// negative and name a task: clock = (~pid << 3) | per_thread(4) | kind
/// (PROF 0, VIRT 1, SCHED 2); pid 0 is the caller. `pthread_getcpuclockid`
/// gives (~tid << 3) | 6. The kernel resolves CLOCK_PROCESS_CPUTIME_ID (2)
/// and CLOCK_THREAD_CPUTIME_ID (3) to pid 0's -6 and -2. Pure.
#ifndef NECRO_PLAN_THREADS_DETAIL_TIMER_CLOCKS_HPP
#define NECRO_PLAN_THREADS_DETAIL_TIMER_CLOCKS_HPP
#pragma once

#include <cstdint>
#include <optional>

namespace necro::plan::detail {

inline constexpr std::uint32_t sigev_thread_id = 4;  ///< SIGEV_THREAD_ID: the signal goes to one thread

/// A CPU clock (negative): its pid, whether it is a thread's, and its kind.
constexpr bool is_cpu_clock(std::int32_t c) noexcept { return c < 0; }
constexpr std::int32_t cpu_clock_pid(std::int32_t c) noexcept { return ~(c >> 3); }
constexpr bool cpu_clock_per_thread(std::int32_t c) noexcept { return (c & 4) != 0; }

/// The same CPU clock of another task.
constexpr std::int32_t cpu_clock_of(std::int32_t c, std::int32_t pid) noexcept {
  return static_cast<std::int32_t>((~static_cast<std::uint32_t>(pid) << 3) | (static_cast<std::uint32_t>(c) & 7u));
}

/// Whether timer_create takes this clock: REALTIME 0, MONOTONIC 1, PROCESS
/// and THREAD_CPUTIME_ID 2, 3, BOOTTIME 7, REALTIME_ALARM 8, BOOTTIME_ALARM 9,
/// TAI 11, or a CPU clock of kind PROF, VIRT or SCHED.
constexpr bool timer_clock_known(std::int32_t c) noexcept {
  if (is_cpu_clock(c)) return (c & 3) != 3;
  return c <= 3 || c == 7 || c == 8 || c == 9 || c == 11;
}

static_assert(cpu_clock_of(-2, 101) == -810 && cpu_clock_pid(-810) == 101 && cpu_clock_per_thread(-810));
static_assert(cpu_clock_pid(-6) == 0 && !cpu_clock_per_thread(-6) && timer_clock_known(-6) && !timer_clock_known(-5));

}  // namespace necro::plan::detail

#endif
