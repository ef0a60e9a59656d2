/// necro::plan::detail: the synthetic donor's files.img (plan/donorless.hpp):
/// the mapped files, stdio, cwd and root.
#ifndef NECRO_PLAN_DETAIL_DONORLESS_FILES_HPP
#define NECRO_PLAN_DETAIL_DONORLESS_FILES_HPP
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
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/pb/fdinfo.pb.h>
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

/// The executable's path: the NT_FILE range that holds AT_PHDR.
template <class Arch>
result<std::string> executable_path(const elf::core_view<Arch>& core) {
  const auto phdr = core.auxv(arch::at::phdr);
  if (!phdr) return fail(error(errc::missing, std::string(core.path()), "NT_AUXV has no AT_PHDR: cannot find the executable"));
  for (const auto& f : core.process().files)
    if (*phdr >= f.start && *phdr < f.end) return std::string(f.path);
  return fail(error(errc::missing, std::string(core.path()),
                    fmt::format("no NT_FILE entry covers AT_PHDR {:#x}: cannot find the executable", *phdr)));
}

}  // namespace necro::plan::detail

#endif
