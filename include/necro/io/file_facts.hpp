/// necro::io::file_facts: what the disk says now about files a core mapped
/// (size, mode and, when asked, a read-only mapping of the content; the GNU
/// build-id is filled in above io/, by disk::gather_disk_facts), gathered
/// before planning so the planner itself does no I/O.
#ifndef NECRO_IO_FILE_FACTS_HPP
#define NECRO_IO_FILE_FACTS_HPP
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <necro/io/mapped_file.hpp>

namespace necro::io {

struct file_fact {
  std::uint64_t size = 0;
  std::uint32_t mode = 0;
  /// The file's bytes as they are on disk now, when gathered with map_content
  /// (regular files only). Mapping reads nothing: pages are read when looked at.
  std::shared_ptr<const mapped_file> content = nullptr;
  /// The file's GNU build-id in lower-case hex, when gathered by
  /// disk::gather_disk_facts and the file is an ELF file that has one
  /// (plan::check_build_ids compares it with the build-id the dead process ran).
  std::optional<std::string> build_id = std::nullopt;
};

/// path -> facts; a path that could not be stat'ed maps to nullopt.
using file_facts = std::map<std::string, std::optional<file_fact>, std::less<>>;

/// What to gather besides stat().
struct gather_options {
  /// Map each regular file read-only, so that pages of private file mappings
  /// can be compared with the file (plan::page_rules).
  bool map_content = false;
};

/// stat()s each path (and maps it, with map_content). A file that cannot be
/// mapped keeps its stat facts and no content. Build-ids: disk::gather_disk_facts.
template <class Paths>
file_facts stat_files(const Paths& paths, const gather_options& opt = {}) {
  file_facts out;
  for (const auto& p : paths) {
    std::string path(p);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      out.emplace(path, std::nullopt);
      continue;
    }
    file_fact f;
    f.size = static_cast<std::uint64_t>(st.st_size);
    f.mode = static_cast<std::uint32_t>(st.st_mode);
    if (opt.map_content && S_ISREG(st.st_mode)) {
      auto m = mapped_file::open(path);
      if (m && m->size() == f.size) f.content = std::make_shared<const mapped_file>(std::move(*m));
    }
    out.emplace(std::move(path), std::move(f));
  }
  return out;
}

}  // namespace necro::io

#endif
