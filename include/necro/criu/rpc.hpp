/// necro::criu::rpc: CRIU's RPC from a program of ours, no shell and no output
/// parsing. Each call starts `criu swrk FD` on one end of a socketpair, sends
/// one criu_req and reads one criu_resp (CRIU's rpc.proto; our wire-compatible
/// copy is necro/pb/rpc.proto). restore() brings an image set back and returns
/// the restored pid; version() asks a binary which CRIU it is;
/// start_lazy_pages() starts the daemon that fills a lazy restore's memory.
#ifndef NECRO_CRIU_RPC_HPP
#define NECRO_CRIU_RPC_HPP
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/detail/criu_log.hpp>
#include <necro/criu/detail/criu_process.hpp>
#include <necro/criu/detail/swrk_wire.hpp>
#include <necro/io/error.hpp>
#include <necro/io/unique_fd.hpp>
#include <necro/pb/rpc.pb.h>

namespace necro::criu::rpc {

/// A CRIU version as its VERSION request reports it.
struct version {
  int major = 0, minor = 0, sublevel = 0;
  std::string gitid;

  friend auto operator<=>(const version& a, const version& b) {
    if (auto c = a.major <=> b.major; c != 0) return c;
    if (auto c = a.minor <=> b.minor; c != 0) return c;
    return a.sublevel <=> b.sublevel;
  }
  std::string str() const { return sublevel ? fmt::format("{}.{}.{}", major, minor, sublevel) : fmt::format("{}.{}", major, minor); }
};

/// The oldest CRIU that restores on current kernels: 3.x fails its vDSO check.
inline constexpr version min_version{4, 1, 0, {}};

/// What to restore and how.
struct restore_request {
  std::filesystem::path images_dir;
  std::string log_file = "restore.log";  ///< written into images_dir
  int log_level = 4;
  bool leave_stopped = false;  ///< the task stays stopped (for a debugger)
  bool shell_job = false;      ///< the task was not its own session leader
  bool tcp_established = false;
  /// Memory arrives on first touch from a running start_lazy_pages() daemon
  /// (userfaultfd); only pagemap entries marked PE_LAZY are left to it.
  bool lazy_pages = false;
};

/// A `criu lazy-pages` daemon serving one image set; it exits by itself once
/// every lazy page is in the restored process.
struct lazy_pages_daemon {
  int pid = 0;
  std::filesystem::path log;
};

/// A successful restore.
struct restored {
  int pid = 0;
  std::filesystem::path log;
};

/// A CRIU answer is a few hundred bytes; anything larger is not one.
using detail::max_response_size;

/// Sends `req` to a new `criu swrk` and returns its answer. The criu process
/// has ended when this returns.
inline result<pb::criu_resp> call(const std::filesystem::path& criu, const pb::criu_req& req) {
  const std::string who = criu.string();
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return fail(error::from_errno(who, "socketpair", errno));
  io::unique_fd ours(sv[0]), theirs(sv[1]);
  NECRO_TRY_ASSIGN(const pid_t pid, detail::spawn_criu(criu, {"swrk", std::to_string(theirs.get())}, {theirs.get()}, "swrk"));
  theirs.reset();  // criu holds its end: our recv sees EOF when it exits
  auto sent = detail::send_request(ours.get(), req, who);
  auto answer = sent ? detail::read_response(ours.get(), who) : result<std::optional<pb::criu_resp>>(sent.error());
  ours.reset();
  const std::string ended = detail::reap(pid);
  if (!answer) return fail(std::move(answer).error_value());
  if (!*answer) return fail(error(errc::io, who, fmt::format("criu swrk {} without answering", ended)));
  return std::move(**answer);
}

/// Which CRIU `criu` is (its VERSION request).
inline result<version> query_version(const std::filesystem::path& criu) {
  pb::criu_req req;
  req.set_type(pb::REQ_VERSION);
  NECRO_TRY_ASSIGN(const auto resp, call(criu, req));
  if (!resp.success() || !resp.has_version())
    return fail(error(errc::unsupported, criu.string(), "criu did not answer the VERSION request"));
  const auto& v = resp.version();
  return version{v.major_number(), v.minor_number(), v.has_sublevel() ? v.sublevel() : 0, v.gitid()};
}

/// `criu` must be at least min_version: older ones fail on current kernels.
inline result<version> require_version(const std::filesystem::path& criu) {
  NECRO_TRY_ASSIGN(const auto v, query_version(criu));
  if (v < min_version)
    return fail(error(errc::unsupported, criu.string(),
                      fmt::format("CRIU {} is too old: restoring on current kernels needs CRIU >= {} (3.x fails its "
                                  "vDSO check); name another with --criu or NECRO_CRIU",
                                  v.str(), min_version.str())));
  return v;
}

/// Restores the image set in `r.images_dir` and returns the new pid. On
/// failure CRIU kills what it started; the error's text is several lines: the
/// failure, CRIU's first error lines, and the path of the whole log.
inline result<restored> restore(const std::filesystem::path& criu, const restore_request& r) {
  const std::string dir = r.images_dir.string();
  io::unique_fd images(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (images.get() < 0) return fail(error::from_errno(dir, "cannot open the image directory", errno));
  pb::criu_req req;
  req.set_type(pb::REQ_RESTORE);
  auto* o = req.mutable_opts();
  o->set_images_dir_fd(images.get());  // CRIU opens it through /proc/<our pid>/fd
  o->set_log_file(r.log_file);
  o->set_log_level(r.log_level);
  if (r.leave_stopped) o->set_leave_stopped(true);
  if (r.shell_job) o->set_shell_job(true);
  if (r.tcp_established) o->set_tcp_established(true);
  if (r.lazy_pages) o->set_lazy_pages(true);
  const auto log = r.images_dir / r.log_file;
  NECRO_TRY_ASSIGN(const auto resp, call(criu, req));
  if (resp.success() && resp.has_restore() && resp.restore().pid() > 0) return restored{resp.restore().pid(), log};
  // One line for the failure, then CRIU's first error lines (its cr_errmsg is
  // often the benign RLIMIT_NOFILE one, docs/pitfalls.md#rlimit-nofile-noise),
  // then the log.
  std::string why = "criu restore failed";
  if (resp.has_cr_errno() && resp.cr_errno())
    why += fmt::format(" (errno {}: {})", resp.cr_errno(), std::error_code(resp.cr_errno(), std::generic_category()).message());
  return fail(detail::failure_with_log(dir, std::move(why), log));
}

/// Starts `criu lazy-pages` for the image set in `images_dir` as a daemon of
/// its own (not our child: nothing to reap) and returns once it listens
/// (its socket is `lazy-pages.socket` there). Then restore with
/// `lazy_pages`. Its log is `lazy-pages.log` in the image set.
/// `page_server_socket` (>= 0): the daemon asks a page server connected on
/// that socket for the lazy pages (`--page-server --ps-socket FD`) instead
/// of reading them from pages-*.img.
inline result<lazy_pages_daemon> start_lazy_pages(const std::filesystem::path& criu,
                                                  const std::filesystem::path& images_dir,
                                                  std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                                  int page_server_socket = -1) {
  const std::string who = criu.string();
  int status[2];
  if (::pipe2(status, O_CLOEXEC) != 0) return fail(error::from_errno(who, "pipe", errno));
  io::unique_fd ready(status[0]), theirs(status[1]);
  const auto pidfile = images_dir / "lazy-pages.pid";
  std::error_code ignored;  // a stale pid file from an earlier run goes
  std::filesystem::remove(pidfile, ignored);
  const std::string dir = images_dir.string();
  std::vector<std::string> args{"lazy-pages", "--daemon", "-D", dir, "-W", dir, "--status-fd",
                                std::to_string(theirs.get()), "--pidfile", pidfile.string(), "-o",
                                "lazy-pages.log", "-v4"};
  if (page_server_socket >= 0)
    args.insert(args.end(), {"--page-server", "--ps-socket", std::to_string(page_server_socket)});
  NECRO_TRY_ASSIGN(const pid_t launcher,
                   detail::spawn_criu(criu, std::move(args), {theirs.get(), page_server_socket}, "lazy-pages"));
  theirs.reset();
  // The launcher forks the daemon, writes the pid file and exits.
  const std::string launched = detail::reap(launcher);
  const bool is_ready = detail::wait_ready(ready.get(), timeout);
  const int pid = detail::read_pidfile(pidfile);
  const auto log = images_dir / "lazy-pages.log";
  if (!is_ready || pid <= 0) {
    if (pid > 0) ::kill(pid, SIGKILL);
    std::string why = fmt::format("criu lazy-pages did not get ready (its launcher {})", launched);
    return fail(detail::failure_with_log(dir, std::move(why), log));
  }
  return lazy_pages_daemon{pid, log};
}

/// The CRIU to use: `explicit_path` if given, else $NECRO_CRIU, else `criu` on PATH.
inline result<std::filesystem::path> locate(const std::optional<std::filesystem::path>& explicit_path) {
  if (explicit_path) return *explicit_path;
  if (const char* env = std::getenv("NECRO_CRIU"); env && *env) return std::filesystem::path(env);
  const char* path = std::getenv("PATH");
  std::string_view rest = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const std::filesystem::path dir(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    const auto candidate = (dir.empty() ? std::filesystem::path(".") : dir) / "criu";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return fail(error(errc::missing, "criu", "no CRIU found: give --criu PATH or NECRO_CRIU, or put criu (>= 4.1) on PATH"));
}

}  // namespace necro::criu::rpc

#endif
