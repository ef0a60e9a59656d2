/// necro::disk::gather_disk_facts: the one gathering of what the disk says now
/// about the files a core maps, done before planning so that the planners
/// themselves do no I/O. Every path of the core's file mappings (NT_FILE's, or
/// the ones core_view::adopt_file_mappings took for a core without it) is
/// stat'ed and mapped read-only (io::stat_files), and each regular file's GNU
/// build-id is read from its ELF headers and notes (elf::read_build_id), for
/// plan::check_build_ids to compare with the one the dead process ran.
#ifndef NECRO_DISK_FACTS_HPP
#define NECRO_DISK_FACTS_HPP
#pragma once

#include <sys/stat.h>

#include <optional>
#include <set>
#include <string>

#include <necro/elf/build_id.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/io/mapped_file.hpp>

namespace necro::disk {

/// What gather_disk_facts reads.
struct disk_fact_options {
  /// Read nothing: empty facts (planning from the core and the donor alone,
  /// the CLI's --offline).
  bool offline = false;
  /// Map each regular file read-only (io::gather_options::map_content): the
  /// page engine and --explain compare pages of private file mappings with it.
  bool map_content = true;
  /// Read each regular file's GNU build-id (only the pages of its headers and
  /// notes are touched; a malformed or non-ELF file has none).
  bool build_ids = true;
};

/// Sets `f.build_id` from the regular file `path`: read through its content
/// mapping when it has one, else through a temporary mapping. Unset when the
/// file cannot be mapped, is not ELF, is malformed or has no build-id.
inline void read_build_id(const std::string& path, io::file_fact& f) {
  std::optional<io::mapped_file> temp;
  const io::mapped_file* m = f.content.get();
  if (!m) {
    if (auto t = io::mapped_file::open(path)) temp.emplace(std::move(*t));
    if (temp) m = &*temp;
  }
  if (!m) return;
  if (auto id = elf::read_build_id(m->view()); id && *id) f.build_id = elf::to_hex((*id)->bytes());
}

/// The facts of each of `paths` (a range of strings): io::stat_files, then the
/// build-ids (with opt.build_ids). A path that cannot be stat'ed maps to nullopt.
template <class Paths>
io::file_facts gather_file_facts(const Paths& paths, const disk_fact_options& opt = {}) {
  if (opt.offline) return {};
  io::file_facts facts = io::stat_files(paths, {.map_content = opt.map_content});
  if (!opt.build_ids) return facts;
  for (auto& [path, f] : facts)
    if (f && S_ISREG(f->mode)) read_build_id(path, *f);
  return facts;
}

/// The facts of every file the core maps (io::file_facts, keyed by the path
/// the core recorded), build-ids on by default; empty with opt.offline.
template <class Arch>
io::file_facts gather_disk_facts(const elf::core_view<Arch>& core, const disk_fact_options& opt = {}) {
  std::set<std::string> paths;
  for (const auto& f : core.process().files) paths.emplace(f.path);
  return gather_file_facts(paths, opt);
}

}  // namespace necro::disk

#endif
