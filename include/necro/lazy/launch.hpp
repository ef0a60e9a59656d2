/// necro::lazy launch: a page server of the core started as a daemon of its
/// own (lazy/page_server.hpp), on one end of a connected loopback TCP pair
/// whose other end `criu lazy-pages --page-server --ps-socket FD` gets. No
/// port stays open (the listener lives for one connect and is checked to have
/// accepted ours), no file is left but the server's log in the image set, and
/// the server exits when the daemon closes.
#ifndef NECRO_LAZY_LAUNCH_HPP
#define NECRO_LAZY_LAUNCH_HPP
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
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
#include <necro/lazy/served_ranges.hpp>

namespace necro::lazy {

/// The core and the pages a server serves from it.
struct page_source {
  int core_fd = -1;                    ///< kept open by the server (the caller keeps its own)
  std::string core;                    ///< names it in errors
  core_identity planned;               ///< the core as it was planned
  std::vector<served_range> ranges;    ///< checked against planned.size
  std::uint64_t pid = 0;               ///< the process whose pages they are
  std::uint64_t page = 4096;
};

/// A running server.
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

/// Moves `fd` to number `to` in a child about to close everything above.
inline void place_fd(int fd, int to) {
  if (fd != to) ::dup2(fd, to);
  ::fcntl(to, F_SETFD, 0);
}

/// The grandchild's life: alone in its session, the signals a CLI may have
/// caught back to their defaults, fds 0-2 on /dev/null, only the socket, the
/// core and the log open; serves, logs the outcome, exits.
[[noreturn]] inline void run_server(int sock, const page_source& src, const std::filesystem::path& log, int kill_pid) {
  ::setsid();
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::signal(s, SIG_DFL);
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
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
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return fail(error::from_errno("page server", "pipe", errno));
  io::unique_fd rd(p[0]), wr(p[1]);
  const pid_t child = ::fork();
  if (child < 0) return fail(error::from_errno("page server", "fork", errno));
  if (child == 0) {
    rd.reset();
    const pid_t grandchild = ::fork();
    if (grandchild == 0) {
      wr.reset();
      detail::run_server(sock.get(), src, log, kill_pid);
    }
    const int sent = grandchild;
    [[maybe_unused]] auto n = ::write(wr.get(), &sent, sizeof sent);
    ::_exit(grandchild < 0 ? 1 : 0);
  }
  wr.reset();
  sock.reset();
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  int pid = -1;
  ssize_t n;
  do n = ::read(rd.get(), &pid, sizeof pid);
  while (n < 0 && errno == EINTR);
  if (n != sizeof pid || pid <= 0) return fail(error(errc::io, "page server", "the page server could not be started"));
  return page_server_process{pid, log};
}

}  // namespace necro::lazy

#endif
