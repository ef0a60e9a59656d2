/// necro::plan::synthesize_donor: from a core alone (plus facts about this
/// machine's files and the caller's defaults), the messages a CRIU dump of the
/// dead process would hold — a synthetic donor. plan_resurrection runs on it
/// unchanged: its layout is the victim's, so every relocation is a zero delta,
/// and the images it carries (inventory, fs-, ids-, fdinfo-) are written from
/// the bytes made here. Every value the core does not hold is a default,
/// listed with its consequence in synthetic_donor::defaults (--explain's "not
/// in the core"). Pure: no I/O.
#ifndef NECRO_PLAN_DONORLESS_HPP
#define NECRO_PLAN_DONORLESS_HPP
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/criu/image.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/elf/types.hpp>
#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/map/criu_thread.hpp>
#include <necro/plan/address_space.hpp>
#include <necro/plan/layout.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/shared_memory.hpp>
#include <necro/plan/detail/donorless_files.hpp>
#include <necro/plan/detail/donorless_mm.hpp>
#include <necro/plan/detail/donorless_threads.hpp>
#include <necro/plan/donorless_options.hpp>
#include <necro/plan/resurrection.hpp>

namespace necro::plan {

/// The synthetic donor and what it had to choose.
struct synthetic_donor {
  criu::image_set images;
  std::vector<default_taken> defaults;
  std::vector<std::string> warnings;
};

namespace detail {

/// The further images restore reads: inventory, ids-, fs-, fdinfo-.
inline void synthesize_images(std::uint32_t pid, const synthetic_file_ids& ids, const donorless_options& opt,
                              std::map<std::string, std::string, std::less<>>& images) {
  namespace sid = synthetic_ids;
  pb::task_kobj_ids_entry task;
  task.set_vm_id(sid::task_objects);
  task.set_files_id(sid::task_objects);
  task.set_fs_id(sid::task_objects);
  task.set_sighand_id(sid::task_objects);
  task.set_pid_ns_id(sid::pid_ns);
  task.set_net_ns_id(sid::net_ns);
  task.set_ipc_ns_id(sid::ipc_ns);
  task.set_uts_ns_id(sid::uts_ns);
  task.set_mnt_ns_id(sid::mnt_ns);
  task.set_user_ns_id(sid::user_ns);
  task.set_cgroup_ns_id(sid::cgroup_ns);
  task.set_time_ns_id(sid::time_ns);
  pb::inventory_entry inv;
  inv.set_img_version(criu_img_version);
  inv.set_fdinfo_per_id(true);
  *inv.mutable_root_ids() = task;
  for (auto set : {&pb::task_kobj_ids_entry::set_vm_id, &pb::task_kobj_ids_entry::set_files_id,
                   &pb::task_kobj_ids_entry::set_fs_id, &pb::task_kobj_ids_entry::set_sighand_id})
    (inv.mutable_root_ids()->*set)(sid::root_objects);
  inv.set_ns_per_id(true);
  inv.set_lsmtype(pb::NO_LSM);
  inv.set_network_lock_method(0);
  images["inventory.img"] = criu::image_builder(criu::magic::inventory).add(inv).bytes();
  images[criu::image_name("ids-", pid)] = criu::image_builder(criu::magic::ids).add(task).bytes();
  pb::fs_entry fs;
  fs.set_cwd_id(ids.cwd);
  fs.set_root_id(ids.root);
  fs.set_umask(opt.umask);
  images[criu::image_name("fs-", pid)] = criu::image_builder(criu::magic::fs).add(fs).bytes();
  criu::image_builder fdinfo(criu::magic::fdinfo);
  for (std::uint32_t fd = 0; fd < 3; ++fd) {
    pb::fdinfo_entry e;
    e.set_id(fd == 0 ? ids.stdin_id : ids.stdout_id);
    e.set_flags(0);
    e.set_type(pb::REG);
    e.set_fd(fd);
    fdinfo.add(e);
  }
  images[criu::image_name("fdinfo-", sid::task_objects)] = fdinfo.bytes();
}

/// pstree: the victim's pid and threads (leader first, then the core's
/// order: plan_resurrection's templates then pair each thread with itself);
/// ppid 0 (restore makes it CRIU's child), group and session from NT_PRPSINFO.
template <class Arch>
pb::pstree_entry synthesize_pstree(const elf::core_view<Arch>& core) {
  pb::pstree_entry p;
  const auto pid = static_cast<std::uint32_t>(core.pid());
  p.set_pid(pid);
  p.set_ppid(0);
  const auto ps = core.prpsinfo();
  p.set_pgid(ps && ps->pgrp > 0 ? static_cast<std::uint32_t>(ps->pgrp) : pid);
  p.set_sid(ps && ps->sid > 0 ? static_cast<std::uint32_t>(ps->sid) : pid);
  p.add_threads(static_cast<std::uint32_t>(core.leader().tid()));
  for (const auto& t : core.threads())
    if (&t != &core.leader()) p.add_threads(static_cast<std::uint32_t>(t.tid()));
  return p;
}

/// The defaults every donor-less set takes, in words.
inline void list_defaults(const donorless_options& opt, std::uint32_t pid, std::vector<default_taken>& d) {
  d.push_back({"signal handlers", "SIG_DFL for every signal (no handler, flags or mask)",
               "the core holds no sigaction table: the process's handlers are lost"});
  d.push_back({"open files", fmt::format("fds 0, 1, 2 on {} (0 read-only, 1 and 2 write-only, appending; a tty is "
                                         "opened by path: no termios, no controlling terminal)",
                                         opt.stdio.path),
               opt.stdio.given ? "--stdio"
                               : "the core holds no file descriptors; --stdio PATH chooses another file or tty; a capture "
                                 "at death (necro-catch, docs/capture.md) brings back the process's own"});
  d.push_back({"cwd and root", fmt::format("cwd {}, root {}, umask {:03o}", opt.cwd.path, opt.root.path, opt.umask),
               opt.cwd.given ? "--cwd" : "not in the core; --cwd DIR chooses the working directory"});
  d.push_back({"rlimits", "those of the necro process (set them with ulimit before running it; RLIMIT_CORE too)",
               "not in the core"});
  d.push_back({"itimers, POSIX timers, sigaltstack, personality, scheduling policy",
               "none, none, disabled, 0, SCHED_OTHER (nice from NT_PRPSINFO)", "not in the core"});
  if (opt.shares.known)
    d.push_back({"file mappings", "MAP_SHARED or MAP_PRIVATE as the capture at death recorded them (/proc/PID/maps)",
                 "the share mode is not in the core"});
  else
    d.push_back({"file mappings", "private (MAP_PRIVATE), opened read-only",
                 "the share mode is not in the core: a MAP_SHARED file mapping comes back private"});
  d.push_back({"namespaces, cgroups, LSM", "those CRIU restores into (the restoring host's), no LSM profile",
               "not in the core"});
  d.push_back({"thread names", "the process's comm (NT_PRPSINFO) for every thread", "per-thread names are not in the core"});
  d.push_back({"pid", fmt::format("{} (the victim's)", pid),
               opt.pid_taken ? "it is in use on this machine now: restore needs it free"
                             : "free on this machine now; restore needs it free"});
}

}  // namespace detail

/// Builds the donor a CRIU dump of the dead process would have been, from
/// the core, this machine's file facts and `opt`.
template <class Arch>
result<synthetic_donor> synthesize_donor(const elf::core_view<Arch>& core, const io::file_facts& disk,
                                         const donorless_options& opt = {}) {
  const std::string core_path(core.path());
  if (core.pid() <= 0)
    return fail(error(errc::bad_value, core_path, fmt::format("process id {} is not valid", core.pid())));
  if (core.threads().empty()) return fail(error(errc::missing, core_path, "the core has no thread (no NT_PRSTATUS)"));
  synthetic_donor out;
  criu::image_parts parts;
  parts.pages_id = synthetic_ids::pages;
  const auto ids = detail::synthesize_files(core, disk, opt, parts.files);
  NECRO_TRY_ASSIGN(const auto exe, detail::executable_path(core));
  if (!ids.mapped.contains(exe))
    return fail(error(errc::unsupported, core_path, fmt::format("the executable {} is shared or deleted memory", exe)));
  parts.mm = detail::synthesize_mm(core, ids, ids.mapped.at(exe), opt.shares, out.defaults);
  parts.process = detail::synthesize_pstree(core);
  NECRO_TRY(detail::synthesize_threads(core, opt, parts.cores, out.warnings, out.defaults));
  detail::synthesize_images(static_cast<std::uint32_t>(core.pid()), ids, opt, parts.images);
  detail::list_defaults(opt, static_cast<std::uint32_t>(core.pid()), out.defaults);
  if (opt.pid_taken)
    out.warnings.push_back(fmt::format("pid {} is in use on this machine: criu restore needs it free (end that "
                                       "process, or restore where the pid is free)",
                                       core.pid()));
  NECRO_TRY_ASSIGN(out.images, criu::image_set::from_parts(std::move(parts)));
  return out;
}

/// plan_resurrection on a synthetic donor, with its defaults and warnings in the plan.
template <class Arch>
result<resurrection> plan_donorless(const elf::core_view<Arch>& core, const synthetic_donor& donor,
                                    const io::file_facts& disk, const options& opt = {}) {
  NECRO_TRY_ASSIGN(auto plan, plan_resurrection(core, donor.images, disk, opt));
  plan.not_in_core = donor.defaults;
  plan.warnings.insert(plan.warnings.begin(), donor.warnings.begin(), donor.warnings.end());
  return plan;
}

}  // namespace necro::plan

#endif
