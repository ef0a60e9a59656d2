/// necro::plan::detail: the task settings plan::apply_capture takes from a
/// capture (plan/capture.hpp): credentials, rlimits, personality and ignored
/// signals, into the threads' core images. Pure.
#ifndef NECRO_PLAN_THREADS_DETAIL_CAPTURE_TASK_HPP
#define NECRO_PLAN_THREADS_DETAIL_CAPTURE_TASK_HPP
#pragma once

#include <string.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/arch/kernel_abi.hpp>
#include <necro/capture/criu_files.hpp>
#include <necro/capture/model.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan::detail {

/// The index of `sig` in tc.sigactions: CRIU keeps one for 1..64 but SIGKILL and SIGSTOP.
inline int sigaction_index(int sig) { return sig - 1 - (sig > arch::sig::sigkill) - (sig > arch::sig::sigstop); }

inline std::string signal_names(std::uint64_t mask) {
  std::vector<std::string> names;
  for (int sig = 1; sig <= arch::sig::count; ++sig) {
    if (!(mask >> (sig - 1) & 1)) continue;
    const char* abbrev = ::sigabbrev_np(sig);
    names.push_back(abbrev ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", sig));
  }
  return fmt::format("{}", fmt::join(names, " "));
}

/// A personality other than PER_LINUX goes into tc.personality, but CRIU
/// (4.x) only dumps it: its restore never calls personality(2). Said once.
inline void note_personality(capture_use& use, std::uint32_t personality) {
  if (personality == 0) return;
  const auto line = fmt::format("the personality {:#x}: written to the core image, but CRIU does not restore it (PER_LINUX, 0)", personality);
  if (std::find(use.lost.begin(), use.lost.end(), line) == use.lost.end()) use.lost.push_back(line);
}

/// The task's settings: credentials (every thread), rlimits, personality,
/// and the dispositions /proc shows without addresses (ignored signals).
inline void apply_task_settings(resurrection& plan, const capture::process_capture& c, capture_use& use) {
  if (c.creds) {
    const auto creds = capture::creds_for(*c.creds);
    for (auto& t : plan.threads) *t.core.mutable_thread_core()->mutable_creds() = creds;
    use.restored.push_back(fmt::format("credentials: uid {} gid {}, {} supplementary groups, capabilities {:#x}",
                                       c.creds->uid[1], c.creds->gid[1], c.creds->groups.size(), c.creds->cap_eff));
  }
  auto* tc = plan.threads.front().core.mutable_tc();
  std::size_t limits = 0;
  for (const auto& r : c.rlimits) {
    if (r.resource < 0 || r.resource >= static_cast<int>(arch::rlim::count)) continue;
    auto* all = tc->mutable_rlimits();
    while (all->rlimits_size() <= r.resource) {  // a set without them: unlimited until said
      auto* l = all->add_rlimits();
      l->set_cur(arch::rlim::infinity), l->set_max(arch::rlim::infinity);
    }
    all->mutable_rlimits(r.resource)->set_cur(r.cur), all->mutable_rlimits(r.resource)->set_max(r.max), ++limits;
  }
  if (limits) use.restored.push_back(fmt::format("rlimits: {} of /proc/PID/limits", limits));
  if (c.personality) tc->set_personality(*c.personality), note_personality(use, *c.personality);
  if (!c.signals) return;
  std::uint64_t ignored = 0;
  for (int sig = 1; sig <= arch::sig::count; ++sig) {
    const int i = sigaction_index(sig);
    if (!(c.signals->ignored >> (sig - 1) & 1) || sig == arch::sig::sigkill || sig == arch::sig::sigstop ||
        i >= tc->sigactions_size())
      continue;
    tc->mutable_sigactions(i)->set_sigaction(1);  // SIG_IGN
    ignored |= std::uint64_t{1} << (sig - 1);
  }
  if (ignored) use.restored.push_back(fmt::format("ignored signals stay ignored: {}", signal_names(ignored)));
  if (c.signals->caught)
    use.lost.push_back(fmt::format("the handlers of {}: SIG_DFL now (a handler's address is in neither the core nor /proc)",
                                   signal_names(c.signals->caught)));
}

}  // namespace necro::plan::detail

#endif
