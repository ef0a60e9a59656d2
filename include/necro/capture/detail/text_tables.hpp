/// capture.txt's records, one table each: the words of a `creds`, `signals`,
/// `rlimit`, `fd`, `tfd` or `map` line, in the order they are written and
/// read (detail/text_field.hpp). A new word is one row here; the writer
/// (detail/text_write.hpp) and the parser (detail/text_parse.hpp) follow.
#ifndef NECRO_CAPTURE_DETAIL_TEXT_TABLES_HPP
#define NECRO_CAPTURE_DETAIL_TEXT_TABLES_HPP
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include <boost/hana/tuple.hpp>
#include <fmt/format.h>

#include <necro/capture/detail/lines.hpp>
#include <necro/capture/detail/text_field.hpp>
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
inline constexpr std::size_t max_threads = 1u << 22;    ///< kernel.threads-max's ceiling (FUTEX_TID_MASK)
inline constexpr std::uint32_t max_signal = 64;         ///< _NSIG
inline constexpr std::size_t max_comm = 15;             ///< TASK_COMM_LEN - 1
inline constexpr std::size_t max_advised_vmas = 1u << 20;  ///< `madvise` lines (vm.max_map_count is 65530 by default)

inline constexpr dec_format dec{};
inline constexpr hex_format hex{};
inline constexpr oct_format oct{};
inline constexpr text_format escaped{};

// ---------------------------------------------------------------- formats of one record
/// The fd number, the first word of an `fd` line.
struct fd_number_format : dec_format {
  static constexpr layout placement = layout::lead;
  result<void> read(const line& l, std::string_view, std::int32_t& v, const auto&) const {
    if (l.words.empty()) return fail(l.fail(fmt::format("{}: no fd number", l.key)));
    const auto n = parse_number<std::int32_t>(l.words[0]);
    if (!n || *n > static_cast<std::int32_t>(max_fds))
      return fail(l.fail(fmt::format("{}: bad fd number {}", l.key, io::printable(l.words[0]))));
    v = *n;
    return {};
  }
};

/// A signed decimal (a nice value): `-N` or `N`; other numbers are never negative.
struct signed_format {
  void write(std::string& o, std::int32_t v, const auto&) const { fmt::format_to(std::back_inserter(o), "{}", v); }
  result<void> read(const line& l, std::string_view name, std::int32_t& v, const auto&) const {
    const auto r = l.raw(name);
    if (!r) return fail(l.fail(fmt::format("{}: no {}=", l.key, name)));
    const bool neg = !r->empty() && r->front() == '-';
    const auto n = parse_number<std::uint32_t>(neg ? r->substr(1) : *r);
    if (!n || *n > (neg ? 0x80000000u : 0x7fffffffu))
      return fail(l.fail(fmt::format("{}: {}={} is not a number that fits", l.key, name, io::printable(*r))));
    v = neg ? static_cast<std::int32_t>(-static_cast<std::int64_t>(*n)) : static_cast<std::int32_t>(*n);
    return {};
  }
};

/// An fd's kind by its name ("reg", "pipe", ...).
struct kind_format {
  void write(std::string& o, fd_kind v, const auto&) const { o += kind_name(v); }
  result<void> read(const line& l, std::string_view name, fd_kind& v, const auto&) const {
    const auto r = l.raw(name);
    for (int k = 0; r && k <= static_cast<int>(fd_kind::other); ++k)
      if (kind_name(static_cast<fd_kind>(k)) == *r) {
        v = static_cast<fd_kind>(k);
        return {};
      }
    return fail(l.fail(fmt::format("{}: unknown {}={}", l.key, name, io::printable(r.value_or("")))));
  }
};

/// A mount id; -1 (written for any negative one) or no word is none.
struct mnt_id_format : dec_format {
  void write(std::string& o, std::int32_t v, const auto& rec) const { dec_format::write(o, v < 0 ? -1 : v, rec); }
  result<void> read(const line& l, std::string_view name, std::int32_t& v, const auto& rec) const {
    const auto r = l.raw(name);
    if (!r || *r == "-1") return {};
    return dec_format::read(l, name, v, rec);
  }
};

