/// necro::plan::detail: the synthetic donor's files (plan/donorless.hpp):
/// files.img (the mapped files, stdio, cwd and root), fs- and fdinfo-.
#ifndef NECRO_PLAN_FILES_DETAIL_SYNTHETIC_FILES_HPP
#define NECRO_PLAN_FILES_DETAIL_SYNTHETIC_FILES_HPP
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/arch/kernel_abi.hpp>
#include <necro/criu/file_entries.hpp>
#include <necro/criu/image.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/pb/fdinfo.pb.h>
#include <necro/pb/fs.pb.h>
#include <necro/plan/donorless_options.hpp>
#include <necro/plan/shared_memory/shared_memory.hpp>

namespace necro::plan::detail {

/// The file ids of the synthetic files.img.
struct synthetic_file_ids {
  std::map<std::string, std::uint32_t, std::less<>> mapped;  ///< mapped files by path
  std::uint32_t exe = 0, stdin_id = 0, stdout_id = 0, cwd = 0, root = 0;
};

/// files.img: every file the core maps (size and mode from this machine's
/// disk, as CRIU checks them at restore), then stdio, cwd and root.
template <class Arch>
synthetic_file_ids synthesize_files(const elf::core_view<Arch>& core, const io::file_facts& disk,
                                    const donorless_options& opt, std::vector<pb::file_entry>& files) {
  synthetic_file_ids ids;
  std::uint32_t next = 1;
  for (const auto& f : core.process().files) {
    const std::string path(f.path);
    if (kind_of_path(path) != vma_kind::file || ids.mapped.contains(path)) continue;
    const auto it = disk.find(path);
    const bool known = it != disk.end() && it->second;
    files.push_back(criu::make_reg_entry(next, path, arch::o::rdonly,
                                         known ? std::optional(it->second->size) : std::nullopt,
                                         known ? it->second->mode : 0));
    ids.mapped.emplace(path, next++);
  }
  // No size for stdio: restore then does not compare it (the file grows as the process writes).
  namespace o = arch::o;
  files.push_back(criu::make_reg_entry(ids.stdin_id = next++, opt.stdio.path, o::rdonly | o::largefile, std::nullopt,
                                       opt.stdio.mode));
  files.push_back(criu::make_reg_entry(ids.stdout_id = next++, opt.stdio.path, o::wronly | o::append | o::largefile,
                                       std::nullopt, opt.stdio.mode));
  files.push_back(criu::make_reg_entry(ids.cwd = next++, opt.cwd.path, o::rdonly, std::nullopt, opt.cwd.mode));
  files.push_back(criu::make_reg_entry(ids.root = next++, opt.root.path, o::rdonly, std::nullopt, opt.root.mode));
  return ids;
}

/// fs-<pid>.img (cwd, root, umask) and fdinfo-<id>.img: fds 0-2 on stdio.
inline void synthesize_file_images(std::uint32_t pid, const synthetic_file_ids& ids, const donorless_options& opt,
                                   std::map<std::string, std::string, std::less<>>& images) {
  namespace sid = synthetic_ids;
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

}  // namespace necro::plan::detail

#endif
