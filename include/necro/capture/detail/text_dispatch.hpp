/// The line loop of capture::parse_text: header, one handler per key, `end`.
#ifndef NECRO_CAPTURE_DETAIL_TEXT_DISPATCH_HPP
#define NECRO_CAPTURE_DETAIL_TEXT_DISPATCH_HPP
#pragma once

#include <necro/capture/detail/text_parse.hpp>

namespace necro::capture::detail {

/// A line that appends to a list, within that list's cap.
template <class T>
result<void> append_capped(const line& l, std::vector<T>& v, std::size_t cap, result<T> item) {
  if (!item) return fail(std::move(item).error_value());
  if (v.size() == cap) return fail(l.fail(fmt::format("more than {} {} lines", cap, l.key)));
  v.push_back(std::move(*item));
  return {};
}

inline result<void> add_fd(const line& l, parse_state& st) {
  NECRO_TRY_ASSIGN(auto f, read_fields<fd_entry>(l, fd_fields));
  if (!st.c.fds.empty() && st.c.fds.back().fd >= f.fd)
    return fail(l.fail(fmt::format("fd {} after fd {}: fds must be listed once each, in ascending order", f.fd,
                                   st.c.fds.back().fd)));
  return append_capped(l, st.c.fds, max_fds, result<fd_entry>(std::move(f)));
}

inline result<void> check_end(const line& l, const parse_state& st) {
  NECRO_TRY_ASSIGN(const auto fds, number<std::uint64_t>(l, "fds"));
  NECRO_TRY_ASSIGN(const auto maps, number<std::uint64_t>(l, "maps"));
  if (fds != st.c.fds.size() || maps != st.c.mapped_files.size())
    return fail(l.fail(fmt::format("end: says {} fds and {} maps, the file has {} and {}", fds, maps,
                                   st.c.fds.size(), st.c.mapped_files.size())));
  return {};
}

/// Process-wide lines (pid, comm, ...); false if `l.key` is none of them.
inline result<bool> process_line(const line& l, parse_state& st) {
  auto& c = st.c;
  const auto k = l.key;
  if (k == "pid") NECRO_TRY(assign(c.pid, single_number<std::int32_t>(l)));
  else if (k == "comm") NECRO_TRY(assign(c.comm, single_text(l)));
  else if (k == "exe") NECRO_TRY(assign(c.exe, single_text(l)));
  else if (k == "cwd") NECRO_TRY(assign(c.cwd, single_text(l)));
  else if (k == "root") NECRO_TRY(assign(c.root, single_text(l)));
  else if (k == "umask") NECRO_TRY(assign(c.umask, single_number<std::uint32_t>(l)));
  else if (k == "personality") NECRO_TRY(assign(c.personality, single_number<std::uint32_t>(l)));
  else if (k == "creds") NECRO_TRY(assign(c.creds, read_fields<credentials>(l, creds_fields)));
  else if (k == "signals") NECRO_TRY(assign(c.signals, read_fields<signal_masks>(l, signals_fields)));
  else return false;
  return true;
}

/// One line after the header.
inline result<void> parse_line(const line& l, parse_state& st) {
  NECRO_TRY_ASSIGN(const bool done, process_line(l, st));
  if (done) return {};
  const auto k = l.key;
  if (k == "rlimit") return append_capped(l, st.c.rlimits, max_rlimits, read_fields<rlimit_entry>(l, rlimit_fields));
  if (k == "fd") return add_fd(l, st);
  if (k == "tfd") return parse_tfd(l, st);
  if (k == "map") return append_capped(l, st.c.mapped_files, max_maps, read_fields<mapped_file>(l, map_fields));
  if (k == "kernel-state") return parse_kernel_state(l, st);
  if (k == "action") return parse_action(l, st);
  if (k == "thread") return parse_thread(l, st);
  if (k == "timers") return parse_timers(l, st.c.kernel, st.kernel_declared.has_value(), st.c.version, st.timers);
  if (k == "itimer") return parse_itimer(l, st.c.kernel, st.timers);
  if (k == "posix-timer") return parse_posix_timer(l, st.c.kernel, st.timers);
  if (k == "process") return parse_process_state(l, st);
  if (k == "madvise") return parse_advice(l, st);
  if (k == "skipped") return append_capped(l, st.c.skipped, max_skipped, single_text(l));
  if (k == "shared-vmas") {
    if (st.shared_declared) return fail(l.fail("shared-vmas: a second one"));
    NECRO_TRY(assign(st.shared_declared, single_number<std::uint64_t>(l)));
    st.c.shared_vmas.emplace();
    return {};
  }
  if (k == "shared") {
    if (!st.c.shared_vmas) return fail(l.fail("shared: before the shared-vmas line"));
    return append_capped(l, *st.c.shared_vmas, max_shared_vmas, parse_shared(l));
  }
  // A newer writer's key: a reader refuses rather than guess.
  return fail(l.fail(fmt::format("unknown key {}", io::printable(k))));
}

inline result<unsigned> parse_header(const line& l) {
  if (l.key != "necro-capture") return fail(l.fail("not a necro capture (no `necro-capture VERSION` line first)"));
  NECRO_TRY_ASSIGN(const auto v, single_number<unsigned>(l));
  if (v < oldest_format_version || v > format_version)
    return fail(l.fail(fmt::format("capture format version {}; this reader knows {} to {}", v, oldest_format_version,
                                   format_version)));
  return v;
}

/// After the loop: the pieces every capture has, and the pid it should be.
inline result<void> check_whole(std::string_view origin, std::uint64_t size, const parse_state& st,
                                std::optional<std::int32_t> expected_pid) {
  const auto err = [&](errc code, std::string what) { return necro::error(code, std::string(origin), size, std::move(what)); };
  if (!st.c.complete) return fail(err(errc::truncated, "no `end` line: the capture is truncated (its writer was stopped or the disk filled)"));
  if (st.c.pid <= 0) return fail(err(errc::missing, "no `pid` line"));
  if (st.shared_declared && *st.shared_declared != st.c.shared_vmas->size())
    return fail(err(errc::mismatch, fmt::format("shared-vmas says {}, the file has {} shared lines", *st.shared_declared,
                                                st.c.shared_vmas->size())));
  if (st.kernel_declared && (st.kernel_declared->first != st.c.kernel->actions.size() ||
                             st.kernel_declared->second != st.c.kernel->threads.size()))
    return fail(err(errc::mismatch, fmt::format("kernel-state says {} actions and {} threads, the file has {} and {}",
                                                st.kernel_declared->first, st.kernel_declared->second,
                                                st.c.kernel->actions.size(), st.c.kernel->threads.size())));
  if (auto p = timers_count_problem(st.c.kernel, st.timers); !p.empty()) return fail(err(errc::mismatch, std::move(p)));
  if (st.vmas_declared && *st.vmas_declared != st.c.kernel->vmas.size())
    return fail(err(errc::mismatch, fmt::format("kernel-state says {} vmas, the file has {} madvise lines", *st.vmas_declared,
                                                st.c.kernel->vmas.size())));
  if (expected_pid && *expected_pid != st.c.pid)
    return fail(err(errc::mismatch, fmt::format("capture of pid {}, expected pid {}", st.c.pid, *expected_pid)));
  return {};
}

inline result<process_capture> parse_all(std::string_view text, std::string_view origin,
                                         std::optional<std::int32_t> expected_pid) {
  parse_state st;
  std::size_t pos = 0, number = 0;
  while (pos < text.size()) {
    const auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos)
      return fail(necro::error(errc::truncated, std::string(origin), pos, fmt::format("line {}: no newline at its end: truncated", number + 1)));
    NECRO_TRY_ASSIGN(const auto l, split_line(origin, ++number, pos, text.substr(pos, nl - pos)));
    pos = nl + 1;
    if (st.c.complete) return fail(l.fail("text after the `end` line"));
    if (number == 1) {
      NECRO_TRY_ASSIGN(st.c.version, parse_header(l));
    } else if (l.key == "end") {
      NECRO_TRY(check_end(l, st));
      st.c.complete = true;
    } else {
      NECRO_TRY(parse_line(l, st));
    }
  }
  NECRO_TRY(check_whole(origin, text.size(), st, expected_pid));
  return std::move(st.c);
}

}  // namespace necro::capture::detail

#endif
