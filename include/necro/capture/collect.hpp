/// capture::collect: reads what a core lacks from /proc/PID (fds, cwd, root,
/// limits, creds, signal masks, personality, mapped files' build-ids) into a
/// process_capture. Meant for a core_pattern helper while the kernel waits
/// on it; stops at a deadline. Never fails for one unreadable piece: that
/// piece is listed in `skipped` (and logged), the rest goes on.
#ifndef NECRO_CAPTURE_COLLECT_HPP
#define NECRO_CAPTURE_COLLECT_HPP
#pragma once

#include <fcntl.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include <fmt/format.h>

#include <necro/capture/detail/collect_maps.hpp>
#include <necro/capture/detail/collector.hpp>
#include <necro/capture/model.hpp>
#include <necro/io/error.hpp>
#include <necro/io/unique_fd.hpp>

namespace necro::capture {

struct collect_options {
  /// Past this point nothing more is read (the dying process waits on us).
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  bool build_ids = true;
  /// A /proc text longer than this is cut (and said so): net tables of busy hosts.
  std::size_t max_text = 64u << 20;
  /// Called with each line worth logging (what was skipped and why).
  std::function<void(const std::string&)> log;
};

/// Reads /proc/`pid` (through `proc_root`, "/proc" unless testing) into a
/// capture. Fails only when /proc/PID itself cannot be opened.
inline result<process_capture> collect(std::int32_t pid, const collect_options& opt = {},
                                       const std::string& proc_root = "/proc") {
  const std::string path = fmt::format("{}/{}", proc_root, pid);
  io::unique_fd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return fail(error::from_errno(path, "cannot open the process's /proc directory", errno));
  detail::collector<collect_options> c(std::move(dir), opt);
  auto out = c.run(pid);
  out.complete = true;
  return out;
}

}  // namespace necro::capture

#endif
