/// necro::write shared memory: the images of a plan's shared-memory objects —
/// memfd.img, remap-fpath.img, pagemap-shmem-<shmid>.img with its
/// pages-<id>.img (written by the page engine, zero pages left out) and
/// ghost-file-<id>.img (header, then the content as chunks straight from the
/// core). write::commit calls it while it fills its staging directory.
#ifndef NECRO_WRITE_SHARED_MEMORY_HPP
#define NECRO_WRITE_SHARED_MEMORY_HPP
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <string>

#include <necro/criu/image.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/shared_memory.hpp>
#include <necro/write/page_engine.hpp>

namespace necro::write {

namespace detail {

/// An image file created for writing; closed (and synced) by finish().
class image_out {
 public:
  static result<image_out> create(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return fail(error::from_errno(path.string(), "cannot create", errno));
    return image_out(fd, path.string());
  }
  image_out(image_out&& o) noexcept : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)) {}
  image_out(const image_out&) = delete;
  image_out& operator=(const image_out&) = delete;
  image_out& operator=(image_out&&) = delete;
  ~image_out() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const noexcept { return fd_; }
  const std::string& path() const noexcept { return path_; }
  result<void> put(std::string_view bytes) {
    return write_all(fd_, reinterpret_cast<const std::byte*>(bytes.data()), bytes.size(), path_);
  }
  result<void> finish(bool durable) {
    if (durable && ::fsync(fd_) != 0) return fail(error::from_errno(path_, "cannot sync", errno));
    if (::close(std::exchange(fd_, -1)) != 0) return fail(error::from_errno(path_, "cannot close", errno));
    return {};
  }

 private:
  image_out(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

inline result<void> write_image(const std::filesystem::path& path, std::string_view bytes, bool durable) {
  NECRO_TRY_ASSIGN(auto out, image_out::create(path));
  NECRO_TRY(out.put(bytes));
  return out.finish(durable);
}

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
  criu::image_builder b(criu::magic::shmem_pagemap);
  pb::pagemap_head head;
  head.set_pages_id(obj.pages_id);
  b.add(head);
  for (const auto& e : rep.pagemap) b.add(e);
  return write_image(dir / criu::image_name("pagemap-shmem-", obj.content_id), b.bytes(), durable);
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

}  // namespace detail

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
