/// necro::plan::apply_capture: a planned resurrection completed with what
/// necro-catch read from /proc/PID at the moment of death (capture/model.hpp).
/// Without a donor (capture_scope::everything) the victim's own fds come
/// back — regular files at their paths, offsets and flags; pipes whose both
/// ends it held; listening TCP, UDP and unix sockets bound to its addresses;
/// epoll instances with their registrations; eventfd, timerfd, signalfd — and
/// its cwd, root, umask, rlimits, credentials, personality and ignored
/// signals, and from format 3 on its sigactions and per-thread kernel state
/// (sigaltstack, comm, robust list, clear_child_tid, rseq, scheduling; with a
/// donor too), from format 4 on its interval and POSIX timers (with a donor too). With a donor (capture_scope::regular_files) the victim's regular
/// files replace the donor's at the same fd numbers. A connection or pipe end
/// whose peer is gone comes back as an unconnected stand-in of the same kind
/// (the program sees the peer gone, its fd table and epoll stay consistent);
/// anything else that cannot come back is closed. Both are listed
/// (resurrection::capture); fds 0-2 then keep what the set had. Pure.
#ifndef NECRO_PLAN_CAPTURE_HPP
#define NECRO_PLAN_CAPTURE_HPP
#pragma once

#include <cstdint>
#include <set>
#include <utility>

#include <fmt/format.h>

#include <necro/capture/model.hpp>
#include <necro/criu/image.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/io/error.hpp>
#include <necro/io/printable.hpp>
#include <necro/plan/capture_options.hpp>
#include <necro/plan/detail/capture.hpp>
#include <necro/plan/files/detail/capture_files.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/threads/detail/capture_kernel.hpp>
#include <necro/plan/threads/detail/capture_task.hpp>
#include <necro/plan/threads/detail/capture_timers.hpp>

namespace necro::plan {

/// Completes `plan` (made on `donor`, a real or synthetic one) with capture `c`.
inline result<void> apply_capture(resurrection& plan, const criu::image_set& donor, const capture::process_capture& c,
                                  const capture_facts& facts, capture_scope scope) {
  if (c.pid != plan.pid)
    return fail(error(errc::mismatch, facts.dir, fmt::format("the capture is of pid {}, the core of pid {}", c.pid, plan.pid)));
  if (plan.threads.empty()) return fail(error(errc::missing, facts.dir, "the plan has no threads"));
  capture_use use;
  use.dir = facts.dir;
  std::set<std::uint32_t> replaced;
  for (const auto& fi : donor.fdinfo()) replaced.insert(fi.id());
  const auto table = detail::rebuild_fd_table(plan, donor, c, facts, scope, use);
  criu::image_builder fdinfo(criu::magic::fdinfo);
  for (const auto& [fd, fi] : table) fdinfo.add(fi);
  detail::replace_carried(plan, donor.fdinfo_name(), fdinfo.bytes());
  pb::fs_entry fs = donor.fs();
  if (scope == capture_scope::everything) {
    replaced.insert(fs.cwd_id()), replaced.insert(fs.root_id());
    fs = detail::rebuild_fs(plan, donor.fs(), c, facts, use);
    detail::replace_carried(plan, criu::image_name("fs-", static_cast<std::uint64_t>(plan.pid)),
                            criu::image_builder(criu::magic::fs).add(fs).bytes());
    detail::apply_task_settings(plan, c, use);
    detail::drop_supplied_defaults(plan);
  }
  // The victim's own sigactions and thread state (format 3), with a donor too:
  // they are addresses of the victim's layout, which the plan is.
  detail::apply_kernel_state(plan, c, use, scope == capture_scope::everything);
  // Its interval and POSIX timers (format 4) replace the donor's, donor or not.
  detail::apply_capture_timers(plan, c, use, scope == capture_scope::everything);
  detail::drop_unreferenced(plan, replaced, table, fs);
  if (!c.complete)
    plan.warnings.push_back(fmt::format("the capture {} is incomplete (necro-catch did not finish it): fds it did not "
                                        "reach are not open in the resurrected process",
                                        io::printable(facts.dir)));
  plan.changes.push_back(fmt::format("from the capture {}: {} fds and settings, {} closed", io::printable(facts.dir),
                                     use.restored.size(), use.closed.size()));
  plan.capture = std::move(use);
  return {};
}

}  // namespace necro::plan

#endif
