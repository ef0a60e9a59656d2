// criu-necromancer: what a donor-less image set needs to know of this machine
// and of the necro process (the I/O before plan::synthesize_donor, which is pure):
// the stat modes of --stdio and --cwd, necro's own rlimits and capabilities,
// whether the victim's pid is taken, and where glibc's rseq symbols are.
#pragma once

#include <sys/resource.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <fmt/format.h>

#include <necro/necro.hpp>

namespace donorless {


/// `path` with its stat mode, or an error naming it.
inline necro::result<necro::plan::opened_path> opened(const std::string& path, bool want_dir, bool given) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return necro::fail(necro::error::from_errno(path, "cannot stat", errno));
  if (want_dir != S_ISDIR(st.st_mode))
    return necro::fail(necro::error(necro::errc::bad_value, path, want_dir ? "is not a directory" : "is a directory"));
  return necro::plan::opened_path{std::filesystem::absolute(path).lexically_normal().string(),
                                   static_cast<std::uint32_t>(st.st_mode), given};
}

/// The capability words of line `key` ("CapEff:") of /proc/self/status.
inline std::array<std::uint32_t, 2> own_capabilities(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (!line.starts_with(key)) continue;
    const std::uint64_t v = std::stoull(line.substr(key.size()), nullptr, 16);
    return {static_cast<std::uint32_t>(v), static_cast<std::uint32_t>(v >> 32)};
  }
  return {0, 0};
}

/// glibc's __rseq_offset and __rseq_size in the first mapped file that
/// defines them (ld.so since glibc 2.35), read from the files on disk.
inline std::optional<necro::plan::rseq_symbols> find_rseq_symbols(const necro::io::file_facts& disk, std::string& why) {
  for (const auto& [path, fact] : disk) {
    if (!fact || !fact->content) continue;
    const auto off = necro::elf::dynamic_symbol(fact->content->view(), "__rseq_offset");
    const auto size = necro::elf::dynamic_symbol(fact->content->view(), "__rseq_size");
    if (off && size && *off && *size) return necro::plan::rseq_symbols{path, **off, **size};
  }
  why = disk.empty() ? "--offline: the mapped files were not read"
                     : "no mapped file defines glibc's __rseq_offset (glibc < 2.35, or another libc)";
  return std::nullopt;
}

/// Everything synthesize_donor takes from this machine.
inline necro::result<necro::plan::donorless_options> gather(std::int32_t pid, const necro::io::file_facts& disk,
                                                            const std::string& stdio, const std::string& cwd) {
  necro::plan::donorless_options o;
  if (!stdio.empty()) {
    NECRO_TRY_ASSIGN(o.stdio, opened(stdio, false, true));
  }
  if (!cwd.empty()) {
    NECRO_TRY_ASSIGN(o.cwd, opened(cwd, true, true));
  }
  for (int r = 0; r < static_cast<int>(necro::plan::rlimit_count); ++r) {
    struct rlimit rl {};
    if (::getrlimit(r, &rl) != 0) rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
    o.rlimits.emplace_back(rl.rlim_cur, rl.rlim_max);
  }
  o.cap_eff = own_capabilities("CapEff:");
  o.cap_bnd = own_capabilities("CapBnd:");
  std::error_code ec;
  o.pid_taken = std::filesystem::exists(fmt::format("/proc/{}", pid), ec);
  o.rseq = find_rseq_symbols(disk, o.rseq_missing);
  return o;
}

}  // namespace donorless
