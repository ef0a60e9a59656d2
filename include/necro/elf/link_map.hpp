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
inline constexpr std::uint32_t pt_dynamic = 2, pt_phdr = 6;
}  // namespace dyn

/// One `struct link_map` of the chain (LP64 layout: l_addr, l_name, l_ld, l_next, l_prev).
struct loaded_object {
  std::uint64_t at = 0;        ///< the link_map's own address
  std::uint64_t bias = 0;      ///< l_addr: load address less the file's p_vaddr
  std::uint64_t dynamic = 0;   ///< l_ld: its PT_DYNAMIC in memory
  std::string_view name;       ///< l_name, in the core ("" for the executable)
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

namespace detail {

/// An error at address `addr` of the dead process, with the core's file offset when dumped.
template <class Arch>
error memory_error(const core_view<Arch>& core, std::uint64_t addr, errc code, std::string what) {
  if (const auto* s = core.segment_at(addr); s && addr - s->vaddr < s->filesz)
    return error(code, std::string(core.path()), s->offset + (addr - s->vaddr),
                 fmt::format("address {:#x}: {}", addr, what));
  return error(code, std::string(core.path()), fmt::format("address {:#x}: {}", addr, what));
}

template <class Arch, class T>
result<T> read_at(const core_view<Arch>& core, std::uint64_t addr, std::string_view what) {
  if (auto v = core.template read_memory<T>(addr)) return *v;
  return fail(memory_error(core, addr, errc::missing, fmt::format("{} is not in the core's memory", what)));
}

template <class Arch>
result<exe_image> read_exe_image(const core_view<Arch>& core) {
  const std::string path(core.path());
  const auto at_phdr = core.auxv(arch::at::phdr), at_phnum = core.auxv(arch::at::phnum);
  if (!at_phdr || !at_phnum) return fail(error(errc::missing, path, "NT_AUXV has no AT_PHDR/AT_PHNUM"));
  if (*at_phnum > max_exe_phnum)
    return fail(error(errc::limit, path, fmt::format("AT_PHNUM {} exceeds the cap of {}", *at_phnum, max_exe_phnum)));
  exe_image img;
  for (std::uint64_t i = 0; i < *at_phnum; ++i) {
    NECRO_TRY_ASSIGN(const phdr64 ph, (read_at<Arch, phdr64>(core, *at_phdr + i * sizeof(phdr64),
                                                             fmt::format("executable program header {}", i))));
    img.phdrs.push_back(ph);
  }
  for (const auto& ph : img.phdrs)
    if (ph.type == dyn::pt_phdr) img.bias = *at_phdr - ph.vaddr;  // modular, like the loader's
  for (const auto& ph : img.phdrs)
    if (ph.type == dyn::pt_dynamic) img.dynamic = img.bias + ph.vaddr;
  return img;
}

/// DT_DEBUG's value in the dynamic section at `dynamic`; nullopt when it has none or 0.
template <class Arch>
result<std::optional<std::uint64_t>> find_dt_debug(const core_view<Arch>& core, std::uint64_t dynamic) {
  for (std::uint64_t i = 0; i < max_dynamic_entries; ++i) {
    const std::uint64_t at = dynamic + i * 16;
    NECRO_TRY_ASSIGN(const auto tag, (read_at<Arch, std::uint64_t>(core, at, "executable dynamic entry")));
    if (tag == dyn::dt_null) return std::optional<std::uint64_t>{};
    if (tag != dyn::dt_debug) continue;
    NECRO_TRY_ASSIGN(const auto val, (read_at<Arch, std::uint64_t>(core, at + 8, "DT_DEBUG value")));
    return val ? std::optional<std::uint64_t>(val) : std::nullopt;
  }
  return fail(memory_error(core, dynamic, errc::limit,
                           fmt::format("executable dynamic section has no DT_NULL in {} entries", max_dynamic_entries)));
}

template <class Arch>
result<loaded_object> read_link_map_entry(const core_view<Arch>& core, std::uint64_t at) {
  loaded_object o;
  o.at = at;
  NECRO_TRY_ASSIGN(o.bias, (read_at<Arch, std::uint64_t>(core, at, "link_map l_addr")));
  NECRO_TRY_ASSIGN(const auto name, (read_at<Arch, std::uint64_t>(core, at + 8, "link_map l_name")));
  NECRO_TRY_ASSIGN(o.dynamic, (read_at<Arch, std::uint64_t>(core, at + 16, "link_map l_ld")));
  if (name != 0) {
    const auto s = core.read_string(name, max_object_name);
    if (!s)
      return fail(memory_error(core, name, errc::bad_value,
                               fmt::format("link_map at {:#x}: l_name is not a NUL-terminated string of at most {} "
                                           "bytes in the core's memory",
                                           at, max_object_name)));
    o.name = *s;
  }
  return o;
}

/// Walks r_map -> l_next from `first`: capped, and a link_map seen twice is a cycle.
template <class Arch>
result<std::vector<loaded_object>> walk_link_map(const core_view<Arch>& core, std::uint64_t first) {
  std::vector<loaded_object> out;
  std::set<std::uint64_t> seen;
  for (std::uint64_t at = first; at != 0;) {
    if (!seen.insert(at).second)
      return fail(memory_error(core, at, errc::bad_value, "link_map chain loops back to this entry"));
    if (out.size() >= max_loaded_objects)
      return fail(memory_error(core, at, errc::limit,
                               fmt::format("link_map chain longer than {} entries", max_loaded_objects)));
    NECRO_TRY_ASSIGN(auto o, read_link_map_entry(core, at));
    out.push_back(o);
    NECRO_TRY_ASSIGN(at, (read_at<Arch, std::uint64_t>(core, at + 24, "link_map l_next")));
  }
  return out;
}

}  // namespace detail

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
  // struct r_debug { int r_version; struct link_map* r_map; ... }: r_map at 8.
  NECRO_TRY_ASSIGN(const auto version, (detail::read_at<Arch, std::int32_t>(core, *out.r_debug, "r_debug r_version")));
  if (version < 1 || version > 2)
    return fail(detail::memory_error(core, *out.r_debug, errc::bad_value,
                                     fmt::format("r_debug r_version {} is not 1 or 2", version)));
  NECRO_TRY_ASSIGN(const auto first, (detail::read_at<Arch, std::uint64_t>(core, *out.r_debug + 8, "r_debug r_map")));
  NECRO_TRY_ASSIGN(out.objects, detail::walk_link_map(core, first));
  return out;
}

}  // namespace necro::elf

#endif
