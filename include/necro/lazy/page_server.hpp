/// necro::lazy::serve: a page server that answers `criu lazy-pages
/// --page-server` from the core itself (lazy/wire.hpp). Each request is
/// resolved against the served ranges (lazy/served_ranges.hpp) and answered
/// with sendfile(2) from the core's fd to the socket: no page passes through
/// user space or is mapped, so the server's memory does not grow with the
/// core. The core stays open: deleted or replaced by a rename, it goes on
/// serving the bytes of the file that was planned. Before every answer the
/// core's size and modification time are checked against those it had when
/// the set was planned; a change, a request for pages the core does not
/// serve, or a daemon that goes away mid-answer is an error naming it, and
/// the restored process is killed first (options::kill_on_error): once the
/// daemon exits its userfaultfd is closed, and pages never delivered would
/// read as zeros.
#ifndef NECRO_LAZY_PAGE_SERVER_HPP
#define NECRO_LAZY_PAGE_SERVER_HPP
#pragma once

#include <signal.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <fcntl.h>

#include <cerrno>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/io/error.hpp>
#include <necro/lazy/served_ranges.hpp>
#include <necro/lazy/wire.hpp>

namespace necro::lazy {

/// What identifies the core's content while it is served: its size and
/// modification time (a deletion or a rename changes neither).
struct core_identity {
  std::uint64_t size = 0;
  std::int64_t mtime_sec = 0, mtime_nsec = 0;
  friend bool operator==(const core_identity&, const core_identity&) = default;
};

/// The identity of the file open on `fd`.
inline result<core_identity> identify(int fd, const std::string& core) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(error::from_errno(core, "cannot stat the served core", errno));
  return core_identity{static_cast<std::uint64_t>(st.st_size), st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
}

/// The core open on `fd` is still the one identified by `planned`: else an
/// error that says what changed.
inline result<void> check_unchanged(int fd, const core_identity& planned, const std::string& core) {
  NECRO_TRY_ASSIGN(const auto now, identify(fd, core));
  if (now.size != planned.size)
    return fail(error(errc::mismatch, core, fmt::format("the core changed size while being served ({} -> {} bytes){}", planned.size,
                                                        now.size, now.size < planned.size ? ": truncated" : "")));
  if (now != planned)
    return fail(error(errc::mismatch, core, "the core was modified while being served (its modification time changed)"));
  return {};
}

struct server_options {
  std::uint64_t page = 4096;
  /// On an error this pid is killed (SIGKILL) before the connection closes;
  /// 0: none (tests, or a server without a restored process).
  int kill_on_error = 0;
};

/// What a serve() did.
struct serve_report {
  std::uint64_t requests = 0, pages_sent = 0, refused = 0;
  bool closed = false;  ///< the daemon said PS_IOV_CLOSE / FORCE_CLOSE (else: end of stream)
};

namespace detail {

/// Reads exactly `len` bytes; 0 at a clean end of stream before the first byte.
inline ssize_t read_full(int sock, void* buf, std::size_t len) {
  std::size_t got = 0;
  while (got < len) {
    const ssize_t n = ::recv(sock, static_cast<char*>(buf) + got, len - got, MSG_WAITALL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) return static_cast<ssize_t>(got);
    got += static_cast<std::size_t>(n);
  }
  return static_cast<ssize_t>(got);
}

inline bool send_full(int sock, const void* buf, std::size_t len, int flags) {
  std::size_t sent = 0;
  while (sent < len) {
    const ssize_t n = ::send(sock, static_cast<const char*>(buf) + sent, len - sent, flags | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

/// core[off, off + len) to the socket, in the kernel. An error names what
/// was being sent: the core ended early (truncated) or the peer went away.
inline result<void> send_core(int sock, int core_fd, std::uint64_t off, std::uint64_t len, const std::string& core,
                              const std::string& what) {
  auto pos = static_cast<off_t>(off);
  std::uint64_t left = len;
  while (left > 0) {
    const ssize_t n = ::sendfile(sock, core_fd, &pos, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      if (e == EPIPE || e == ECONNRESET)
        return fail(error::from_errno(core, fmt::format("the lazy-pages daemon went away while {} was being answered "
                                                        "({} of {} bytes sent)", what, len - left, len), e));
      return fail(error::from_errno(core, fmt::format("cannot send the pages of {}", what), e));
    }
    if (n == 0)
      return fail(error(errc::truncated, core, static_cast<std::uint64_t>(pos),
                        fmt::format("the core ends before the pages of {}: truncated while being served", what)));
    left -= static_cast<std::uint64_t>(n);
  }
  return {};
}

}  // namespace detail

/// Serves the lazy pages of pid `pid` on the connected socket `sock` from
/// the core open on `core_fd` (`core` names it in errors) until the daemon
/// closes. `ranges` must have passed check_ranges against `planned.size`.
/// SIGPIPE must be ignored (a daemon that goes away is then an error, not a signal).
inline result<serve_report> serve(int sock, int core_fd, const std::string& core, std::span<const served_range> ranges,
                                  std::uint64_t pid, const core_identity& planned, const server_options& o = {}) {
  serve_report rep;
  // Cold cores: the daemon's requests mostly follow each other, so read ahead.
  ::posix_fadvise(core_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  const auto stop = [&](error e) -> result<serve_report> {
    if (o.kill_on_error > 0) ::kill(o.kill_on_error, SIGKILL);  // before the daemon's uffd can close
    return fail(std::move(e));
  };
  const auto refuse = [&](error e) -> result<serve_report> {
    ++rep.refused;
    if (o.kill_on_error > 0) ::kill(o.kill_on_error, SIGKILL);
    const auto no = encode(refusal());
    detail::send_full(sock, no.data(), no.size(), 0);
    return fail(std::move(e));
  };
  for (;;) {
    header_bytes raw{};
    const ssize_t got = detail::read_full(sock, raw.data(), raw.size());
    if (got < 0) return stop(error::from_errno(core, "cannot read the lazy-pages daemon's request", errno));
    if (got == 0)  // the daemon always says CLOSE, even after its own errors: it died
      return stop(error(errc::io, core, fmt::format("the lazy-pages daemon closed the connection without PS_IOV_CLOSE "
                                                    "after {} requests", rep.requests)));
    if (static_cast<std::size_t>(got) < raw.size())
      return stop(error(errc::truncated, core, fmt::format("the lazy-pages daemon went away in the middle of a request "
                                                           "header ({} of {} bytes)", got, raw.size())));
    const auto req = decode(raw);
    if (req.command() == ps_cmd::close || req.command() == ps_cmd::force_close) {
      const std::int32_t status = 0;
      detail::send_full(sock, &status, sizeof status, 0);
      rep.closed = true;
      return rep;
    }
    ++rep.requests;
    auto slice = resolve(ranges, req, pid, o.page, core);
    if (!slice) return refuse(slice.error());
    if (auto same = check_unchanged(core_fd, planned, core); !same) return refuse(same.error());
    const std::uint64_t len = slice->pages * o.page;
    // The next request likely wants what follows: have the disk on it meanwhile.
    ::posix_fadvise(core_fd, static_cast<off_t>(slice->core_offset), static_cast<off_t>(2 * len), POSIX_FADV_WILLNEED);
    const auto answer = encode(pages_answer(req, slice->pages));
    if (!detail::send_full(sock, answer.data(), answer.size(), MSG_MORE))
      return stop(error::from_errno(core, fmt::format("the lazy-pages daemon went away before {} was answered", describe(req)), errno));
    if (auto sent = detail::send_core(sock, core_fd, slice->core_offset, slice->pages * o.page, core, describe(req)); !sent)
      return stop(sent.error());
    rep.pages_sent += slice->pages;
  }
}

}  // namespace necro::lazy

#endif
