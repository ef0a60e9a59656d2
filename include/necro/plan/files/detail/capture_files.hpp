/// necro::plan::detail: the files plan::apply_capture rebuilds from a
/// capture (plan/capture.hpp): the fd table — each fd judged, brought back as
/// the victim's own object or a stand-in, or closed — with its files.img
/// entries, and fs (cwd, root, umask). Pure.
#ifndef NECRO_PLAN_FILES_DETAIL_CAPTURE_FILES_HPP
#define NECRO_PLAN_FILES_DETAIL_CAPTURE_FILES_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/kernel_abi.hpp>
#include <necro/capture/criu_files.hpp>
#include <necro/capture/model.hpp>
#include <necro/criu/file_entries.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/io/printable.hpp>
#include <necro/plan/capture_options.hpp>
#include <necro/plan/files/detail/capture_fds.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan::detail {

/// A captured regular file as restore must open it: by path, no mount id
/// (the set restores into the host's mounts), the mode the file has now
/// (CRIU compares it), no size (a file written after the death may have
/// grown), and no seek on a device or FIFO.
inline void fit_regular_file(pb::file_entry& e, const capture::fd_entry& f, const capture_facts& facts) {
  auto* reg = e.mutable_reg();
  reg->clear_mnt_id();
  reg->clear_size();
  if (const auto it = facts.present.find(f.link); it != facts.present.end()) reg->set_mode(it->second);
  if (const auto it = facts.relocated.find(f.link); it != facts.relocated.end()) reg->set_name(it->second);
  if ((f.mode & arch::s_if::mask) == arch::s_if::chr) reg->set_pos(criu::no_position);
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
    if (v.fate != fd_fate::closed && !capture::file_entry_for(stand_in_for(f, facts), 0))
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
    const auto in = stand_in_for(f, facts);
    plan.files.push_back(*capture::file_entry_for(in, id));
    if (f.kind == capture::fd_kind::reg) {
      fit_regular_file(plan.files.back(), in, facts);
      plan.warnings.push_back(fmt::format("fd {}: {} is missing on this machine: {} holds the fd instead", f.fd,
                                          f.link, facts.missing_stand_in));
    }
    use.closed.push_back(fmt::format("fd {}: {}: {}; {}", f.fd, describe_fd(f), v.why, stand_in_words(f, facts)));
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

/// cwd and root: the victim's where they still exist, else the set's own
/// (silently where the capture has none, or the caller chose the cwd).
inline pb::fs_entry rebuild_fs(resurrection& plan, const pb::fs_entry& before, const capture::process_capture& c,
                               const capture_facts& facts, capture_use& use) {
  pb::fs_entry fs = before;
  std::uint32_t next = last_file_id(plan.files) + 1;
  const auto directory = [&](const std::string& path, const char* what, auto set) {
    if (path.empty()) return;  // not captured
    const auto v = judge_path(path, arch::s_if::dir, facts);
    if (v.fate != fd_fate::own) {
      use.closed.push_back(fmt::format("{} {}: {}; the default is used", what, io::printable(path), v.why));
      return;
    }
    plan.files.push_back(criu::make_reg_entry(next, path, arch::o::rdonly, std::nullopt, facts.present.find(path)->second));
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

}  // namespace necro::plan::detail

#endif
