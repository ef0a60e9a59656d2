/// necro::plan::apply_capture: a planned resurrection completed with what
/// necro-catch read from /proc/PID at the moment of death (capture/model.hpp).
/// Without a donor (capture_scope::everything) the victim's own fds come
/// back — regular files at their paths, offsets and flags; pipes whose both
/// ends it held; listening TCP, UDP and unix sockets bound to its addresses;
/// epoll instances with their registrations; eventfd, timerfd, signalfd — and
/// its cwd, root, umask, rlimits, credentials, personality and ignored
/// signals. With a donor (capture_scope::regular_files) the victim's regular
/// files replace the donor's at the same fd numbers. A connection or pipe end
/// whose peer is gone comes back as an unconnected stand-in of the same kind
/// (the program sees the peer gone, its fd table and epoll stay consistent);
/// anything else that cannot come back is closed. Both are listed
/// (resurrection::capture); fds 0-2 then keep what the set had. Pure.
#ifndef NECRO_PLAN_CAPTURE_HPP
#define NECRO_PLAN_CAPTURE_HPP
#pragma once

#include <string.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/capture/criu_files.hpp>
#include <necro/capture/model.hpp>
#include <necro/criu/image.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/io/error.hpp>
#include <necro/io/printable.hpp>
#include <necro/arch/common.hpp>
#include <necro/plan/detail/capture_fds.hpp>
#include <necro/plan/detail/donorless_files.hpp>
#include <necro/plan/detail/donorless_threads.hpp>
#include <necro/plan/donorless_options.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan {

