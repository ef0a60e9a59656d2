/// necro::plan::detail: the steps of rebuild_file_mappings
/// (plan/address_space/file_mappings.hpp): the executable on disk, each object's PT_LOADs
/// matched to the core's segments, and the segments left unmatched, into
/// plan::rebuilt_mappings (plan/address_space/file_mappings_types.hpp).
#ifndef NECRO_PLAN_ADDRESS_SPACE_DETAIL_FILE_MAPPINGS_HPP
#define NECRO_PLAN_ADDRESS_SPACE_DETAIL_FILE_MAPPINGS_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/disk/object_files.hpp>
#include <necro/elf/build_id.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/elf/identity.hpp>
#include <necro/elf/link_map.hpp>
#include <necro/io/error.hpp>
#include <necro/io/printable.hpp>
#include <necro/plan/address_space/detail/segments.hpp>
#include <necro/plan/address_space/file_mappings_types.hpp>

namespace necro::plan::detail {

inline std::uint64_t page_down(std::uint64_t v, std::uint64_t page) { return v & ~(page - 1); }
inline std::uint64_t page_up(std::uint64_t v, std::uint64_t page) { return (v + page - 1) & ~(page - 1); }

/// One file-backed range of a loaded object: [start, end) maps the file from `offset`.
struct file_range {
  std::uint64_t start = 0, end = 0, offset = 0;
};

/// The ranges a loader maps from the file for each PT_LOAD (page-aligned,
/// file offsets from p_offset); with `holes`, also the gaps between them,
/// which glibc's loader leaves mapped from the file PROT_NONE (its one
/// reservation, linear from the first segment's offset).
inline std::vector<file_range> loader_ranges(const elf::file_layout& l, std::uint64_t bias, std::uint64_t page,
                                             bool holes) {
  std::vector<file_range> out;
  const std::uint64_t first = page_down(bias + l.loads.front().vaddr, page);
  const std::uint64_t first_off = page_down(l.loads.front().offset, page);
  std::uint64_t alloc_end = first;
  for (const auto& ph : l.loads) {
    const std::uint64_t start = page_down(bias + ph.vaddr, page);
    if (holes && start > alloc_end) out.push_back({alloc_end, start, first_off + (alloc_end - first)});
    const std::uint64_t end = page_up(bias + ph.vaddr + ph.filesz, page);
    if (end > start) out.push_back({start, end, page_down(ph.offset, page)});
    alloc_end = std::max(alloc_end, page_up(bias + ph.vaddr + ph.memsz, page));
  }
  return out;
}

/// The core's segments inside [lo, hi), by binary search in `sorted`.
inline std::pair<std::size_t, std::size_t> segments_within(const std::vector<const elf::segment*>& sorted,
                                                           std::uint64_t lo, std::uint64_t hi) {
  auto cmp = [](const elf::segment* s, std::uint64_t a) { return s->vaddr < a; };
  const auto b = std::lower_bound(sorted.begin(), sorted.end(), lo, cmp);
  const auto e = std::lower_bound(b, sorted.end(), hi, cmp);
  return {static_cast<std::size_t>(b - sorted.begin()), static_cast<std::size_t>(e - sorted.begin())};
}

/// Compares the build-id the core holds for the object at `start` with the
/// file's. A mismatch is refused: the file's program headers would be wrong.
template <class Arch>
result<std::string> check_object_build_id(const elf::core_view<Arch>& core, std::uint64_t start,
                                          const disk::object_file& f, std::vector<std::string>& warnings) {
  auto id = elf::build_id_at(core, start);
  if (!id || !*id) {
    warnings.push_back(fmt::format("{}: the core lacks its ELF headers or build-id at {:#x} (coredump_filter bit "
                                   "4): rebuilt from the file on disk unchecked",
                                   f.canonical, start));
    return std::string();
  }
  const std::string ran = elf::to_hex((**id).bytes());
  if (f.layout->build_id && *f.layout->build_id != ran)
    return fail(error(errc::mismatch, f.canonical,
                      fmt::format("build-id on disk is {} but the victim ran {} (loaded at {:#x}): the file changed "
                                  "since the crash; its mappings cannot be rebuilt from it",
                                  *f.layout->build_id, ran, start)));
  return ran;
}

/// The core's segments that lie in one of `ranges`, as NT_FILE entries of `path`.
inline std::size_t match_ranges(const std::vector<const elf::segment*>& sorted, const std::vector<file_range>& ranges,
                                const std::string& path, std::vector<bool>& used,
                                std::vector<elf::owned_file_mapping>& out) {
  std::size_t n = 0;
  for (const auto& r : ranges) {
    const auto [b, e] = segments_within(sorted, r.start, r.end);
    for (std::size_t i = b; i < e; ++i) {
      const auto* s = sorted[i];
      if (used[i] || s->end() > r.end) continue;
      used[i] = true;
      out.push_back({s->vaddr, s->end(), r.offset + (s->vaddr - r.start), path});
      ++n;
    }
  }
  return n;
}

/// Rebuilds one object's entries. A first load segment that starts no VMA of
/// the core means the bias or the file is wrong: skipped with a warning.
template <class Arch>
result<void> rebuild_object(const elf::core_view<Arch>& core, const std::vector<const elf::segment*>& sorted,
                            std::uint64_t bias, const disk::object_file& f, bool holes, std::vector<bool>& used,
                            rebuilt_mappings& out) {
  const auto ranges = loader_ranges(*f.layout, bias, Arch::page_size, holes);
  const std::uint64_t start = page_down(bias + f.layout->loads.front().vaddr, Arch::page_size);
  const auto [b, e] = segments_within(sorted, start, start + 1);
  if (b == e) {
    out.warnings.push_back(fmt::format("{}: no VMA of the core starts at {:#x}, where its first PT_LOAD would be "
                                       "loaded (bias {:#x}): its mappings are not rebuilt",
                                       f.canonical, start, bias));
    return {};
  }
  NECRO_TRY_ASSIGN(auto id, check_object_build_id(core, start, f, out.warnings));
  const std::size_t n = match_ranges(sorted, ranges, f.canonical, used, out.entries);
  out.objects.push_back({f.canonical, bias, n, std::move(id)});
  return {};
}

/// The executable on disk: the first candidate (AT_EXECFN, the donor's
/// executable, ...) that was found, is ELF and, where the core holds the
/// build-id at the executable's load address, has that build-id (a relative
/// AT_EXECFN may name another program from necro's working directory).
/// nullptr when none fits; `tried` then says why.
template <class Arch>
const disk::object_file* pick_executable(const elf::core_view<Arch>& core, std::uint64_t bias,
                                       const std::vector<std::string>& candidates, const disk::object_files& disk,
                                       std::vector<std::string>& tried) {
  for (const auto& c : candidates) {
    const auto it = disk.find(c);
    if (it == disk.end() || !it->second.layout) {
      tried.push_back(fmt::format("{}: {}", c, it == disk.end() ? "not looked up" : it->second.problem));
      continue;
    }
    const std::uint64_t start = page_down(bias + it->second.layout->loads.front().vaddr, Arch::page_size);
    auto id = elf::build_id_at(core, start);
    if (!id || !*id || !it->second.layout->build_id || elf::to_hex((**id).bytes()) == *it->second.layout->build_id)
      return &it->second;
    tried.push_back(fmt::format("{}: build-id {} is not the one the core holds at {:#x}", c,
                                *it->second.layout->build_id, start));
  }
  return nullptr;
}

/// Warns about the segments left out that look like file mappings: readable
/// but not writable (read-only private anonymous memory is rare), or starting
/// with an ELF header.
/// Marks the vDSO and the kernel's vvar pages glued below it as accounted
/// for: they are no file's.
template <class Arch>
void mark_vdso(const elf::core_view<Arch>& core, const std::vector<const elf::segment*>& sorted,
               std::vector<bool>& used) {
  const auto vdso = core.auxv(arch::at::sysinfo_ehdr);
  if (!vdso) return;
  auto [b, e] = segments_within(sorted, *vdso, *vdso + 1);
  if (b == e) return;
  used[b] = true;
  // [vvar] and [vvar_vclock]: read-only, right below; at most a few of them.
  for (std::size_t i = b, n = 0; i > 0 && n < 4 && sorted[i - 1]->end() == sorted[i]->vaddr &&
                                 !sorted[i - 1]->writable() && !sorted[i - 1]->executable();
       --i, ++n)
    used[i - 1] = true;
}

template <class Arch>
void warn_unmatched(const elf::core_view<Arch>& core, const std::vector<const elf::segment*>& sorted,
                    std::vector<bool>& used, rebuilt_mappings& out) {
  mark_vdso(core, sorted, used);
  std::vector<std::string> listed;
  std::size_t count = 0;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const auto* s = sorted[i];
    if (used[i] || s->vaddr == Arch::vsyscall_start) continue;
    const bool elf_head = elf::has_elf_magic(s->bytes);
    if (!elf_head && !(s->readable() && !s->writable())) continue;
    if (++count <= max_listed_segments)
      listed.push_back(fmt::format("{:#x}-{:#x}{}", s->vaddr, s->end(), elf_head ? " (an ELF file)" : ""));
  }
  if (count == 0) return;
  out.warnings.push_back(fmt::format(
      "{} segment(s) look like mappings of files not in the dynamic linker's list (data files, locale-archive, "
      "...): without NT_FILE they cannot be named, so they become private anonymous memory with the bytes the core "
      "has (zeros where it has none): {}{}",
      count, fmt::join(listed, ", "), count > listed.size() ? ", ..." : ""));
}

}  // namespace necro::plan::detail

#endif
