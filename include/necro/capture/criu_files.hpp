/// capture::to_criu: a capture as CRIU 4.x messages — files.img entries
/// (reg, pipe, eventfd, epoll, signalfd, timerfd, inet and unix sockets),
/// the fdinfo entries that put them at their fd numbers, fs (cwd, root,
/// umask), creds, rlimits — and criu_images(), the same framed as image files
/// (files.img, fdinfo-PID.img, fs-PID.img, creds-PID.img). Pure: no I/O.
/// File ids are 1..N in fd order (fds that share an open file, one id),
/// then cwd and root; an image set that merges
/// them renumbers. Kinds CRIU cannot take from a capture are listed in
/// `not_converted`.
#ifndef NECRO_CAPTURE_CRIU_FILES_HPP
#define NECRO_CAPTURE_CRIU_FILES_HPP
#pragma once

#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/capture/model.hpp>
#include <necro/criu/image.hpp>
#include <necro/criu/magic.hpp>
#include <necro/io/printable.hpp>
#include <necro/pb/creds.pb.h>
#include <necro/pb/eventfd.pb.h>
#include <necro/pb/fdinfo.pb.h>
#include <necro/pb/fs.pb.h>
#include <necro/pb/pipe.pb.h>
#include <necro/pb/rlimit.pb.h>
#include <necro/pb/signalfd.pb.h>
#include <necro/pb/sk_inet.pb.h>
#include <necro/pb/sk_unix.pb.h>
#include <necro/pb/timerfd.pb.h>

