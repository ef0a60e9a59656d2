/// necro::disk::read_object_files: what the disk says now about the objects a
/// dead process had loaded (the names of its link_map, or its AT_EXECFN; under
/// a sysroot first): the
/// canonical path (symlinks resolved, as the kernel's NT_FILE names files),
/// size and mode, and the ELF layout (PT_LOADs, build-id). Gathered before
/// planning, so that plan::rebuild_file_mappings itself does no I/O.
#ifndef NECRO_DISK_OBJECT_FILES_HPP
#define NECRO_DISK_OBJECT_FILES_HPP
#pragma once

#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <necro/disk/locate.hpp>
#include <necro/elf/file_layout.hpp>
#include <necro/io/error.hpp>
#include <necro/io/mapped_file.hpp>

namespace necro::disk {

/// One object as found on disk, or why it was not.
struct object_file {
  std::string canonical;                  ///< realpath() of the name
  std::uint64_t size = 0;
  std::uint32_t mode = 0;
  std::optional<elf::file_layout> layout; ///< set when readable and ELF
  std::string problem;                    ///< why layout is unset (empty when set)
};

/// listed name -> the object on disk.
using object_files = std::map<std::string, object_file, std::less<>>;

/// realpath(3) of `name`, or nullopt (missing, not absolute and not found).
inline std::optional<std::string> canonical_path(const std::string& name) {
  char buf[PATH_MAX];
  if (!::realpath(name.c_str(), buf)) return std::nullopt;
  return std::string(buf);
}

/// Finds `name` on disk and reads its ELF layout. Only the headers' pages are read.
inline object_file read_object_file(const std::string& name) {
  object_file o;
  const auto canon = canonical_path(name);
  if (!canon) {
    o.problem = "not found on this machine";
    return o;
  }
  o.canonical = *canon;
  struct stat st {};
  if (::stat(o.canonical.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    o.problem = "not a regular file";
    return o;
  }
  o.size = static_cast<std::uint64_t>(st.st_size);
  o.mode = static_cast<std::uint32_t>(st.st_mode);
  auto m = io::mapped_file::open(o.canonical);
  if (!m) {
    o.problem = m.error().message();
    return o;
  }
  auto layout = elf::read_file_layout(m->view());
  if (!layout) o.problem = layout.error().message();
  else o.layout = std::move(*layout);
  return o;
}

/// read_object_file of SYSROOT/`name` when it is there (`name` absolute, a
/// sysroot given: a core from another machine, as gdb's `set sysroot`), else
/// of `name`.
inline object_file read_object_file(const std::string& name, const std::filesystem::path& sysroot) {
  object_file o;
  const bool absolute = !name.empty() && name.front() == '/';  // a bare name is not looked up under the sysroot
  for (const auto& [path, origin] : candidates(absolute ? sysroot : std::filesystem::path(), name)) {
    o = read_object_file(path);
    if (!o.canonical.empty()) break;  // there (the last candidate is `name` itself)
  }
  return o;
}

/// read_object_file for each name (duplicates read once), under `sysroot` first.
template <class Names>
object_files read_object_files(const Names& names, const std::filesystem::path& sysroot = {}) {
  object_files out;
  for (const auto& n : names) {
    std::string name(n);
    if (out.find(name) != out.end()) continue;
    auto o = read_object_file(name, sysroot);
    out.emplace(std::move(name), std::move(o));
  }
  return out;
}

}  // namespace necro::disk

#endif
