/// necro::plan: what becomes of the files the dead process mapped, once
/// disk::locate_files has looked for them on this machine (under --sysroot,
/// at their paths, on debuginfod servers). judge_unfound_files: a file found
/// nowhere whose pages are all in the core comes back as anonymous memory
/// holding them; any other is a refusal that names every such object and its
/// build-id (restored, the process would run other bytes). place_located_files:
/// the image set names each file where it was found. Pure.
#ifndef NECRO_PLAN_ADDRESS_SPACE_LOCATED_FILES_HPP
#define NECRO_PLAN_ADDRESS_SPACE_LOCATED_FILES_HPP
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/disk/locate.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/io/printable.hpp>
#include <necro/plan/address_space/detail/synthetic_vmas.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan {

/// The verdict on the files found nowhere.
struct unfound_files {
  std::set<std::string, std::less<>> anonymous;  ///< their mappings come back as anonymous memory
  std::vector<std::string> warnings;
};

namespace detail {

/// Pages of [start, end) the core does not hold (0: all dumped).
template <class Arch>
std::uint64_t undumped_pages(const elf::core_view<Arch>& core, std::uint64_t start, std::uint64_t end) {
  const auto* s = core.segment_at(start);
  if (!s || s->vaddr != start || s->end() != end) return (end - start) / Arch::page_size;
  return s->memsz > s->filesz ? (s->memsz - s->filesz + Arch::page_size - 1) / Arch::page_size : 0;
}

inline std::string object_words(std::string_view path, const disk::file_location& loc) {
  return fmt::format("{} (build-id {})", io::printable(path), loc.build_id ? *loc.build_id : "unknown");
}

/// The candidates passed over, each with why ("not found" when none was);
/// `absent` false leaves out those that were simply not there.
inline std::string rejected_words(const disk::file_location& loc, bool absent = true) {
  std::string s;
  for (const auto& r : loc.rejected)
    if (absent || !r.ends_with(": not there")) s += (s.empty() ? "" : "; ") + r;
  return s.empty() ? "not found" : s;
}

}  // namespace detail

/// For each file of `located` found nowhere: its mappings come back as
/// anonymous memory when the core holds every page of them and they are
/// private (`shares`), with a warning each; otherwise the file is missing.
/// Missing files (the executable always: CRIU sets it as the process's exe)
/// are one error naming them all.
template <class Arch>
result<unfound_files> judge_unfound_files(const elf::core_view<Arch>& core, const disk::file_locations& located,
                                          const share_modes& shares) {
  unfound_files out;
  std::vector<std::string> missing;
  const auto exe_found = detail::executable_path(core);  // none identified: no file is taken for the executable
  const std::string exe = exe_found ? *exe_found : std::string();
  for (const auto& [path, loc] : located) {
    if (loc.origin != disk::file_origin::nowhere) continue;
    std::uint64_t absent = 0, mappings = 0;
    bool shared = false;
    for (const auto& f : core.process().files) {
      if (f.path != path) continue;
      ++mappings;
      absent += detail::undumped_pages(core, f.start, f.end);
      shared = shared || (shares.known && shares.is_shared(f.start, f.end));
    }
    if (mappings == 0) continue;
    const auto what = detail::object_words(path, loc);
    if (path == exe) {
      missing.push_back(fmt::format("{}, the executable (CRIU must open it): {}", what, detail::rejected_words(loc)));
    } else if (shared) {
      missing.push_back(fmt::format("{}: {}; it was mapped shared, so its pages cannot stand in for it", what,
                                    detail::rejected_words(loc)));
    } else if (absent) {
      missing.push_back(fmt::format("{}: {}; {} of its pages are not in the core", what, detail::rejected_words(loc),
                                    absent));
    } else {
      out.anonymous.insert(path);
      out.warnings.push_back(fmt::format("{} is not on this machine ({}): its {} mapping{} come back as anonymous "
                                         "memory holding the core's bytes, no longer backed by the file",
                                         what, detail::rejected_words(loc), mappings, mappings == 1 ? "" : "s"));
    }
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : "; ") + m;
    return fail(error(errc::missing, std::string(core.path()),
                      fmt::format("{} object{} the process mapped cannot be found on this machine (not there, or another build): {}. Give the "
                                  "files with --sysroot DIR or --debuginfod (DEBUGINFOD_URLS); a library whose "
                                  "private mappings the core holds whole (coredump_filter bit 2, as 0xff) comes "
                                  "back from the core",
                                  missing.size(), missing.size() == 1 ? "" : "s", list)));
  }
  return out;
}

/// Names each located file in the image set where it was found (under the
/// sysroot, in the debuginfod cache); one line per object for --explain.
inline void place_located_files(resurrection& plan, const disk::file_locations& located,
                                const std::set<std::string, std::less<>>& anonymous) {
  for (auto& f : plan.files) {
    if (!f.has_reg()) continue;
    const auto it = located.find(f.reg().name());
    if (it == located.end() || it->second.path.empty() || it->second.path == it->first) continue;
    f.mutable_reg()->set_name(it->second.path);
  }
  for (const auto& [path, loc] : located) {
    std::string where;
    switch (loc.origin) {
      case disk::file_origin::original: where = "at its path"; break;
      case disk::file_origin::sysroot: where = "under the sysroot: " + loc.path; break;
      case disk::file_origin::debuginfod: where = fmt::format("from debuginfod {}: {}", loc.url, loc.path); break;
      case disk::file_origin::nowhere:
        where = anonymous.contains(path) ? "nowhere: its pages come from the core, as anonymous memory"
                                         : "nowhere";
        break;
    }
    if (loc.origin != disk::file_origin::nowhere)
      if (const auto r = detail::rejected_words(loc, false); r != "not found") where += fmt::format(" (passed over: {})", r);
    plan.objects.push_back(fmt::format("{}: {}", path, where));
  }
}

/// The executable where the restored process maps it: its files.img name
/// (under the sysroot, in the debuginfod cache), else the core's path.
inline std::string restored_exe_path(const resurrection& plan) {
  for (const auto& f : plan.files)
    if (f.has_reg() && f.id() == static_cast<std::uint32_t>(plan.mm.exe_file_id())) return f.reg().name();
  return plan.exe_path;
}

}  // namespace necro::plan

#endif
