/// necro::criu::detail: the entries of one image file by name in a dump
/// directory (the first, or every one) and the number in a numbered image's
/// name ("ghost-file-<n>.img"), for criu/shared_memory.hpp.
#ifndef NECRO_CRIU_DETAIL_IMAGE_ENTRIES_HPP
#define NECRO_CRIU_DETAIL_IMAGE_ENTRIES_HPP
#pragma once

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/image.hpp>
#include <necro/io/error.hpp>
#include <necro/io/mapped_file.hpp>

namespace necro::criu::detail {

/// The number in "<prefix><n>.img", if `name` has that form.
inline std::optional<std::uint32_t> image_number(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix) || !name.ends_with(".img") || name.size() <= prefix.size() + 4) return std::nullopt;
  const auto mid = name.substr(prefix.size(), name.size() - prefix.size() - 4);
  std::uint32_t n = 0;
  const auto [p, ec] = std::from_chars(mid.data(), mid.data() + mid.size(), n);
  if (ec != std::errc{} || p != mid.data() + mid.size()) return std::nullopt;
  return n;
}

/// The first entry of `dir/name` (an image of `image_magic`) as Msg.
template <class Msg>
result<Msg> read_first(const std::filesystem::path& dir, const std::string& name, std::uint32_t image_magic) {
  NECRO_TRY_ASSIGN(io::mapped_file f, io::mapped_file::open((dir / name).string()));
  NECRO_TRY_ASSIGN(entry_reader r, entry_reader::open(f.view(), image_magic));
  Msg m;
  NECRO_TRY_ASSIGN(const bool ok, r.next(m));
  if (!ok)
    return fail(error(errc::missing, (dir / name).string(), fmt::format("no {} entry", Msg::descriptor()->name())));
  return m;
}

/// Every entry of `dir/name` as Msg.
template <class Msg>
result<std::vector<Msg>> read_every(const std::filesystem::path& dir, const std::string& name, std::uint32_t image_magic) {
  NECRO_TRY_ASSIGN(io::mapped_file f, io::mapped_file::open((dir / name).string()));
  NECRO_TRY_ASSIGN(entry_reader r, entry_reader::open(f.view(), image_magic));
  return r.template read_all<Msg>();
}

}  // namespace necro::criu::detail

#endif
