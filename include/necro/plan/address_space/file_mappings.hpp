/// necro::plan::rebuild_file_mappings: the NT_FILE entries of a core that has
/// none. The kernel leaves NT_FILE out when 64 bytes a VMA would reach
/// kernel.core_file_note_size_limit (4 MiB by default: 65 536 VMAs). What the
/// core still holds names the files: the executable (AT_PHDR, AT_EXECFN) and
/// the objects of the dynamic linker's link_map (elf::read_loaded_objects);
/// each object's PT_LOADs, read from its file on disk (disk::read_object_files,
/// build-id checked against the one the core holds), say which of the core's
/// segments map it and from which offset. Pure: no I/O.
#ifndef NECRO_PLAN_ADDRESS_SPACE_FILE_MAPPINGS_HPP
#define NECRO_PLAN_ADDRESS_SPACE_FILE_MAPPINGS_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/disk/object_files.hpp>
#include <necro/elf/build_id.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/elf/link_map.hpp>
#include <necro/io/error.hpp>
#include <necro/io/printable.hpp>
#include <necro/plan/address_space/detail/file_mappings.hpp>
#include <necro/plan/address_space/file_mappings_types.hpp>

namespace necro::plan {

/// Rebuilds the NT_FILE entries of `core` from the executable (`exe_names`:
/// names to try for it, e.g. AT_EXECFN and the donor's executable) and the
/// objects of `loaded`, with their files as `disk` found them. Objects not
/// found on disk, or not ELF, are skipped with a warning; a build-id that
/// differs from the one the core holds is an error naming the file.
template <class Arch>
result<rebuilt_mappings> rebuild_file_mappings(const elf::core_view<Arch>& core, const elf::loaded_objects& loaded,
                                               const std::vector<std::string>& exe_names,
                                               const disk::object_files& disk) {
  rebuilt_mappings out;
  const auto sorted = detail::segments_by_address(core);
  out.vma_count = sorted.size();
  out.link_map = !loaded.objects.empty();
  std::vector<bool> used(sorted.size(), false);
  std::vector<std::string> tried;
  const auto* exe = detail::pick_executable(core, loaded.exe.bias, exe_names, disk, tried);
  if (!exe)
    return fail(error(errc::missing, std::string(core.path()),
                      fmt::format("the core has no NT_FILE and the executable was not found on disk (tried: {})",
                                  io::printable(fmt::format("{}", fmt::join(tried, "; "))))));
  NECRO_TRY(detail::rebuild_object(core, sorted, loaded.exe.bias, *exe, false, used, out));
  const auto interp = core.auxv(arch::at::base);
  for (const auto& o : loaded.objects) {
    if (o.name.empty() || o.name.front() != '/') continue;  // the executable, the vDSO
    const auto it = disk.find(o.name);
    if (it == disk.end() || !it->second.layout) {
      out.warnings.push_back(fmt::format("{} (link_map at {:#x}): {}: its mappings are not rebuilt",
                                         io::printable(o.name), o.at,
                                         it == disk.end() ? std::string("not looked up") : it->second.problem));
      continue;
    }
    // The kernel maps the dynamic linker itself and leaves no file-backed holes.
    const bool holes = !(interp && detail::page_down(o.bias + it->second.layout->loads.front().vaddr,
                                                     Arch::page_size) == *interp);
    NECRO_TRY(detail::rebuild_object(core, sorted, o.bias, it->second, holes, used, out));
  }
  detail::warn_unmatched(core, sorted, used, out);
  std::sort(out.entries.begin(), out.entries.end(), [](const auto& a, const auto& b) { return a.start < b.start; });
  return out;
}

/// For --explain: that the mappings were rebuilt, from what, and the sysctl
/// that would have kept NT_FILE in the core.
inline std::string explain_rebuilt(const rebuilt_mappings& r) {
  std::string s;
  auto it = std::back_inserter(s);
  const std::uint64_t limit = note_size_limit_for(r.vma_count);
  if (limit <= core_file_note_size_default)
    fmt::format_to(it, "file mappings rebuilt: the core has no NT_FILE note, yet the kernel would have written one for "
                       "its {} VMAs (a core of another dumper: qemu-user writes none); ",
                   r.vma_count);
  else
    fmt::format_to(it, "file mappings rebuilt: the core has no NT_FILE note (the kernel leaves it out when 64 bytes "
                       "for each of its {} VMAs reach kernel.core_file_note_size_limit); ",
                   r.vma_count);
  fmt::format_to(it, "{} mappings of {} objects were rebuilt from {} on disk:\n", r.entries.size(), r.objects.size(),
                 r.link_map ? "the dynamic linker's link_map and the objects' program headers"
                            : "the executable's program headers (no dynamic linker's list: a static program)");
  for (const auto& o : r.objects)
    fmt::format_to(it, "  {} at bias {:#x}: {} mappings, build-id {}\n", io::printable(o.path), o.bias, o.mappings,
                   o.build_id.empty() ? "not in the core (unchecked)" : o.build_id);
  if (limit <= core_file_note_size_default) return s;
  if (limit <= core_file_note_size_max)
    fmt::format_to(it, "  to keep NT_FILE in the next core: sysctl kernel.core_file_note_size_limit={} (the kernel "
                       "allows up to {})\n",
                   limit, core_file_note_size_max);
  else
    fmt::format_to(it, "  {} VMAs need more than the kernel's largest kernel.core_file_note_size_limit ({}): "
                       "NT_FILE cannot be had for this process; fewer mappings can\n",
                   r.vma_count, core_file_note_size_max);
  return s;
}

}  // namespace necro::plan

#endif
