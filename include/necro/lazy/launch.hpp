/// necro::lazy launch: the servers of a core started as daemons of their own.
/// start_uffd_daemon(): necro's lazy-pages daemon (lazy/uffd_daemon.hpp),
/// listening on `lazy-pages.socket` in the image set for `criu restore
/// --lazy-pages`; it exits once every page is in. start_page_server(): a page
/// server (lazy/page_server.hpp) on one end of a connected loopback TCP pair
/// whose other end `criu lazy-pages --page-server --ps-socket FD` gets. No
/// port stays open (the listener lives for one connect and is checked to have
/// accepted ours), no file is left but the server's log in the image set.
#ifndef NECRO_LAZY_LAUNCH_HPP
#define NECRO_LAZY_LAUNCH_HPP
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/io/error.hpp>
#include <necro/io/unique_fd.hpp>
#include <necro/lazy/page_server.hpp>
#include <necro/lazy/pending_pages.hpp>
#include <necro/lazy/served_ranges.hpp>
#include <necro/lazy/uffd_daemon.hpp>

namespace necro::lazy {

/// The core and the pages a server serves from it.
struct page_source {
  int core_fd = -1;                    ///< kept open by the server (the caller keeps its own)
  std::string core;                    ///< names it in errors
  core_identity planned;               ///< the core as it was planned
  std::vector<served_range> ranges;    ///< checked against planned.size
  std::uint64_t pid = 0;               ///< the process whose pages they are
  std::uint64_t page = 4096;
  std::vector<vma_bounds> vmas;        ///< the plan's VMAs (sorted): no UFFDIO_COPY crosses one
  std::vector<std::uint64_t> hot;      ///< the threads' stack pointers: pushed first (uffd_options::hot)
  std::vector<std::uint64_t> hot_pages;  ///< a debugger's first reads (uffd_options::hot_pages)
};

/// A running server (a page server, or necro's lazy-pages daemon).
struct page_server_process {
  int pid = 0;
  std::filesystem::path log;
};

/// Two connected loopback TCP sockets: {server end, client end}.
inline result<std::pair<io::unique_fd, io::unique_fd>> loopback_pair() {
  io::unique_fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (listener.get() < 0) return fail(error::from_errno("page server", "socket", errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener.get(), 1) != 0 ||
      ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return fail(error::from_errno("page server", "cannot listen on 127.0.0.1", errno));
  io::unique_fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (client.get() < 0 || ::connect(client.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return fail(error::from_errno("page server", "cannot connect to 127.0.0.1", errno));
  sockaddr_in mine{}, peer{};
  socklen_t ml = sizeof mine, pl = sizeof peer;
  ::getsockname(client.get(), reinterpret_cast<sockaddr*>(&mine), &ml);
  io::unique_fd server(::accept4(listener.get(), reinterpret_cast<sockaddr*>(&peer), &pl, SOCK_CLOEXEC));
  if (server.get() < 0) return fail(error::from_errno("page server", "accept", errno));
  // Another local process could have connected first: only our own end will do.
  if (peer.sin_port != mine.sin_port || peer.sin_addr.s_addr != mine.sin_addr.s_addr)
    return fail(error(errc::mismatch, "page server", "a connection other than ours reached the page server's listener"));
  const int one = 1;
  ::setsockopt(server.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return std::pair{std::move(server), std::move(client)};
}

namespace detail {

/// Reaps the launcher `child` (which forked the daemon and exited) and reads
/// what it or the daemon wrote on `rd`: the daemon's pid, a -errno, or 0
/// when nothing came.
inline int launched(pid_t child, int rd) {
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  int v = 0;
  ssize_t n;
  do n = ::read(rd, &v, sizeof v);
  while (n < 0 && errno == EINTR);
  return n == sizeof v ? v : 0;
}

/// Moves `fd` to number `to` in a child about to close everything above.
inline void place_fd(int fd, int to) {
  if (fd != to) ::dup2(fd, to);
  ::fcntl(to, F_SETFD, 0);
}

/// The start of a daemon's life: alone in its session, the signals a CLI may
/// have caught back to their defaults, SIGPIPE ignored (a peer gone is an
/// error it reports), no signal blocked.
inline void become_daemon() {
  ::setsid();
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::signal(s, SIG_DFL);
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

/// Forks off a daemon nobody has to reap: a child runs `setup` (0, or a
/// -errno it reports), forks `life(ready)` (the daemon, [[noreturn]], which
/// writes its pid on `ready` once it serves) and exits. Returns that pid, a
/// -errno, or 0 when nothing came.
template <class Setup, class Life>
int spawn_daemon(Setup setup, Life life) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return -errno;
  io::unique_fd rd(p[0]), wr(p[1]);
  const pid_t child = ::fork();
  if (child < 0) return -errno;
  if (child == 0) {
    rd.reset();
    int bad = setup();
    if (bad == 0) {
      const pid_t grandchild = ::fork();
      if (grandchild == 0) life(wr.get());
      if (grandchild > 0) ::_exit(0);
      bad = -errno;
    }
    [[maybe_unused]] auto n = ::write(wr.get(), &bad, sizeof bad);
    ::_exit(1);
  }
  wr.reset();
  return launched(child, rd.get());
}

/// The grandchild's life: alone in its session, the signals a CLI may have
/// caught back to their defaults, fds 0-2 on /dev/null, only the socket, the
/// core and the log open; serves, logs the outcome, exits.
[[noreturn]] inline void run_server(int sock, int ready, const page_source& src, const std::filesystem::path& log,
                                    int kill_pid) {
  become_daemon();
  const int me = ::getpid();
  [[maybe_unused]] auto w = ::write(ready, &me, sizeof me);  // serving: the socket is ours
  ::close(ready);
  const int logfd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  // Above every fd we may overwrite, then into 3, 4, 5.
  const int hs = ::fcntl(sock, F_DUPFD, 100), hc = ::fcntl(src.core_fd, F_DUPFD, 100),
            hl = logfd >= 0 ? ::fcntl(logfd, F_DUPFD, 100) : -1;
  const int null = ::open("/dev/null", O_RDWR);
  for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
  place_fd(hs, 3);
  place_fd(hc, 4);
  if (hl >= 0) place_fd(hl, 5);
  ::syscall(SYS_close_range, hl >= 0 ? 6u : 5u, ~0u, 0u);
  const auto say = [&](const std::string& line) {
    if (hl < 0) return;
    [[maybe_unused]] const auto n = ::write(5, line.data(), line.size());
  };
  say(fmt::format("necro page server pid {}: serving {} ranges of pid {} from {}\n", ::getpid(), src.ranges.size(),
                  src.pid, src.core));
  auto r = serve(3, 4, src.core, src.ranges, src.pid, src.planned, {.page = src.page, .kill_on_error = kill_pid});
  if (!r) {
    say(fmt::format("error: {}{}\n", r.error().message(),
                    kill_pid > 0 ? fmt::format(" (pid {} killed: it must not run on without its pages)", kill_pid) : ""));
    ::_exit(1);
  }
  say(fmt::format("done: {} requests, {} pages sent, {}\n", r->requests, r->pages_sent,
                  r->closed ? "closed by the daemon" : "end of stream"));
  ::_exit(0);
}

}  // namespace detail

/// Starts the server of `src` on `sock` (the server end of loopback_pair())
/// as a daemon: a grandchild in its own session, so nobody has to reap it.
/// Its log is `log`. On an error it kills `kill_pid` (the restored process;
/// 0: none) before closing. Returns its pid.
inline result<page_server_process> start_page_server(io::unique_fd sock, const page_source& src,
                                                     const std::filesystem::path& log, int kill_pid) {
  NECRO_TRY(check_ranges(src.ranges, src.planned.size, src.page, src.core));
  const int pid = detail::spawn_daemon([] { return 0; },
                                       [&](int ready) { detail::run_server(sock.get(), ready, src, log, kill_pid); });
  sock.reset();
  if (pid < 0) return fail(error::from_errno("page server", "the page server could not be started", -pid));
  if (pid == 0) return fail(error(errc::io, "page server", "the page server could not be started"));
  return page_server_process{pid, log};
}

namespace detail {

/// Writes `v` in decimal at `p`; returns the end. Async-signal-safe.
inline char* put_decimal(char* p, unsigned long v) {
  char t[24];
  int k = 0;
  do t[k++] = static_cast<char>('0' + v % 10);
  while (v /= 10);
  while (k) *p++ = t[--k];
  return p;
}

/// Appends the pids in /proc/`pid`/task/*/children (the children of every
/// thread) to `out`, from `n` up to `cap`; returns the new count.
/// Async-signal-safe: the guardian runs it in a child of a threaded daemon.
inline std::size_t children_of(int pid, int* out, std::size_t n, std::size_t cap) {
  char path[96];
  char* e = put_decimal(std::strcpy(path, "/proc/") + 6, static_cast<unsigned long>(pid));
  std::strcpy(e, "/task");
  const int dir = ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return n;
  alignas(8) char ents[2048];
  for (;;) {
    const long got = ::syscall(SYS_getdents64, dir, ents, sizeof ents);
    if (got <= 0) break;
    for (long off = 0; off < got;) {
      unsigned short reclen;
      std::memcpy(&reclen, ents + off + 16, sizeof reclen);  // struct linux_dirent64: d_ino, d_off, d_reclen, d_type, d_name
      const char* name = ents + off + 19;
      off += reclen;
      if (name[0] < '0' || name[0] > '9' || std::strlen(name) > 20) continue;
      std::strcpy(std::strcpy(e, "/task/") + 6, name);
      std::strcat(e, "/children");
      const int f = ::open(path, O_RDONLY | O_CLOEXEC);
      if (f < 0) continue;
      char buf[4096];
      long v = -1;
      for (;;) {
        const ssize_t r = ::read(f, buf, sizeof buf);
        if (r <= 0) break;
        for (ssize_t i = 0; i < r; ++i) {
          if (buf[i] >= '0' && buf[i] <= '9') {
            v = (v < 0 ? 0 : v * 10) + (buf[i] - '0');
          } else if (v >= 0) {
            if (n < cap) out[n++] = static_cast<int>(v);
            v = -1;
          }
        }
      }
      if (v >= 0 && n < cap) out[n++] = static_cast<int>(v);
      ::close(f);
      std::strcpy(e, "/task");
    }
  }
  ::close(dir);
  return n;
}

/// SIGKILLs `pid` (held by `pidfd`: never another process that took its
/// number) and every process below it, each stopped as it is found so that
/// none forks past the walk. Its children may lack pages too: a child
/// forked after the restore shares the pending pages (UFFD_EVENT_FORK).
/// Async-signal-safe.
inline void kill_tree(int pid, int pidfd) {
  if (pidfd >= 0 ? ::syscall(SYS_pidfd_send_signal, pidfd, SIGSTOP, nullptr, 0) != 0 : ::kill(pid, SIGSTOP) != 0) return;
  constexpr std::size_t cap = 4096;
  int tree[cap];
  std::size_t n = 1;
  tree[0] = pid;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t m = children_of(tree[i], tree, n, cap);
    for (std::size_t j = n; j < m; ++j) ::kill(tree[j], SIGSTOP);
    n = m;
  }
  if (pidfd >= 0) ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  else ::kill(pid, SIGKILL);
  for (std::size_t j = 1; j < n; ++j) ::kill(tree[j], SIGKILL);
}

/// A guardian of `pid`: a child that holds a copy of its userfaultfd and
/// waits on a socket. Should the daemon die before it sends 'd' there (all
/// delivered, or an error it handled), the guardian kills `pid` and the
/// processes below it (kill_tree). Until then the copy keeps the
/// userfaultfd open, so a touch of a missing page waits instead of reading
/// the zeros the kernel would give once the last copy closed; so do the
/// copies of the children's userfaultfds the daemon sends it (guardian_keep).
/// Returns the daemon's end of the socket, -1 on failure (errno set).
inline int start_guardian(int pid, int uffd) {
  int p[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) != 0) return -1;
  const pid_t g = ::fork();
  if (g < 0) {
    ::close(p[0]);
    ::close(p[1]);
    return -1;
  }
  if (g == 0) {  // async-signal-safe calls only: the daemon may have threads
    const int rd = ::fcntl(p[0], F_DUPFD, 100), keep = ::fcntl(uffd, F_DUPFD, 100);
    ::dup2(rd, 3);
    ::dup2(keep, 4);
    ::syscall(SYS_close_range, 5u, ~0u, 0u);
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    for (;;) {
      char c = 0;  // stays 0 at the socket's end: the daemon is gone
      recv_one_fd(3, &c);  // a child's userfaultfd, with 'k': it stays open here
      if (c == 'k') continue;
      if (c != 'd') kill_tree(pid, pidfd);
      ::_exit(0);
    }
  }
  ::close(p[0]);
  return p[1];
}

/// Gives the guardian on `guard` (start_guardian) a copy of `uffd` to keep
/// open until it is stood down or has killed its tree. False on failure.
inline bool guardian_keep(int guard, int uffd) { return send_one_fd(guard, uffd, 'k'); }

/// The lazy-pages daemon's life, as run_server's: alone in its session, fds
/// 0-2 on /dev/null, the listener, the core and the log open. Serves one
/// restore, logs the outcome, exits.
[[noreturn]] inline void run_uffd_daemon(int listener, int ready, const page_source& src, int logfd,
                                         std::chrono::milliseconds accept_timeout, bool push, bool debugger) {
  become_daemon();
  const int hs = ::fcntl(listener, F_DUPFD, 100), hc = ::fcntl(src.core_fd, F_DUPFD, 100),
            hl = logfd >= 0 ? ::fcntl(logfd, F_DUPFD, 100) : -1, hr = ::fcntl(ready, F_DUPFD, 100);
  const int null = ::open("/dev/null", O_RDWR);
  for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
  place_fd(hs, 3);
  place_fd(hc, 4);
  place_fd(hr, 5);
  if (hl >= 0) place_fd(hl, 6);
  ::syscall(SYS_close_range, hl >= 0 ? 7u : 6u, ~0u, 0u);
  const auto say = [&](const std::string& line) {
    if (hl < 0) return;
    const std::string l = line + "\n";
    [[maybe_unused]] const auto n = ::write(6, l.data(), l.size());
  };
  const int me = ::getpid();
  [[maybe_unused]] auto w = ::write(5, &me, sizeof me);  // listening: the restore may start
  ::close(5);
  say(fmt::format("necro lazy-pages daemon pid {}: serving pid {} from {} ({} ranges, {})", me, src.pid, src.core,
                  src.ranges.size(), push ? "pushed once restored" : "on demand only"));
  pollfd p{3, POLLIN, 0};
  int ready_n;
  do ready_n = ::poll(&p, 1, static_cast<int>(accept_timeout.count()));
  while (ready_n < 0 && errno == EINTR);
  const int conn = ready_n > 0 ? ::accept4(3, nullptr, nullptr, SOCK_CLOEXEC) : -1;
  ::unlinkat(AT_FDCWD, lazy_pages_socket_name, 0);  // nothing is left behind
  ::close(3);
  if (conn < 0) {
    say(fmt::format("error: criu restore did not connect within {} s", accept_timeout.count() / 1000));
    ::_exit(1);
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto ranges = split_at_vmas(src.ranges, src.vmas, src.page);
  std::vector<std::pair<int, int>> guards;  // {pid, its guardian's socket}: 'd' when all is well
  const auto stand_down = [&] {
    for (const auto& [pid, g] : guards) {
      [[maybe_unused]] auto n = ::send(g, "d", 1, MSG_NOSIGNAL);
      ::close(g);
    }
  };
  auto r = serve_uffd(conn, 4, src.core, ranges, src.pid, src.planned,
                      {.page = src.page,
                       .kill_on_error = true,
                       .push = push,
                       .hot = src.hot,
                       .hot_pages = src.hot_pages,
                       .debugger = debugger,
                       .on_task = [&](int pid, int uffd) {
                         const int g = start_guardian(pid, uffd);
                         if (g >= 0) guards.emplace_back(pid, g);
                         else say(fmt::format("warning: no guardian for pid {} ({}): if this daemon dies, its missing "
                                              "pages read as zeros", pid, std::strerror(errno)));
                       },
                       .on_fork = [&](int pid, int uffd) {
                         for (const auto& [guarded, g] : guards)
                           if (guarded == pid && !guardian_keep(g, uffd))
                             say(fmt::format("warning: the guardian of pid {} did not take a child's userfaultfd ({}): "
                                             "if this daemon dies, that child's missing pages read as zeros", pid,
                                             std::strerror(errno)));
                       },
                       .log = say});
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stand_down();  // after an error the daemon has killed the process itself
  if (!r) {
    say(fmt::format("error: {} (pid {} killed: it must not run on without its pages)", r.error().message(), src.pid));
    ::_exit(1);
  }
  say(fmt::format("done: {} faults, {} pages copied, {} zero pages mapped, {} dropped by the process, {} MiB read "
                  "from the core in {:.3f} s{}",
                  r->faults, r->pages_copied, r->pages_zeroed, r->pages_dropped, r->bytes_read >> 20, secs,
                  r->exited ? " (a process exited before all its pages were in)" : ""));
  ::_exit(0);
}

}  // namespace detail

/// Starts necro's lazy-pages daemon for `src` as a daemon of its own (a
/// grandchild in its own session: nobody has to reap it), listening on
/// `lazy-pages.socket` in `dir`, the work directory of the restore that
/// follows. Returns once it listens. Its log is `log`. It waits
/// `accept_timeout` for the restore, serves it, and exits; on an error it
/// kills the restored process first. `push`, `debugger`: uffd_options::push
/// and ::debugger.
inline result<page_server_process> start_uffd_daemon(const page_source& src, const std::filesystem::path& dir,
                                                     const std::filesystem::path& log, bool push = true,
                                                     bool debugger = false,
                                                     std::chrono::milliseconds accept_timeout = std::chrono::seconds(120)) {
  NECRO_TRY(check_ranges(src.ranges, src.planned.size, src.page, src.core));
  // The socket's name is relative (a sun_path holds 108 bytes): bound from inside `dir`.
  io::unique_fd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dirfd.get() < 0) return fail(error::from_errno(dir.string(), "cannot open the image directory", errno));
  io::unique_fd logfd(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0600));
  int listener = -1;
  const auto listen_in_dir = [&] {  // in the launcher child: the daemon inherits the socket
    if (::fchdir(dirfd.get()) != 0) return -errno;
    listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, lazy_pages_socket_name);
    ::unlink(lazy_pages_socket_name);  // a stale one from an earlier run
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener, 1) != 0)
      return -errno;
    return 0;
  };
  const int pid = detail::spawn_daemon(listen_in_dir, [&](int ready) {
    detail::run_uffd_daemon(listener, ready, src, logfd.get(), accept_timeout, push, debugger);
  });
  if (pid < 0)
    return fail(error::from_errno((dir / lazy_pages_socket_name).string(), "the lazy-pages daemon cannot be started to listen here", -pid));
  if (pid == 0) return fail(error(errc::io, "lazy-pages daemon", "the lazy-pages daemon could not be started"));
  return page_server_process{pid, log};
}

}  // namespace necro::lazy

#endif
