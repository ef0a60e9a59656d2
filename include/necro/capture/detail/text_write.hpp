/// The writer of capture::to_text: the process lines and one `fd` line (plus
/// its `tfd` lines) per captured fd, every value escaped (detail/escape.hpp).
#ifndef NECRO_CAPTURE_DETAIL_TEXT_WRITE_HPP
#define NECRO_CAPTURE_DETAIL_TEXT_WRITE_HPP
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include <fmt/format.h>

#include <necro/capture/detail/escape.hpp>
#include <necro/capture/model.hpp>

namespace necro::capture::detail {

inline std::string hex_bytes(const std::array<std::uint8_t, 16>& a, std::uint32_t family) {
  std::string s;
  const std::size_t n = family == 10 ? 16 : 4;
  for (std::size_t i = 0; i < n; ++i) s += fmt::format("{:02x}", a[i]);
  return s;
}

inline std::string join_u32(const auto& v) {
  std::string s;
  for (const auto x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s.empty() ? "-" : s;
}

inline std::string octal(std::uint64_t v) { return fmt::format("0o{:o}", v); }

inline void put_process(std::string& o, const process_capture& c) {
  o += fmt::format("necro-capture {}\npid {}\ncomm {}\nexe {}\ncwd {}\nroot {}\n", c.version, c.pid,
                   escape(c.comm), escape(c.exe), escape(c.cwd), escape(c.root));
  if (c.umask) o += "umask " + octal(*c.umask) + "\n";
  if (c.personality) o += fmt::format("personality {:#x}\n", *c.personality);
  if (const auto& k = c.creds)
    o += fmt::format("creds uid={} gid={} groups={} cap_inh={:#x} cap_prm={:#x} cap_eff={:#x} cap_bnd={:#x} "
                     "cap_amb={:#x} no_new_privs={}\n",
                     join_u32(k->uid), join_u32(k->gid), join_u32(k->groups), k->cap_inh, k->cap_prm, k->cap_eff,
                     k->cap_bnd, k->cap_amb, k->no_new_privs);
  if (const auto& s = c.signals)
    o += fmt::format("signals caught={:#x} blocked={:#x} ignored={:#x} pending={:#x} shared_pending={:#x}\n",
                     s->caught, s->blocked, s->ignored, s->pending, s->shared_pending);
  for (const auto& r : c.rlimits)
    o += fmt::format("rlimit resource={} cur={} max={} name={}\n", r.resource, r.cur, r.max, escape(r.name));
}

inline void put_fd_details(std::string& o, const fd_entry& f) {
  if (f.eventfd_count) o += fmt::format(" count={}", *f.eventfd_count);
  if (f.sigmask) o += fmt::format(" sigmask={:#x}", *f.sigmask);
  if (const auto& t = f.timer)
    o += fmt::format(" clockid={} ticks={} settime_flags={} value_sec={} value_nsec={} interval_sec={} interval_nsec={}",
                     t->clockid, t->ticks, t->settime_flags, t->value_sec, t->value_nsec, t->interval_sec,
                     t->interval_nsec);
  if (const auto& s = f.sock) {
    o += fmt::format(" family={} type={} proto={} state={} backlog={}", s->family, s->type, s->proto, s->state,
                     s->backlog);
    if (s->family != 1)
      o += fmt::format(" local={} port={} remote={} rport={}", hex_bytes(s->local_addr, s->family), s->local_port,
                       hex_bytes(s->remote_addr, s->family), s->remote_port);
    else if (!s->unix_name.empty())
      o += fmt::format(" name={}", escape(s->unix_name));
  }
}

inline void put_fd(std::string& o, const fd_entry& f) {
  o += fmt::format("fd {} kind={} flags={} pos={} mnt_id={} ino={} mode={} size={} dev={:#x}", f.fd,
                   kind_name(f.kind), octal(f.flags), f.pos, f.mnt_id < 0 ? -1 : f.mnt_id, f.ino, octal(f.mode),
                   f.size, f.dev);
  put_fd_details(o, f);
  if (f.shares) o += fmt::format(" shares={}", *f.shares);
  o += fmt::format(" link={}\n", escape(f.link));
  for (const auto& t : f.targets)
    o += fmt::format("tfd {} tfd={} events={:#x} data={:#x} ino={:#x} pos={}\n", f.fd, t.tfd, t.events, t.data,
                     t.ino, t.pos);
}

}  // namespace necro::capture::detail

#endif
