// necro-catch: a core_pattern pipe helper. The kernel runs it as root with the
// core on stdin:
//   echo '|/usr/local/bin/necro-catch --dir /var/crash %P' > /proc/sys/kernel/core_pattern
// It writes DIR/core.PID (holes for zero blocks; --zstd: DIR/core.PID.zst) and
// DIR/core.PID.necro/ with what the core lacks, read from /proc/PID while the
// kernel waits (core_pipe_limit >= 1). See docs/capture.md.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core_sink.hpp"
#include "capture_dir.hpp"
#include "show.hpp"

namespace {

struct options {
  std::string dir;
  std::int32_t pid = 0;
  bool zstd = false;
  int zstd_level = 3;
  std::string timeout = "30s";
  bool no_capture = false;
  bool no_bpf = false;
  std::string signal, time, comm;
  std::string show;
  std::vector<std::string> extras;  ///< unknown arguments: logged, never fatal (a core is not lost to a typo)
};

/// "30s", "500ms", "2m" or plain seconds.
std::optional<std::chrono::milliseconds> parse_duration(const std::string& s) {
  std::size_t used = 0;
  unsigned long v = 0;
  try {
    v = std::stoul(s, &used);
  } catch (...) {
    return std::nullopt;
  }
  const std::string unit = s.substr(used);
  if (unit.empty() || unit == "s") return std::chrono::seconds(v);
  if (unit == "ms") return std::chrono::milliseconds(v);
  if (unit == "m") return std::chrono::minutes(v);
  return std::nullopt;
}

int parse_args(int argc, char** argv, options& o) {
  CLI::App app{"necro-catch: a core_pattern helper that writes the core and what it lacks (docs/capture.md)"};
  app.add_option("-d,--dir", o.dir, "directory for core.PID and core.PID.necro/ (must exist)");
  app.add_option("pid", o.pid, "the dead process's pid in the initial pid namespace (%P); with --show, the pid the capture must be of");
  app.add_option("--show", o.show, "print what the capture directory CAPTURE (core.PID.necro) holds, and exit");
  app.add_flag("--zstd", o.zstd, "write core.PID.zst (zstd) instead of a sparse core.PID");
  app.add_option("--zstd-level", o.zstd_level, "zstd level (default 3)");
  app.add_option("--timeout", o.timeout, "time limit of the /proc capture (default 30s; also 500ms, 2m)");
  app.add_flag("--no-capture", o.no_capture, "write the core only");
  app.add_flag("--no-bpf", o.no_bpf, "do not read the kernel's state through BPF (also NECRO_CATCH_NO_BPF=1); the capture says so");
  app.add_option("-s,--signal", o.signal, "the signal number (%s), logged");
  app.add_option("-t,--time", o.time, "the dump time (%t), logged");
  app.add_option("-e,--comm", o.comm, "the executable name (%e), logged");
  app.allow_extras();
  try {
    app.parse(argc, argv);
    o.extras = app.remaining();
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return -1;
}

/// Runs the capture in a child process, so a read stuck in /proc can be killed at the deadline.
pid_t start_capture(const catcher::outputs& out, std::int32_t pid, std::chrono::steady_clock::time_point deadline,
                    bool no_bpf) {
  const pid_t child = ::fork();
  if (child != 0) return child;
  ::close(STDIN_FILENO);  // the core pipe is the parent's alone
  ::signal(SIGPIPE, SIG_IGN);
  const int rc = catcher::write_capture(out, pid, deadline, no_bpf);
  ::_exit(rc);
}

/// Waits for the capture child until the deadline, then kills it.
void finish_capture(pid_t child, std::chrono::steady_clock::time_point deadline, catcher::logger& log) {
  if (child <= 0) return;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(child, &status, WNOHANG) == child) {
      log.line(fmt::format("capture finished, status {}", WIFEXITED(status) ? WEXITSTATUS(status) : -1));
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(child, SIGKILL);
  // A child stuck in an uninterruptible read (a dead NFS mount) dies only when
  // the read ends: wait a moment, then go on without it (init reaps it).
  for (int i = 0; i < 100 && ::waitpid(child, &status, WNOHANG) != child; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  log.line("capture killed at the time limit: capture.txt was not completed (capture.txt.partial stays)");
}

/// Reads the core from stdin into the partial file, then names it final or marks it incomplete.
void write_core(catcher::outputs& out, const options& o, catcher::logger& log) {
  std::unique_ptr<catcher::sink> s;
  if (o.zstd) s = std::make_unique<catcher::zstd_sink>(out.core_fd.get(), o.zstd_level);
  else s = std::make_unique<catcher::sparse_sink>(out.core_fd.get());
  const auto t0 = std::chrono::steady_clock::now();
  const bool read_ok = catcher::drain(STDIN_FILENO, *s);
  const int read_errno = errno;
  s->finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log.line(fmt::format("core: {} bytes read in {:.3f} s, {} bytes of zero blocks left as holes{}", s->bytes(), secs,
                       s->holes(), o.zstd ? " (zstd: no holes)" : ""));
  std::string why = s->error();
  if (why.empty() && s->bytes() == 0) why = "no core bytes on stdin";
  if (!read_ok) why = fmt::format("reading the core from stdin: {}", std::strerror(read_errno));
  catcher::commit_core(out, why, log);
}

}  // namespace

int main(int argc, char** argv) {
  const auto started = std::chrono::steady_clock::now();
  options o;
  if (const int rc = parse_args(argc, argv, o); rc >= 0) return rc;
  if (!o.show.empty()) return catcher::show(o.show, o.pid > 0 ? std::optional<std::int32_t>(o.pid) : std::nullopt);
  if (o.pid <= 0 || o.dir.empty()) {
    std::fprintf(stderr, "necro-catch: needs --dir DIR and a pid (%%P)\n");
    return 2;
  }
  const auto limit = parse_duration(o.timeout);
  const auto deadline = std::chrono::steady_clock::now() + limit.value_or(std::chrono::seconds(30));
  ::umask(077);
  auto out = catcher::open_outputs(o.dir, o.pid, o.zstd);
  if (!out) {
    std::fprintf(stderr, "necro-catch: %s\n", out.error().message().c_str());
    return 1;  // nowhere to write: the kernel drops the core
  }
  catcher::logger& log = out->log;
  log.line(fmt::format("necro-catch pid {} signal {} time {} comm {} core {}", o.pid, o.signal, o.time,
                       necro::io::printable(o.comm), out->core_name));
  if (!limit) log.line(fmt::format("--timeout {} is not like 30s, 500ms or 2m: using 30s", necro::io::printable(o.timeout)));
  for (const auto& e : o.extras) log.line(fmt::format("ignored argument {}", necro::io::printable(e)));
  const bool waits = catcher::kernel_waits_for_helper();
  if (!waits) log.line("kernel.core_pipe_limit is 0: the kernel does not wait for us; capturing before the core");
  const pid_t child = o.no_capture || out->capture_dir.get() < 0 ? -1 : start_capture(*out, o.pid, deadline, o.no_bpf);
  if (!waits) finish_capture(child, deadline, log);
  write_core(*out, o, log);
  if (waits) finish_capture(child, deadline, log);
  // The whole helper's time: what it held the dying process for (bench/catch-bpf.sh).
  log.line(fmt::format("necro-catch done in {:.1f} ms",
                       std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count()));
  return 0;  // stdin closes as we exit: the kernel then lets the dead process go
}
