/// necro::plan shared memory: memory that lived only in the process — shared
/// anonymous memory, memfds (shared and private mappings) and files deleted
/// since they were mapped — rebuilt as CRIU dumps them (docs/shared-memory.md):
/// memfd inodes whose content goes to pagemap-shmem-<shmid>.img, and ghost
/// files whose content goes to ghost-file-<id>.img. The bytes come from the
/// core; the donor lends its object of the same kind and name (ids, owner,
/// seals, share mode) where it has one. System V shm is refused.
#ifndef NECRO_PLAN_SHARED_MEMORY_SHARED_MEMORY_HPP
#define NECRO_PLAN_SHARED_MEMORY_SHARED_MEMORY_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/shared_memory/detail/content.hpp>
#include <necro/plan/shared_memory/detail/ids.hpp>
#include <necro/plan/shared_memory/detail/names.hpp>
#include <necro/plan/shared_memory/detail/objects.hpp>

namespace necro::plan {

/// The name shared anonymous memory gets as a memfd (CRIU's own choice).
using detail::shared_anon_name;
/// How the kernel marks a mapped file that has no name left.
using detail::deleted_suffix;
/// The kind of VMA an NT_FILE path names.
using detail::kind_of_path;
/// The object's name: the memfd's name, the deleted file's path, "/dev/zero".
using detail::object_name;

/// Plans every shared-memory object of the victim: share mode, size, ids and
/// content of each, the VMAs' shmid, and the donor images they replace.
/// `files` is files.img as planned so far (new entries are appended).
template <class Arch>
result<shared_memory_plan> plan_shared_memory(const elf::core_view<Arch>& core, const criu::image_set& donor,
                                              std::vector<vma>& vmas, std::vector<pb::file_entry>& files,
                                              std::vector<std::string>& warnings, const share_modes& shares = {}) {
  shared_memory_plan sp;
  sp.memfd_inodes = donor.shared_memory().memfd_inodes;
  sp.remaps = donor.shared_memory().remaps;
  const auto donor_vmas = detail::donor_shared_vmas(donor);
  auto ids = detail::id_source::of(donor, files);
  for (const auto& o : detail::group_objects(vmas)) {
    std::vector<std::pair<std::uint64_t, std::size_t>> nth;  // (pgoff, count) seen so far
    for (const auto i : o.vmas) {
      std::size_t n = 0;
      for (auto& [off, c] : nth)
        if (off == vmas[i].entry.pgoff()) n = c++;
      if (n == 0) nth.emplace_back(vmas[i].entry.pgoff(), 1);
      detail::choose_share_mode(o, vmas[i], n, donor_vmas, shares, warnings);
    }
    shmem_object obj;
    obj.kind = o.kind;
    obj.name = o.name;
    obj.size = detail::choose_size(o, donor, Arch::page_size, warnings);
    if (o.kind == vma_kind::deleted_file) detail::place_ghost(obj, donor, sp, files, ids);
    else detail::place_memfd(obj, sp, files, ids);
    for (const auto i : o.vmas) {
      vmas[i].entry.set_shmid(obj.file_id);
      detail::limit_private_pages<Arch>(vmas[i], obj.size);
    }
    NECRO_TRY(detail::collect_content(core, vmas, o, obj));
    sp.objects.push_back(std::move(obj));
  }
  return sp;
}

/// Whether files.img entry `file_id` is a deleted file restored from a ghost.
inline bool is_ghost(const shared_memory_plan& sp, std::uint32_t file_id) noexcept {
  for (const auto& r : sp.remaps)
    if (r.orig_id() == file_id && r.remap_type() == pb::GHOST) return true;
  return false;
}

/// Gives each memfd object a pages id no donor image uses.
inline void assign_pages_ids(const criu::image_set& donor, shared_memory_plan& sp) {
  std::uint32_t next = donor.pages_id() + 1;
  for (const auto& [shmid, pages] : donor.shared_memory().shmem_pages) next = std::max(next, pages + 1);
  for (auto& o : sp.objects)
    if (o.kind != vma_kind::deleted_file) o.pages_id = next++;
}

/// What becomes of a donor image in the new set, as far as shared memory goes.
enum class carry { as_usual, copy, drop };

/// memfd.img and remap-fpath.img are rewritten, as is the content of every
/// donor object the victim replaced; the content of the donor's other
/// objects (pagemap-shmem-<shmid>.img and its pages, ghost-file-<id>.img) is
/// copied as it is: the donor's files.img still names them.
inline carry carry_shared(std::string_view name, const criu::image_set& donor, const shared_memory_plan& sp) {
  if (name == "memfd.img" || name == "remap-fpath.img") return carry::drop;
  if (std::find(sp.replaced.begin(), sp.replaced.end(), name) != sp.replaced.end()) return carry::drop;
  if (name.starts_with("pagemap-shmem-") || name.starts_with("ghost-file-")) return carry::copy;
  for (const auto& [shmid, pages] : donor.shared_memory().shmem_pages)
    if (name == criu::image_name("pages-", pages) &&
        std::find(sp.replaced.begin(), sp.replaced.end(), criu::image_name("pagemap-shmem-", shmid)) == sp.replaced.end())
      return carry::copy;
  return carry::as_usual;
}

/// The content of memfd object `obj` as a plan the page engine writes into
/// pages-<pages_id>.img, with pagemap-shmem-<shmid>.img's entries: its runs
/// flagged present (never lazy), over one anonymous VMA spanning the object
/// (offsets as addresses), so that all-zero pages are left out (a pagemap
/// hole restores as zero).
inline resurrection shmem_page_plan(const shmem_object& obj, std::uint64_t page) {
  resurrection p;
  p.pages_id = obj.pages_id;
  p.runs = obj.runs;
  for (auto& r : p.runs) r.flags = criu::pe::present;
  vma whole;
  whole.entry.set_start(0);
  whole.entry.set_end((obj.size + page - 1) / page * page);
  whole.anonymous = true;
  whole.carries_pages = true;
  p.vmas.push_back(std::move(whole));
  return p;
}

}  // namespace necro::plan

#endif
