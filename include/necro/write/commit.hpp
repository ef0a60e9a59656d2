/// necro::write::commit: carries out a plan. Every image is written into a
/// fresh sibling directory which then appears atomically (rename); the donor's
/// images are never modified. In place, the donor's originals are kept aside.
#ifndef NECRO_WRITE_COMMIT_HPP
#define NECRO_WRITE_COMMIT_HPP
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>

#include <necro/criu/image.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/criu/pagemap.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/plan/plan.hpp>
#include <necro/write/copy_methods.hpp>
#include <necro/write/detail/image_files.hpp>
#include <necro/write/detail/process_images.hpp>
#include <necro/write/detail/staging.hpp>
#include <necro/write/page_engine.hpp>
#include <necro/write/shared_memory.hpp>

namespace necro::write {

/// How commit writes the set.
struct commit_options {
  copy_method method = copy_method::copy_file_range;
  /// The mapped files' content (io::stat_files with map_content): private file
  /// pages equal to the file get no data. Null: every file page is written.
  const io::file_facts* files = nullptr;
  /// Called as pages-*.img is written (write::progress).
  progress_fn progress{};
  /// Clone page runs from the core where the file system shares extents
  /// (engine_options::reflink); off: read and elide as everywhere else.
  bool reflink = true;
  /// Leave the lazy runs' pages in the core, for its page server
  /// (engine_options::serve_lazy): pages-*.img keeps only what CRIU restores
  /// before the process runs.
  bool serve_lazy = false;
  /// Every image on disk before the set appears: pages are written back as
  /// they are produced, then one syncfs(2) of the output's file system makes
  /// the whole staged set durable (one device flush, not one per image), and
  /// the parent directory is fsynced after the rename. Off: the set appears
  /// as fast as the page cache takes it.
  bool durable = true;
  /// Cancellation: when set and it turns true (a signal handler's flag), commit
  /// stops at its next step (between images, every window of pages), removes what it
  /// wrote and fails with errc::io "interrupted". Once the set starts to move
  /// into place it is finished regardless.
  const std::atomic<bool>* cancel = nullptr;
};

/// What commit did.
struct commit_report {
  std::filesystem::path out_dir;
  std::filesystem::path kept_donor;  ///< where the originals went (in place only)
  std::uint64_t page_bytes = 0;      ///< bytes in pages-*.img
  bool copy_fell_back = false;
  pages_report pages;                ///< the page engine's account: pagemap, elided pages
};

/// Writes the image set of `p` into `out_dir`. `out_dir` must not exist (or be
/// an empty directory), unless it is the donor's own directory: then the new
/// set replaces it and the originals are kept in `<dir>.donor`.
template <class Arch>
result<commit_report> commit(const plan::resurrection& p, const elf::core_view<Arch>& core,
                             const criu::image_set& donor, const std::filesystem::path& out_dir,
                             const commit_options& opt = {}) {
  if (!core.file()) return fail(error(errc::unsupported, std::string(core.path()), "the core is not backed by a file"));
  NECRO_TRY_ASSIGN(const detail::target where, detail::resolve_target(out_dir, donor.dir()));
  NECRO_TRY(detail::check_entry_sizes(p, where.out_dir));
  const detail::interruption go_on{opt.cancel, where.out_dir};
  NECRO_TRY(go_on());
  detail::staging_guard staging;
  NECRO_TRY(detail::create_staging(staging, where.out_dir));
  const std::filesystem::path& tmp = staging.dir;

  // Each image is written without its own fsync: one syncfs below covers all.
  NECRO_TRY(detail::write_process_images(p, tmp, go_on));
  engine_options eo;
  eo.method = opt.method;
  eo.reflink = opt.reflink;
  eo.serve_lazy = opt.serve_lazy;
  eo.progress = opt.progress;
  eo.writeback = opt.durable;
  eo.cancel = opt.cancel;
  commit_report rep;
  NECRO_TRY_ASSIGN(rep.pages, detail::write_process_pages<Arch>(p, *core.file(), tmp, opt.files, eo, go_on));
  rep.page_bytes = rep.pages.bytes_written;
  rep.copy_fell_back = rep.pages.fell_back;
  NECRO_TRY(write_shared_memory<Arch>(p, core, tmp, false, opt.method, opt.cancel));
  NECRO_TRY(detail::write_carried(p, where.donor_dir, tmp));
  if (opt.durable) NECRO_TRY(detail::sync_filesystem(tmp));
  NECRO_TRY(go_on());  // the last chance: from here on the set moves into place

  NECRO_TRY(detail::move_into_place(tmp, where));
  staging.armed = false;
  if (opt.durable) detail::sync_dir(where.out_dir.parent_path());
  if (where.in_place) rep.kept_donor = where.kept;
  rep.out_dir = where.out_dir;
  return rep;
}

}  // namespace necro::write

#endif