/// A socket address as network-order hex bytes: 8 digits for IPv4, 32 for IPv6.
struct address_format {
  static std::size_t length(std::uint32_t family) { return family == 10 ? 16 : 4; }
  void write(std::string& o, const std::array<std::uint8_t, 16>& a, const socket_info& s) const {
    for (std::size_t i = 0; i < length(s.family); ++i) fmt::format_to(std::back_inserter(o), "{:02x}", a[i]);
  }
  result<void> read(const line& l, std::string_view name, std::array<std::uint8_t, 16>& a, const socket_info& s) const {
    const auto r = l.raw(name);
    const std::size_t n = length(s.family);
    if (!r || r->size() != 2 * n)
      return fail(l.fail(fmt::format("{}: {}= must be {} hex digits for family {}", l.key, name, 2 * n, s.family)));
    for (std::size_t i = 0; i < n; ++i) {
      const int hi = hex_digit((*r)[2 * i]), lo = hex_digit((*r)[2 * i + 1]);
      if (hi < 0 || lo < 0) return fail(l.fail(fmt::format("{}: {}= holds a non-hex digit", l.key, name)));
      a[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return {};
  }
};

/// A GNU build-id: lowercase hex as is, `-` for none.
struct build_id_format {
  void write(std::string& o, const std::string& v, const auto&) const { o += v.empty() ? "-" : v; }
  result<void> read(const line& l, std::string_view name, std::string& v, const auto&) const {
    const auto id = l.raw(name);
    if (!id || id->size() > 128 || id->empty())
      return fail(l.fail(fmt::format("{}: {}= must be - or up to 128 hex digits", l.key, name)));
    if (*id == "-") return {};
    for (const char ch : *id)
      if (hex_digit(ch) < 0) return fail(l.fail(fmt::format("{}: {}= holds a non-hex digit", l.key, name)));
    v = std::string(*id);
    return {};
  }
};

// ---------------------------------------------------------------- conditions and checks
/// An fd of one of these kinds.
template <fd_kind... K>
inline constexpr auto of_kind = [](const fd_entry& f) { return ((f.kind == K) || ...); };
inline constexpr auto unix_family = [](const socket_info& s) { return s.family == 1; };
inline constexpr auto inet_family = [](const socket_info& s) { return s.family != 1; };

inline result<void> four_ids_each(const line& l, const credentials&) {
  if (list_length(l, "uid") != 4 || list_length(l, "gid") != 4)
    return fail(l.fail("creds: uid= and gid= need 4 values (real,effective,saved,fs)"));
  return {};
}

inline result<void> known_family(const line& l, const socket_info& s) {
  if (s.family != 1 && s.family != 2 && s.family != 10)
    return fail(l.fail(fmt::format("fd: socket family {} is not 1, 2 or 10", s.family)));
  return {};
}

inline result<void> ports_fit(const line& l, const socket_info& s) {
  if (s.local_port > 65535 || s.remote_port > 65535) return fail(l.fail("fd: port above 65535"));
  return {};
}

inline result<void> shares_a_lower_fd(const line& l, const fd_entry& f) {
  if (f.shares && (*f.shares < 0 || *f.shares >= f.fd))
    return fail(l.fail(fmt::format("fd: shares={} is not a lower fd", *f.shares)));
  return {};
}

inline result<void> signal_in_range(const line& l, const signal_action& a) {
  if (a.sig < 1 || a.sig > max_signal) return fail(l.fail(fmt::format("action: sig={} is not 1..{}", a.sig, max_signal)));
  return {};
}

/// The MADV_* advice a `madvise` line may carry (CRIU's vma_entry.madv bits).
inline constexpr std::uint64_t known_madv = (1ull << 1) | (1ull << 2) | (1ull << 10) | (1ull << 12) | (1ull << 14) | (1ull << 15) | (1ull << 16) | (1ull << 18);

inline result<void> process_fits(const line& l, const process_state& p) {
  if (p.no_new_privs > 1) return fail(l.fail(fmt::format("process: no_new_privs={} is not 0 or 1", p.no_new_privs)));
  if (p.seccomp_mode < 0 || p.seccomp_mode > 2)
    return fail(l.fail(fmt::format("process: seccomp={} is not 0 (disabled), 1 (strict) or 2 (filter)", p.seccomp_mode)));
  if (p.seccomp_filters < -1) return fail(l.fail(fmt::format("process: seccomp_filters={} is below -1", p.seccomp_filters)));
  return {};
}

inline result<void> advice_fits(const line& l, const vma_advice& v) {
  if (v.start >= v.end || (v.start | v.end) & 0xfff)
    return fail(l.fail(fmt::format("madvise: {:#x}-{:#x} is not a page-aligned range, start below end", v.start, v.end)));
  if (v.madv & ~known_madv) return fail(l.fail(fmt::format("madvise: madv={:#x} holds unknown advice bits", v.madv)));
  if (v.locked > 1) return fail(l.fail(fmt::format("madvise: locked={} is not 0 or 1", v.locked)));
  return {};
}

inline result<void> thread_fits(const line& l, const thread_state& t) {
  constexpr std::uint32_t ss_known = 1u | 2u | (1u << 31);  // SS_ONSTACK, SS_DISABLE, SS_AUTODISARM
  if (t.tid <= 0) return fail(l.fail(fmt::format("thread: tid={} is not a thread id", t.tid)));
  if (t.comm.size() > max_comm) return fail(l.fail(fmt::format("thread: comm= is {} bytes, at most {}", t.comm.size(), max_comm)));
  if (t.sas_flags & ~ss_known) return fail(l.fail(fmt::format("thread: sas_flags={:#x} holds unknown bits", t.sas_flags)));
  if (t.policy > 7) return fail(l.fail(fmt::format("thread: policy={} is no scheduling policy", t.policy)));
  if (t.rt_priority > 99) return fail(l.fail(fmt::format("thread: rt_priority={} is above 99", t.rt_priority)));
  if (t.nice < -20 || t.nice > 19 || t.static_prio != t.nice + 120)
    return fail(l.fail(fmt::format("thread: nice={} static_prio={}: nice must be -20..19 and static_prio 120 + nice",
                                   t.nice, t.static_prio)));
  return {};
}

// ---------------------------------------------------------------- the tables
/// `creds uid=R,E,S,FS gid=R,E,S,FS groups=G1,G2|- cap_inh=0x.. ... no_new_privs=0`;
/// each word also names its /proc/PID/status line (necro-catch reads it there).
inline constexpr auto creds_fields = boost::hana::make_tuple(
    row("uid", &credentials::uid, id_list_format{4}).proc("Uid"),
    row("gid", &credentials::gid, id_list_format{4}).proc("Gid"), check<credentials>(four_ids_each),
    row("groups", &credentials::groups, id_list_format{max_groups}).proc("Groups"),
    row("cap_inh", &credentials::cap_inh, hex).proc("CapInh"), row("cap_prm", &credentials::cap_prm, hex).proc("CapPrm"),
    row("cap_eff", &credentials::cap_eff, hex).proc("CapEff"), row("cap_bnd", &credentials::cap_bnd, hex).proc("CapBnd"),
    row("cap_amb", &credentials::cap_amb, hex).proc("CapAmb"),
    row("no_new_privs", &credentials::no_new_privs, dec).proc("NoNewPrivs"));
NECRO_TEXT_ASSERT_COMPLETE(credentials, creds_fields);

/// `signals caught=0x.. blocked=0x.. ignored=0x.. pending=0x.. shared_pending=0x..`,
/// from /proc/PID/status's SigCgt, SigBlk, SigIgn, SigPnd and ShdPnd.
inline constexpr auto signals_fields = boost::hana::make_tuple(
    row("caught", &signal_masks::caught, hex).proc("SigCgt"), row("blocked", &signal_masks::blocked, hex).proc("SigBlk"),
    row("ignored", &signal_masks::ignored, hex).proc("SigIgn"), row("pending", &signal_masks::pending, hex).proc("SigPnd"),
    row("shared_pending", &signal_masks::shared_pending, hex).proc("ShdPnd"));
NECRO_TEXT_ASSERT_COMPLETE(signal_masks, signals_fields);

/// `rlimit resource=N cur=N max=N name=NAME`
inline constexpr auto rlimit_fields = boost::hana::make_tuple(
    row("resource", &rlimit_entry::resource, dec), row("cur", &rlimit_entry::cur, dec),
    row("max", &rlimit_entry::max, dec), row("name", &rlimit_entry::name, escaped));
NECRO_TEXT_ASSERT_COMPLETE(rlimit_entry, rlimit_fields);

/// A timerfd's words on its `fd` line.
inline constexpr auto timer_fields = boost::hana::make_tuple(
    row("clockid", &timer_setting::clockid, dec), row("ticks", &timer_setting::ticks, dec),
    row("settime_flags", &timer_setting::settime_flags, dec), row("value_sec", &timer_setting::value_sec, dec),
    row("value_nsec", &timer_setting::value_nsec, dec), row("interval_sec", &timer_setting::interval_sec, dec),
    row("interval_nsec", &timer_setting::interval_nsec, dec));
NECRO_TEXT_ASSERT_COMPLETE(timer_setting, timer_fields);

/// A socket's words on its `fd` line: unix ones have a name, inet ones addresses.
inline constexpr auto socket_fields = boost::hana::make_tuple(
    row("family", &socket_info::family, dec), row("type", &socket_info::type, dec),
    row("proto", &socket_info::proto, dec), row("state", &socket_info::state, dec),
    row("backlog", &socket_info::backlog, dec), check<socket_info>(known_family),
    row("name", &socket_info::unix_name, escaped, optional_word(unix_family)),
    row("local", &socket_info::local_addr, address_format{}, when(inet_family)),
    row("port", &socket_info::local_port, dec, when(inet_family)),
    row("remote", &socket_info::remote_addr, address_format{}, when(inet_family)),
    row("rport", &socket_info::remote_port, dec, when(inet_family)), check<socket_info>(ports_fit));
NECRO_TEXT_ASSERT_COMPLETE(socket_info, socket_fields);

/// `fd N kind=K flags=0o.. pos=N mnt_id=N ino=N mode=0o.. size=N dev=0x.. [kind's words] [shares=M] link=LINK`
inline constexpr auto fd_fields = boost::hana::make_tuple(
    row("fd", &fd_entry::fd, fd_number_format{}), row("kind", &fd_entry::kind, kind_format{}),
    row("flags", &fd_entry::flags, oct), row("pos", &fd_entry::pos, dec),
    row("mnt_id", &fd_entry::mnt_id, mnt_id_format{}), row("ino", &fd_entry::ino, dec),
    row("mode", &fd_entry::mode, oct), row("size", &fd_entry::size, dec), row("dev", &fd_entry::dev, hex),
    row("count", &fd_entry::eventfd_count, dec, read_when(of_kind<fd_kind::eventfd>)),
    row("sigmask", &fd_entry::sigmask, hex, read_when(of_kind<fd_kind::signalfd>)),
    row("timer", &fd_entry::timer, nested(timer_fields), read_when(of_kind<fd_kind::timerfd>)),
    row("sock", &fd_entry::sock, nested(socket_fields), read_when(of_kind<fd_kind::inet, fd_kind::unix_sk>)),
    row("shares", &fd_entry::shares, dec, optional_word()), check<fd_entry>(shares_a_lower_fd),
    row("link", &fd_entry::link, escaped), elsewhere(&fd_entry::targets, "the tfd lines after it"));
NECRO_TEXT_ASSERT_COMPLETE(fd_entry, fd_fields);

/// `tfd EPFD tfd=N events=0x.. data=0x.. ino=0x.. pos=N` (EPFD: the epoll fd's line before)
inline constexpr auto tfd_fields = boost::hana::make_tuple(
    row("tfd", &epoll_target::tfd, dec), row("events", &epoll_target::events, hex),
    row("data", &epoll_target::data, hex), row("ino", &epoll_target::ino, hex), row("pos", &epoll_target::pos, dec));
NECRO_TEXT_ASSERT_COMPLETE(epoll_target, tfd_fields);

/// `map ino=N build_id=HEX|- path=PATH`
inline constexpr auto map_fields = boost::hana::make_tuple(
    row("ino", &mapped_file::ino, dec), row("build_id", &mapped_file::build_id, build_id_format{}),
    row("path", &mapped_file::path, escaped));
NECRO_TEXT_ASSERT_COMPLETE(mapped_file, map_fields);

/// `action sig=N handler=0x.. flags=0x.. restorer=0x.. mask=0x..` (format 3)
inline constexpr auto action_fields = boost::hana::make_tuple(
    row("sig", &signal_action::sig, dec), check<signal_action>(signal_in_range),
    row("handler", &signal_action::handler, hex), row("flags", &signal_action::flags, hex),
    row("restorer", &signal_action::restorer, hex), row("mask", &signal_action::mask, hex));
NECRO_TEXT_ASSERT_COMPLETE(signal_action, action_fields);

/// `thread tid=N comm=NAME sas_sp=0x.. sas_size=N sas_flags=0x.. clear_child_tid=0x.. robust_list=0x..
/// rseq=0x.. rseq_len=N rseq_sig=0x.. policy=N rt_priority=N static_prio=N normal_prio=N nice=N timer_slack=N` (format 3)
inline constexpr auto thread_fields = boost::hana::make_tuple(
    row("tid", &thread_state::tid, dec), row("comm", &thread_state::comm, escaped),
    row("sas_sp", &thread_state::sas_sp, hex), row("sas_size", &thread_state::sas_size, dec),
    row("sas_flags", &thread_state::sas_flags, hex), row("clear_child_tid", &thread_state::clear_child_tid, hex),
    row("robust_list", &thread_state::robust_list, hex), row("rseq", &thread_state::rseq, hex),
    row("rseq_len", &thread_state::rseq_len, dec), row("rseq_sig", &thread_state::rseq_sig, hex),
    row("policy", &thread_state::policy, dec), row("rt_priority", &thread_state::rt_priority, dec),
    row("static_prio", &thread_state::static_prio, dec), row("normal_prio", &thread_state::normal_prio, dec),
    row("nice", &thread_state::nice, signed_format{}), row("timer_slack", &thread_state::timer_slack, dec),
    check<thread_state>(thread_fits));
NECRO_TEXT_ASSERT_COMPLETE(thread_state, thread_fields);

/// `process personality=0x.. securebits=0x.. no_new_privs=N seccomp=N seccomp_filters=N mm_flags=0x..` (format 4)
inline constexpr auto process_fields = boost::hana::make_tuple(
    row("personality", &process_state::personality, hex), row("securebits", &process_state::securebits, hex),
    row("no_new_privs", &process_state::no_new_privs, dec), row("seccomp", &process_state::seccomp_mode, signed_format{}),
    row("seccomp_filters", &process_state::seccomp_filters, signed_format{}), row("mm_flags", &process_state::mm_flags, hex),
    check<process_state>(process_fits));
NECRO_TEXT_ASSERT_COMPLETE(process_state, process_fields);

/// `madvise start=0x.. end=0x.. madv=0x.. locked=N` (format 4)
inline constexpr auto advice_fields = boost::hana::make_tuple(
    row("start", &vma_advice::start, hex), row("end", &vma_advice::end, hex), row("madv", &vma_advice::madv, hex),
    row("locked", &vma_advice::locked, dec), check<vma_advice>(advice_fits));
NECRO_TEXT_ASSERT_COMPLETE(vma_advice, advice_fields);

}  // namespace necro::capture::detail

#endif
