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
#include <necro/criu/file_entries.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/pb/fdinfo.pb.h>
#include <necro/plan/donorless_options.hpp>
#include <necro/plan/shared_memory.hpp>

namespace necro::plan::detail {

/// The file ids of the synthetic files.img.
struct synthetic_file_ids {
  std::map<std::string, std::uint32_t, std::less<>> mapped;  ///< mapped files by path
  std::uint32_t exe = 0, stdin_id = 0, stdout_id = 0, cwd = 0, root = 0;
};

/// reg_file_entry.pos of a file restore must not seek.
inline constexpr std::uint64_t no_position = ~std::uint64_t{0};

inline pb::file_entry reg_entry(std::uint32_t id, const std::string& path, std::uint32_t flags,
                                std::optional<std::uint64_t> size, std::uint32_t mode) {
  // A tty or pipe cannot seek: position -1 tells restore to leave it (criu/files-reg.c).
  const std::uint32_t type = mode & s_ifmt;
  auto reg = criu::make_reg_file(id, path, flags, type == s_ifchr || type == s_ififo ? no_position : 0);
  if (size) reg.set_size(*size);
  if (mode != 0) reg.set_mode(mode);
  return criu::make_file_entry(std::move(reg));
}

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
    files.push_back(reg_entry(next, path, o_rdonly, known ? std::optional(it->second->size) : std::nullopt,
                              known ? it->second->mode : 0));
    ids.mapped.emplace(path, next++);
  }
  // No size for stdio: restore then does not compare it (the file grows as the process writes).
  files.push_back(reg_entry(ids.stdin_id = next++, opt.stdio.path, o_rdonly | o_largefile, std::nullopt, opt.stdio.mode));
  files.push_back(reg_entry(ids.stdout_id = next++, opt.stdio.path, o_wronly | o_append | o_largefile, std::nullopt,
                            opt.stdio.mode));
  files.push_back(reg_entry(ids.cwd = next++, opt.cwd.path, o_rdonly, std::nullopt, opt.cwd.mode));
  files.push_back(reg_entry(ids.root = next++, opt.root.path, o_rdonly, std::nullopt, opt.root.mode));
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
