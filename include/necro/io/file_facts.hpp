/// necro::io::file_facts: what the disk says now about files a core mapped
/// (size, mode), gathered before planning so the planner itself does no I/O.
#ifndef NECRO_IO_FILE_FACTS_HPP
#define NECRO_IO_FILE_FACTS_HPP
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace necro::io {

struct file_fact {
  std::uint64_t size = 0;
  std::uint32_t mode = 0;
};

/// path -> facts; a path that could not be stat'ed maps to nullopt.
using file_facts = std::map<std::string, std::optional<file_fact>, std::less<>>;

/// stat()s each path.
template <class Paths>
file_facts stat_files(const Paths& paths) {
  file_facts out;
  for (const auto& p : paths) {
    std::string path(p);
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0)
      out.emplace(path, file_fact{static_cast<std::uint64_t>(st.st_size), static_cast<std::uint32_t>(st.st_mode)});
    else
      out.emplace(path, std::nullopt);
  }
  return out;
}

}  // namespace necro::io

#endif
