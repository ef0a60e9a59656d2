/// necro::criu::rpc::detail: the criu processes criu/rpc.hpp starts — spawned
/// with one inherited fd, reaped with a description of how they ended, a
/// daemon's readiness byte (--status-fd) and its --pidfile.
#ifndef NECRO_CRIU_DETAIL_CRIU_PROCESS_HPP
#define NECRO_CRIU_DETAIL_CRIU_PROCESS_HPP
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <initializer_list>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/io/error.hpp>

extern char** environ;  // posix_spawn passes our environment on

namespace necro::criu::rpc::detail {

/// Starts CRIU with `args` (after the binary), stdin on /dev/null and
/// `child_fds` inherited at the same numbers (dup2 to itself clears its
/// FD_CLOEXEC in the child only).
inline result<pid_t> spawn_criu(const std::filesystem::path& criu, std::vector<std::string> args,
                                std::initializer_list<int> child_fds, std::string_view what) {
  const std::string bin = criu.string();
  args.insert(args.begin(), bin);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  if (const int e = ::posix_spawn_file_actions_init(&fa)) return fail(error::from_errno(bin, "posix_spawn", e));
  for (const int fd : child_fds)
    if (fd >= 0) ::posix_spawn_file_actions_adddup2(&fa, fd, fd);
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

}  // namespace necro::criu::rpc::detail

#endif
