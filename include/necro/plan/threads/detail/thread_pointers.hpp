/// necro::plan::detail: helpers of plan/threads/threads.hpp's relocation of a donor
/// thread's pointers: whether an address lies near a thread pointer, and what
/// clearing one that cannot be moved costs (for the warning).
#ifndef NECRO_PLAN_THREADS_DETAIL_THREAD_POINTERS_HPP
#define NECRO_PLAN_THREADS_DETAIL_THREAD_POINTERS_HPP
#pragma once

#include <cstdint>
#include <string_view>

namespace necro::plan::detail {

/// Whether `a` and `b` are less than `distance` apart.
inline bool near(std::uint64_t a, std::uint64_t b, std::uint64_t distance) {
  return (a > b ? a - b : b - a) < distance;
}

/// What a cleared thread pointer costs, for the warning.
inline const char* consequence_of_clearing(std::string_view what) {
  if (what == "rseq area") return "rseq is not registered again; sched_getcpu() may read a stale CPU";
  if (what == "robust futex list") return "mutexes the thread holds are not marked EOWNERDEAD when it exits";
  return "nothing is woken when the thread exits";
}

}  // namespace necro::plan::detail

#endif
