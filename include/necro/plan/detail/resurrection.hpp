/// necro::plan::detail: the steps of plan_resurrection (plan/resurrection.hpp)
/// that span concerns (the others are in each concern's folder: mm/, threads/,
/// ...): the address space taken over, the file checks, the relocator, the
/// donor images carried over and the changes in words.
#ifndef NECRO_PLAN_DETAIL_RESURRECTION_HPP
#define NECRO_PLAN_DETAIL_RESURRECTION_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/plan/address_space/address_space.hpp>
#include <necro/plan/address_space/build_ids.hpp>
#include <necro/plan/address_space/layout.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/shared_memory/shared_memory.hpp>

namespace necro::plan::detail {

/// The address space becomes the plan's VMAs, files and shared memory; the
/// executable is named with the build-id it ran with.
template <class Arch>
void adopt_address_space(const elf::core_view<Arch>& core, address_space& as, resurrection& out) {
  out.vmas = std::move(as.vmas);
  out.files = std::move(as.files);
  out.shared = std::move(as.shared);
  out.exe_path = as.exe_path;
  out.exe_build_id = victim_build_id_hex(core, as.exe_path, out.warnings).value_or("");
}

/// Files changed on disk since the donor was dumped make CRIU refuse (bad size).
inline result<void> check_file_sizes(const io::file_facts& disk, const resurrection& out) {
  for (const auto& f : out.files) {
    if (!f.has_reg() || !f.reg().has_size() || is_ghost(out.shared, f.id())) continue;  // a ghost is not on disk
    const auto it = disk.find(f.reg().name());
    if (it != disk.end() && it->second && it->second->size != f.reg().size())
      return fail(error(errc::mismatch, f.reg().name(),
                        fmt::format("size on disk is {} but the donor dump recorded {}: the file changed; "
                                    "dump a new donor",
                                    it->second->size, f.reg().size())));
  }
  return {};
}

/// Relocation of donor addresses, by file load deltas.
template <class Arch>
relocator donor_relocator(const elf::core_view<Arch>& core, const criu::image_set& donor) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> donor_anon;
  for (const auto& v : donor.mm().vmas())
    if (v.status() & criu::vma_status::anon_private) donor_anon.emplace_back(v.start(), v.end());
  return relocator(donor_files(donor), victim_files(core.process()), std::move(donor_anon));
}

/// A warning for private pages the core lacks (coredump_filter): they get no
/// data, so anonymous ones restore as zeros and file-backed ones as the file
/// on disk, without the changes the process made (relocations, .data).
template <class Arch>
void warn_not_dumped(const elf::core_view<Arch>& core, resurrection& out) {
  if (out.stats.not_dumped_pages == 0) return;
  std::uint64_t anon = 0;
  for (const auto& v : out.vmas) {
    if (!v.carries_pages || !v.anonymous || v.segment < 0) continue;
    const auto& seg = core.segments()[static_cast<std::size_t>(v.segment)];
    anon += (seg.memsz - std::min(seg.memsz, seg.filesz)) / Arch::page_size;
  }
  out.warnings.push_back(fmt::format("{} pages of private memory are not in the core (coredump_filter left them "
                                     "out): {} anonymous ones come back as zeros, {} file-backed ones as the file "
                                     "on disk, without the process's changes; use coredump_filter 0xff",
                                     out.stats.not_dumped_pages, anon, out.stats.not_dumped_pages - std::min(anon, out.stats.not_dumped_pages)));
}

/// The bytes of a donor image made in memory (nullopt: copy it from the donor's directory).
inline std::optional<std::string> carried_bytes(const criu::image_set& donor, std::string_view name) {
  if (const auto* b = donor.image_bytes(name)) return *b;
  return std::nullopt;
}

/// Whether a donor image is rewritten from the plan, not carried over: pages,
/// pstree, files, the leader's mm and pagemap, every thread's core (logs and
/// stats are not images restore reads).
inline bool replaced_by_plan(const std::string& name, const criu::image_set& donor) {
  if (name.starts_with("pages-") || name == "pstree.img" || name == "files.img" || name.ends_with(".log") ||
      name.starts_with("stats-"))
    return true;
  bool drop = name == criu::image_name("mm-", donor.pid()) || name == criu::image_name("pagemap-", donor.pid());
  for (const auto tid : donor.process().threads()) drop = drop || name == criu::image_name("core-", tid);
  return drop;
}

/// Donor files carried over: per-pid images renamed, the rest copied.
inline void carry_donor_files(const criu::image_set& donor, resurrection& out) {
  for (const auto& name : donor.file_names()) {
    if (const auto c = carry_shared(name, donor, out.shared); c != carry::as_usual) {
      if (c == carry::copy) out.carried.push_back({name, name});
      continue;
    }
    if (replaced_by_plan(name, donor)) continue;
    std::string to = name;
    for (const char* prefix : {"fs-", "ids-"})
      if (name == criu::image_name(prefix, donor.pid())) to = criu::image_name(prefix, static_cast<std::uint64_t>(out.pid));
    out.carried.push_back({name, to, carried_bytes(donor, name)});
  }
}

/// What changed, in words.
template <class Arch>
void describe_changes(const elf::core_view<Arch>& core, const criu::image_set& donor, resurrection& out) {
  out.changes.push_back(fmt::format("pid {} -> {}", donor.pid(), out.pid));
  out.changes.push_back(fmt::format("{} VMAs from the core (donor had {})", out.vmas.size(), donor.mm().vmas_size()));
  if (core.process().files_rebuilt)
    out.changes.push_back(fmt::format("file mappings rebuilt ({} entries): the core has no NT_FILE note; they come "
                                      "from the program headers on disk of the executable and of the objects of the dynamic linker's link_map",
                                      core.process().files.size()));
  for (const auto& o : out.shared.objects)
    out.changes.push_back(fmt::format("{} {}: {} bytes from the core ({})", describe(o.kind), o.name, o.size,
                                      o.from_donor ? "the donor's object, refilled" : "new: the donor has none"));
  if (out.files.size() != donor.files().size())
    out.changes.push_back(fmt::format("{} file entries added for files only the victim mapped",
                                      out.files.size() - donor.files().size()));
}

}  // namespace necro::plan::detail

#endif
