/// necro::elf::read_loaded_objects: the objects the dead process had loaded,
/// as its dynamic linker listed them (glibc's `r_debug` and `link_map` chain,
/// the list gdb and elfutils' libdwfl read from a core), found through the
/// executable's PT_DYNAMIC DT_DEBUG entry in the core's memory. Also the
/// executable's own load bias from AT_PHDR. Every pointer and string is read
/// through the core's PT_LOAD segments, bounds-checked; counts and lengths
/// are capped, and a cycle in the chain is an error, not a loop.
#ifndef NECRO_ELF_LINK_MAP_HPP
#define NECRO_ELF_LINK_MAP_HPP
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/elf/types.hpp>
#include <necro/io/error.hpp>

namespace necro::elf {

/// Caps on what the walk reads from a (possibly hostile) core.
inline constexpr std::uint64_t max_loaded_objects = 1u << 14;
inline constexpr std::uint64_t max_dynamic_entries = 1u << 12;
inline constexpr std::size_t max_object_name = 4096;  // PATH_MAX
inline constexpr std::uint64_t max_exe_phnum = 1u << 10;

/// ELF dynamic tags and program header types the walk needs.
namespace dyn {
inline constexpr std::uint64_t dt_null = 0, dt_debug = 21;
using arch::elfc::pt_dynamic;
using arch::elfc::pt_phdr;
}  // namespace dyn

/// One `struct link_map` of the chain (LP64 layout: l_addr, l_name, l_ld, l_next, l_prev).
struct loaded_object {
  std::uint64_t at = 0;        ///< the link_map's own address
  std::uint64_t bias = 0;      ///< l_addr: load address less the file's p_vaddr
  std::uint64_t dynamic = 0;   ///< l_ld: its PT_DYNAMIC in memory
  std::string_view name;       ///< l_name, in the core ("" for the executable)
  std::uint64_t name_at = 0;   ///< l_name: the name's address
};

/// What the executable's program headers in memory say.
struct exe_image {
  std::uint64_t bias = 0;                  ///< AT_PHDR less PT_PHDR's p_vaddr
  std::vector<phdr64> phdrs;               ///< read at AT_PHDR (AT_PHNUM of them)
  std::optional<std::uint64_t> dynamic;    ///< PT_DYNAMIC's address (bias applied)
};

/// The dynamic linker's view of the dead process.
struct loaded_objects {
  exe_image exe;
  std::optional<std::uint64_t> r_debug;  ///< DT_DEBUG's value (glibc's _r_debug)
  std::vector<loaded_object> objects;    ///< link_map order: executable, libraries, ld.so
};

}  // namespace necro::elf

// The walk's steps, over the types above.
#include <necro/elf/detail/link_map_walk.hpp>

namespace necro::elf {

/// The executable's image (from AT_PHDR) and the link_map chain reached from
/// its DT_DEBUG. A static executable (no PT_DYNAMIC) or one whose DT_DEBUG is
/// still 0 gives no objects and no error. Errors name the core, the address
/// and, where dumped, the file offset of what could not be read.
template <class Arch>
result<loaded_objects> read_loaded_objects(const core_view<Arch>& core) {
  static_assert(Arch::elf_class == arch::elfc::class64, "necro: link_map is read with the LP64 layout");
  loaded_objects out;
  NECRO_TRY_ASSIGN(out.exe, detail::read_exe_image(core));
  if (!out.exe.dynamic) return out;
  NECRO_TRY_ASSIGN(out.r_debug, detail::find_dt_debug(core, *out.exe.dynamic));
  if (!out.r_debug) return out;
  NECRO_TRY_ASSIGN(const auto version, (detail::read_at<Arch, std::int32_t>(core, *out.r_debug, "r_debug r_version")));
  if (version < 1 || version > 2)
    return fail(detail::memory_error(core, *out.r_debug, errc::bad_value,
                                     fmt::format("r_debug r_version {} is not 1 or 2", version)));
  NECRO_TRY_ASSIGN(const auto first, (detail::read_at<Arch, std::uint64_t>(
                                         core, *out.r_debug + offsetof(detail::r_debug64, r_map), "r_debug r_map")));
  NECRO_TRY_ASSIGN(out.objects, detail::walk_link_map(core, first));
  return out;
}

}  // namespace necro::elf

#endif
