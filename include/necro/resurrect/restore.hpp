/// necro::restore(criu, plan, dir, options): a written image set brought back
/// through CRIU's RPC (criu swrk), with the rules a resurrection needs — a
/// process that did not lead its own session is restored as a shell job; with
/// lazy pages a lazy-pages daemon (necro's, serving from the core, or `criu
/// lazy-pages`) serves the memory and is stopped if the restore fails. `find_criu()`: the CRIU to use, checked (>= 4.1).
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
#include <necro/lazy/launch.hpp>
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
  /// With lazy: the lazy pages come from the core (a set written with
  /// serve_lazy); null: `criu lazy-pages` reads them from pages-*.img.
  const lazy::page_source* serve_from = nullptr;
  /// With serve_from: `criu lazy-pages` asks a page server of the core for
  /// them, instead of necro's own lazy-pages daemon (lazy/uffd_daemon.hpp).
  bool criu_daemon = false;
  /// With necro's daemon: push every page once restored (else on demand
  /// only, the daemon staying until the process exits: for a debugger).
  bool push = true;
  /// With push: a debugger attaches (--gdb); the bulk push waits until it is
  /// quiet, so that its start does not queue behind the core's reading.
  bool debugger = false;
};

/// A process brought back.
struct restored_process {
  int pid = 0;
  std::filesystem::path log;                                 ///< CRIU's restore log
  std::optional<criu::rpc::lazy_pages_daemon> lazy_daemon;  ///< serving its memory, with lazy
  std::optional<lazy::page_server_process> page_server;     ///< serving the daemon from the core
  std::optional<lazy::page_server_process> core_daemon;     ///< necro's lazy-pages daemon, serving from the core
};

namespace detail {

/// The page server of `src` and a criu lazy-pages daemon connected to it.
inline result<void> start_served_daemon(const std::filesystem::path& criu, const lazy::page_source& src, int pid,
                                        const std::filesystem::path& dir, restored_process& out) {
  NECRO_TRY_ASSIGN(auto pair, lazy::loopback_pair());
  NECRO_TRY_ASSIGN(out.page_server, lazy::start_page_server(std::move(pair.first), src, dir / "page-server.log", pid));
  auto d = criu::rpc::start_lazy_pages(criu, dir, std::chrono::seconds(30), pair.second.get());
  if (!d) {
    ::kill(out.page_server->pid, SIGKILL);
    out.page_server.reset();
    return fail(d.error());
  }
  out.lazy_daemon = *d;
  return {};
}

}  // namespace detail

/// Restores the set `dir` written from `plan`. The error's text starts with
/// what failed ("the lazy-pages daemon failed: ...", "restoring it failed:"
/// followed by CRIU's report, one line each); the set itself stays complete.
inline result<restored_process> restore(const std::filesystem::path& criu, const plan::resurrection& plan,
                                        const std::filesystem::path& dir, const restore_options& o = {}) {
  // A process that did not lead its own session is restored into ours.
  const bool shell_job = plan.pstree.sid() != static_cast<std::uint32_t>(plan.pid);
  restored_process out;
  if (o.lazy && o.serve_from && !o.criu_daemon) {
    auto d = lazy::start_uffd_daemon(*o.serve_from, dir, dir / "necro-lazy.log", o.push, o.debugger);
    if (!d) return fail(error(d.error().code(), "", "necro's lazy-pages daemon failed: " + d.error().message()));
    out.core_daemon = *d;
  } else if (o.lazy && o.serve_from) {
    if (auto started = detail::start_served_daemon(criu, *o.serve_from, plan.pid, dir, out); !started)
      return fail(error(started.error().code(), "", "the lazy-pages daemon and its page server failed: " + started.error().message()));
  } else if (o.lazy) {
    auto d = criu::rpc::start_lazy_pages(criu, dir);
    if (!d) return fail(error(d.error().code(), "", "the lazy-pages daemon failed: " + d.error().message()));
    out.lazy_daemon = *d;
  }
  auto r = criu::rpc::restore(
      criu, {.images_dir = dir, .leave_stopped = o.stopped, .shell_job = shell_job, .lazy_pages = o.lazy});
  if (!r) {
    // The server first: it would kill the pid on the daemon's end of stream.
    if (out.page_server) ::kill(out.page_server->pid, SIGKILL);
    if (out.core_daemon) ::kill(out.core_daemon->pid, SIGKILL);
    if (out.lazy_daemon) ::kill(out.lazy_daemon->pid, SIGKILL);  // nothing left to serve
    return fail(error(r.error().code(), "", "restoring it failed:\n" + r.error().message()));
  }
  out.pid = r->pid;
  out.log = r->log;
  return out;
}

}  // namespace necro

#endif
