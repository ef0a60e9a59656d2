/// The reader behind capture::collect: one /proc/PID, piece by piece (the
/// process's own files, its fds, the fds that share an open file, its maps),
/// each unreadable piece listed in `skipped`, stopping at the deadline. The
/// mapped-files and shared-VMA steps are in detail/collect_maps.hpp.
#ifndef NECRO_CAPTURE_DETAIL_COLLECTOR_HPP
#define NECRO_CAPTURE_DETAIL_COLLECTOR_HPP
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/capture/model.hpp>
#include <necro/capture/proc.hpp>
#include <necro/io/printable.hpp>
#include <necro/io/unique_fd.hpp>

namespace necro::capture::detail {

/// Reads one /proc/PID, piece by piece, into a process_capture; Options is
/// capture::collect_options (capture/collect.hpp, which includes this header).
template <class Options>
class collector {
 public:
  collector(io::unique_fd dir, const Options& o) : dir_(std::move(dir)), opt_(o) {}

  process_capture run(std::int32_t pid) {
    c_.pid = pid;
    process_part();
    if (!expired("fds")) fds_part();
    if (!expired("shared open files")) shared_part(pid);
    if (!expired("maps")) maps_ = read_text("maps");
    if (maps_) shared_vmas_part();
    if (maps_ && opt_.build_ids && !expired("mapped files")) maps_part();
    return std::move(c_);
  }

 private:
  bool expired(std::string_view what) {
    if (std::chrono::steady_clock::now() < opt_.deadline) return false;
    if (!timed_out_) skip(fmt::format("time limit reached before {}: the rest is not captured", what));
    timed_out_ = true;
    return true;
  }
  void skip(std::string why) {
    if (opt_.log) opt_.log(why);
    if (c_.skipped.size() < 4096) c_.skipped.push_back(std::move(why));
  }

