/// necro::plan::detail: the synthetic donor's inventory, ids-, fs- and
/// fdinfo- images, and the defaults every donor-less set takes
/// (plan/donorless.hpp).
#ifndef NECRO_PLAN_DETAIL_DONORLESS_HPP
#define NECRO_PLAN_DETAIL_DONORLESS_HPP
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/image.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/plan/donorless_options.hpp>
#include <necro/plan/files/detail/synthetic_files.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan::detail {

/// The further images restore reads: inventory, ids-, and fs-, fdinfo- (synthesize_file_images).
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
  inv.set_img_version(criu::img_version);
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
  synthesize_file_images(pid, ids, opt, images);
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

}  // namespace necro::plan::detail

#endif
