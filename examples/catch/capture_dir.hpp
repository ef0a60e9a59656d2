// necro-catch: the files in DIR. Every entry is created relative to DIR's
// descriptor (opened O_DIRECTORY|O_NOFOLLOW) with O_CREAT|O_EXCL|O_NOFOLLOW,
// mode 0600 (directories mkdirat 0700): nothing is followed, nothing replaced.
// Before the first byte, NAME.incomplete is created (while there is still
// room for it); the core is written as NAME.partial and renamed to NAME
// (RENAME_NOREPLACE) only when complete, and only then is the marker removed.
// A failure (ENOSPC, a read error, the helper killed) leaves .partial and the
// marker, with the reason appended when it still fits.
#pragma once

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <string>

#include <fmt/format.h>

#include <necro/capture/collect.hpp>
#include <necro/capture/criu_files.hpp>
#include <necro/capture/text.hpp>
#include <necro/io/error.hpp>
#include <necro/io/unique_fd.hpp>

#include "core_sink.hpp"
#include "kernel_state.hpp"

namespace catcher {

/// capture.log: one timestamped line per event (stderr is nobody's under core_pattern).
class logger {
 public:
  logger() = default;
  explicit logger(necro::io::unique_fd fd) : fd_(std::move(fd)) {}
  void line(const std::string& s) const {
    if (fd_.get() < 0) return;
    const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    const std::string l = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z {}\n", tm.tm_year + 1900, tm.tm_mon + 1,
                                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, s);
    [[maybe_unused]] const auto n = ::write(fd_.get(), l.data(), l.size());  // O_APPEND: lines stay whole
  }

 private:
  necro::io::unique_fd fd_;
};

struct outputs {
  necro::io::unique_fd dir;          ///< DIR
  std::string core_name;             ///< core.PID[.N][.zst]
  necro::io::unique_fd core_fd;      ///< core_name + ".partial"
  necro::io::unique_fd capture_dir;  ///< core.PID[.N].necro/ (-1 if it could not be made)
  logger log;
};

