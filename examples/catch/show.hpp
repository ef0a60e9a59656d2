// necro-catch --show DIR: what a capture directory holds, one line per fd,
// every string escaped (io::printable); or one error line naming the file.
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include <fmt/format.h>

#include <necro/capture/criu_files.hpp>
#include <necro/capture/reader.hpp>
#include <necro/io/printable.hpp>

namespace catcher {

inline std::string describe(const necro::capture::fd_entry& f) {
  using necro::io::printable;
  std::string s = fmt::format("fd {} {} flags 0o{:o} pos {} {}", f.fd, necro::capture::kind_name(f.kind), f.flags, f.pos,
                              printable(f.link));
  if (f.eventfd_count) s += fmt::format(" count {}", *f.eventfd_count);
  if (f.sigmask) s += fmt::format(" sigmask {:#x}", *f.sigmask);
  if (f.timer) s += fmt::format(" clock {} next {}.{:09} every {}.{:09}", f.timer->clockid, f.timer->value_sec,
                                f.timer->value_nsec, f.timer->interval_sec, f.timer->interval_nsec);
  if (f.sock && f.sock->family != 1) s += fmt::format(" family {} proto {} state {} port {}", f.sock->family, f.sock->proto, f.sock->state, f.sock->local_port);
  if (f.sock && f.sock->family == 1) s += fmt::format(" unix type {} name {}{}", f.sock->type, printable(f.sock->unix_name), f.sock->backlog ? " listening" : "");
  if (f.shares) s += fmt::format(" (one open file with fd {})", *f.shares);
  for (const auto& t : f.targets) s += fmt::format("\n  watches fd {} events {:#x} data {:#x}", t.tfd, t.events, t.data);
  return s;
}

/// Prints the capture in `dir`; 1 with one error line on stderr if it does not read.
inline int show(const std::string& dir, std::optional<std::int32_t> pid) {
  using necro::io::printable;
  const auto c = necro::capture::read(dir, pid);
  if (!c) return std::fprintf(stderr, "necro-catch: %s\n", printable(c.error().message()).c_str()), 1;
  fmt::print("pid {} comm {} exe {}\ncwd {}\nroot {}\n", c->pid, printable(c->comm), printable(c->exe), printable(c->cwd),
             printable(c->root));
  for (const auto& f : c->fds) fmt::print("{}\n", describe(f));
  for (const auto& m : c->mapped_files) fmt::print("map {} build-id {}\n", printable(m.path), m.build_id.empty() ? "-" : m.build_id);
  if (c->shared_vmas)
    for (const auto& v : *c->shared_vmas) fmt::print("shared mapping {:#x}-{:#x}\n", v.start, v.end);
  if (c->kernel && !c->kernel->read()) fmt::print("kernel state missing: {}\n", printable(c->kernel->missing));
  if (c->kernel)
    for (const auto& a : c->kernel->actions)
      fmt::print("signal {} handler {:#x} flags {:#x} restorer {:#x} mask {:#x}\n", a.sig, a.handler, a.flags, a.restorer, a.mask);
  if (c->kernel)
    for (const auto& t : c->kernel->threads)
      fmt::print("thread {} comm {} sigaltstack {:#x}+{:#x} flags {:#x} clear_child_tid {:#x} robust_list {:#x} rseq {:#x}/{} "
                 "policy {} nice {}\n",
                 t.tid, printable(t.comm), t.sas_sp, t.sas_size, t.sas_flags, t.clear_child_tid, t.robust_list, t.rseq,
                 t.rseq_len, t.policy, t.nice);
  if (c->kernel && c->kernel->process) {
    const auto& p = *c->kernel->process;
    fmt::print("process personality {:#x} securebits {:#x} no_new_privs {} seccomp {} ({} filters) mm_flags {:#x}\n",
               p.personality, p.securebits, p.no_new_privs, p.seccomp_mode, p.seccomp_filters, p.mm_flags);
  }
  if (c->kernel)
    for (const auto& v : c->kernel->vmas)
      fmt::print("advice {:#x}-{:#x} madv {:#x}{}\n", v.start, v.end, v.madv, v.locked ? " mlock" : "");
  if (c->kernel && c->kernel->timers && !c->kernel->timers->read())
    fmt::print("timers missing: {}\n", printable(c->kernel->timers->missing));
  if (c->kernel && c->kernel->timers) {
    static constexpr const char* which[] = {"real", "virtual", "prof"};
    for (const auto& i : c->kernel->timers->itimers)
      fmt::print("itimer {} left {} ns interval {} ns\n", i.which < 3 ? which[i.which] : "?", i.value_ns, i.interval_ns);
    for (const auto& p : c->kernel->timers->posix)
      fmt::print("posix timer {} clock {} signal {} notify {} tid {} left {} ns interval {} ns\n", p.id, p.clock, p.signo,
                 p.notify, p.tid, p.value_ns, p.interval_ns);
  }
  for (const auto& s : c->skipped) fmt::print("skipped: {}\n", printable(s));
  for (const auto& s : necro::capture::to_criu(*c).not_converted) fmt::print("no CRIU form: {}\n", s);
  return 0;
}

}  // namespace catcher
