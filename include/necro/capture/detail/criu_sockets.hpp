/// A captured inet or unix socket as CRIU's inet_sk_entry / unix_sk_entry
/// (capture/criu_files.hpp), with the kernel defaults /proc does not show.
#ifndef NECRO_CAPTURE_DETAIL_CRIU_SOCKETS_HPP
#define NECRO_CAPTURE_DETAIL_CRIU_SOCKETS_HPP
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <necro/arch/kernel_abi.hpp>
#include <necro/capture/detail/criu_common.hpp>
#include <necro/capture/model.hpp>
#include <necro/pb/fdinfo.pb.h>
#include <necro/pb/sk_inet.pb.h>
#include <necro/pb/sk_opts.pb.h>
#include <necro/pb/sk_unix.pb.h>

namespace necro::capture::detail {

/// The listen backlog given to a listening socket: /proc does not show the
/// victim's, and the kernel caps this at net.core.somaxconn.
inline constexpr std::uint32_t listen_backlog = 4096;

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
inline std::uint32_t unix_state(const socket_info& k) {
  namespace sock = arch::sock;
  return k.backlog ? sock::tcp_listen : k.state == sock::ss_connected ? sock::tcp_established : sock::tcp_close;
}

inline void inet_entry(pb::file_entry& e, std::uint32_t id, const fd_entry& f) {
  pb::inet_sk_entry s;
  const auto& k = *f.sock;
  s.set_id(id), s.set_ino(static_cast<std::uint32_t>(f.ino)), s.set_family(k.family), s.set_type(k.type);
  s.set_proto(k.proto), s.set_state(k.state), s.set_src_port(k.local_port), s.set_dst_port(k.remote_port);
  s.set_flags(f.flags & ~arch::o::cloexec), s.set_backlog(k.state == arch::sock::tcp_listen ? listen_backlog : 0);
  for (std::size_t w = 0; w < (k.family == 10 ? 4u : 1u); ++w) {
    std::uint32_t a = 0, b = 0;
    std::memcpy(&a, k.local_addr.data() + 4 * w, 4), std::memcpy(&b, k.remote_addr.data() + 4 * w, 4);
    s.add_src_addr(a), s.add_dst_addr(b);
  }
  criu::clear_owner(*s.mutable_fown());
  default_opts(s.mutable_opts(), k.proto == arch::sock::ipproto_tcp, k.state == arch::sock::tcp_listen);
  e.set_type(pb::INETSK), e.set_isk(s.SerializeAsString());
}

/// `cwd`: where a relative name is resolved (CRIU's name_dir); the capture
/// only knows the cwd at death, not the one at bind().
inline void unix_entry(pb::file_entry& e, std::uint32_t id, const fd_entry& f, std::string_view cwd) {
  pb::unix_sk_entry s;
  const auto& k = *f.sock;
  s.set_id(id), s.set_ino(static_cast<std::uint32_t>(f.ino)), s.set_type(k.type), s.set_state(unix_state(k));
  s.set_flags(f.flags & ~arch::o::cloexec), s.set_uflags(0), s.set_backlog(k.backlog ? listen_backlog : 0), s.set_peer(0);
  std::string name = k.unix_name;
  if (!name.empty() && name[0] == '@') name[0] = '\0';  // abstract: a leading NUL
  if (!name.empty() && name[0] != '\0' && name[0] != '/' && !cwd.empty()) s.set_name_dir(std::string(cwd));
  // A path name as the kernel reports it (UNIX_DIAG_NAME) ends in its NUL; an abstract one is exact bytes.
  if (!name.empty() && name[0] != '\0') name.push_back('\0');
  s.set_name(name);
  criu::clear_owner(*s.mutable_fown());
  default_opts(s.mutable_opts(), false, false);
  e.set_type(pb::UNIXSK), e.set_usk(s.SerializeAsString());
}

}  // namespace necro::capture::detail

#endif
