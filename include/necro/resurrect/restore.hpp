/// necro::restore(criu, plan, dir, options): a written image set brought back
/// through CRIU's RPC (criu swrk), with the rules a resurrection needs — a
/// process that did not lead its own session is restored as a shell job; with
/// lazy pages a `criu lazy-pages` daemon serves the memory and is stopped if
/// the restore fails. `find_criu()`: the CRIU to use, checked (>= 4.1).
#ifndef NECRO_RESURRECT_RESTORE_HPP
#define NECRO_RESURRECT_RESTORE_HPP
#pragma once

#include <signal.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <necro/criu/rpc.hpp>
#include <necro/io/error.hpp>
#include <necro/plan/plan.hpp>

namespace necro {

/// The CRIU for a restore: `given`, else $NECRO_CRIU, else criu on PATH; one
/// older than 4.1 is an error. Ask before anything is written.
inline result<std::filesystem::path> find_criu(const std::optional<std::filesystem::path>& given = std::nullopt) {
  NECRO_TRY_ASSIGN(auto criu, criu::rpc::locate(given));
  NECRO_TRY(criu::rpc::require_version(criu));
  return criu;
}

struct restore_options {
  bool stopped = false;  ///< leave it stopped (for a debugger)
  bool lazy = false;     ///< memory on first touch, from a criu lazy-pages daemon
};

/// A process brought back.
struct restored_process {
  int pid = 0;
  std::filesystem::path log;                                 ///< CRIU's restore log
  std::optional<criu::rpc::lazy_pages_daemon> lazy_daemon;  ///< serving its memory, with lazy
};

/// Restores the set `dir` written from `plan`. The error's text starts with
/// what failed ("the lazy-pages daemon failed: ...", "restoring it failed:"
/// followed by CRIU's report, one line each); the set itself stays complete.
inline result<restored_process> restore(const std::filesystem::path& criu, const plan::resurrection& plan,
                                        const std::filesystem::path& dir, const restore_options& o = {}) {
  // A process that did not lead its own session is restored into ours.
  const bool shell_job = plan.pstree.sid() != static_cast<std::uint32_t>(plan.pid);
  restored_process out;
  if (o.lazy) {
    auto d = criu::rpc::start_lazy_pages(criu, dir);
    if (!d) return fail(error(d.error().code(), "", "the lazy-pages daemon failed: " + d.error().message()));
    out.lazy_daemon = *d;
  }
  auto r = criu::rpc::restore(
      criu, {.images_dir = dir, .leave_stopped = o.stopped, .shell_job = shell_job, .lazy_pages = o.lazy});
  if (!r) {
    if (out.lazy_daemon) ::kill(out.lazy_daemon->pid, SIGKILL);  // nothing left to serve
    return fail(error(r.error().code(), "", "restoring it failed:\n" + r.error().message()));
  }
  out.pid = r->pid;
  out.log = r->log;
  return out;
}

}  // namespace necro

#endif
