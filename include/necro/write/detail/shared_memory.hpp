/// necro::write::detail shared-memory content: pages-<id>.img with
/// pagemap-shmem-<shmid>.img of a memfd object (the page engine, zero pages
/// left out), and ghost-file-<id>.img of a deleted file (its entry, then its
/// content as chunks straight from the core). write::write_shared_memory
/// calls them for each object.
#ifndef NECRO_WRITE_DETAIL_SHARED_MEMORY_HPP
#define NECRO_WRITE_DETAIL_SHARED_MEMORY_HPP
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>

#include <necro/criu/image.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/criu/pagemap.hpp>
#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/pb/ghost_file.pb.h>
#include <necro/plan/plan.hpp>
#include <necro/plan/shared_memory/shared_memory.hpp>
#include <necro/write/copy_methods.hpp>
#include <necro/write/detail/image_files.hpp>
#include <necro/write/page_engine.hpp>

namespace necro::write::detail {

/// pages-<id>.img and pagemap-shmem-<shmid>.img of one memfd object.
template <class Arch>
result<void> write_memfd_content(const plan::shmem_object& obj, const io::mapped_file& core,
                                 const std::filesystem::path& dir, bool durable, copy_method method,
                                 const std::atomic<bool>* cancel) {
  const auto sub = plan::shmem_page_plan(obj, Arch::page_size);
  NECRO_TRY_ASSIGN(auto pages, image_out::create(dir / criu::image_name("pages-", obj.pages_id)));
  engine_options eo;
  eo.method = method;
  eo.writeback = durable;
  eo.cancel = cancel;
  const io::file_facts no_files;
  NECRO_TRY_ASSIGN(auto rep, write_pages<Arch>(core, sub, no_files, pages.fd(), pages.path(), eo));
  NECRO_TRY(pages.finish(durable));
  return write_image(dir / criu::image_name("pagemap-shmem-", obj.content_id),
                     criu::pagemap_image(criu::magic::shmem_pagemap, obj.pages_id, rep.pagemap), durable);
}

/// ghost-file-<id>.img of one deleted file: its entry, then one chunk per run
/// (a ghost_chunk_entry, then its bytes), the last one cut at the file's size.
template <class Arch>
result<void> write_ghost_content(const plan::shmem_object& obj, const io::mapped_file& core,
                                 const std::filesystem::path& dir, bool durable, copy_method method,
                                 const std::atomic<bool>* cancel) {
  NECRO_TRY_ASSIGN(auto out, image_out::create(dir / criu::image_name("ghost-file-", obj.content_id)));
  criu::image_builder head(criu::magic::ghost_file);
  head.add(obj.ghost);
  NECRO_TRY(out.put(head.bytes()));
  range_copier copier(core, out.fd(), out.path(), method);
  for (const auto& r : obj.runs) {
    if (r.vaddr >= obj.size) break;
    if (cancel && cancel->load()) return fail(error(errc::io, out.path(), "interrupted while writing a ghost file"));
    const std::uint64_t len = std::min(r.pages * Arch::page_size, obj.size - r.vaddr);
    pb::ghost_chunk_entry c;
    c.set_len(len);
    c.set_off(r.vaddr);
    std::string framed = c.SerializeAsString();
    const auto n = static_cast<std::uint32_t>(framed.size());
    framed.insert(0, reinterpret_cast<const char*>(&n), 4);  // u32 little-endian length, as every entry
    NECRO_TRY(out.put(framed));
    NECRO_TRY(copier.append(r.core_offset, len));
  }
  return out.finish(durable);
}

}  // namespace necro::write::detail

#endif