namespace necro::capture {

struct criu_files {
  std::vector<pb::file_entry> files;     ///< files.img
  std::vector<pb::fdinfo_entry> fdinfo;  ///< fdinfo-<files id>.img
  pb::fs_entry fs;                       ///< its cwd_id and root_id are entries of `files`
  pb::creds_entry creds;
  std::vector<pb::rlimit_entry> rlimits; ///< index = RLIMIT_*, for core's tc.rlimits
  std::vector<std::string> not_converted;
};

namespace detail {

inline constexpr std::uint32_t o_cloexec = 02000000;  // x86-64 and aarch64
/// The listen backlog given to a listening socket: /proc does not show the
/// victim's, and the kernel caps this at net.core.somaxconn.
inline constexpr std::uint32_t listen_backlog = 4096;

inline void zero_fown(pb::fown_entry* f) {
  f->set_uid(0), f->set_euid(0), f->set_signum(0), f->set_pid_type(0), f->set_pid(0);
}

/// Socket buffer sizes as a fresh socket reports them with this kernel's
/// default sysctls (tcp_wmem[1], tcp_rmem[1]; wmem_default, rmem_default):
/// /proc does not show the victim's. CRIU restores them with SO_*BUFFORCE at
/// half the value (the kernel doubles it), so a 0 would shrink them to the minimum.
inline constexpr std::uint32_t tcp_sndbuf = 16384, tcp_rcvbuf = 131072, default_buf = 212992;

/// Socket options CRIU requires, which /proc does not show: the kernel's
/// defaults, and SO_REUSEADDR on a listening TCP socket (servers set it so
/// that a restart binds while old connections linger; restore needs the same).
inline void default_opts(pb::sk_opts_entry* o, bool tcp, bool listening) {
  o->set_so_sndbuf(tcp ? tcp_sndbuf : default_buf), o->set_so_rcvbuf(tcp ? tcp_rcvbuf : default_buf);
  o->set_so_snd_tmo_sec(0), o->set_so_snd_tmo_usec(0), o->set_so_rcv_tmo_sec(0), o->set_so_rcv_tmo_usec(0);
  if (tcp && listening) o->set_reuseaddr(true);
}

/// A unix socket's state as CRIU records it (the kernel's sk_state, TCP_*
/// numbers) from /proc/net/unix's St column (SS_*) and its listening flag.
inline constexpr std::uint32_t tcp_established = 1, tcp_close = 7, tcp_listen = 10;
inline std::uint32_t unix_state(const socket_info& k) {
  constexpr std::uint32_t ss_connected = 3;
  return k.backlog ? tcp_listen : k.state == ss_connected ? tcp_established : tcp_close;
}

inline pb::reg_file_entry reg_entry(std::uint32_t id, const std::string& name, std::uint32_t flags, const fd_entry* f) {
  pb::reg_file_entry r;
  r.set_id(id), r.set_flags(flags), r.set_pos(f ? f->pos : 0), r.set_name(name);
  zero_fown(r.mutable_fown());
  if (f) r.set_mnt_id(f->mnt_id), r.set_size(f->size), r.set_mode(f->mode);
  return r;
}

template <class Msg>
void with_common(Msg& m, std::uint32_t id, const fd_entry& f) {
  m.set_id(id), m.set_flags(f.flags & ~o_cloexec);
  zero_fown(m.mutable_fown());
}

inline void inet_entry(pb::file_entry& e, std::uint32_t id, const fd_entry& f) {
  pb::inet_sk_entry s;
  const auto& k = *f.sock;
  s.set_id(id), s.set_ino(static_cast<std::uint32_t>(f.ino)), s.set_family(k.family), s.set_type(k.type);
  s.set_proto(k.proto), s.set_state(k.state), s.set_src_port(k.local_port), s.set_dst_port(k.remote_port);
  s.set_flags(f.flags & ~o_cloexec), s.set_backlog(k.state == tcp_listen ? listen_backlog : 0);
  for (std::size_t w = 0; w < (k.family == 10 ? 4u : 1u); ++w) {
    std::uint32_t a = 0, b = 0;
    std::memcpy(&a, k.local_addr.data() + 4 * w, 4), std::memcpy(&b, k.remote_addr.data() + 4 * w, 4);
    s.add_src_addr(a), s.add_dst_addr(b);
  }
  zero_fown(s.mutable_fown());
  default_opts(s.mutable_opts(), k.proto == 6, k.state == tcp_listen);
  e.set_type(pb::INETSK), e.set_isk(s.SerializeAsString());
}

/// `cwd`: where a relative name is resolved (CRIU's name_dir); the capture
/// only knows the cwd at death, not the one at bind().
inline void unix_entry(pb::file_entry& e, std::uint32_t id, const fd_entry& f, std::string_view cwd) {
  pb::unix_sk_entry s;
  const auto& k = *f.sock;
  s.set_id(id), s.set_ino(static_cast<std::uint32_t>(f.ino)), s.set_type(k.type), s.set_state(unix_state(k));
  s.set_flags(f.flags & ~o_cloexec), s.set_uflags(0), s.set_backlog(k.backlog ? listen_backlog : 0), s.set_peer(0);
  std::string name = k.unix_name;
  if (!name.empty() && name[0] == '@') name[0] = '\0';  // abstract: a leading NUL
  if (!name.empty() && name[0] != '\0' && name[0] != '/' && !cwd.empty()) s.set_name_dir(std::string(cwd));
  // A path name as the kernel reports it (UNIX_DIAG_NAME) ends in its NUL; an abstract one is exact bytes.
  if (!name.empty() && name[0] != '\0') name.push_back('\0');
  s.set_name(name);
  zero_fown(s.mutable_fown());
  default_opts(s.mutable_opts(), false, false);
  e.set_type(pb::UNIXSK), e.set_usk(s.SerializeAsString());
}

inline void timer_entry(pb::file_entry& e, std::uint32_t id, const fd_entry& f) {
  pb::timerfd_entry t;
  with_common(t, id, f);
  const auto& s = *f.timer;
  t.set_clockid(s.clockid), t.set_ticks(s.ticks), t.set_settime_flags(s.settime_flags);
  t.set_vsec(s.value_sec), t.set_vnsec(s.value_nsec), t.set_isec(s.interval_sec), t.set_insec(s.interval_nsec);
  e.set_type(pb::TIMERFD), e.set_tfd(t.SerializeAsString());
}

inline void epoll_entry(pb::file_entry& e, std::uint32_t id, const fd_entry& f) {
  auto* ep = e.mutable_epfd();
  ep->set_id(id), ep->set_flags(f.flags & ~o_cloexec);
  zero_fown(ep->mutable_fown());
  for (const auto& t : f.targets) {
    auto* x = ep->add_tfd();
    x->set_id(id), x->set_tfd(t.tfd), x->set_events(t.events), x->set_data(t.data), x->set_inode(t.ino), x->set_pos(t.pos);
  }
  e.set_type(pb::EVENTPOLL);
}

/// One fd as a file_entry; false if CRIU has no form for it from a capture.
inline bool file_entry(pb::file_entry& e, std::uint32_t id, const fd_entry& f, std::string_view cwd) {
  e.set_id(id);
  switch (f.kind) {
    case fd_kind::reg: return e.set_type(pb::REG), *e.mutable_reg() = reg_entry(id, f.link, f.flags & ~o_cloexec, &f), true;
    case fd_kind::pipe: {
      pb::pipe_entry p;
      with_common(p, id, f), p.set_pipe_id(static_cast<std::uint32_t>(f.ino));
      return e.set_type(pb::PIPE), e.set_pipe(p.SerializeAsString()), true;
    }
    case fd_kind::eventfd: {
      pb::eventfd_file_entry x;
      with_common(x, id, f), x.set_counter(f.eventfd_count.value_or(0));
      return e.set_type(pb::EVENTFD), e.set_efd(x.SerializeAsString()), true;
    }
    case fd_kind::signalfd: {
      pb::signalfd_entry x;
      with_common(x, id, f), x.set_sig_mask(f.sigmask.value_or(0));
      return e.set_type(pb::SIGNALFD), e.set_sgfd(x.SerializeAsString()), true;
    }
    case fd_kind::timerfd: return f.timer ? (timer_entry(e, id, f), true) : false;
    case fd_kind::epoll: return epoll_entry(e, id, f), true;
    case fd_kind::inet: return f.sock ? (inet_entry(e, id, f), true) : false;
    case fd_kind::unix_sk: return f.sock ? (unix_entry(e, id, f, cwd), true) : false;
    default: return false;
  }
}

inline void creds_entry(pb::creds_entry& k, const credentials& c) {
  k.set_uid(c.uid[0]), k.set_euid(c.uid[1]), k.set_suid(c.uid[2]), k.set_fsuid(c.uid[3]);
  k.set_gid(c.gid[0]), k.set_egid(c.gid[1]), k.set_sgid(c.gid[2]), k.set_fsgid(c.gid[3]);
  const auto words = [](std::uint64_t v, auto add) { add(static_cast<std::uint32_t>(v)), add(static_cast<std::uint32_t>(v >> 32)); };
  words(c.cap_inh, [&](std::uint32_t w) { k.add_cap_inh(w); });
  words(c.cap_prm, [&](std::uint32_t w) { k.add_cap_prm(w); });
  words(c.cap_eff, [&](std::uint32_t w) { k.add_cap_eff(w); });
  words(c.cap_bnd, [&](std::uint32_t w) { k.add_cap_bnd(w); });
  words(c.cap_amb, [&](std::uint32_t w) { k.add_cap_amb(w); });
  k.set_secbits(0);  // not in /proc: securebits are only readable by the process itself
  for (const auto g : c.groups) k.add_groups(g);
  k.set_no_new_privs(c.no_new_privs);
}

}  // namespace detail

/// One captured fd as a files.img entry with id `id`; nullopt for a kind CRIU
/// cannot take from a capture (an unknown socket family, an anon inode of
/// another kind, a timerfd or socket whose details were not read).
/// `cwd` resolves a unix socket's relative name.
inline std::optional<pb::file_entry> file_entry_for(const fd_entry& f, std::uint32_t id, std::string_view cwd = {}) {
  pb::file_entry e;
  if (!detail::file_entry(e, id, f, cwd)) return std::nullopt;
  return e;
}

/// The fdinfo entry that puts file `id` at the captured fd's number.
inline pb::fdinfo_entry fdinfo_for(const fd_entry& f, std::uint32_t id, pb::fd_types type) {
  pb::fdinfo_entry fi;
  fi.set_id(id), fi.set_flags((f.flags & detail::o_cloexec) ? 1u : 0u), fi.set_type(type);
  fi.set_fd(static_cast<std::uint32_t>(f.fd));
  return fi;
}

/// The captured credentials as CRIU's creds_entry (capabilities in 32-bit words).
inline pb::creds_entry creds_for(const credentials& c) {
  pb::creds_entry k;
  detail::creds_entry(k, c);
  return k;
}

/// The capture as CRIU messages.
inline criu_files to_criu(const process_capture& c) {
  criu_files out;
  std::uint32_t id = 1;
  std::map<std::int32_t, pb::fdinfo_entry> converted;  // by fd: an fd that shares one's open file takes its entry
  for (const auto& f : c.fds) {
    if (const auto it = f.shares ? converted.find(*f.shares) : converted.end(); it != converted.end()) {
      out.fdinfo.push_back(fdinfo_for(f, it->second.id(), it->second.type()));
      continue;
    }
    auto e = file_entry_for(f, id, c.cwd);
    if (!e) {
      out.not_converted.push_back(fmt::format("fd {}: {} {}", f.fd, kind_name(f.kind), io::printable(f.link)));
      continue;
    }
    out.fdinfo.push_back(fdinfo_for(f, id, e->type()));
    converted.emplace(f.fd, out.fdinfo.back());
    out.files.push_back(std::move(*e));
    ++id;
  }
  for (const auto* dir : {&c.cwd, &c.root}) {
    pb::file_entry e;
    e.set_id(id), e.set_type(pb::REG);
    *e.mutable_reg() = detail::reg_entry(id, *dir, 0, nullptr);  // O_RDONLY: a directory opens so on every architecture
    out.files.push_back(std::move(e));
    (dir == &c.cwd ? out.fs.set_cwd_id(id) : out.fs.set_root_id(id)), ++id;
  }
  if (c.umask) out.fs.set_umask(*c.umask);
  if (c.creds) out.creds = creds_for(*c.creds);
  for (const auto& r : c.rlimits) {
    if (r.resource < 0 || r.resource >= 64) continue;
    if (out.rlimits.size() <= static_cast<std::size_t>(r.resource)) out.rlimits.resize(static_cast<std::size_t>(r.resource) + 1);
    out.rlimits[static_cast<std::size_t>(r.resource)].set_cur(r.cur), out.rlimits[static_cast<std::size_t>(r.resource)].set_max(r.max);
  }
  return out;
}

/// The CRIU messages as image files: (name, bytes) pairs.
inline std::vector<std::pair<std::string, std::string>> criu_images(const process_capture& c) {
  const auto m = to_criu(c);
  std::vector<std::pair<std::string, std::string>> out;
  criu::image_builder files(criu::magic::files), fdinfo(criu::magic::fdinfo), fs(criu::magic::fs);
  for (const auto& e : m.files) files.add(e);
  for (const auto& e : m.fdinfo) fdinfo.add(e);
  fs.add(m.fs);
  out.emplace_back("files.img", std::move(files).take());
  out.emplace_back(fmt::format("fdinfo-{}.img", c.pid), std::move(fdinfo).take());
  out.emplace_back(fmt::format("fs-{}.img", c.pid), std::move(fs).take());
  if (c.creds) out.emplace_back(fmt::format("creds-{}.img", c.pid), criu::image_builder(criu::magic::creds).add(m.creds).bytes());
  return out;
}

}  // namespace necro::capture

#endif
