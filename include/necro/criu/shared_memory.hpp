/// necro::criu::shared_memory_images: what a CRIU dump says about memory that
/// lived only in the process — memfd inodes (memfd.img; CRIU also dumps
/// MAP_SHARED|MAP_ANONYMOUS memory as a memfd named "/dev/zero"), deleted
/// files kept as ghosts (remap-fpath.img, the header of each
/// ghost-file-<id>.img) and the pages id of each pagemap-shmem-<shmid>.img.
/// The content itself (pages, ghost bytes) is never loaded.
#ifndef NECRO_CRIU_SHARED_MEMORY_HPP
#define NECRO_CRIU_SHARED_MEMORY_HPP
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <necro/criu/detail/image_entries.hpp>
#include <necro/criu/magic.hpp>
#include <necro/io/error.hpp>
#include <necro/pb/ghost_file.pb.h>
#include <necro/pb/memfd.pb.h>
#include <necro/pb/pagemap.pb.h>
#include <necro/pb/remap_file_path.pb.h>

namespace necro::criu {

/// A dump's shared-memory objects (all empty when it has none).
struct shared_memory_images {
  std::vector<pb::memfd_inode_entry> memfd_inodes;       ///< memfd.img
  std::vector<pb::remap_file_path_entry> remaps;         ///< remap-fpath.img
  std::map<std::uint32_t, pb::ghost_file_entry> ghosts;  ///< remap_id -> ghost-file-<id>.img's entry
  std::map<std::uint32_t, std::uint32_t> shmem_pages;    ///< shmid -> pages_id of pagemap-shmem-<shmid>.img

  const pb::memfd_inode_entry* memfd_inode(std::uint64_t inode_id) const noexcept {
    for (const auto& m : memfd_inodes)
      if (m.inode_id() == inode_id) return &m;
    return nullptr;
  }
  /// The ghost remap of files.img entry `file_id`, if it has one.
  const pb::remap_file_path_entry* ghost_remap(std::uint32_t file_id) const noexcept {
    for (const auto& r : remaps)
      if (r.orig_id() == file_id && r.remap_type() == pb::GHOST) return &r;
    return nullptr;
  }
};

/// Reads the shared-memory images among `names` (the sorted file names of `dir`).
inline result<shared_memory_images> load_shared_memory(const std::filesystem::path& dir,
                                                       const std::vector<std::string>& names) {
  shared_memory_images s;
  for (const auto& name : names) {
    if (name == "memfd.img") {
      NECRO_TRY_ASSIGN(auto all, detail::read_every<pb::memfd_inode_entry>(dir, name, magic::memfd_inode));
      s.memfd_inodes = std::move(all);
    } else if (name == "remap-fpath.img") {
      NECRO_TRY_ASSIGN(auto all, detail::read_every<pb::remap_file_path_entry>(dir, name, magic::remap_fpath));
      s.remaps = std::move(all);
    } else if (const auto g = detail::image_number(name, "ghost-file-")) {
      NECRO_TRY_ASSIGN(auto e, detail::read_first<pb::ghost_file_entry>(dir, name, magic::ghost_file));
      s.ghosts.emplace(*g, std::move(e));
    } else if (const auto id = detail::image_number(name, "pagemap-shmem-")) {
      NECRO_TRY_ASSIGN(auto head, detail::read_first<pb::pagemap_head>(dir, name, magic::shmem_pagemap));
      s.shmem_pages.emplace(*id, head.pages_id());
    }
  }
  return s;
}

}  // namespace necro::criu

#endif
