/// necro::plan::detail: the steps of plan::apply_capture (plan/capture.hpp)
/// that span concerns (the fd table and fs are in files/, the task settings in
/// threads/): the images it replaces, the file entries nothing refers to any
/// more, and the donor-less defaults it supplies. Pure.
#ifndef NECRO_PLAN_DETAIL_CAPTURE_HPP
#define NECRO_PLAN_DETAIL_CAPTURE_HPP
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include <necro/pb/fdinfo.pb.h>
#include <necro/pb/fs.pb.h>
#include <necro/plan/plan.hpp>

namespace necro::plan::detail {

/// Entries nothing refers to any more: those of the fds and directories replaced.
inline void drop_unreferenced(resurrection& plan, const std::set<std::uint32_t>& replaced,
                              const std::map<int, pb::fdinfo_entry>& table, const pb::fs_entry& fs) {
  std::set<std::uint32_t> used{fs.cwd_id(), fs.root_id(), static_cast<std::uint32_t>(plan.mm.exe_file_id())};
  for (const auto& [fd, fi] : table) used.insert(fi.id());
  for (const auto& v : plan.mm.vmas()) used.insert(static_cast<std::uint32_t>(v.shmid()));
  for (const auto& o : plan.shared.objects) used.insert(o.file_id);
  std::erase_if(plan.files, [&](const pb::file_entry& f) { return replaced.contains(f.id()) && !used.contains(f.id()); });
}

/// Puts `bytes` in place of the carried image `name` (or adds it).
inline void replace_carried(resurrection& plan, const std::string& name, std::string bytes) {
  for (auto& c : plan.carried)
    if (c.to == name) {
      c.bytes = std::move(bytes);
      return;
    }
  plan.carried.push_back({name, name, std::move(bytes)});
}

/// The defaults a donor-less set took that the capture now gives.
inline void drop_supplied_defaults(resurrection& plan) {
  std::erase_if(plan.not_in_core, [](const default_taken& d) {
    return d.what == "open files" || d.what == "cwd and root" || d.what == "rlimits" || d.what == "credentials";
  });
  for (auto& d : plan.not_in_core)
    if (d.what == "signal handlers")
      d.value = "SIG_DFL for every caught signal; ignored signals stay SIG_IGN (from the capture)";
}

}  // namespace necro::plan::detail

#endif
