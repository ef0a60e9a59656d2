/// necro::criu::rpc::detail: a failed CRIU call explained by CRIU's own log
/// (its first error lines, then the path of the whole log).
#ifndef NECRO_CRIU_DETAIL_CRIU_LOG_HPP
#define NECRO_CRIU_DETAIL_CRIU_LOG_HPP
#pragma once

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/io/error.hpp>

namespace necro::criu::rpc::detail {

/// The first lines of a CRIU log that say `Error`, for a one-screen report.
inline std::vector<std::string> first_errors(const std::filesystem::path& log, std::size_t most = 5) {
  std::vector<std::string> out;
  std::ifstream in(log);
  for (std::string line; out.size() < most && std::getline(in, line);)
    if (line.find("Error") != std::string::npos && line.find("RLIMIT_NOFILE") == std::string::npos)
      out.push_back(line.substr(0, 300));
  return out;
}

/// A failure on `dir` explained by CRIU's log: `why`, CRIU's first error
/// lines, then the path of the whole log, one per line.
inline error failure_with_log(const std::string& dir, std::string why, const std::filesystem::path& log) {
  for (const auto& line : first_errors(log)) why += "\n" + line;
  why += fmt::format("\nthe whole log: {}", log.string());
  return error(errc::io, dir, std::move(why));
}

}  // namespace necro::criu::rpc::detail

#endif
