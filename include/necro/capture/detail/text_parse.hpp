/// The parser behind capture::parse_text: one function per kind of line.
#ifndef NECRO_CAPTURE_DETAIL_TEXT_PARSE_HPP
#define NECRO_CAPTURE_DETAIL_TEXT_PARSE_HPP
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/capture/detail/lines.hpp>
#include <necro/capture/model.hpp>
#include <necro/io/error.hpp>
#include <necro/io/printable.hpp>

namespace necro::capture::detail {

/// Caps on counts read from a capture (the kernel's own limits, or near them).
inline constexpr std::size_t max_fds = 1u << 20;        ///< fs.nr_open's default
inline constexpr std::size_t max_targets = 1u << 20;    ///< epoll registrations, all instances
inline constexpr std::size_t max_maps = 1u << 16;
inline constexpr std::size_t max_shared_vmas = 1u << 20;  ///< vm.max_map_count is 65530 by default
inline constexpr std::size_t max_groups = 1u << 16;     ///< NGROUPS_MAX
inline constexpr std::size_t max_rlimits = 64;
inline constexpr std::size_t max_skipped = 1u << 12;

struct parse_state {
  process_capture c;
  std::optional<std::uint64_t> shared_declared;  ///< the count on the `shared-vmas` line
  bool header = false;
  std::size_t targets = 0;
};

/// The only word of a line that has exactly one.
inline result<std::string_view> single(const line& l) {
  if (l.words.size() != 1) return fail(l.fail(fmt::format("{}: expected one value, found {}", l.key, l.words.size())));
  return l.words[0];
}

inline result<std::string> single_text(const line& l) {
  NECRO_TRY_ASSIGN(const auto w, single(l));
  auto v = unescape(w);
  if (!v) return fail(l.fail(fmt::format("{}: bad %-escape", l.key)));
  return std::move(*v);
}

template <class T>
result<T> single_number(const line& l) {
  NECRO_TRY_ASSIGN(const auto w, single(l));
  const auto v = parse_number<T>(w);
  if (!v) return fail(l.fail(fmt::format("{}: {} is not a number that fits", l.key, io::printable(w))));
  return *v;
}

/// "1,2,3" (or "-" for none) into at most `cap` numbers.
inline result<std::vector<std::uint32_t>> number_list(const line& l, std::string_view name, std::size_t cap) {
  const auto r = l.raw(name);
  if (!r) return fail(l.fail(fmt::format("{}: no {}=", l.key, name)));
  std::vector<std::uint32_t> out;
  if (*r == "-") return out;
  std::string_view s = *r;
  while (true) {
    if (out.size() == cap) return fail(l.fail(fmt::format("{}: {}= lists more than {} values", l.key, name, cap)));
    const auto comma = s.find(',');
    const auto v = parse_number<std::uint32_t>(s.substr(0, comma));
    if (!v) return fail(l.fail(fmt::format("{}: {}= holds a bad number", l.key, name)));
    out.push_back(*v);
    if (comma == std::string_view::npos) return out;
    s.remove_prefix(comma + 1);
  }
}

inline result<credentials> parse_creds(const line& l) {
  credentials k;
  NECRO_TRY_ASSIGN(const auto uid, number_list(l, "uid", 4));
  NECRO_TRY_ASSIGN(const auto gid, number_list(l, "gid", 4));
  if (uid.size() != 4 || gid.size() != 4) return fail(l.fail("creds: uid= and gid= need 4 values (real,effective,saved,fs)"));
  std::copy(uid.begin(), uid.end(), k.uid.begin());
  std::copy(gid.begin(), gid.end(), k.gid.begin());
  NECRO_TRY_ASSIGN(k.groups, number_list(l, "groups", max_groups));
  NECRO_TRY_ASSIGN(k.cap_inh, number<std::uint64_t>(l, "cap_inh"));
  NECRO_TRY_ASSIGN(k.cap_prm, number<std::uint64_t>(l, "cap_prm"));
  NECRO_TRY_ASSIGN(k.cap_eff, number<std::uint64_t>(l, "cap_eff"));
  NECRO_TRY_ASSIGN(k.cap_bnd, number<std::uint64_t>(l, "cap_bnd"));
  NECRO_TRY_ASSIGN(k.cap_amb, number<std::uint64_t>(l, "cap_amb"));
  NECRO_TRY_ASSIGN(k.no_new_privs, number<std::uint32_t>(l, "no_new_privs"));
  return k;
}

inline result<signal_masks> parse_signals(const line& l) {
  signal_masks s;
  NECRO_TRY_ASSIGN(s.caught, number<std::uint64_t>(l, "caught"));
  NECRO_TRY_ASSIGN(s.blocked, number<std::uint64_t>(l, "blocked"));
  NECRO_TRY_ASSIGN(s.ignored, number<std::uint64_t>(l, "ignored"));
  NECRO_TRY_ASSIGN(s.pending, number<std::uint64_t>(l, "pending"));
  NECRO_TRY_ASSIGN(s.shared_pending, number<std::uint64_t>(l, "shared_pending"));
  return s;
}

inline result<rlimit_entry> parse_rlimit(const line& l) {
  rlimit_entry r;
  NECRO_TRY_ASSIGN(r.resource, number<int>(l, "resource"));
  NECRO_TRY_ASSIGN(r.cur, number<std::uint64_t>(l, "cur"));
  NECRO_TRY_ASSIGN(r.max, number<std::uint64_t>(l, "max"));
  NECRO_TRY_ASSIGN(r.name, text(l, "name"));
  return r;
}

/// An address as hex bytes: 8 digits for IPv4, 32 for IPv6.
inline result<std::array<std::uint8_t, 16>> parse_address(const line& l, std::string_view name, std::uint32_t family) {
  const auto r = l.raw(name);
  const std::size_t n = family == 10 ? 16 : 4;
  if (!r || r->size() != 2 * n)
    return fail(l.fail(fmt::format("{}: {}= must be {} hex digits for family {}", l.key, name, 2 * n, family)));
  std::array<std::uint8_t, 16> a{};
  for (std::size_t i = 0; i < n; ++i) {
    const int hi = hex_digit((*r)[2 * i]), lo = hex_digit((*r)[2 * i + 1]);
    if (hi < 0 || lo < 0) return fail(l.fail(fmt::format("{}: {}= holds a non-hex digit", l.key, name)));
    a[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return a;
}

inline result<socket_info> parse_socket(const line& l) {
  socket_info s;
  NECRO_TRY_ASSIGN(s.family, number<std::uint32_t>(l, "family"));
  NECRO_TRY_ASSIGN(s.type, number<std::uint32_t>(l, "type"));
  NECRO_TRY_ASSIGN(s.proto, number<std::uint32_t>(l, "proto"));
  NECRO_TRY_ASSIGN(s.state, number<std::uint32_t>(l, "state"));
  NECRO_TRY_ASSIGN(s.backlog, number<std::uint32_t>(l, "backlog"));
  if (s.family == 1) {
    if (l.raw("name")) NECRO_TRY(assign(s.unix_name, text(l, "name")));
    return s;
  }
  if (s.family != 2 && s.family != 10) return fail(l.fail(fmt::format("fd: socket family {} is not 1, 2 or 10", s.family)));
  NECRO_TRY_ASSIGN(s.local_addr, parse_address(l, "local", s.family));
  NECRO_TRY_ASSIGN(s.remote_addr, parse_address(l, "remote", s.family));
  NECRO_TRY_ASSIGN(s.local_port, number<std::uint32_t>(l, "port"));
  NECRO_TRY_ASSIGN(s.remote_port, number<std::uint32_t>(l, "rport"));
  if (s.local_port > 65535 || s.remote_port > 65535) return fail(l.fail("fd: port above 65535"));
  return s;
}

inline result<timer_setting> parse_timer(const line& l) {
  timer_setting t;
  NECRO_TRY_ASSIGN(t.clockid, number<std::uint32_t>(l, "clockid"));
  NECRO_TRY_ASSIGN(t.ticks, number<std::uint64_t>(l, "ticks"));
  NECRO_TRY_ASSIGN(t.settime_flags, number<std::uint32_t>(l, "settime_flags"));
  NECRO_TRY_ASSIGN(t.value_sec, number<std::uint64_t>(l, "value_sec"));
  NECRO_TRY_ASSIGN(t.value_nsec, number<std::uint64_t>(l, "value_nsec"));
  NECRO_TRY_ASSIGN(t.interval_sec, number<std::uint64_t>(l, "interval_sec"));
  NECRO_TRY_ASSIGN(t.interval_nsec, number<std::uint64_t>(l, "interval_nsec"));
  return t;
}

/// The kind from its name in the text form.
inline result<fd_kind> parse_kind(const line& l) {
  const auto r = l.raw("kind");
  for (int k = 0; r && k <= static_cast<int>(fd_kind::other); ++k)
    if (kind_name(static_cast<fd_kind>(k)) == *r) return static_cast<fd_kind>(k);
  return fail(l.fail(fmt::format("fd: unknown kind={}", io::printable(r.value_or("")))));
}

/// The parts of an fd line that only some kinds have.
inline result<void> parse_fd_details(const line& l, fd_entry& f) {
  if (f.kind == fd_kind::eventfd) NECRO_TRY(assign(f.eventfd_count, number<std::uint64_t>(l, "count")));
  if (f.kind == fd_kind::signalfd) NECRO_TRY(assign(f.sigmask, number<std::uint64_t>(l, "sigmask")));
  if (f.kind == fd_kind::timerfd) NECRO_TRY(assign(f.timer, parse_timer(l)));
  if (f.kind == fd_kind::inet || f.kind == fd_kind::unix_sk) NECRO_TRY(assign(f.sock, parse_socket(l)));
  return {};
}

inline result<fd_entry> parse_fd(const line& l) {
  fd_entry f;
  if (l.words.empty()) return fail(l.fail("fd: no fd number"));
  const auto n = parse_number<std::int32_t>(l.words[0]);
  if (!n || *n > static_cast<std::int32_t>(max_fds)) return fail(l.fail(fmt::format("fd: bad fd number {}", io::printable(l.words[0]))));
  f.fd = *n;
  NECRO_TRY_ASSIGN(f.kind, parse_kind(l));
  NECRO_TRY_ASSIGN(f.flags, number<std::uint32_t>(l, "flags"));
  NECRO_TRY_ASSIGN(f.pos, number<std::uint64_t>(l, "pos"));
  const auto mnt = l.raw("mnt_id");
  if (mnt && *mnt != "-1") NECRO_TRY(assign(f.mnt_id, number<std::int32_t>(l, "mnt_id")));
  NECRO_TRY_ASSIGN(f.ino, number<std::uint64_t>(l, "ino"));
  NECRO_TRY_ASSIGN(f.mode, number<std::uint32_t>(l, "mode"));
  NECRO_TRY_ASSIGN(f.size, number<std::uint64_t>(l, "size"));
  NECRO_TRY_ASSIGN(f.dev, number<std::uint64_t>(l, "dev"));
  NECRO_TRY_ASSIGN(f.link, text(l, "link"));
  NECRO_TRY(parse_fd_details(l, f));
  if (l.raw("shares")) {
    NECRO_TRY(assign(f.shares, number<std::int32_t>(l, "shares")));
    if (*f.shares < 0 || *f.shares >= f.fd) return fail(l.fail(fmt::format("fd: shares={} is not a lower fd", *f.shares)));
  }
  return f;
}

/// A `tfd FD ...` line: a registration of epoll fd FD, the fd line before it.
inline result<void> parse_tfd(const line& l, parse_state& st) {
  const auto epfd = l.words.empty() ? std::nullopt : parse_number<std::int32_t>(l.words[0]);
  if (!epfd || st.c.fds.empty() || st.c.fds.back().fd != *epfd || st.c.fds.back().kind != fd_kind::epoll)
    return fail(l.fail("tfd: does not follow the line of its epoll fd"));
  if (++st.targets > max_targets) return fail(l.fail(fmt::format("more than {} epoll registrations", max_targets)));
  epoll_target t;
  NECRO_TRY_ASSIGN(t.tfd, number<std::uint32_t>(l, "tfd"));
  NECRO_TRY_ASSIGN(t.events, number<std::uint32_t>(l, "events"));
  NECRO_TRY_ASSIGN(t.data, number<std::uint64_t>(l, "data"));
  NECRO_TRY_ASSIGN(t.ino, number<std::uint64_t>(l, "ino"));
  NECRO_TRY_ASSIGN(t.pos, number<std::uint64_t>(l, "pos"));
  st.c.fds.back().targets.push_back(t);
  return {};
}

/// A `shared START END` line: one VMA mapped MAP_SHARED.
inline result<vma_range> parse_shared(const line& l) {
  if (l.words.size() != 2) return fail(l.fail("shared: expected START END"));
  const auto start = parse_number<std::uint64_t>(l.words[0]), end = parse_number<std::uint64_t>(l.words[1]);
  if (!start || !end || *start >= *end) return fail(l.fail("shared: START END must be two numbers, START below END"));
  return vma_range{*start, *end};
}

inline result<mapped_file> parse_map(const line& l) {
  mapped_file m;
  NECRO_TRY_ASSIGN(m.ino, number<std::uint64_t>(l, "ino"));
  const auto id = l.raw("build_id");
  if (!id || id->size() > 128 || id->empty()) return fail(l.fail("map: build_id= must be - or up to 128 hex digits"));
  for (const char ch : *id)
    if (*id != "-" && hex_digit(ch) < 0) return fail(l.fail("map: build_id= holds a non-hex digit"));
  if (*id != "-") m.build_id = std::string(*id);
  NECRO_TRY_ASSIGN(m.path, text(l, "path"));
  return m;
}

}  // namespace necro::capture::detail

#endif
