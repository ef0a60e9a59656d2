/// necro::plan::capture_scope and capture_facts: what the caller decides, or
/// knows of this machine now, for plan::apply_capture (plan/capture.hpp).
#ifndef NECRO_PLAN_CAPTURE_OPTIONS_HPP
#define NECRO_PLAN_CAPTURE_OPTIONS_HPP
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace necro::plan {

/// How much of a capture is applied: without a donor everything it holds;
/// with one only the victim's regular files (the donor's sockets, pipes and
/// event fds serve, and its handlers are the program's own).
enum class capture_scope { everything, regular_files };

/// What the capture step needs to know of this machine now (the caller stats
/// the captured paths): a file gone since the death cannot be reopened.
struct capture_facts {
  std::string dir;  ///< the capture directory, for --explain
  /// st_mode of every captured path (fd targets, cwd, root) that exists now.
  std::map<std::string, std::uint32_t, std::less<>> present;
  /// The caller chose the cwd (--cwd): the set's own stays. Unix socket
  /// names are still resolved in the captured one, where they were bound.
  bool cwd_chosen = false;
  /// Captured regular files found under the sysroot: path -> the file there.
  std::map<std::string, std::string, std::less<>> relocated;
  /// Without a donor, what holds the fd of a captured regular file missing
  /// on this machine (its st_mode beside); empty: such an fd is closed.
  std::string missing_stand_in;
  std::uint32_t missing_stand_in_mode = 0;
  /// Captured sockets whose address cannot be bound on this machine: fd -> why.
  std::map<int, std::string> unbindable;
};

}  // namespace necro::plan

#endif
