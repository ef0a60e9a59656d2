/// Pure parsers of the /proc/PID texts necro-catch reads: fdinfo, status,
/// limits, net/{tcp,tcp6,udp,udp6,unix}. No I/O here; collect.hpp reads.
#ifndef NECRO_CAPTURE_PROC_HPP
#define NECRO_CAPTURE_PROC_HPP
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <necro/capture/detail/lines.hpp>
#include <necro/capture/detail/text_tables.hpp>
#include <necro/capture/model.hpp>

namespace necro::capture::proc {

/// Calls `f(line)` for each line of `text` (without the newline).
template <class F>
void for_each_line(std::string_view text, F&& f) {
  while (!text.empty()) {
    const auto nl = text.find('\n');
    f(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

/// The whitespace-separated words of a line.
inline std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    const std::size_t b = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > b) out.push_back(s.substr(b, i - b));
  }
  return out;
}

template <class T>
std::optional<T> num(std::string_view s, int base) {
  T v{};
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

/// The value after `key:` on a `key:\tvalue` line, trimmed; nullopt if the line is another key.
inline std::optional<std::string_view> field(std::string_view line, std::string_view key) {
  if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ':') return std::nullopt;
  auto v = line.substr(key.size() + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

/// An epoll `tfd:` line: `tfd: N events: HEX data: HEX pos:N ino:HEX sdev:HEX`.
inline std::optional<epoll_target> parse_tfd_line(std::string_view line) {
  const auto w = words(line);
  epoll_target t;
  if (w.size() < 6 || w[0] != "tfd:" || w[2] != "events:" || w[4] != "data:") return std::nullopt;
  const auto tfd = num<std::uint32_t>(w[1], 10), ev = num<std::uint32_t>(w[3], 16);
  const auto data = num<std::uint64_t>(w[5], 16);
  if (!tfd || !ev || !data) return std::nullopt;
  t.tfd = *tfd, t.events = *ev, t.data = *data;
  for (std::size_t i = 6; i < w.size(); ++i) {
    if (w[i].starts_with("pos:")) t.pos = num<std::uint64_t>(w[i].substr(4), 10).value_or(0);
    if (w[i].starts_with("ino:")) t.ino = num<std::uint64_t>(w[i].substr(4), 16).value_or(0);
  }
  return t;
}

/// `it_value: (SEC, NSEC)` into two numbers.
inline bool parse_timespec(std::string_view v, std::uint64_t& sec, std::uint64_t& nsec) {
  if (v.size() < 5 || v.front() != '(' || v.back() != ')') return false;
  v = v.substr(1, v.size() - 2);
  const auto comma = v.find(',');
  if (comma == std::string_view::npos) return false;
  auto b = v.substr(comma + 1);
  while (!b.empty() && b.front() == ' ') b.remove_prefix(1);
  const auto s = num<std::uint64_t>(v.substr(0, comma), 10), n = num<std::uint64_t>(b, 10);
  if (!s || !n) return false;
  sec = *s, nsec = *n;
  return true;
}

/// The timerfd lines of an fdinfo, into `t`; true if any was there.
inline bool parse_timer_line(std::string_view line, timer_setting& t) {
  if (const auto v = field(line, "clockid")) return (t.clockid = num<std::uint32_t>(*v, 10).value_or(0)), true;
  if (const auto v = field(line, "ticks")) return (t.ticks = num<std::uint64_t>(*v, 10).value_or(0)), true;
  if (const auto v = field(line, "settime flags"))
    return (t.settime_flags = num<std::uint32_t>(*v, 8).value_or(0)), true;
  if (const auto v = field(line, "it_value")) return parse_timespec(*v, t.value_sec, t.value_nsec);
  if (const auto v = field(line, "it_interval")) return parse_timespec(*v, t.interval_sec, t.interval_nsec);
  return false;
}

/// Fills pos, flags, mnt_id, ino and the kind's own fields of `f` from /proc/PID/fdinfo/N.
inline void parse_fdinfo(std::string_view text, fd_entry& f) {
  timer_setting timer;
  bool is_timer = false;
  for_each_line(text, [&](std::string_view l) {
    if (const auto v = field(l, "pos")) f.pos = num<std::uint64_t>(*v, 10).value_or(0);
    else if (const auto v2 = field(l, "flags")) f.flags = num<std::uint32_t>(*v2, 8).value_or(0);
    else if (const auto v3 = field(l, "mnt_id")) f.mnt_id = num<std::int32_t>(*v3, 10).value_or(-1);
    else if (const auto v4 = field(l, "ino")) f.ino = num<std::uint64_t>(*v4, 10).value_or(f.ino);
    else if (const auto v5 = field(l, "eventfd-count")) f.eventfd_count = num<std::uint64_t>(*v5, 16);
    else if (const auto v6 = field(l, "sigmask")) f.sigmask = num<std::uint64_t>(*v6, 16);
    else if (const auto t = parse_tfd_line(l)) f.targets.push_back(*t);
    else is_timer |= parse_timer_line(l, timer);
  });
  if (is_timer) f.timer = timer;
}

/// A hex word of /proc/net/{tcp,udp}[6] addresses: the kernel prints each
/// 32-bit word of the address as it sits in memory, read as a host integer.
inline bool parse_net_address(std::string_view hex, std::array<std::uint8_t, 16>& a) {
  if (hex.size() != 8 && hex.size() != 32) return false;
  for (std::size_t w = 0; w < hex.size() / 8; ++w) {
    const auto v = num<std::uint32_t>(hex.substr(w * 8, 8), 16);
    if (!v) return false;
    std::memcpy(a.data() + w * 4, &*v, 4);  // host order back into memory order
  }
  return true;
}

/// One row of /proc/PID/net/{tcp,tcp6,udp,udp6}: inode -> socket.
inline void parse_inet_table(std::string_view text, std::uint32_t family, std::uint32_t proto,
                             std::map<std::uint64_t, socket_info>& out) {
  for_each_line(text, [&](std::string_view l) {
    const auto w = words(l);
    if (w.size() < 10 || w[0] == "sl") return;
    socket_info s;
    s.family = family, s.proto = proto, s.type = proto == 6 ? 1 : 2;
    const auto lc = w[1].find(':'), rc = w[2].find(':');
    if (lc == std::string_view::npos || rc == std::string_view::npos) return;
    if (!parse_net_address(w[1].substr(0, lc), s.local_addr) || !parse_net_address(w[2].substr(0, rc), s.remote_addr)) return;
    s.local_port = num<std::uint32_t>(w[1].substr(lc + 1), 16).value_or(0);
    s.remote_port = num<std::uint32_t>(w[2].substr(rc + 1), 16).value_or(0);
    s.state = num<std::uint32_t>(w[3], 16).value_or(0);
    const auto ino = num<std::uint64_t>(w[9], 10);
    if (ino && *ino) out[*ino] = s;
  });
}

/// /proc/PID/net/unix: inode -> socket (type, state, listening, bound name).
inline void parse_unix_table(std::string_view text, std::map<std::uint64_t, socket_info>& out) {
  for_each_line(text, [&](std::string_view l) {
    const auto w = words(l);
    if (w.size() < 7 || w[0] == "Num") return;
    socket_info s;
    s.family = 1;
    const auto flags = num<std::uint32_t>(w[3], 16).value_or(0);
    s.backlog = (flags & 0x10000) ? 1 : 0;  // __SO_ACCEPTCON: listening
    s.type = num<std::uint32_t>(w[4], 16).value_or(0);
    s.state = num<std::uint32_t>(w[5], 16).value_or(0);
    if (w.size() > 7) {
      // The path runs to the end of the line (it may hold spaces).
      s.unix_name = std::string(l.substr(static_cast<std::size_t>(w[7].data() - l.data())));
    }
    const auto ino = num<std::uint64_t>(w[6], 10);
    if (ino && *ino) out[*ino] = s;
  });
}

/// /proc/PID/status: creds and signal masks, each line into the row of the
/// capture's text table that names it (detail/text_tables.hpp), and the umask.
inline void parse_status(std::string_view text, process_capture& c) {
  credentials k;
  signal_masks s;
  for_each_line(text, [&](std::string_view l) {
    const auto key = l.substr(0, l.find(':'));
    const auto v = field(l, key);
    if (!v) return;
    if (detail::read_proc_line(detail::creds_fields, key, *v, k) || detail::read_proc_line(detail::signals_fields, key, *v, s))
      return;
    if (key == "Umask") c.umask = num<std::uint32_t>(*v, 8);
  });
  c.creds = k;
  c.signals = s;
}

/// The rows of /proc/PID/limits, in the kernel's (RLIMIT_*) order.
inline std::vector<rlimit_entry> parse_limits(std::string_view text) {
  static constexpr std::array<std::string_view, 16> names{
      "Max cpu time",      "Max file size",       "Max data size",       "Max stack size",
      "Max core file size", "Max resident set",   "Max processes",       "Max open files",
      "Max locked memory", "Max address space",   "Max file locks",      "Max pending signals",
      "Max msgqueue size", "Max nice priority",   "Max realtime priority", "Max realtime timeout"};
  std::vector<rlimit_entry> out;
  const auto value = [](std::string_view v) { return v == "unlimited" ? ~std::uint64_t{0} : num<std::uint64_t>(v, 10).value_or(0); };
  for_each_line(text, [&](std::string_view l) {
    for (std::size_t r = 0; r < names.size(); ++r) {
      if (!l.starts_with(names[r])) continue;
      const auto w = words(l.substr(names[r].size()));
      if (w.size() < 2) return;
      out.push_back({std::string(names[r]), static_cast<int>(r), value(w[0]), value(w[1])});
      return;
    }
  });
  return out;
}

}  // namespace necro::capture::proc

#endif
