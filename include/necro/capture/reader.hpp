/// capture::read: opens a capture directory (CORE.necro/ beside a core
/// written by necro-catch) and parses its capture.txt. For a resurrection:
///   auto cap = capture::read(capture::dir_for_core(core_path), core_pid);
///   auto msgs = capture::to_criu(*cap);   // capture/criu_files.hpp
#ifndef NECRO_CAPTURE_READER_HPP
#define NECRO_CAPTURE_READER_HPP
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <necro/capture/model.hpp>
#include <necro/capture/text.hpp>
#include <necro/io/error.hpp>
#include <necro/io/mapped_file.hpp>

namespace necro::capture {

/// capture.txt is at most this large (a million fds with long paths fit).
inline constexpr std::uint64_t max_capture_text = 1ull << 30;

/// The capture directory necro-catch writes beside `core`: core.PID.necro for
/// core.PID and for core.PID.zst.
inline std::string dir_for_core(std::string_view core) {
  if (core.ends_with(".zst")) core.remove_suffix(4);
  return fmt::format("{}.necro", core);
}

/// Parses DIR/capture.txt; with `expected_pid`, a capture of another pid is an error.
inline result<process_capture> read(const std::string& dir, std::optional<std::int32_t> expected_pid = std::nullopt) {
  const std::string path = dir + "/capture.txt";
  NECRO_TRY_ASSIGN(const auto file, io::mapped_file::open(path));
  if (file.size() > max_capture_text)
    return fail(error(errc::limit, path, fmt::format("{} bytes, more than the cap of {}", file.size(), max_capture_text)));
  const auto bytes = file.view().bytes();
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return parse_text(text, path, expected_pid);
}

}  // namespace necro::capture

#endif
