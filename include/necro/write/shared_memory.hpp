/// necro::write shared memory: the images of a plan's shared-memory objects —
/// memfd.img, remap-fpath.img, pagemap-shmem-<shmid>.img with its
/// pages-<id>.img (written by the page engine, zero pages left out) and
/// ghost-file-<id>.img (header, then the content as chunks straight from the
/// core). write::commit calls it while it fills its staging directory.
#ifndef NECRO_WRITE_SHARED_MEMORY_HPP
#define NECRO_WRITE_SHARED_MEMORY_HPP
#pragma once

#include <atomic>
#include <filesystem>

#include <necro/criu/image.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/plan/plan.hpp>
#include <necro/write/copy_methods.hpp>
#include <necro/write/detail/image_files.hpp>
#include <necro/write/detail/shared_memory.hpp>

namespace necro::write {

/// Writes the shared-memory images of `p` into `dir` (the staging directory).
/// `cancel` as in commit_options: checked between copy steps.
template <class Arch>
result<void> write_shared_memory(const plan::resurrection& p, const elf::core_view<Arch>& core,
                                 const std::filesystem::path& dir, bool durable, copy_method method,
                                 const std::atomic<bool>* cancel = nullptr) {
  const auto& sp = p.shared;
  if (!sp.memfd_inodes.empty()) {
    criu::image_builder b(criu::magic::memfd_inode);
    for (const auto& m : sp.memfd_inodes) b.add(m);
    NECRO_TRY(detail::write_image(dir / "memfd.img", b.bytes(), durable));
  }
  if (!sp.remaps.empty()) {
    criu::image_builder b(criu::magic::remap_fpath);
    for (const auto& r : sp.remaps) b.add(r);
    NECRO_TRY(detail::write_image(dir / "remap-fpath.img", b.bytes(), durable));
  }
  for (const auto& obj : sp.objects) {
    if (obj.kind == plan::vma_kind::deleted_file)
      NECRO_TRY(detail::write_ghost_content<Arch>(obj, *core.file(), dir, durable, method, cancel));
    else
      NECRO_TRY(detail::write_memfd_content<Arch>(obj, *core.file(), dir, durable, method, cancel));
  }
  return {};
}

}  // namespace necro::write

#endif
