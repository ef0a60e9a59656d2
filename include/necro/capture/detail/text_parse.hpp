/// The parser behind capture::parse_text: a record's line is read through its
/// table (detail/text_tables.hpp); here are the lines of one value and the
/// lines that depend on the ones before them.
#ifndef NECRO_CAPTURE_DETAIL_TEXT_PARSE_HPP
#define NECRO_CAPTURE_DETAIL_TEXT_PARSE_HPP
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <necro/capture/detail/lines.hpp>
#include <necro/capture/detail/text_field.hpp>
#include <necro/capture/detail/text_tables.hpp>
#include <necro/capture/detail/text_timers.hpp>
#include <necro/capture/model.hpp>
#include <necro/io/error.hpp>
#include <necro/io/printable.hpp>

namespace necro::capture::detail {

struct parse_state {
  process_capture c;
  std::optional<std::uint64_t> shared_declared;  ///< the count on the `shared-vmas` line
  bool header = false;
  std::size_t targets = 0;
  /// The counts on the `kernel-state read` line (actions, threads).
  std::optional<std::pair<std::uint64_t, std::uint64_t>> kernel_declared;
  timers_declared timers;  ///< the counts on the `timers read` line (format 4)
  /// Its `vmas=` count (format 4).
  std::optional<std::uint64_t> vmas_declared;
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

/// A `tfd FD ...` line: a registration of epoll fd FD, the fd line before it.
inline result<void> parse_tfd(const line& l, parse_state& st) {
  const auto epfd = l.words.empty() ? std::nullopt : parse_number<std::int32_t>(l.words[0]);
  if (!epfd || st.c.fds.empty() || st.c.fds.back().fd != *epfd || st.c.fds.back().kind != fd_kind::epoll)
    return fail(l.fail("tfd: does not follow the line of its epoll fd"));
  if (++st.targets > max_targets) return fail(l.fail(fmt::format("more than {} epoll registrations", max_targets)));
  NECRO_TRY_ASSIGN(auto t, read_fields<epoll_target>(l, tfd_fields));
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

/// `kernel-state read actions=N threads=N [vmas=N]` or `kernel-state missing why=REASON`
/// (format 3; vmas= from format 4).
inline result<void> parse_kernel_state(const line& l, parse_state& st) {
  if (st.c.version < 3) return fail(l.fail(fmt::format("kernel-state: not in a format {} capture", st.c.version)));
  if (st.c.kernel) return fail(l.fail("kernel-state: a second one"));
  if (l.words.empty()) return fail(l.fail("kernel-state: expected `read` or `missing`"));
  if (l.words[0] == "missing") {
    NECRO_TRY_ASSIGN(auto why, text(l, "why"));
    if (why.empty()) return fail(l.fail("kernel-state: missing without a why="));
    st.c.kernel.emplace().missing = std::move(why);
    return {};
  }
  if (l.words[0] != "read") return fail(l.fail(fmt::format("kernel-state: {} is not `read` or `missing`", io::printable(l.words[0]))));
  NECRO_TRY_ASSIGN(const auto actions, number<std::uint64_t>(l, "actions"));
  NECRO_TRY_ASSIGN(const auto threads, number<std::uint64_t>(l, "threads"));
  if (actions > max_signal || threads > max_threads)
    return fail(l.fail(fmt::format("kernel-state: actions={} threads={}: at most {} and {}", actions, threads, max_signal, max_threads)));
  if (st.c.version >= 4) {
    NECRO_TRY_ASSIGN(const auto vmas, number<std::uint64_t>(l, "vmas"));
    if (vmas > max_advised_vmas) return fail(l.fail(fmt::format("kernel-state: vmas={}: at most {}", vmas, max_advised_vmas)));
    st.vmas_declared = vmas;
  }
  st.c.kernel.emplace();
  st.kernel_declared.emplace(actions, threads);
  return {};
}

/// The `process` line: after `kernel-state read`, once (format 4).
inline result<void> parse_process_state(const line& l, parse_state& st) {
  if (st.c.version < 4) return fail(l.fail(fmt::format("process: not in a format {} capture", st.c.version)));
  if (!st.kernel_declared) return fail(l.fail("process: not after a `kernel-state read` line"));
  if (st.c.kernel->process) return fail(l.fail("process: a second one"));
  NECRO_TRY_ASSIGN(st.c.kernel->process, read_fields<process_state>(l, process_fields));
  st.c.kernel->process->line = l.number;
  return {};
}

/// A `madvise` line: after `kernel-state read`, ascending, not overlapping (format 4).
inline result<void> parse_advice(const line& l, parse_state& st) {
  if (!st.vmas_declared) return fail(l.fail("madvise: not after a format 4 `kernel-state read` line"));
  NECRO_TRY_ASSIGN(auto v, read_fields<vma_advice>(l, advice_fields));
  v.line = l.number;
  auto& all = st.c.kernel->vmas;
  if (!all.empty() && all.back().end > v.start)
    return fail(l.fail(fmt::format("madvise: {:#x}-{:#x} after {:#x}-{:#x}: ascending and not overlapping", v.start, v.end,
                                   all.back().start, all.back().end)));
  if (all.size() >= *st.vmas_declared) return fail(l.fail("madvise: more than kernel-state's vmas="));
  all.push_back(v);
  return {};
}

/// An `action` line: after `kernel-state read`, signals in ascending order.
inline result<void> parse_action(const line& l, parse_state& st) {
  if (!st.kernel_declared) return fail(l.fail("action: not after a `kernel-state read` line"));
  NECRO_TRY_ASSIGN(auto a, read_fields<signal_action>(l, action_fields));
  a.line = l.number;
  auto& all = st.c.kernel->actions;
  if (!all.empty() && all.back().sig >= a.sig)
    return fail(l.fail(fmt::format("action: sig={} after sig={}: one line per signal, in ascending order", a.sig, all.back().sig)));
  if (all.size() >= st.kernel_declared->first) return fail(l.fail("action: more than kernel-state's actions="));
  all.push_back(a);
  return {};
}

/// A `thread` line: after `kernel-state read`, each tid once.
inline result<void> parse_thread(const line& l, parse_state& st) {
  if (!st.kernel_declared) return fail(l.fail("thread: not after a `kernel-state read` line"));
  NECRO_TRY_ASSIGN(auto t, read_fields<thread_state>(l, thread_fields));
  t.line = l.number;
  auto& all = st.c.kernel->threads;
  if (all.size() >= st.kernel_declared->second) return fail(l.fail("thread: more than kernel-state's threads="));
  for (const auto& o : all)
    if (o.tid == t.tid) return fail(l.fail(fmt::format("thread: tid={} a second time", t.tid)));
  all.push_back(std::move(t));
  return {};
}

}  // namespace necro::capture::detail

#endif
