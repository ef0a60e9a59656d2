/// necro::disk::locate_files: where on this machine each file the dead
/// process mapped is now, for a core studied away from the machine that wrote
/// it. As gdb does with `set sysroot` and debuginfod: a path P is looked up as
/// SYSROOT/P first, then as P; the first candidate that is the file the
/// process ran (same GNU build-id, and long enough that its mappings start inside it) is
/// used; else an ELF object is fetched by its build-id from the debuginfod
/// servers. The disk facts (stat, content mapping, build-id) are those of the
/// file found, still keyed by the core's path; the plan then names the file
/// where it was found (plan::place_located_files).
#ifndef NECRO_DISK_LOCATE_HPP
#define NECRO_DISK_LOCATE_HPP
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/disk/debuginfod.hpp>
#include <necro/disk/facts.hpp>
#include <necro/elf/build_id.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/file_facts.hpp>

namespace necro::disk {

/// Where a file was found.
enum class file_origin {
  original,    ///< at the path the core names
  sysroot,     ///< under --sysroot
  debuginfod,  ///< fetched by build-id into libdebuginfod's cache
  nowhere,     ///< not found (or only files that are not the one the process ran)
};

constexpr std::string_view origin_name(file_origin o) noexcept {
  switch (o) {
    case file_origin::original: return "original path";
    case file_origin::sysroot: return "sysroot";
    case file_origin::debuginfod: return "debuginfod";
    case file_origin::nowhere: return "nowhere";
  }
  return "?";
}

/// Where one of the core's files is on this machine, and how it was found.
struct file_location {
  std::string path;                   ///< the file to open (empty when nowhere)
  file_origin origin = file_origin::nowhere;
  std::string url;                    ///< the debuginfod server that gave it
  std::optional<std::string> build_id;///< the one the dead process ran (hex), when the core holds it
  std::uint64_t min_size = 0;         ///< every mapping of the file starts before this size
  std::vector<std::string> rejected;  ///< candidates passed over, each with why
};

/// core path -> its location (only the files looked up: paths of files on
/// a file system, not deleted ones, memfds or shared anonymous memory).
using file_locations = std::map<std::string, file_location, std::less<>>;

/// How locate_files looks.
struct locate_options {
  disk_fact_options facts{};
  std::filesystem::path sysroot{};  ///< empty: none
  bool debuginfod = false;          ///< ask DEBUGINFOD_URLS' servers for ELF objects found nowhere
};

/// The facts and the locations of every file the core maps.
struct located_files {
  io::file_facts facts;  ///< keyed by the core's path; the found file's facts
  file_locations locations;
  std::vector<std::string> warnings;
};

/// A path the kernel names for something that is not a file to look up: a
/// deleted file, a memfd, SysV or shared anonymous memory (all "... (deleted)").
inline bool is_lookup_path(std::string_view p) noexcept {
  return !p.empty() && p.front() == '/' && !p.ends_with(" (deleted)");
}

/// SYSROOT/P (P taken as relative to the sysroot), then P.
inline std::vector<std::pair<std::string, file_origin>> candidates(const std::filesystem::path& sysroot,
                                                                   std::string_view path) {
  std::vector<std::pair<std::string, file_origin>> out;
  if (!sysroot.empty()) out.emplace_back((sysroot / std::filesystem::path(path).relative_path()).string(), file_origin::sysroot);
  out.emplace_back(std::string(path), file_origin::original);
  return out;
}

namespace detail {

/// The smallest size the file the process mapped can have: every mapping of
/// `path` starts inside it. (A mapping may reach past the end of its file, so
/// its end proves nothing.)
template <class Arch>
std::uint64_t min_file_size(const elf::core_view<Arch>& core, std::string_view path) {
  std::uint64_t size = 0;  // NT_FILE offsets are in bytes (core_view converted them)
  for (const auto& f : core.process().files)
    if (f.path == path) size = std::max(size, f.offset + 1);
  return size;
}

/// Why `fact` (of candidate `where`) is not the file `loc` describes; "" when it is.
inline std::string mismatch(const std::optional<io::file_fact>& fact, const file_location& loc) {
  if (!fact) return "not there";
  if (!S_ISREG(fact->mode)) return "not a regular file";
  if (loc.build_id) {
    if (!fact->build_id) return fmt::format("has no build-id (the process ran {})", *loc.build_id);
    if (*fact->build_id != *loc.build_id) return fmt::format("build-id {} (the process ran {})", *fact->build_id, *loc.build_id);
  }
  if (fact->size < loc.min_size)
    return fmt::format("{} bytes, but the process mapped it from byte {}", fact->size, loc.min_size - 1);
  return {};
}

}  // namespace detail

/// Finds every file the core maps (see the header comment). A file found
/// nowhere keeps the facts of its original path (nullopt when missing): the
/// planners then see it as before — missing, or another build
/// (plan::check_build_ids refuses it) — and plan::judge_unfound_files says
/// what becomes of it. Offline: nothing is read.
template <class Arch>
located_files locate_files(const elf::core_view<Arch>& core, const locate_options& opt = {}) {
  located_files out;
  if (opt.facts.offline) return out;
  std::set<std::string> paths;
  for (const auto& f : core.process().files) paths.emplace(f.path);
  std::optional<debuginfod_client> server;
  std::string server_problem;
  const auto fact_of = [&](const std::string& p) {
    return std::move(gather_file_facts(std::vector<std::string>{p}, opt.facts).begin()->second);
  };
  for (const auto& path : paths) {
    if (!is_lookup_path(path)) {
      out.facts.emplace(path, fact_of(path));
      continue;
    }
    file_location loc;
    if (auto id = elf::victim_build_id(core, path); id && *id) loc.build_id = elf::to_hex((**id).bytes());
    loc.min_size = detail::min_file_size(core, path);
    std::optional<io::file_fact> chosen, original;
    for (const auto& [candidate, origin] : candidates(opt.sysroot, path)) {
      auto fact = fact_of(candidate);
      if (origin == file_origin::original) original = fact;
      if (auto why = detail::mismatch(fact, loc); !why.empty()) {
        if (fact || origin == file_origin::sysroot) loc.rejected.push_back(fmt::format("{}: {}", candidate, why));
        continue;
      }
      chosen = std::move(fact), loc.path = candidate, loc.origin = origin;
      break;
    }
    if (!chosen && opt.debuginfod && loc.build_id) {
      if (!server && server_problem.empty()) {
        auto c = debuginfod_client::open();
        if (c) server.emplace(std::move(*c));
        else server_problem = c.error().message();
      }
      if (!server) loc.rejected.push_back("debuginfod not asked: " + server_problem);
      if (server) {
        if (auto got = server->executable(*loc.build_id)) {
          auto fact = fact_of(got->path);
          if (auto why = detail::mismatch(fact, loc); why.empty())
            chosen = std::move(fact), loc.path = got->path, loc.origin = file_origin::debuginfod, loc.url = got->url;
          else
            loc.rejected.push_back(fmt::format("debuginfod {}: {}", got->url, why));
        } else {
          loc.rejected.push_back(got.error().message());
        }
      }
    }
    out.facts.emplace(path, chosen ? std::move(chosen) : std::move(original));
    out.locations.emplace(path, std::move(loc));
  }
  if (!server_problem.empty()) out.warnings.push_back("--debuginfod not used: " + server_problem);
  return out;
}

}  // namespace necro::disk

#endif