inline int create_file(int dirfd, const std::string& name) {
  return ::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

inline bool exists(int dirfd, const std::string& name) {
  struct stat st {};
  return ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/// NAME.incomplete, made before the core is written and removed once it is complete.
inline void put_marker(int dirfd, const std::string& core, std::int32_t pid) {
  necro::io::unique_fd m(create_file(dirfd, core + ".incomplete"));
  const std::string text = fmt::format("necro-catch is writing {} (pid {}) into {}.partial; while this file exists, it is not complete\n", core, pid, core);
  if (m.get() >= 0) pwrite_all(m.get(), text.data(), text.size(), 0);
}

/// Claims core.PID (or core.PID.1, .2 ... when a pid was reused): its .partial
/// file and its .necro directory, both new.
inline necro::result<std::string> claim_names(outputs& o, std::int32_t pid, bool zstd) {
  for (int n = 0; n < 100; ++n) {
    const std::string base = n == 0 ? fmt::format("core.{}", pid) : fmt::format("core.{}.{}", pid, n);
    const std::string core = zstd ? base + ".zst" : base;
    if (exists(o.dir.get(), core) || exists(o.dir.get(), base + ".necro") || exists(o.dir.get(), core + ".incomplete")) continue;
    necro::io::unique_fd fd(create_file(o.dir.get(), core + ".partial"));
    if (fd.get() < 0 && errno == EEXIST) continue;
    if (fd.get() < 0) return necro::error::from_errno(core + ".partial", "cannot create", errno);
    o.core_fd = std::move(fd);
    o.core_name = core;
    put_marker(o.dir.get(), core, pid);
    return base;
  }
  return necro::error(necro::errc::limit, fmt::format("core.{}", pid), "100 names taken already");
}

inline necro::result<outputs> open_outputs(const std::string& dir, std::int32_t pid, bool zstd) {
  outputs o;
  o.dir = necro::io::unique_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (o.dir.get() < 0) return necro::error::from_errno(dir, "cannot open the directory (it must exist and not be a symlink)", errno);
  NECRO_TRY_ASSIGN(const std::string base, claim_names(o, pid, zstd));
  const std::string capdir = base + ".necro";
  if (::mkdirat(o.dir.get(), capdir.c_str(), 0700) == 0)
    o.capture_dir = necro::io::unique_fd(::openat(o.dir.get(), capdir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  const int logfd = o.capture_dir.get() >= 0 ? ::openat(o.capture_dir.get(), "capture.log", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_APPEND, 0600)
                                             : create_file(o.dir.get(), base + ".log");
  o.log = logger(necro::io::unique_fd(logfd));
  if (o.capture_dir.get() < 0) o.log.line(fmt::format("cannot make {}: {}; core only", capdir, std::strerror(errno)));
  return o;
}

/// Writes `bytes` as NAME.partial in `dirfd`, then renames it NAME.
inline bool write_whole(int dirfd, const std::string& name, const std::string& bytes, const logger& log) {
  const std::string partial = name + ".partial";
  necro::io::unique_fd fd(create_file(dirfd, partial));
  bool ok = fd.get() >= 0 && pwrite_all(fd.get(), bytes.data(), bytes.size(), 0) && ::fsync(fd.get()) == 0;
  if (ok) ok = ::renameat2(dirfd, partial.c_str(), dirfd, name.c_str(), RENAME_NOREPLACE) == 0;
  if (!ok) log.line(fmt::format("{}: {}", name, std::strerror(errno)));
  return ok;
}

/// The BPF step's line in capture.log.
inline void log_kernel_state(const kernel_read& k, const logger& log) {
  if (k.state.read()) {
    const auto& t = k.state.timers;
    log.line(fmt::format("kernel state: {} sigactions, {} threads, {} advised VMAs, {}, through BPF in {:.1f} ms (load {:.1f} ms)",
                         k.state.actions.size(), k.state.threads.size(), k.state.vmas.size(),
                         !t ? std::string("no timers") : t->read() ? fmt::format("{} POSIX timers", t->posix.size())
                                                                    : "timers missing: " + t->missing,
                         k.ms, k.load_ms));
  } else
    log.line(fmt::format("kernel state missing ({:.1f} ms): {}", k.ms, k.state.missing));
}

/// The capture child's work: the kernel's state of the task (BPF), /proc/PID
/// into capture.txt and the CRIU images.
inline int write_capture(const outputs& out, std::int32_t pid, std::chrono::steady_clock::time_point deadline,
                         bool no_bpf) {
  const auto t0 = std::chrono::steady_clock::now();
  auto kernel = read_kernel_state(pid, no_bpf);
  log_kernel_state(kernel, out.log);
  necro::capture::collect_options opt;
  opt.deadline = deadline;
  opt.log = [&](const std::string& s) { out.log.line("skipped: " + s); };
  auto c = necro::capture::collect(pid, opt);
  if (!c) return out.log.line(c.error().message()), 1;
  c->kernel = std::move(kernel.state);
  const int dirfd = out.capture_dir.get();
  bool ok = write_whole(dirfd, "capture.txt", necro::capture::to_text(*c), out.log);
  for (const auto& [name, bytes] : necro::capture::criu_images(*c)) ok &= write_whole(dirfd, name, bytes, out.log);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  out.log.line(fmt::format("capture: {} fds, {} mapped files, {} skipped, in {} ms", c->fds.size(), c->mapped_files.size(),
                           c->skipped.size(), ms));
  return ok ? 0 : 1;
}

/// Names the core final, or leaves NAME.partial and a NAME.incomplete marker saying why.
inline void commit_core(outputs& o, std::string why, const logger& log) {
  const std::string partial = o.core_name + ".partial";
  if (why.empty() && ::fsync(o.core_fd.get()) != 0) why = fmt::format("fsync: {}", std::strerror(errno));
  if (why.empty() && ::renameat2(o.dir.get(), partial.c_str(), o.dir.get(), o.core_name.c_str(), RENAME_NOREPLACE) != 0)
    why = fmt::format("rename to {}: {}", o.core_name, std::strerror(errno));
  const std::string marker = o.core_name + ".incomplete";
  if (why.empty()) {
    ::unlinkat(o.dir.get(), marker.c_str(), 0);
    return log.line(fmt::format("core complete: {}", o.core_name));
  }
  log.line(fmt::format("core INCOMPLETE ({}): {} stays, marked by {}", why, partial, marker));
  necro::io::unique_fd m(::openat(o.dir.get(), marker.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC));
  if (m.get() < 0) m = necro::io::unique_fd(create_file(o.dir.get(), marker));  // removed meanwhile: the name still marks
  const std::string text = "incomplete: " + why + "\n";
  if (m.get() >= 0) [[maybe_unused]] const auto n = ::write(m.get(), text.data(), text.size());  // may not fit: the file itself marks
}

/// /proc/sys/kernel/core_pipe_limit >= 1: the kernel keeps /proc/PID until we exit.
inline bool kernel_waits_for_helper() {
  FILE* f = std::fopen("/proc/sys/kernel/core_pipe_limit", "re");
  int v = 0;
  if (f) {
    if (std::fscanf(f, "%d", &v) != 1) v = 0;
    std::fclose(f);
  }
  return v != 0;
}

}  // namespace catcher
