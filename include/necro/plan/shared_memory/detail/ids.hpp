/// necro::plan::detail: the ids and images of each shared-memory object
/// (plan/shared_memory/shared_memory.hpp): the donor's object of the same name where it has
/// one, else a new memfd inode and MEMFD entry, or REG entry, remap and ghost.
#ifndef NECRO_PLAN_SHARED_MEMORY_DETAIL_IDS_HPP
#define NECRO_PLAN_SHARED_MEMORY_DETAIL_IDS_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include <necro/arch/kernel_abi.hpp>
#include <necro/criu/image.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/shared_memory/detail/objects.hpp>

namespace necro::plan::detail {

inline constexpr std::uint32_t memfd_mode = 0100777, ghost_mode = 0100600;

/// Ids not yet taken, for objects the donor does not have.
struct id_source {
  std::uint32_t file = 1, inode = 1, shmid = 1, remap = 1;
  std::uint32_t uid = 0, gid = 0;  ///< the donor's owner, for new objects

  static id_source of(const criu::image_set& d, const std::vector<pb::file_entry>& files) {
    id_source s;
    for (const auto& f : files) s.file = std::max(s.file, f.id() + 1);
    const auto& sm = d.shared_memory();
    for (const auto& m : sm.memfd_inodes) {
      s.inode = std::max<std::uint32_t>(s.inode, static_cast<std::uint32_t>(m.inode_id()) + 1);
      s.shmid = std::max(s.shmid, m.shmid() + 1);
    }
    for (const auto& [shmid, pages] : sm.shmem_pages) s.shmid = std::max(s.shmid, shmid + 1);
    for (const auto& r : sm.remaps) s.remap = std::max(s.remap, r.remap_id() + 1);
    for (const auto& [id, g] : sm.ghosts) s.remap = std::max(s.remap, id + 1);
    const auto& core = d.leader_core();
    if (core.has_thread_core() && core.thread_core().has_creds()) {
      s.uid = core.thread_core().creds().uid();
      s.gid = core.thread_core().creds().gid();
    }
    return s;
  }
};

inline pb::file_entry new_file_entry(pb::fd_types type, std::uint32_t id) {
  pb::file_entry fe;
  fe.set_type(type);
  fe.set_id(id);
  return fe;
}

template <class Entry>
void clear_fown(Entry& e) {
  auto* f = e.mutable_fown();
  f->set_uid(0);
  f->set_euid(0);
  f->set_signum(0);
  f->set_pid_type(0);
  f->set_pid(0);
}

/// Ids and images of a memfd object: the donor's inode of the same name
/// (resized) or a new inode and MEMFD file entry.
inline void place_memfd(shmem_object& obj, shared_memory_plan& sp,
                        std::vector<pb::file_entry>& files, id_source& ids) {
  if (obj.kind == vma_kind::memfd)
    for (auto& m : sp.memfd_inodes)
      for (const auto& f : files)
        if (m.name() == obj.name && f.has_memfd() && f.memfd().inode_id() == m.inode_id()) {
          m.set_size(obj.size);
          obj.file_id = f.id();
          obj.content_id = m.shmid();
          obj.from_donor = true;
          sp.replaced.push_back(criu::image_name("pagemap-shmem-", m.shmid()));
          return;
        }
  pb::memfd_inode_entry m;
  m.set_name(obj.name);
  m.set_uid(ids.uid);
  m.set_gid(ids.gid);
  m.set_size(obj.size);
  m.set_shmid(ids.shmid++);
  // Shared anonymous memory cannot be sealed (CRIU records F_SEAL_SEAL); a
  // memfd the donor lacks is left unsealed.
  m.set_seals(obj.kind == vma_kind::shared_anon ? criu::seal::seal : 0);
  m.set_inode_id(ids.inode++);
  m.set_mode(memfd_mode);
  auto fe = new_file_entry(pb::MEMFD, ids.file++);
  auto* mf = fe.mutable_memfd();
  mf->set_id(fe.id());
  mf->set_flags(arch::o::rdwr);
  mf->set_pos(0);
  clear_fown(*mf);
  mf->set_inode_id(static_cast<std::uint32_t>(m.inode_id()));
  obj.file_id = fe.id();
  obj.content_id = m.shmid();
  sp.memfd_inodes.push_back(std::move(m));
  files.push_back(std::move(fe));
}

/// Ids and images of a deleted file: the donor's REG entry and ghost of the
/// same path (resized) or new ones.
inline void place_ghost(shmem_object& obj, const criu::image_set& donor, shared_memory_plan& sp,
                        std::vector<pb::file_entry>& files, id_source& ids) {
  const auto& sm = donor.shared_memory();
  for (auto& f : files)
    if (f.has_reg() && f.reg().name() == obj.name)
      if (const auto* r = sm.ghost_remap(f.id()); r && sm.ghosts.count(r->remap_id())) {
        f.mutable_reg()->set_size(obj.size);
        obj.file_id = f.id();
        obj.content_id = r->remap_id();
        obj.ghost = sm.ghosts.at(r->remap_id());
        obj.from_donor = true;
        break;
      }
  if (!obj.from_donor) {
    auto fe = new_file_entry(pb::REG, ids.file++);
    auto* reg = fe.mutable_reg();
    reg->set_id(fe.id());
    reg->set_flags(0);
    reg->set_pos(0);
    clear_fown(*reg);
    reg->set_name(obj.name);
    reg->set_size(obj.size);
    reg->set_mode(ghost_mode);
    pb::remap_file_path_entry r;
    r.set_orig_id(fe.id());
    r.set_remap_id(ids.remap++);
    r.set_remap_type(pb::GHOST);
    obj.file_id = fe.id();
    obj.content_id = r.remap_id();
    obj.ghost.set_uid(ids.uid);
    obj.ghost.set_gid(ids.gid);
    obj.ghost.set_mode(ghost_mode);
    sp.remaps.push_back(std::move(r));
    files.push_back(std::move(fe));
  }
  // The content follows as chunks (one per run of the core), sized exactly.
  obj.ghost.set_chunks(true);
  obj.ghost.set_size(obj.size);
  sp.replaced.push_back(criu::image_name("ghost-file-", obj.content_id));
}

}  // namespace necro::plan::detail

#endif
