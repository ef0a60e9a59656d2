/// necro::plan::check_build_ids: the restore maps the executable and libraries
/// from disk, so each must be the file the dead process ran. Compares the GNU
/// build-id the core holds (the loaded ELF header's notes) with the one on disk
/// (io::file_fact::build_id, gathered before planning). Pure: no I/O.
#ifndef NECRO_PLAN_ADDRESS_SPACE_BUILD_IDS_HPP
#define NECRO_PLAN_ADDRESS_SPACE_BUILD_IDS_HPP
#pragma once

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/elf/build_id.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>

namespace necro::plan {

/// The build-id (hex) the dead process ran for `path`, if the core has it.
/// Malformed headers in the core's memory count as unknown, with a warning.
template <class Arch>
std::optional<std::string> victim_build_id_hex(const elf::core_view<Arch>& core, std::string_view path,
                                               std::vector<std::string>& warnings) {
  auto id = elf::victim_build_id(core, path);
  if (!id) {
    auto w = fmt::format("build-id of {} not read from the core: {}", path, id.error().message());
    if (std::find(warnings.begin(), warnings.end(), w) == warnings.end()) warnings.push_back(std::move(w));
    return std::nullopt;
  }
  if (!*id) return std::nullopt;
  return elf::to_hex((*id)->bytes());
}

/// Refuses a mapped file whose build-id on disk differs from the one the dead
/// process ran: restored, the process would run foreign code. A file with no
/// build-id on disk (not ELF, none recorded, not gathered) is not checked; one
/// with a build-id on disk whose headers the core lacks is not checked either,
/// and gets a warning.
template <class Arch>
result<void> check_build_ids(const elf::core_view<Arch>& core, const io::file_facts& disk,
                             std::vector<std::string>& warnings) {
  std::set<std::string_view> seen;
  for (const auto& f : core.process().files) {
    if (!seen.insert(f.path).second) continue;
    const auto it = disk.find(f.path);
    if (it == disk.end() || !it->second || !it->second->build_id) continue;
    const std::string& on_disk = *it->second->build_id;
    const auto ran = victim_build_id_hex(core, f.path, warnings);
    if (!ran) {
      warnings.push_back(fmt::format("{} has build-id {} on disk, but the core lacks its ELF headers or notes: "
                                     "not checked",
                                     f.path, on_disk));
      continue;
    }
    if (*ran != on_disk)
      return fail(error(errc::mismatch, std::string(f.path),
                        fmt::format("build-id on disk is {} but the victim ran {}: the file changed since the "
                                    "crash; the restore would run foreign code. Put back the version the victim "
                                    "ran, or plan with --offline to inspect only",
                                    on_disk, *ran)));
  }
  return {};
}

}  // namespace necro::plan

#endif
