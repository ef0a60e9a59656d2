/// The mapped-files step of capture::collect: each distinct file of
/// /proc/PID/maps, its inode and its GNU build-id, read through
/// /proc/PID/map_files/ (the very file mapped, even if since replaced).
#ifndef NECRO_CAPTURE_DETAIL_COLLECT_MAPS_HPP
#define NECRO_CAPTURE_DETAIL_COLLECT_MAPS_HPP
#pragma once

#include <fcntl.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <necro/capture/detail/collector.hpp>
#include <necro/capture/proc.hpp>
#include <necro/elf/build_id.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/io/printable.hpp>
#include <necro/io/unique_fd.hpp>

namespace necro::capture::detail {

/// One file-backed line of /proc/PID/maps.
struct maps_line {
  std::uint64_t start = 0, end = 0, ino = 0;
  std::string path;
};

inline std::optional<maps_line> parse_maps_line(std::string_view l) {
  const auto w = proc::words(l);
  if (w.size() < 6 || !w[5].starts_with("/")) return std::nullopt;
  const auto dash = w[0].find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  maps_line m;
  const auto s = proc::num<std::uint64_t>(w[0].substr(0, dash), 16), e = proc::num<std::uint64_t>(w[0].substr(dash + 1), 16);
  const auto ino = proc::num<std::uint64_t>(w[4], 10);
  if (!s || !e || !ino || *ino == 0) return std::nullopt;
  m.start = *s, m.end = *e, m.ino = *ino;
  m.path = std::string(l.substr(static_cast<std::size_t>(w[5].data() - l.data())));
  return m;
}

/// The build-id (hex) of the file mapped at `m`, or empty.
inline std::string mapped_build_id(int proc_dir, const maps_line& m, std::string& why) {
  const std::string rel = fmt::format("map_files/{:x}-{:x}", m.start, m.end);
  io::unique_fd fd(::openat(proc_dir, rel.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) return why = fmt::format("{}: cannot open: {}", rel, std::strerror(errno)), std::string();
  auto file = io::mapped_file::adopt(std::move(fd), rel);
  if (!file) return why = file.error().message(), std::string();
  const auto id = elf::read_build_id(file->view());
  if (!id) return why = id.error().message(), std::string();
  if (!*id) return {};
  return elf::to_hex((*id)->bytes());
}

}  // namespace necro::capture::detail

namespace necro::capture::detail {

template <class Options>
void collector<Options>::maps_part() {
  std::set<std::string> seen;
  proc::for_each_line(*maps_, [&](std::string_view l) {
    const auto m = parse_maps_line(l);
    if (!m || !seen.insert(m->path).second || c_.mapped_files.size() >= (1u << 16)) return;
    if (expired("the remaining mapped files")) return;
    std::string why;
    c_.mapped_files.push_back({m->path, m->ino, mapped_build_id(dir_.get(), *m, why)});
    if (!why.empty()) skip(fmt::format("build-id of {}: {}", io::printable(m->path), why));
  });
}

/// The VMAs with `s` in their permissions: MAP_SHARED, which a core does not record.
template <class Options>
void collector<Options>::shared_vmas_part() {
  auto& out = c_.shared_vmas.emplace();
  proc::for_each_line(*maps_, [&](std::string_view l) {
    const auto w = proc::words(l);
    if (w.size() < 2 || w[1].size() < 4 || w[1][3] != 's') return;
    const auto dash = w[0].find('-');
    if (dash == std::string_view::npos) return;
    const auto s = proc::num<std::uint64_t>(w[0].substr(0, dash), 16), e = proc::num<std::uint64_t>(w[0].substr(dash + 1), 16);
    if (s && e && *s < *e) out.push_back({*s, *e});
  });
}

}  // namespace necro::capture::detail

#endif
