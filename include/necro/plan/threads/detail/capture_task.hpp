/// necro::plan::detail: the task settings plan::apply_capture takes from a
/// capture (plan/capture.hpp): cwd, root and umask; credentials, rlimits,
/// personality and ignored signals; and the donor-less defaults they replace.
/// Pure.
#ifndef NECRO_PLAN_THREADS_DETAIL_CAPTURE_TASK_HPP
#define NECRO_PLAN_THREADS_DETAIL_CAPTURE_TASK_HPP
#pragma once

#include <string.h>

#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/arch/kernel_abi.hpp>
#include <necro/capture/criu_files.hpp>
#include <necro/capture/model.hpp>
#include <necro/criu/file_entries.hpp>
#include <necro/io/printable.hpp>
#include <necro/plan/detail/capture_fd_table.hpp>
#include <necro/plan/detail/capture_fds.hpp>
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

/// cwd and root: the victim's where they still exist, else the set's own
/// (silently where the capture has none, or the caller chose the cwd).
inline pb::fs_entry rebuild_fs(resurrection& plan, const pb::fs_entry& before, const capture::process_capture& c,
                               const capture_facts& facts, capture_use& use) {
  pb::fs_entry fs = before;
  std::uint32_t next = last_file_id(plan.files) + 1;
  const auto directory = [&](const std::string& path, const char* what, auto set) {
    if (path.empty()) return;  // not captured
    const auto v = judge_path(path, arch::s_if::dir, facts);
    if (v.fate != fd_fate::own) {
      use.closed.push_back(fmt::format("{} {}: {}; the default is used", what, io::printable(path), v.why));
      return;
    }
    plan.files.push_back(criu::make_reg_entry(next, path, arch::o::rdonly, std::nullopt, facts.present.find(path)->second));
    (fs.*set)(next++);
    use.restored.push_back(fmt::format("{} {}", what, io::printable(path)));
  };
  if (!facts.cwd_chosen) directory(c.cwd, "cwd", &pb::fs_entry::set_cwd_id);
  directory(c.root, "root", &pb::fs_entry::set_root_id);
  if (c.umask) {
    fs.set_umask(*c.umask);
    use.restored.push_back(fmt::format("umask {:03o}", *c.umask));
  }
  return fs;
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
  if (c.personality) tc->set_personality(*c.personality);
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

/// The defaults a donor-less set took that the capture now gives.
inline void drop_supplied_defaults(resurrection& plan) {
  std::erase_if(plan.not_in_core, [](const default_taken& d) {
    return d.what == "open files" || d.what == "cwd and root" || d.what == "rlimits" || d.what == "credentials";
  });
  for (auto& d : plan.not_in_core)
    if (d.what == "signal handlers")
      d.value = "SIG_DFL for every caught signal; ignored signals stay SIG_IGN (from the capture)";
}

}  // namespace necro::plan::detail

#endif
