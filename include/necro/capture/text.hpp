/// capture.txt, the versioned text form of a process_capture: `to_text`
/// writes it, `parse_text` reads it back defensively (a bad line gives one
/// error naming the file, the line and its offset). Format: docs/capture.md.
#ifndef NECRO_CAPTURE_TEXT_HPP
#define NECRO_CAPTURE_TEXT_HPP
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <necro/capture/detail/escape.hpp>
#include <necro/capture/detail/text_dispatch.hpp>
#include <necro/capture/detail/text_write.hpp>
#include <necro/capture/model.hpp>
#include <necro/io/error.hpp>

namespace necro::capture {

/// The text form of `c` (capture.txt), ending with the `end` line that
/// tells a complete file from a truncated one.
inline std::string to_text(const process_capture& c) {
  std::string o;
  detail::put_process(o, c);
  for (const auto& f : c.fds) detail::put_fd(o, f);
  for (const auto& m : c.mapped_files) detail::put_line(o, "map", detail::map_fields, m);
  if (c.shared_vmas) {
    o += fmt::format("shared-vmas {}\n", c.shared_vmas->size());
    for (const auto& v : *c.shared_vmas) o += fmt::format("shared {:#x} {:#x}\n", v.start, v.end);
  }
  if (c.kernel) detail::put_kernel(o, *c.kernel, c.version);
  for (const auto& s : c.skipped) o += fmt::format("skipped {}\n", detail::escape(s));
  o += fmt::format("end fds={} maps={}\n", c.fds.size(), c.mapped_files.size());
  return o;
}

/// Parses capture.txt bytes; `origin` names the file in errors. With
/// `expected_pid`, a capture of another pid is an error (a capture directory
/// beside the wrong core).
inline result<process_capture> parse_text(std::string_view text, std::string_view origin,
                                          std::optional<std::int32_t> expected_pid = std::nullopt) {
  return detail::parse_all(text, origin, expected_pid);
}

}  // namespace necro::capture

#endif
