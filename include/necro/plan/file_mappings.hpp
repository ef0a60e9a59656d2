/// necro::plan::rebuild_file_mappings: the NT_FILE entries of a core that has
/// none. The kernel leaves NT_FILE out when 64 bytes a VMA would reach
/// kernel.core_file_note_size_limit (4 MiB by default: 65 536 VMAs). What the
/// core still holds names the files: the executable (AT_PHDR, AT_EXECFN) and
/// the objects of the dynamic linker's link_map (elf::read_loaded_objects);
/// each object's PT_LOADs, read from its file on disk (io::read_object_files,
/// build-id checked against the one the core holds), say which of the core's
/// segments map it and from which offset. Pure: no I/O.
#ifndef NECRO_PLAN_FILE_MAPPINGS_HPP
#define NECRO_PLAN_FILE_MAPPINGS_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/elf/build_id.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/elf/link_map.hpp>
#include <necro/io/error.hpp>
#include <necro/io/object_files.hpp>
#include <necro/io/printable.hpp>

namespace necro::plan {

/// The kernel's cap on sysctl kernel.core_file_note_size_limit (16 MiB).
inline constexpr std::uint64_t core_file_note_size_max = 16u << 20;
/// At most this many suspicious segments are named in the warning.
inline constexpr std::size_t max_listed_segments = 16;

/// One rebuilt object: where it was loaded and how many VMAs map it.
struct rebuilt_object {
  std::string path;
  std::uint64_t bias = 0;
  std::size_t mappings = 0;
  std::string build_id;  ///< hex; empty when the core lacks the object's headers
};

/// What rebuild_file_mappings found.
struct rebuilt_mappings {
  std::vector<elf::owned_file_mapping> entries;  ///< sorted by start, as NT_FILE would list them
  std::vector<rebuilt_object> objects;
  std::vector<std::string> warnings;
  std::uint64_t vma_count = 0;  ///< PT_LOADs of the core: the VMAs the kernel counted
};

/// The smallest kernel.core_file_note_size_limit (bytes, rounded up to a MiB)
/// with which the kernel would have written NT_FILE for `vmas` VMAs: it needs
/// 64 bytes a VMA below the limit (a quarter more when paths are long).
inline std::uint64_t note_size_limit_for(std::uint64_t vmas) {
  const std::uint64_t need = vmas * 64 + vmas * 16 + 1;
  return (need + (1u << 20) - 1) / (1u << 20) * (1u << 20);
}

namespace detail {

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

/// The core's PT_LOADs sorted by address (the order NT_FILE lists VMAs in).
template <class Arch>
std::vector<const elf::segment*> sorted_segments(const elf::core_view<Arch>& core) {
  std::vector<const elf::segment*> out;
  out.reserve(core.segments().size());
  for (const auto& s : core.segments()) out.push_back(&s);
  std::sort(out.begin(), out.end(), [](const auto* a, const auto* b) { return a->vaddr < b->vaddr; });
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
                                          const io::object_file& f, std::vector<std::string>& warnings) {
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
                            std::uint64_t bias, const io::object_file& f, bool holes, std::vector<bool>& used,
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
const io::object_file* pick_executable(const elf::core_view<Arch>& core, std::uint64_t bias,
                                       const std::vector<std::string>& candidates, const io::object_files& disk,
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

}  // namespace detail

/// Rebuilds the NT_FILE entries of `core` from the executable (`exe_names`:
/// names to try for it, e.g. AT_EXECFN and the donor's executable) and the
/// objects of `loaded`, with their files as `disk` found them. Objects not
/// found on disk, or not ELF, are skipped with a warning; a build-id that
/// differs from the one the core holds is an error naming the file.
template <class Arch>
result<rebuilt_mappings> rebuild_file_mappings(const elf::core_view<Arch>& core, const elf::loaded_objects& loaded,
                                               const std::vector<std::string>& exe_names,
                                               const io::object_files& disk) {
  rebuilt_mappings out;
  const auto sorted = detail::sorted_segments(core);
  out.vma_count = sorted.size();
  std::vector<bool> used(sorted.size(), false);
  std::vector<std::string> tried;
  const auto* exe = detail::pick_executable(core, loaded.exe.bias, exe_names, disk, tried);
  if (!exe)
    return fail(error(errc::missing, std::string(core.path()),
                      fmt::format("the core has no NT_FILE and the executable was not found on disk (tried: {})",
                                  io::printable(fmt::format("{}", fmt::join(tried, "; "))))));
  NECRO_TRY(detail::rebuild_object(core, sorted, loaded.exe.bias, *exe, false, used, out));
  const auto interp = core.auxv(arch::at::base);
  for (const auto& o : loaded.objects) {
    if (o.name.empty() || o.name.front() != '/') continue;  // the executable, the vDSO
    const auto it = disk.find(o.name);
    if (it == disk.end() || !it->second.layout) {
      out.warnings.push_back(fmt::format("{} (link_map at {:#x}): {}: its mappings are not rebuilt",
                                         io::printable(o.name), o.at,
                                         it == disk.end() ? std::string("not looked up") : it->second.problem));
      continue;
    }
    // The kernel maps the dynamic linker itself and leaves no file-backed holes.
    const bool holes = !(interp && detail::page_down(o.bias + it->second.layout->loads.front().vaddr,
                                                     Arch::page_size) == *interp);
    NECRO_TRY(detail::rebuild_object(core, sorted, o.bias, it->second, holes, used, out));
  }
  detail::warn_unmatched(core, sorted, used, out);
  std::sort(out.entries.begin(), out.entries.end(), [](const auto& a, const auto& b) { return a.start < b.start; });
  return out;
}

/// For --explain: that the mappings were rebuilt, from what, and the sysctl
/// that would have kept NT_FILE in the core.
inline std::string explain_rebuilt(const rebuilt_mappings& r) {
  std::string s;
  auto it = std::back_inserter(s);
  fmt::format_to(it, "file mappings rebuilt: the core has no NT_FILE note (the kernel leaves it out when 64 bytes for "
                     "each of its {} VMAs reach kernel.core_file_note_size_limit); {} mappings of {} objects were "
                     "rebuilt from the dynamic linker's link_map and the objects' program headers on disk:\n",
                 r.vma_count, r.entries.size(), r.objects.size());
  for (const auto& o : r.objects)
    fmt::format_to(it, "  {} at bias {:#x}: {} mappings, build-id {}\n", io::printable(o.path), o.bias, o.mappings,
                   o.build_id.empty() ? "not in the core (unchecked)" : o.build_id);
  const std::uint64_t limit = note_size_limit_for(r.vma_count);
  if (limit <= core_file_note_size_max)
    fmt::format_to(it, "  to keep NT_FILE in the next core: sysctl kernel.core_file_note_size_limit={} (the kernel "
                       "allows up to {})\n",
                   limit, core_file_note_size_max);
  else
    fmt::format_to(it, "  {} VMAs need more than the kernel's largest kernel.core_file_note_size_limit ({}): "
                       "NT_FILE cannot be had for this process; fewer mappings can\n",
                   r.vma_count, core_file_note_size_max);
  return s;
}

}  // namespace necro::plan

#endif
