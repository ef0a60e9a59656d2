/// capture.txt's timer lines (format 4), after `kernel-state read`: one
/// `timers read itimers=3 posix=N` (or `timers missing why=REASON`), then
/// `itimer` lines for REAL, VIRTUAL and PROF in that order and `posix-timer`
/// lines in ascending id order. Their tables, writer and parser, on their own
/// so that the other kernel-state lines stay apart.
#ifndef NECRO_CAPTURE_DETAIL_TEXT_TIMERS_HPP
#define NECRO_CAPTURE_DETAIL_TEXT_TIMERS_HPP
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <boost/hana/tuple.hpp>
#include <fmt/format.h>

#include <necro/capture/detail/escape.hpp>
#include <necro/capture/detail/lines.hpp>
#include <necro/capture/detail/text_field.hpp>
#include <necro/capture/detail/text_tables.hpp>
#include <necro/capture/model.hpp>
#include <necro/io/error.hpp>
#include <necro/io/printable.hpp>

namespace necro::capture::detail {

/// The three interval timers: ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF.
inline constexpr std::size_t itimer_count = 3;
/// At most this many POSIX timers (the kernel has no limit but memory; the
/// BPF step walks at most 1024).
inline constexpr std::size_t max_posix_timers = 1u << 16;
/// A time left or interval above this (about 292 years) is no timer setting.
inline constexpr std::uint64_t max_timer_ns = std::uint64_t{1} << 63;
inline constexpr std::uint32_t sigev_signal = 0, sigev_none = 1, sigev_thread = 2, sigev_thread_id = 4;

/// An itimer's name: `real`, `virtual`, `prof` (ITIMER_REAL 0, VIRTUAL 1, PROF 2).
struct which_format {
  static constexpr std::array<std::string_view, itimer_count> names{"real", "virtual", "prof"};
  void write(std::string& o, std::uint32_t v, const auto&) const { o += v < names.size() ? names[v] : "?"; }
  result<void> read(const line& l, std::string_view name, std::uint32_t& v, const auto&) const {
    const auto r = l.raw(name);
    for (std::uint32_t i = 0; r && i < names.size(); ++i)
      if (names[i] == *r) return v = i, result<void>{};
    return fail(l.fail(fmt::format("{}: {}={} is not real, virtual or prof", l.key, name, io::printable(r.value_or("")))));
  }
};

inline result<void> itimer_fits(const line& l, const interval_timer& t) {
  if (t.value_ns >= max_timer_ns || t.interval_ns >= max_timer_ns)
    return fail(l.fail(fmt::format("itimer: value_ns={} interval_ns={}: above 2^63", t.value_ns, t.interval_ns)));
  return {};
}

inline result<void> posix_timer_fits(const line& l, const posix_timer& t) {
  if (t.id < 0) return fail(l.fail(fmt::format("posix-timer: id={} is negative", t.id)));
  if (t.notify != sigev_signal && t.notify != sigev_none && t.notify != sigev_thread && t.notify != sigev_thread_id)
    return fail(l.fail(fmt::format("posix-timer id={}: notify={} is not SIGEV_SIGNAL 0, SIGEV_NONE 1, SIGEV_THREAD 2 or "
                                   "SIGEV_THREAD_ID 4", t.id, t.notify)));
  if (t.signo > max_signal || (t.signo == 0 && t.notify != sigev_none))
    return fail(l.fail(fmt::format("posix-timer id={}: signo={} is not 1..{}", t.id, t.signo, max_signal)));
  if (t.value_ns >= max_timer_ns || t.interval_ns >= max_timer_ns)
    return fail(l.fail(fmt::format("posix-timer id={}: value_ns={} interval_ns={}: above 2^63", t.id, t.value_ns, t.interval_ns)));
  if (t.overrun > 0x7fffffffu) return fail(l.fail(fmt::format("posix-timer id={}: overrun={} above INT_MAX", t.id, t.overrun)));
  return {};
}

/// `itimer which=real|virtual|prof value_ns=N interval_ns=N`
inline constexpr auto itimer_fields = boost::hana::make_tuple(
    row("which", &interval_timer::which, which_format{}), row("value_ns", &interval_timer::value_ns, dec),
    row("interval_ns", &interval_timer::interval_ns, dec), check<interval_timer>(itimer_fits));
NECRO_TEXT_ASSERT_COMPLETE(interval_timer, itimer_fields);

/// `posix-timer id=N clock=N signo=N notify=N tid=N sigev_value=0x.. value_ns=N interval_ns=N overrun=N`
inline constexpr auto posix_timer_fields = boost::hana::make_tuple(
    row("id", &posix_timer::id, signed_format{}), row("clock", &posix_timer::clock, signed_format{}),
    row("signo", &posix_timer::signo, dec), row("notify", &posix_timer::notify, dec),
    row("tid", &posix_timer::tid, signed_format{}), row("sigev_value", &posix_timer::sigev_value, hex),
    row("value_ns", &posix_timer::value_ns, dec), row("interval_ns", &posix_timer::interval_ns, dec),
    row("overrun", &posix_timer::overrun, dec), check<posix_timer>(posix_timer_fits),
    elsewhere(&posix_timer::line, "its line number, which the parser sets"));
NECRO_TEXT_ASSERT_COMPLETE(posix_timer, posix_timer_fields);

/// The timer lines of a kernel state read.
inline void put_timers(std::string& o, const timers_state& t) {
  if (!t.read()) {
    o += fmt::format("timers missing why={}\n", escape(t.missing));
    return;
  }
  o += fmt::format("timers read itimers={} posix={}\n", t.itimers.size(), t.posix.size());
  for (const auto& i : t.itimers) {
    o += "itimer";
    write_fields(o, itimer_fields, i);
    o += '\n';
  }
  for (const auto& p : t.posix) {
    o += "posix-timer";
    write_fields(o, posix_timer_fields, p);
    o += '\n';
  }
}

/// The counts a `timers read` line declared (itimers, posix).
using timers_declared = std::optional<std::pair<std::uint64_t, std::uint64_t>>;

/// `timers read itimers=3 posix=N` or `timers missing why=REASON`: once, after `kernel-state read`.
inline result<void> parse_timers(const line& l, std::optional<kernel_state>& kernel, bool kernel_read, unsigned version,
                                 timers_declared& declared) {
  if (version < 4) return fail(l.fail(fmt::format("timers: not in a format {} capture", version)));
  if (!kernel_read) return fail(l.fail("timers: not after a `kernel-state read` line"));
  if (kernel->timers) return fail(l.fail("timers: a second one"));
  if (l.words.empty()) return fail(l.fail("timers: expected `read` or `missing`"));
  if (l.words[0] == "missing") {
    NECRO_TRY_ASSIGN(auto why, text(l, "why"));
    if (why.empty()) return fail(l.fail("timers: missing without a why="));
    kernel->timers.emplace().missing = std::move(why);
    return {};
  }
  if (l.words[0] != "read") return fail(l.fail(fmt::format("timers: {} is not `read` or `missing`", io::printable(l.words[0]))));
  NECRO_TRY_ASSIGN(const auto itimers, number<std::uint64_t>(l, "itimers"));
  NECRO_TRY_ASSIGN(const auto posix, number<std::uint64_t>(l, "posix"));
  if (itimers != itimer_count || posix > max_posix_timers)
    return fail(l.fail(fmt::format("timers: itimers={} posix={}: itimers must be {}, posix at most {}", itimers, posix,
                                   itimer_count, max_posix_timers)));
  kernel->timers.emplace();
  declared.emplace(itimers, posix);
  return {};
}

/// An `itimer` line: after `timers read`, REAL, VIRTUAL, PROF in that order.
inline result<void> parse_itimer(const line& l, std::optional<kernel_state>& kernel, const timers_declared& declared) {
  if (!declared) return fail(l.fail("itimer: not after a `timers read` line"));
  NECRO_TRY_ASSIGN(auto t, read_fields<interval_timer>(l, itimer_fields));
  auto& all = kernel->timers->itimers;
  if (t.which != all.size())
    return fail(l.fail(fmt::format("itimer: which={} where {} was due: real, virtual, prof once each, in that order",
                                   which_format::names[t.which], all.size() < itimer_count ? which_format::names[all.size()] : "none")));
  all.push_back(t);
  return {};
}

/// A `posix-timer` line: after `timers read`, ids ascending, within posix=.
inline result<void> parse_posix_timer(const line& l, std::optional<kernel_state>& kernel, const timers_declared& declared) {
  if (!declared) return fail(l.fail("posix-timer: not after a `timers read` line"));
  NECRO_TRY_ASSIGN(auto t, read_fields<posix_timer>(l, posix_timer_fields));
  t.line = l.number;
  auto& all = kernel->timers->posix;
  if (!all.empty() && all.back().id >= t.id)
    return fail(l.fail(fmt::format("posix-timer: id={} after id={}: one line per timer, ids ascending", t.id, all.back().id)));
  if (all.size() >= declared->second) return fail(l.fail("posix-timer: more than timers' posix="));
  all.push_back(t);
  return {};
}

/// After the last line: as many timer lines as `timers read` declared.
inline std::string timers_count_problem(const std::optional<kernel_state>& kernel, const timers_declared& declared) {
  if (!declared) return {};
  const auto& t = *kernel->timers;
  if (t.itimers.size() == declared->first && t.posix.size() == declared->second) return {};
  return fmt::format("timers says {} itimers and {} POSIX timers, the file has {} and {}", declared->first,
                     declared->second, t.itimers.size(), t.posix.size());
}

}  // namespace necro::capture::detail

#endif