namespace detail {

/// RLIM_INFINITY.
inline constexpr std::uint64_t rlim_infinity = ~std::uint64_t{0};

/// The index of `sig` in tc.sigactions: CRIU keeps one for 1..max_signal but SIGKILL and SIGSTOP.
inline int sigaction_index(int sig) { return sig - 1 - (sig > arch::sig::sigkill) - (sig > arch::sig::sigstop); }

inline std::string signal_names(std::uint64_t mask) {
  std::vector<std::string> names;
  for (int sig = 1; sig <= max_signal; ++sig) {
    if (!(mask >> (sig - 1) & 1)) continue;
    const char* abbrev = ::sigabbrev_np(sig);
    names.push_back(abbrev ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", sig));
  }
  return fmt::format("{}", fmt::join(names, " "));
}

/// A captured regular file as restore must open it: by path, no mount id
/// (the set restores into the host's mounts), the mode the file has now
/// (CRIU compares it), no size (a file written after the death may have
/// grown), and no seek on a device or FIFO.
inline void fit_regular_file(pb::file_entry& e, const capture::fd_entry& f, const capture_facts& facts) {
  auto* reg = e.mutable_reg();
  reg->clear_mnt_id();
  reg->clear_size();
  if (const auto it = facts.present.find(f.link); it != facts.present.end()) reg->set_mode(it->second);
  if ((f.mode & s_ifmt) == s_ifchr) reg->set_pos(no_position);
}

/// An epoll instance keeps the registrations of fds that come back (as the
/// victim's own or a stand-in); the others are listed.
inline void fit_epoll(pb::file_entry& e, const capture::fd_entry& f, const std::set<int>& held, capture_use& use) {
  auto* ep = e.mutable_epfd();
  ep->clear_tfd();
  for (const auto& t : f.targets) {
    if (!held.contains(static_cast<int>(t.tfd))) {
      use.lost.push_back(fmt::format("epoll fd {}: the registration of fd {} (events {:#x}), whose file does not come back",
                                     f.fd, t.tfd, t.events));
      continue;
    }
    auto* x = ep->add_tfd();
    x->set_id(e.id()), x->set_tfd(t.tfd), x->set_events(t.events), x->set_data(t.data);
  }
}

/// The largest file id in use, so new entries take fresh ones.
inline std::uint32_t last_file_id(const std::vector<pb::file_entry>& files) {
  std::uint32_t m = 0;
  for (const auto& f : files) m = std::max(m, f.id());
  return m;
}

/// Builds the victim's own entry for fd `f` (files.img) at id `id`.
inline pb::file_entry own_entry(const capture::fd_entry& f, std::uint32_t id, const capture::process_capture& c,
                                const capture_facts& facts, const std::set<int>& held, capture_use& use) {
  auto e = *capture::file_entry_for(f, id, c.cwd);  // judged convertible
  if (f.kind == capture::fd_kind::reg) fit_regular_file(e, f, facts);
  if (f.kind == capture::fd_kind::epoll) fit_epoll(e, f, held, use);
  return e;
}

/// The fate of every captured fd, by number.
inline std::map<int, fd_verdict> judge_fds(const capture::process_capture& c, const capture_facts& facts,
                                           capture_scope scope) {
  const auto pipes = pipes_held(c);
  std::map<int, fd_verdict> verdicts;
  for (const auto& f : c.fds) {
    auto v = judge_fd(f, pipes, facts, scope);
    // fds 0-2 whose peer is gone get the set's own stdio instead (no SIGPIPE on a log line).
    if (v.fate == fd_fate::stand_in && f.fd <= 2) v.fate = fd_fate::closed;
    if (v.fate != fd_fate::closed && !capture::file_entry_for(stand_in_for(f), 0))
      v = {fd_fate::closed, "its details were not captured"};
    verdicts.emplace(f.fd, std::move(v));
  }
  return verdicts;
}

/// One fd that comes back (own or stand-in): its files.img entry at `id`.
inline void bring_back(resurrection& plan, const capture::fd_entry& f, const fd_verdict& v, std::uint32_t id,
                       const capture::process_capture& c, const capture_facts& facts, const std::set<int>& held,
                       std::map<int, pb::fdinfo_entry>& table, capture_use& use) {
  if (v.fate == fd_fate::own) {
    plan.files.push_back(own_entry(f, id, c, facts, held, use));
    use.restored.push_back(fmt::format("fd {}: {}", f.fd, describe_fd(f)));
  } else {
    plan.files.push_back(*capture::file_entry_for(stand_in_for(f), id));
    use.closed.push_back(fmt::format("fd {}: {}: {}; {}", f.fd, describe_fd(f), v.why, stand_in_words(f)));
  }
  table[f.fd] = capture::fdinfo_for(f, id, plan.files.back().type());
}

/// The new fd table: each captured fd as the victim's own object where it
/// can come back, a stand-in where its peer is gone; otherwise the set's own
/// entry at that number where one serves (fds 0-2, or any fd with a donor),
/// else closed.
inline std::map<int, pb::fdinfo_entry> rebuild_fd_table(resurrection& plan, const criu::image_set& donor,
                                                        const capture::process_capture& c, const capture_facts& facts,
                                                        capture_scope scope, capture_use& use) {
  const auto verdicts = judge_fds(c, facts, scope);
  std::set<int> held;  // fds an epoll registration may keep
  for (const auto& [fd, v] : verdicts)
    if (v.fate != fd_fate::closed) held.insert(fd);
  std::map<int, pb::fdinfo_entry> before, after;
  for (const auto& fi : donor.fdinfo()) before.emplace(static_cast<int>(fi.fd()), fi);
  if (scope == capture_scope::regular_files) after = before;
  const std::string_view set_word = scope == capture_scope::regular_files ? "the donor's" : "the default";
  std::uint32_t next = last_file_id(plan.files) + 1;
  std::map<int, pb::fdinfo_entry> built;  // fds brought back, for those that share their open file
  for (const auto& f : c.fds) {
    const auto& v = verdicts.at(f.fd);
    if (v.fate != fd_fate::closed && f.shares && built.contains(*f.shares)) {
      const auto& shared = built.at(*f.shares);
      after[f.fd] = capture::fdinfo_for(f, shared.id(), shared.type());
      use.restored.push_back(fmt::format("fd {}: fd {}'s open file, shared again (one offset): {}", f.fd, *f.shares,
                                         describe_fd(f)));
    } else if (v.fate != fd_fate::closed) {
      bring_back(plan, f, v, next++, c, facts, held, after, use);
      built.emplace(f.fd, after.at(f.fd));
    } else if (scope == capture_scope::regular_files && f.kind != capture::fd_kind::reg) {
      continue;  // the donor's stands; not the capture's business
    } else if (const auto it = before.find(f.fd); it != before.end() && (f.fd <= 2 || scope == capture_scope::regular_files)) {
      after[f.fd] = it->second;
      use.closed.push_back(fmt::format("fd {}: {}: {}; {} file is open there instead", f.fd, describe_fd(f), v.why, set_word));
    } else {
      use.closed.push_back(fmt::format("fd {}: {}: {}", f.fd, describe_fd(f), v.why));
    }
  }
  for (const auto& [ino, e] : pipes_held(c))
    if (e.read && e.write)
      use.lost.push_back(fmt::format("pipe {}: any bytes written to it and not yet read (a capture cannot read them)", ino));
  return after;
}

/// Entries nothing refers to any more: those of the fds and directories replaced.
inline void drop_unreferenced(resurrection& plan, const std::set<std::uint32_t>& replaced,
                              const std::map<int, pb::fdinfo_entry>& table, const pb::fs_entry& fs) {
  std::set<std::uint32_t> used{fs.cwd_id(), fs.root_id(), static_cast<std::uint32_t>(plan.mm.exe_file_id())};
  for (const auto& [fd, fi] : table) used.insert(fi.id());
  for (const auto& v : plan.mm.vmas()) used.insert(static_cast<std::uint32_t>(v.shmid()));
  for (const auto& o : plan.shared.objects) used.insert(o.file_id);
  std::erase_if(plan.files, [&](const pb::file_entry& f) { return replaced.contains(f.id()) && !used.contains(f.id()); });
}

/// Puts `bytes` in place of the carried image `name` (or adds it).
inline void replace_carried(resurrection& plan, const std::string& name, std::string bytes) {
  for (auto& c : plan.carried)
    if (c.to == name) {
      c.bytes = std::move(bytes);
      return;
    }
  plan.carried.push_back({name, name, std::move(bytes)});
}

/// cwd and root: the victim's where they still exist, else the set's own
/// (silently where the capture has none, or the caller chose the cwd).
inline pb::fs_entry rebuild_fs(resurrection& plan, const pb::fs_entry& before, const capture::process_capture& c,
                               const capture_facts& facts, capture_use& use) {
  pb::fs_entry fs = before;
  std::uint32_t next = last_file_id(plan.files) + 1;
  const auto directory = [&](const std::string& path, const char* what, auto set) {
    if (path.empty()) return;  // not captured
    const auto v = judge_path(path, 040000, facts);
    if (v.fate != fd_fate::own) {
      use.closed.push_back(fmt::format("{} {}: {}; the default is used", what, io::printable(path), v.why));
      return;
    }
    plan.files.push_back(reg_entry(next, path, o_rdonly, std::nullopt, facts.present.find(path)->second));
    (fs.*set)(next++);
    use.restored.push_back(fmt::format("{} {}", what, io::printable(path)));
  };
  if (!facts.cwd_chosen) directory(c.cwd, "cwd", &pb::fs_entry::set_cwd_id);
  directory(c.root, "root", &pb::fs_entry::set_root_id);
  if (c.umask) {
    fs.set_umask(*c.umask);
    use.restored.push_back(fmt::format("umask {:03o}", *c.umask));
  }
  return fs;
}

/// The task's settings: credentials (every thread), rlimits, personality,
/// and the dispositions /proc shows without addresses (ignored signals).
inline void apply_task_settings(resurrection& plan, const capture::process_capture& c, capture_use& use) {
  if (c.creds) {
    const auto creds = capture::creds_for(*c.creds);
    for (auto& t : plan.threads) *t.core.mutable_thread_core()->mutable_creds() = creds;
    use.restored.push_back(fmt::format("credentials: uid {} gid {}, {} supplementary groups, capabilities {:#x}",
                                       c.creds->uid[1], c.creds->gid[1], c.creds->groups.size(), c.creds->cap_eff));
  }
  auto* tc = plan.threads.front().core.mutable_tc();
  std::size_t limits = 0;
  for (const auto& r : c.rlimits) {
    if (r.resource < 0 || r.resource >= static_cast<int>(rlimit_count)) continue;
    auto* all = tc->mutable_rlimits();
    while (all->rlimits_size() <= r.resource) {  // a set without them: unlimited until said
      auto* l = all->add_rlimits();
      l->set_cur(rlim_infinity), l->set_max(rlim_infinity);
    }
    all->mutable_rlimits(r.resource)->set_cur(r.cur), all->mutable_rlimits(r.resource)->set_max(r.max), ++limits;
  }
  if (limits) use.restored.push_back(fmt::format("rlimits: {} of /proc/PID/limits", limits));
  if (c.personality) tc->set_personality(*c.personality);
  if (!c.signals) return;
  std::uint64_t ignored = 0;
  for (int sig = 1; sig <= max_signal; ++sig) {
    const int i = sigaction_index(sig);
    if (!(c.signals->ignored >> (sig - 1) & 1) || sig == arch::sig::sigkill || sig == arch::sig::sigstop ||
        i >= tc->sigactions_size())
      continue;
    tc->mutable_sigactions(i)->set_sigaction(1);  // SIG_IGN
    ignored |= std::uint64_t{1} << (sig - 1);
  }
  if (ignored) use.restored.push_back(fmt::format("ignored signals stay ignored: {}", signal_names(ignored)));
  if (c.signals->caught)
    use.lost.push_back(fmt::format("the handlers of {}: SIG_DFL now (a handler's address is in neither the core nor /proc)",
                                   signal_names(c.signals->caught)));
}

/// The defaults a donor-less set took that the capture now gives.
inline void drop_supplied_defaults(resurrection& plan) {
  std::erase_if(plan.not_in_core, [](const default_taken& d) {
    return d.what == "open files" || d.what == "cwd and root" || d.what == "rlimits" || d.what == "credentials";
  });
  for (auto& d : plan.not_in_core)
    if (d.what == "signal handlers")
      d.value = "SIG_DFL for every caught signal; ignored signals stay SIG_IGN (from the capture)";
}

}  // namespace detail

/// Completes `plan` (made on `donor`, a real or synthetic one) with capture `c`.
inline result<void> apply_capture(resurrection& plan, const criu::image_set& donor, const capture::process_capture& c,
                                  const capture_facts& facts, capture_scope scope) {
  if (c.pid != plan.pid)
    return fail(error(errc::mismatch, facts.dir, fmt::format("the capture is of pid {}, the core of pid {}", c.pid, plan.pid)));
  if (plan.threads.empty()) return fail(error(errc::missing, facts.dir, "the plan has no threads"));
  capture_use use;
  use.dir = facts.dir;
  std::set<std::uint32_t> replaced;
  for (const auto& fi : donor.fdinfo()) replaced.insert(fi.id());
  const auto table = detail::rebuild_fd_table(plan, donor, c, facts, scope, use);
  criu::image_builder fdinfo(criu::magic::fdinfo);
  for (const auto& [fd, fi] : table) fdinfo.add(fi);
  detail::replace_carried(plan, donor.fdinfo_name(), fdinfo.bytes());
  pb::fs_entry fs = donor.fs();
  if (scope == capture_scope::everything) {
    replaced.insert(fs.cwd_id()), replaced.insert(fs.root_id());
    fs = detail::rebuild_fs(plan, donor.fs(), c, facts, use);
    detail::replace_carried(plan, criu::image_name("fs-", static_cast<std::uint64_t>(plan.pid)),
                            criu::image_builder(criu::magic::fs).add(fs).bytes());
    detail::apply_task_settings(plan, c, use);
    detail::drop_supplied_defaults(plan);
  }
  detail::drop_unreferenced(plan, replaced, table, fs);
  if (!c.complete)
    plan.warnings.push_back(fmt::format("the capture {} is incomplete (necro-catch did not finish it): fds it did not "
                                        "reach are not open in the resurrected process",
                                        io::printable(facts.dir)));
  plan.changes.push_back(fmt::format("from the capture {}: {} fds and settings, {} closed", io::printable(facts.dir),
                                     use.restored.size(), use.closed.size()));
  plan.capture = std::move(use);
  return {};
}

}  // namespace necro::plan

#endif
