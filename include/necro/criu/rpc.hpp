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
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/io/error.hpp>
#include <necro/io/unique_fd.hpp>
#include <necro/pb/rpc.pb.h>

extern char** environ;  // posix_spawn passes our environment on

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
inline constexpr std::size_t max_response_size = 1u << 20;

namespace detail {

using io::unique_fd;

/// Starts CRIU with `args` (after the binary), stdin on /dev/null and
/// `child_fd` inherited at the same number (dup2 to itself clears its
/// FD_CLOEXEC in the child only).
inline result<pid_t> spawn_criu(const std::filesystem::path& criu, std::vector<std::string> args, int child_fd,
                                std::string_view what) {
  const std::string bin = criu.string();
  args.insert(args.begin(), bin);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  if (const int e = ::posix_spawn_file_actions_init(&fa)) return fail(error::from_errno(bin, "posix_spawn", e));
  ::posix_spawn_file_actions_adddup2(&fa, child_fd, child_fd);
  ::posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  const int e = ::posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&fa);
  if (e) return fail(error::from_errno(bin, fmt::format("cannot start `criu {}`", what), e));
  return pid;
}

/// Waits for the criu child; a description of how it ended.
inline std::string reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return "could not be waited for";
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {}", WTERMSIG(status));
  return "ended";
}

inline result<void> send_request(int fd, const pb::criu_req& req, const std::string& who) {
  std::string wire;
  if (!req.SerializeToString(&wire)) return fail(error(errc::bad_value, who, "criu_req could not be encoded"));
  ssize_t n;
  do n = ::send(fd, wire.data(), wire.size(), MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return fail(error::from_errno(who, "sending the request to criu swrk", errno));
  return {};
}

/// One SOCK_SEQPACKET message: its size first (MSG_PEEK|MSG_TRUNC), then it.
inline result<std::optional<pb::criu_resp>> read_response(int fd, const std::string& who) {
  char probe;
  ssize_t size;
  do size = ::recv(fd, &probe, 1, MSG_PEEK | MSG_TRUNC);
  while (size < 0 && errno == EINTR);
  if (size < 0) return fail(error::from_errno(who, "reading criu's answer", errno));
  if (size == 0) return std::optional<pb::criu_resp>{};  // criu closed without answering
  if (static_cast<std::size_t>(size) > max_response_size)
    return fail(error(errc::limit, who, fmt::format("criu's answer has {} bytes, more than {}", size, max_response_size)));
  std::string buf(static_cast<std::size_t>(size), '\0');
  ssize_t got;
  do got = ::recv(fd, buf.data(), buf.size(), 0);
  while (got < 0 && errno == EINTR);
  if (got != size) return fail(error::from_errno(who, "reading criu's answer", got < 0 ? errno : EIO));
  pb::criu_resp resp;
  if (!resp.ParseFromString(buf)) return fail(error(errc::bad_value, who, "criu's answer is not a criu_resp"));
  return std::optional<pb::criu_resp>{std::move(resp)};
}

/// The first lines of a CRIU log that say `Error`, for a one-screen report.
inline std::vector<std::string> first_errors(const std::filesystem::path& log, std::size_t most = 5) {
  std::vector<std::string> out;
  std::ifstream in(log);
  for (std::string line; out.size() < most && std::getline(in, line);)
    if (line.find("Error") != std::string::npos && line.find("RLIMIT_NOFILE") == std::string::npos)
      out.push_back(line.substr(0, 300));
  return out;
}

/// A failure on `dir` explained by CRIU's log: `why`, CRIU's first error
/// lines, then the path of the whole log, one per line.
inline error failure_with_log(const std::string& dir, std::string why, const std::filesystem::path& log) {
  for (const auto& line : first_errors(log)) why += "\n" + line;
  why += fmt::format("\nthe whole log: {}", log.string());
  return error(errc::io, dir, std::move(why));
}

}  // namespace detail

/// Sends `req` to a new `criu swrk` and returns its answer. The criu process
/// has ended when this returns.
inline result<pb::criu_resp> call(const std::filesystem::path& criu, const pb::criu_req& req) {
  const std::string who = criu.string();
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return fail(error::from_errno(who, "socketpair", errno));
  detail::unique_fd ours(sv[0]), theirs(sv[1]);
  NECRO_TRY_ASSIGN(const pid_t pid, detail::spawn_criu(criu, {"swrk", std::to_string(theirs.get())}, theirs.get(), "swrk"));
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
  detail::unique_fd images(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
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
  // often the benign RLIMIT_NOFILE one, design.md pitfall 24), then the log.
  std::string why = "criu restore failed";
  if (resp.has_cr_errno() && resp.cr_errno())
    why += fmt::format(" (errno {}: {})", resp.cr_errno(), std::error_code(resp.cr_errno(), std::generic_category()).message());
  return fail(detail::failure_with_log(dir, std::move(why), log));
}

namespace detail {

/// Waits up to `timeout` for the status byte CRIU writes once it is ready
/// (--status-fd); false on EOF, error or time-out.
inline bool wait_ready(int fd, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    char c;
    const ssize_t got = ::read(fd, &c, 1);
    if (got < 0 && errno == EINTR) continue;
    return got == 1;
  }
}

/// The pid in a --pidfile.
inline int read_pidfile(const std::filesystem::path& f) {
  std::ifstream in(f);
  int pid = 0;
  in >> pid;
  return pid;
}

}  // namespace detail

/// Starts `criu lazy-pages` for the image set in `images_dir` as a daemon of
/// its own (not our child: nothing to reap) and returns once it listens
/// (its socket is `lazy-pages.socket` there). Then restore with
/// `lazy_pages`. Its log is `lazy-pages.log` in the image set.
inline result<lazy_pages_daemon> start_lazy_pages(const std::filesystem::path& criu,
                                                  const std::filesystem::path& images_dir,
                                                  std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const std::string who = criu.string();
  int status[2];
  if (::pipe2(status, O_CLOEXEC) != 0) return fail(error::from_errno(who, "pipe", errno));
  detail::unique_fd ready(status[0]), theirs(status[1]);
  const auto pidfile = images_dir / "lazy-pages.pid";
  std::error_code ignored;  // a stale pid file from an earlier run goes
  std::filesystem::remove(pidfile, ignored);
  const std::string dir = images_dir.string();
  NECRO_TRY_ASSIGN(const pid_t launcher,
                   detail::spawn_criu(criu,
                                      {"lazy-pages", "--daemon", "-D", dir, "-W", dir, "--status-fd",
                                       std::to_string(theirs.get()), "--pidfile", pidfile.string(), "-o",
                                       "lazy-pages.log", "-v4"},
                                      theirs.get(), "lazy-pages"));
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
