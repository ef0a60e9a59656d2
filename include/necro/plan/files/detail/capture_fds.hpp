/// necro::plan::detail: which of a capture's fds and directories can come
/// back, and how each is named in --explain (plan/capture.hpp). Pure.
#ifndef NECRO_PLAN_FILES_DETAIL_CAPTURE_FDS_HPP
#define NECRO_PLAN_FILES_DETAIL_CAPTURE_FDS_HPP
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/kernel_abi.hpp>
#include <necro/capture/model.hpp>
#include <necro/io/printable.hpp>
#include <necro/plan/capture_options.hpp>

namespace necro::plan::detail {

/// What becomes of a captured fd.
enum class fd_fate {
  own,       ///< the victim's own object comes back
  stand_in,  ///< its peer is gone: a socket or pipe end of the same kind, unconnected, holds the fd
  closed,    ///< nothing of it can be opened again
};

/// The fate of a captured fd, and why when it is not its own.
struct fd_verdict {
  fd_fate fate = fd_fate::closed;
  std::string why;  ///< empty when own
  bool gone = false;  ///< a regular file missing on this machine (capture_facts::missing_stand_in may hold its fd)
};

inline std::string access_words(std::uint32_t flags) {
  namespace o = arch::o;
  const std::uint32_t acc = flags & o::accmode;
  std::string s = acc == o::rdonly ? "read-only" : acc == o::wronly ? "write-only" : "read-write";
  if (flags & o::append) s += ", appending";
  if (flags & o::nonblock) s += ", non-blocking";
  if (flags & o::cloexec) s += ", close-on-exec";
  return s;
}

inline std::string address(const capture::socket_info& k, bool local) {
  const auto& a = local ? k.local_addr : k.remote_addr;
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(k.family == arch::sock::af_inet6 ? AF_INET6 : AF_INET, a.data(), text, sizeof text);
  const auto port = local ? k.local_port : k.remote_port;
  return k.family == arch::sock::af_inet6 ? fmt::format("[{}]:{}", text, port) : fmt::format("{}:{}", text, port);
}

/// "tcp 127.0.0.1:6379 listening", "unix stream /run/x.sock listening", ...
inline std::string describe_socket(const capture::fd_entry& f) {
  if (!f.sock) return fmt::format("socket {}", io::printable(f.link));
  const auto& k = *f.sock;
  if (f.kind == capture::fd_kind::unix_sk) {
    const std::string_view type = k.type == arch::sock::stream ? "stream" : k.type == arch::sock::dgram ? "datagram" : "seqpacket";
    return fmt::format("unix {} {}{}", type, k.unix_name.empty() ? "(unnamed)" : io::printable(k.unix_name),
                       k.backlog ? " listening" : "");
  }
  const std::string proto = k.proto == arch::sock::ipproto_tcp ? "tcp" : "udp";
  if (k.state == arch::sock::tcp_listen) return fmt::format("{} {} listening", proto, address(k, true));
  if (k.remote_port == 0) return fmt::format("{} {}", proto, address(k, true));
  return fmt::format("{} {} -> {}", proto, address(k, true), address(k, false));
}

/// One line of --explain for a captured fd.
inline std::string describe_fd(const capture::fd_entry& f) {
  using capture::fd_kind;
  switch (f.kind) {
    case fd_kind::reg:
      return fmt::format("{} ({}, offset {})", io::printable(f.link), access_words(f.flags), f.pos);
    case fd_kind::pipe:
      return fmt::format("pipe {} ({} end)", f.ino, (f.flags & arch::o::accmode) == arch::o::rdonly ? "read" : "write");
    case fd_kind::eventfd: return fmt::format("eventfd (count {})", f.eventfd_count.value_or(0));
    case fd_kind::signalfd: return fmt::format("signalfd (mask {:#x})", f.sigmask.value_or(0));
    case fd_kind::timerfd:
      return f.timer ? fmt::format("timerfd (clock {}, next in {}.{:09} s, interval {}.{:09} s)", f.timer->clockid,
                                   f.timer->value_sec, f.timer->value_nsec, f.timer->interval_sec,
                                   f.timer->interval_nsec)
                     : "timerfd";
    case fd_kind::epoll: return fmt::format("epoll ({} registrations)", f.targets.size());
    case fd_kind::inet:
    case fd_kind::unix_sk: return describe_socket(f);
    default: return fmt::format("{} {}", capture::kind_name(f.kind), io::printable(f.link));
  }
}

/// The stand-in for fd `f` (fd_fate::stand_in): the same kind, unconnected.
/// A pipe end whose peer was outside comes back alone: CRIU makes a new pipe
/// and closes its other end, so reads see end of file and writes EPIPE.
inline capture::fd_entry stand_in_for(capture::fd_entry f, const capture_facts& facts) {
  if (f.kind == capture::fd_kind::reg) {  // a missing file: capture_facts::missing_stand_in
    f.link = facts.missing_stand_in;
    f.mode = facts.missing_stand_in_mode;
    f.pos = 0;
    return f;
  }
  if (!f.sock) return f;
  auto& k = *f.sock;
  k.local_addr = {}, k.remote_addr = {}, k.local_port = 0, k.remote_port = 0, k.backlog = 0;
  k.unix_name.clear();
  k.state = f.kind == capture::fd_kind::unix_sk ? arch::sock::ss_unconnected : arch::sock::tcp_close;
  return f;
}

/// What holds a stand-in's fd, in words.
inline std::string stand_in_words(const capture::fd_entry& f, const capture_facts& facts) {
  if (f.kind == capture::fd_kind::reg)
    return facts.missing_stand_in == "/dev/null"
               ? std::string("/dev/null holds the fd (reads see end of file, writes are discarded)")
               : fmt::format("{} holds the fd instead", io::printable(facts.missing_stand_in));
  if (f.kind == capture::fd_kind::pipe)
    return (f.flags & arch::o::accmode) == arch::o::rdonly ? "a pipe whose write end is closed holds the fd (reads see end of file)"
                                                   : "a pipe whose read end is closed holds the fd (writes fail with EPIPE)";
  return "an unconnected socket of the same kind holds the fd (reads and writes see the connection gone)";
}

/// Which access modes each pipe inode is held with: a pipe comes back only
/// when the process holds both ends (the other end of any other is outside).
struct pipe_ends {
  bool read = false, write = false;
};
inline std::map<std::uint64_t, pipe_ends> pipes_held(const capture::process_capture& c) {
  std::map<std::uint64_t, pipe_ends> out;
  for (const auto& f : c.fds) {
    if (f.kind != capture::fd_kind::pipe) continue;
    auto& e = out[f.ino];
    ((f.flags & arch::o::accmode) == arch::o::rdonly ? e.read : e.write) = true;
  }
  return out;
}

/// A path the resurrected process can open again: absolute, not deleted,
/// there now with the same file type, and not a FIFO or socket (opening those
/// by path blocks or fails).
inline fd_verdict judge_path(std::string_view path, std::uint32_t captured_mode, const capture_facts& facts) {
  const auto closed = [](std::string why) { return fd_verdict{fd_fate::closed, std::move(why)}; };
  if (path.empty() || path.front() != '/') return closed("not a path on a file system");
  if (path.ends_with(" (deleted)")) return closed("the file was deleted before the death");
  const auto type = captured_mode & arch::s_if::mask;
  if (type == arch::s_if::fifo || type == arch::s_if::sock) return closed("a named FIFO or socket file is not reopened by path");
  const auto it = facts.present.find(path);
  if (it == facts.present.end()) return {fd_fate::closed, "it is gone from this machine", true};
  if ((it->second & arch::s_if::mask) != type) return closed("another kind of file is at that path now");
  return {fd_fate::own, {}};
}

/// A connection whose peer is gone comes back as an unconnected socket of
/// the same kind: the program's own bookkeeping (an event loop's table of
/// fds, an epoll registration) stays valid, and its next read or write sees
/// the connection gone, as after a reset.
inline fd_verdict judge_socket(const capture::fd_entry& f, const capture_facts& facts) {
  if (!f.sock) return {fd_fate::closed, "a socket of a family necro does not re-create (only TCP, UDP and unix)"};
  const auto& k = *f.sock;
  if (const auto it = facts.unbindable.find(f.fd); it != facts.unbindable.end())
    return {fd_fate::stand_in, fmt::format("its address cannot be bound on this machine ({})", it->second)};
  if (f.kind == capture::fd_kind::unix_sk) {
    if (k.backlog) return {fd_fate::own, {}};
    if (k.state == arch::sock::ss_connected) return {fd_fate::stand_in, "its peer is gone"};
    if (k.type != arch::sock::stream) return {fd_fate::own, {}};  // an unconnected datagram socket
    return {fd_fate::stand_in, "an unconnected unix stream socket comes back unbound"};
  }
  if (k.proto != arch::sock::ipproto_tcp) return {fd_fate::own, {}};  // UDP: bound, connected or not, it needs no peer
  if (k.state == arch::sock::tcp_listen || k.state == arch::sock::tcp_close) return {fd_fate::own, {}};
  return {fd_fate::stand_in, "a TCP connection cannot come back (its peer and sequence numbers are gone)"};
}

/// The verdict on one captured fd. `scope` regular_files keeps everything
/// but regular files as the donor has them.
inline fd_verdict judge_fd(const capture::fd_entry& f, const std::map<std::uint64_t, pipe_ends>& pipes,
                           const capture_facts& facts, capture_scope scope) {
  using capture::fd_kind;
  if (scope == capture_scope::regular_files && f.kind != fd_kind::reg)
    return {fd_fate::closed, "with a donor only the victim's regular files are taken"};
  switch (f.kind) {
    case fd_kind::reg: {
      auto v = judge_path(f.link, f.mode, facts);
      if (v.gone && scope == capture_scope::everything && !facts.missing_stand_in.empty()) v.fate = fd_fate::stand_in;
      return v;
    }
    case fd_kind::pipe: {
      const auto& e = pipes.at(f.ino);
      return e.read && e.write ? fd_verdict{fd_fate::own, {}}
                               : fd_verdict{fd_fate::stand_in, "the pipe's other end was held outside the process"};
    }
    case fd_kind::inet:
    case fd_kind::unix_sk: return judge_socket(f, facts);
    case fd_kind::eventfd:
    case fd_kind::signalfd:
    case fd_kind::epoll: return {fd_fate::own, {}};
    case fd_kind::timerfd:
      return f.timer ? fd_verdict{fd_fate::own, {}} : fd_verdict{fd_fate::closed, "its settings were not captured"};
    default: return {fd_fate::closed, "a kind of file CRIU cannot re-create from a capture"};
  }
}

}  // namespace necro::plan::detail

#endif