  /// The bytes of /proc/PID/`rel`, at most max_text of them.
  std::optional<std::string> read_text(const std::string& rel) {
    io::unique_fd fd(::openat(dir_.get(), rel.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (fd.get() < 0) return skip(fmt::format("{}: cannot open: {}", rel, std::strerror(errno))), std::nullopt;
    std::string s;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return skip(fmt::format("{}: read: {}", rel, std::strerror(errno))), std::nullopt;
      if (n == 0) return s;
      s.append(buf, static_cast<std::size_t>(n));
      if (s.size() >= opt_.max_text) return skip(fmt::format("{}: longer than {} bytes, cut", rel, opt_.max_text)), s;
    }
  }

  std::optional<std::string> link(const std::string& rel) {
    char buf[8192];
    const ssize_t n = ::readlinkat(dir_.get(), rel.c_str(), buf, sizeof buf);
    if (n < 0) return skip(fmt::format("{}: readlink: {}", rel, std::strerror(errno))), std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

  static std::string chomp(std::string s) {
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

  void process_part() {
    c_.comm = chomp(read_text("comm").value_or(""));
    c_.exe = link("exe").value_or("");
    c_.cwd = link("cwd").value_or("");
    c_.root = link("root").value_or("");
    if (const auto p = read_text("personality")) c_.personality = proc::num<std::uint32_t>(chomp(*p), 16);
    if (const auto s = read_text("status")) proc::parse_status(*s, c_);
    if (const auto l = read_text("limits")) c_.rlimits = proc::parse_limits(*l);
  }

  /// The fd numbers in /proc/PID/fd, ascending.
  std::vector<int> fd_numbers() {
    std::vector<int> out;
    const int d = ::openat(dir_.get(), "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0) return skip(fmt::format("fd: cannot open: {}", std::strerror(errno))), out;
    DIR* dp = ::fdopendir(d);
    if (!dp) return ::close(d), skip("fd: fdopendir failed"), out;
    while (const dirent* e = ::readdir(dp))
      if (const auto n = proc::num<int>(e->d_name, 10)) out.push_back(*n);
    ::closedir(dp);
    std::sort(out.begin(), out.end());
    return out;
  }

  static fd_kind classify(std::string_view l, std::uint32_t mode) {
    if (l.starts_with("pipe:[")) return fd_kind::pipe;
    if (l.starts_with("socket:[")) return fd_kind::socket;  // refined by the net tables
    if (l == "anon_inode:[eventfd]") return fd_kind::eventfd;
    if (l == "anon_inode:[eventpoll]") return fd_kind::epoll;
    if (l == "anon_inode:[signalfd]") return fd_kind::signalfd;
    if (l == "anon_inode:[timerfd]") return fd_kind::timerfd;
    if (l.starts_with("/") && mode != 0) return fd_kind::reg;
    return fd_kind::other;
  }

  void fd_one(int n) {
    fd_entry f;
    f.fd = n;
    const std::string rel = fmt::format("fd/{}", n);
    f.link = link(rel).value_or("");
    struct stat st {};
    if (::fstatat(dir_.get(), rel.c_str(), &st, 0) == 0)
      f.mode = st.st_mode, f.size = static_cast<std::uint64_t>(st.st_size), f.dev = st.st_dev, f.ino = st.st_ino;
    if (const auto t = read_text(fmt::format("fdinfo/{}", n))) proc::parse_fdinfo(*t, f);
    f.kind = classify(f.link, f.mode);
    if (f.kind == fd_kind::socket) describe_socket(f);
    if (f.kind == fd_kind::other) skip(fmt::format("fd {}: kind {} recorded, not described", n, io::printable(f.link)));
    c_.fds.push_back(std::move(f));
  }

  void load_sockets() {
    if (sockets_loaded_) return;
    sockets_loaded_ = true;
    if (const auto t = read_text("net/tcp")) proc::parse_inet_table(*t, 2, 6, sockets_);
    if (const auto t = read_text("net/tcp6")) proc::parse_inet_table(*t, 10, 6, sockets_);
    if (const auto t = read_text("net/udp")) proc::parse_inet_table(*t, 2, 17, sockets_);
    if (const auto t = read_text("net/udp6")) proc::parse_inet_table(*t, 10, 17, sockets_);
    if (const auto t = read_text("net/unix")) proc::parse_unix_table(*t, sockets_);
  }

  void describe_socket(fd_entry& f) {
    load_sockets();
    const auto it = sockets_.find(f.ino);
    if (it == sockets_.end()) return skip(fmt::format("fd {}: {} is in none of net/{{tcp,tcp6,udp,udp6,unix}}", f.fd, f.link));
    f.sock = it->second;
    f.kind = it->second.family == 1 ? fd_kind::unix_sk : fd_kind::inet;
  }

  /// fds that share one open file description (dup, dup2, fork-inherited
  /// stdout and stderr): kcmp(KCMP_FILE) on fds of the same inode, while the
  /// dying process still holds its file table. Each names the lowest such fd.
  void shared_part(std::int32_t pid) {
    std::map<std::pair<std::uint64_t, std::uint64_t>, std::vector<fd_entry*>> by_inode;
    for (auto& f : c_.fds)
      if (f.ino != 0) by_inode[{f.dev, f.ino}].push_back(&f);
    for (auto& [inode, fds] : by_inode)
      for (std::size_t j = 1; j < fds.size(); ++j)
        for (std::size_t i = 0; i < j; ++i) {
          const long same = ::syscall(SYS_kcmp, pid, pid, KCMP_FILE, fds[i]->fd, fds[j]->fd);
          if (same < 0) return skip(fmt::format("kcmp: {}: which fds share an open file is not known", std::strerror(errno)));
          if (same != 0) continue;
          fds[j]->shares = fds[i]->shares.value_or(fds[i]->fd);
          break;
        }
  }

  void fds_part() {
    for (const int n : fd_numbers()) {
      if (expired("the remaining fds")) return;
      fd_one(n);
    }
  }

  void maps_part();
  void shared_vmas_part();
  std::optional<std::string> maps_;  ///< /proc/PID/maps

  io::unique_fd dir_;
  Options opt_;
  process_capture c_;
  bool timed_out_ = false;
  bool sockets_loaded_ = false;
  std::map<std::uint64_t, socket_info> sockets_;
};

}  // namespace necro::capture::detail

#endif
