/// capture::to_criu: a capture as CRIU 4.x messages — files.img entries
/// (reg, pipe, eventfd, epoll, signalfd, timerfd, inet and unix sockets),
/// the fdinfo entries that put them at their fd numbers, fs (cwd, root,
/// umask), creds (securebits from a format 4 kernel state), rlimits — and criu_images(), the same framed as image files
/// (files.img, fdinfo-PID.img, fs-PID.img, creds-PID.img). Pure: no I/O.
/// File ids are 1..N in fd order (fds that share an open file, one id),
/// then cwd and root; an image set that merges
/// them renumbers. Kinds CRIU cannot take from a capture are listed in
/// `not_converted`.
#ifndef NECRO_CAPTURE_CRIU_FILES_HPP
#define NECRO_CAPTURE_CRIU_FILES_HPP
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/kernel_abi.hpp>
#include <necro/capture/detail/criu_common.hpp>
#include <necro/capture/detail/criu_fd_entries.hpp>
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
  fi.set_id(id), fi.set_flags((f.flags & arch::o::cloexec) ? 1u : 0u), fi.set_type(type);
  fi.set_fd(static_cast<std::uint32_t>(f.fd));
  return fi;
}

/// The captured credentials as CRIU's creds_entry (capabilities in 32-bit words).
inline pb::creds_entry creds_for(const credentials& c) {
  pb::creds_entry k;
  k.set_uid(c.uid[0]), k.set_euid(c.uid[1]), k.set_suid(c.uid[2]), k.set_fsuid(c.uid[3]);
  k.set_gid(c.gid[0]), k.set_egid(c.gid[1]), k.set_sgid(c.gid[2]), k.set_fsgid(c.gid[3]);
  const auto words = [](std::uint64_t v, auto add) { add(static_cast<std::uint32_t>(v)), add(static_cast<std::uint32_t>(v >> 32)); };
  words(c.cap_inh, [&](std::uint32_t w) { k.add_cap_inh(w); });
  words(c.cap_prm, [&](std::uint32_t w) { k.add_cap_prm(w); });
  words(c.cap_eff, [&](std::uint32_t w) { k.add_cap_eff(w); });
  words(c.cap_bnd, [&](std::uint32_t w) { k.add_cap_bnd(w); });
  words(c.cap_amb, [&](std::uint32_t w) { k.add_cap_amb(w); });
  k.set_secbits(0);  // not in /proc: only the kernel state (format 4) has them, see to_criu
  for (const auto g : c.groups) k.add_groups(g);
  k.set_no_new_privs(c.no_new_privs);
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
  if (c.creds && c.kernel && c.kernel->process)  // the kernel's own word at death (format 4)
    out.creds.set_secbits(c.kernel->process->securebits), out.creds.set_no_new_privs(c.kernel->process->no_new_privs);
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
