/// necro::elf::read_build_id and victim_build_id: the GNU build-id
/// (NT_GNU_BUILD_ID, owner "GNU") of an ELF64 little-endian file, read from the
/// file's bytes (PT_NOTE at file offsets) or from a core's memory where the dead
/// process had the file loaded (PT_NOTE at the load bias plus p_vaddr, through
/// core_view::memory). Both walk the same bounds-checked program headers
/// (elf/detail/build_id_walk.hpp, which also holds the walk's caps); nothing
/// is copied.
#ifndef NECRO_ELF_BUILD_ID_HPP
#define NECRO_ELF_BUILD_ID_HPP
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <necro/elf/detail/build_id_walk.hpp>
#include <necro/elf/identity.hpp>
#include <necro/io/byte_view.hpp>
#include <necro/io/error.hpp>

namespace necro::elf {

template <class Arch>
class core_view;

/// Lower-case hex of `bytes`, as readelf and `file` print a build-id.
inline std::string to_hex(std::span<const std::byte> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (const std::byte b : bytes) {
    s.push_back(digits[std::to_integer<unsigned>(b) >> 4]);
    s.push_back(digits[std::to_integer<unsigned>(b) & 0xf]);
  }
  return s;
}

/// The GNU build-id of the ELF file whose bytes are `file` (from offset 0, e.g.
/// a mapped_file's view). nullopt when the file is not ELF or has no
/// NT_GNU_BUILD_ID note; an error naming the offset when the headers or notes
/// run past the file or exceed the caps. The view points into `file`.
inline result<std::optional<io::byte_view>> read_build_id(const io::byte_view& file) {
  // Not ELF (even shorter than a header) is no build-id; ELF cut short is an error.
  if (!has_elf_magic(file)) return std::optional<io::byte_view>{};
  return detail::walk_build_id(
      [&file](std::uint64_t pos, std::uint64_t len, std::string_view what) -> result<std::optional<io::byte_view>> {
        NECRO_TRY_ASSIGN(io::byte_view v, file.sub(pos, len, what));
        return std::optional<io::byte_view>(v);
      },
      std::nullopt, 4096);
}

/// The build-id of the ELF file the dead process had loaded at `load_start`
/// (where its file offset 0 is mapped), read from the core's memory: nullopt
/// when the ELF header, program headers or notes are not dumped there
/// (coredump_filter bit 4 dumps the header page), or the file has none.
template <class Arch>
result<std::optional<io::byte_view>> build_id_at(const core_view<Arch>& core, std::uint64_t load_start) {
  // The notes may lie in a later mapping of the file (its other PT_LOADs).
  auto fetch = [&core](std::uint64_t pos, std::uint64_t len, std::string_view) -> result<std::optional<io::byte_view>> {
    return core.memory(pos, len);
  };
  return detail::walk_build_id(fetch, load_start, Arch::page_size);
}

/// The build-id of `path` as the dead process had it loaded: read from the
/// core's memory at each NT_FILE mapping of `path` at file offset 0 (the ELF
/// header; coredump_filter bit 4 dumps it). nullopt when no such mapping is
/// dumped with its headers and notes, or the file is not ELF or has no
/// build-id. Errors (naming the core and its offset) for malformed headers.
/// The view points into the core.
template <class Arch>
result<std::optional<io::byte_view>> victim_build_id(const core_view<Arch>& core, std::string_view path) {
  for (const auto& f : core.process().files) {
    if (f.path != path || f.offset != 0) continue;
    NECRO_TRY_ASSIGN(auto id, build_id_at(core, f.start));
    if (id) return id;
  }
  return std::optional<io::byte_view>{};
}

}  // namespace necro::elf

#endif
