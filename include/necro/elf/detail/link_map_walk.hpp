/// necro::elf::detail: the steps of elf::read_loaded_objects (reads through
/// the core's memory with errors naming the address and file offset, the
/// executable's program headers at AT_PHDR, DT_DEBUG, the link_map chain),
/// and glibc's <link.h> layouts they read. Included by elf/link_map.hpp after
/// the types the steps fill (loaded_object, exe_image).
#ifndef NECRO_ELF_DETAIL_LINK_MAP_WALK_HPP
#define NECRO_ELF_DETAIL_LINK_MAP_WALK_HPP
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/elf/core_view.hpp>
#include <necro/elf/types.hpp>
#include <necro/io/error.hpp>

namespace necro::elf::detail {

/// struct link_map's public head and struct r_debug (glibc's <link.h>), LP64.
struct link_map64 {
  std::uint64_t l_addr, l_name, l_ld, l_next, l_prev;
};
static_assert(offsetof(link_map64, l_name) == 8);
static_assert(offsetof(link_map64, l_ld) == 16);
static_assert(offsetof(link_map64, l_next) == 24);
struct r_debug64 {
  std::int32_t r_version;
  std::array<std::uint8_t, 4> pad0;
  std::uint64_t r_map, r_brk;
  std::int32_t r_state;
  std::array<std::uint8_t, 4> pad1;
  std::uint64_t r_ldbase;
};
static_assert(sizeof(r_debug64) == 40);
static_assert(offsetof(r_debug64, r_map) == 8);

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
    const std::uint64_t at = dynamic + i * sizeof(dyn64);
    NECRO_TRY_ASSIGN(const auto tag, (read_at<Arch, std::uint64_t>(core, at, "executable dynamic entry")));
    if (tag == dyn::dt_null) return std::optional<std::uint64_t>{};
    if (tag != dyn::dt_debug) continue;
    NECRO_TRY_ASSIGN(const auto val, (read_at<Arch, std::uint64_t>(core, at + offsetof(dyn64, val), "DT_DEBUG value")));
    return val ? std::optional<std::uint64_t>(val) : std::nullopt;
  }
  return fail(memory_error(core, dynamic, errc::limit,
                           fmt::format("executable dynamic section has no DT_NULL in {} entries", max_dynamic_entries)));
}

template <class Arch>
result<loaded_object> read_link_map_entry(const core_view<Arch>& core, std::uint64_t at) {
  loaded_object o;
  o.at = at;
  NECRO_TRY_ASSIGN(o.bias, (read_at<Arch, std::uint64_t>(core, at + offsetof(link_map64, l_addr), "link_map l_addr")));
  NECRO_TRY_ASSIGN(const auto name,
                   (read_at<Arch, std::uint64_t>(core, at + offsetof(link_map64, l_name), "link_map l_name")));
  NECRO_TRY_ASSIGN(o.dynamic, (read_at<Arch, std::uint64_t>(core, at + offsetof(link_map64, l_ld), "link_map l_ld")));
  o.name_at = name;
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
    NECRO_TRY_ASSIGN(at, (read_at<Arch, std::uint64_t>(core, at + offsetof(link_map64, l_next), "link_map l_next")));
  }
  return out;
}

}  // namespace necro::elf::detail

#endif
