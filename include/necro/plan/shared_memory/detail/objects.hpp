/// necro::plan::detail: the shared-memory objects of plan_shared_memory
/// (plan/shared_memory/shared_memory.hpp): each such VMA's kind as the
/// address space classifies it (shared_vma), the donor's objects, the
/// victim's grouped from its VMAs, and each VMA's share mode and each
/// object's size.
#ifndef NECRO_PLAN_SHARED_MEMORY_DETAIL_OBJECTS_HPP
#define NECRO_PLAN_SHARED_MEMORY_DETAIL_OBJECTS_HPP
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/kernel_abi.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/shared_memory/detail/names.hpp>

namespace necro::plan::detail {

/// A VMA of memory that lived only in the process (shared anonymous memory, a
/// memfd, a deleted file): share mode, ids and content are planned by
/// plan_shared_memory once every VMA is known. System V shm is refused.
inline result<void> shared_vma(vma_kind kind, const elf::file_mapping& fm, vma& v, const std::string& core_path) {
  if (kind == vma_kind::sysv_shm)
    return fail(error(errc::unsupported, core_path,
                      fmt::format("VMA {:#x}-{:#x} maps {} (System V shared memory): not supported; CRIU restores "
                                  "SysV segments only with the IPC namespace they live in (criu dump --namespaces "
                                  "ipc), and the core does not say which segment id was attached",
                                  fm.start, fm.end, fm.path)));
  v.kind = kind;
  v.label = std::string(fm.path);
  v.entry.set_pgoff(fm.offset);
  return {};
}

/// A donor VMA of a shared-memory object.
struct donor_shared_vma {
  vma_kind kind;
  std::string name;
  const pb::vma_entry* entry;
};

inline const pb::file_entry* donor_file(const criu::image_set& d, std::uint64_t id) {
  for (const auto& f : d.files())
    if (f.id() == id) return &f;
  return nullptr;
}

/// The donor's VMAs of memfds (shared anonymous memory included) and deleted files, in address order.
inline std::vector<donor_shared_vma> donor_shared_vmas(const criu::image_set& d) {
  using namespace criu;
  std::vector<donor_shared_vma> out;
  for (const auto& v : d.mm().vmas()) {
    if (!(v.status() & (vma_status::file_private | vma_status::file_shared))) continue;
    const auto* f = donor_file(d, v.shmid());
    if (!f) continue;
    if ((v.status() & vma_status::memfd) && f->has_memfd()) {
      const auto* ino = d.shared_memory().memfd_inode(f->memfd().inode_id());
      if (!ino) continue;
      const auto k = ino->name() == shared_anon_name ? vma_kind::shared_anon : vma_kind::memfd;
      out.push_back({k, ino->name(), &v});
    } else if (f->has_reg() && d.shared_memory().ghost_remap(f->id())) {
      out.push_back({vma_kind::deleted_file, f->reg().name(), &v});
    }
  }
  return out;
}

/// A victim object: its VMAs (indices into address_space::vmas) and its extent.
struct victim_object {
  vma_kind kind;
  std::string name;
  std::vector<std::size_t> vmas;
  std::uint64_t extent = 0;  ///< bytes mapped from offset 0: max(pgoff + length)
};

/// Groups the shared-memory VMAs into objects: memfds and deleted files by
/// name; shared anonymous memory by region (each mmap is its own object; a
/// VMA that continues the previous one at the next offset is the same one,
/// split by mprotect or madvise).
inline std::vector<victim_object> group_objects(const std::vector<vma>& vmas) {
  std::vector<victim_object> objs;
  const vma* prev_anon = nullptr;
  std::size_t prev_obj = 0;
  for (std::size_t i = 0; i < vmas.size(); ++i) {
    const auto& v = vmas[i];
    if (!is_shared_memory(v.kind) || v.kind == vma_kind::sysv_shm) continue;
    const auto name = object_name(v.kind, v.label);
    std::size_t o = objs.size();
    if (v.kind == vma_kind::shared_anon) {
      if (prev_anon && prev_anon->entry.end() == v.entry.start() &&
          prev_anon->entry.pgoff() + (prev_anon->entry.end() - prev_anon->entry.start()) == v.entry.pgoff())
        o = prev_obj;
      prev_anon = &v;
      prev_obj = o;
    } else {
      for (std::size_t k = 0; k < objs.size(); ++k)
        if (objs[k].kind == v.kind && objs[k].name == name) o = k;
    }
    if (o == objs.size()) objs.push_back({v.kind, name, {}, 0});
    objs[o].vmas.push_back(i);
    objs[o].extent = std::max(objs[o].extent, v.entry.pgoff() + (v.entry.end() - v.entry.start()));
  }
  return objs;
}

/// Share mode and open flags of victim VMA `v` of object `o`: shared
/// anonymous memory is shared; otherwise the donor's VMA of the same object
/// and offset (the n-th such VMA for the n-th), else what a capture at death
/// recorded, else MAP_SHARED with a warning: the core does not say, and the same bytes come back either way
/// (a shared VMA's through the object, a private one's through the process's
/// pagemap); only two VMAs of the same offset would then alias.
inline void choose_share_mode(const victim_object& o, vma& v, std::size_t nth,
                              const std::vector<donor_shared_vma>& donor, const share_modes& shares,
                              std::vector<std::string>& warnings) {
  using namespace criu;
  std::vector<const pb::vma_entry*> same;
  for (const auto& d : donor)
    if (d.kind == o.kind && d.name == o.name && d.entry->pgoff() == v.entry.pgoff()) same.push_back(d.entry);
  const pb::vma_entry* match = same.empty() ? nullptr : same[std::min(nth, same.size() - 1)];
  bool shared = true;
  std::uint32_t fdflags = o.kind == vma_kind::deleted_file && !(v.entry.prot() & mmap_bits::prot_write) ? 0 : arch::o::rdwr;
  if (o.kind == vma_kind::shared_anon) {
    shared = true;
  } else if (match) {
    shared = (match->flags() & mmap_bits::map_shared) != 0;
    if (match->has_fdflags()) fdflags = match->fdflags();
  } else if (shares.known) {
    shared = shares.is_shared(v.entry.start(), v.entry.end());  // the capture read /proc/PID/maps
  } else {
    warnings.push_back(fmt::format("{} {} at {:#x}: the donor has no mapping of it at offset {:#x} and the core "
                                   "does not say whether it was shared; taken as MAP_SHARED",
                                   describe(o.kind), o.name, v.entry.start(), v.entry.pgoff()));
  }
  auto& e = v.entry;
  e.set_flags(shared ? mmap_bits::map_shared : mmap_bits::map_private);
  e.set_status(vma_status::regular | (shared ? vma_status::file_shared : vma_status::file_private) |
               (o.kind == vma_kind::deleted_file ? 0u : vma_status::memfd));
  e.set_fdflags(fdflags);
  v.carries_pages = !shared;
}

/// The object's size: the donor's object of the same name when it fits what
/// the victim mapped (less than a page shorter), else the mapped extent.
inline std::uint64_t choose_size(const victim_object& o, const criu::image_set& donor, std::uint64_t page,
                                 std::vector<std::string>& warnings) {
  std::optional<std::uint64_t> known;
  if (o.kind == vma_kind::memfd) {
    for (const auto& m : donor.shared_memory().memfd_inodes)
      if (m.name() == o.name) known = m.size();
  } else if (o.kind == vma_kind::deleted_file) {
    for (const auto& f : donor.files())
      if (f.has_reg() && f.reg().name() == o.name && f.reg().has_size() && donor.shared_memory().ghost_remap(f.id()))
        known = f.reg().size();
  } else {
    return o.extent;  // shared anonymous memory is as long as its mapping
  }
  if (known && *known <= o.extent && *known + page > o.extent) return *known;
  warnings.push_back(fmt::format("{} {}: size unknown (the donor's {}); taken as the {} bytes mapped", describe(o.kind),
                                 o.name, known ? fmt::format("is {} bytes", *known) : std::string("has none"), o.extent));
  return o.extent;
}

}  // namespace necro::plan::detail

#endif
