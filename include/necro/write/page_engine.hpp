/// necro::write page engine: streams the plan's candidate page runs from the
/// core into pages-<id>.img and makes their pagemap, the one that is written
/// and that --explain reports, in one pass and with memory that does not grow
/// with the core. Page bytes never pass through a user-space buffer: they are
/// copied in the kernel (copy_file_range, sendfile or splice) or written
/// straight from the core's mapping (write/copy_methods.hpp). While the copy
/// runs, a second thread applies the elision rules of plan/pages/pages.hpp to the
/// pages ahead of it (zero anonymous pages, clean file pages), skipping the
/// holes of a sparse core without reading them, and drops what it has read.
/// Where the output's file system can share extents with the core (XFS with
/// reflink, btrfs), each run is cloned (FICLONERANGE) instead: nothing is read
/// but the core's hole map, and the pages cost no space.
#ifndef NECRO_WRITE_PAGE_ENGINE_HPP
#define NECRO_WRITE_PAGE_ENGINE_HPP
#pragma once

#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/pb/pagemap.pb.h>
#include <necro/plan/pages/pages.hpp>
#include <necro/plan/plan.hpp>
#include <necro/write/copy_methods.hpp>
#include <necro/write/detail/copy_methods.hpp>
#include <necro/write/detail/page_scanner.hpp>
#include <necro/write/detail/page_writer.hpp>
#include <necro/write/detail/scan_queue.hpp>

namespace necro::write {

/// How far a write has come, in bytes of the candidate runs.
struct progress {
  std::uint64_t done = 0;     ///< handled: written or elided
  std::uint64_t total = 0;    ///< all candidate bytes
  std::uint64_t written = 0;  ///< appended to pages-*.img
  std::uint64_t elided = 0;   ///< left out by the elision rules
};

/// Called from the writing thread as the write advances (about every window).
using progress_fn = std::function<void(const progress&)>;

/// Knobs of write_pages; the defaults are the fastest measured.
struct engine_options {
  copy_method method = copy_method::copy_file_range;
  /// Apply the elision rules (zero anonymous pages, clean file pages).
  bool elide = true;
  /// Clone page runs from the core (FICLONERANGE) where the output's file
  /// system shares extents: no page is read (only the core's holes are still
  /// left out, found by SEEK_HOLE), and the pages take no space. Zero and
  /// file-equal pages are then kept: they cost nothing there.
  bool reflink = true;
  /// Scan for elidable pages in a second thread while copying (when the machine has two cores).
  bool parallel = true;
  /// Start writing each copy step back to disk as soon as it is copied (for
  /// durable commits, which fsync at the end).
  bool writeback = false;
  /// Pages are scanned, and dropped from memory, this many bytes at a time.
  std::uint64_t window = 8u << 20;
  /// Adjacent ranges are coalesced into one copy call of at most this many bytes.
  std::uint64_t max_copy = 64u << 20;
  /// A pagemap entry covers at most this many pages (64 MiB of 4 KiB pages).
  std::uint64_t max_entry_pages = 16384;
  progress_fn progress{};
  /// Cancellation: when set and it turns true (a signal handler's flag), the
  /// write stops after the current window and fails with errc::io "interrupted".
  const std::atomic<bool>* cancel = nullptr;
  /// Leave the pages of runs flagged lazy in the core, for a page server of
  /// the core (lazy/page_server.hpp) to serve during a lazy restore: their
  /// pagemap entries are flagged PE_LAZY alone (no bytes in pages-*.img) and
  /// no page of them is read or copied; only the core's holes are left out,
  /// found by SEEK_HOLE, as when cloning. Such a set restores only with
  /// `criu restore --lazy-pages` and that server.
  bool serve_lazy = false;
  /// Decide and count every page as the write would, but write nothing (the
  /// output fd is not touched): what `--explain` reports (classify_pages).
  bool dry_run = false;
};

/// What write_pages wrote.
struct pages_report {
  std::vector<pb::pagemap_entry> pagemap;  ///< the one pagemap: entries of the pages written, in order
  plan::elision_stats pages;               ///< kept / zero / file pages
  std::uint64_t hole_pages = 0;            ///< zero pages found as holes of a sparse core (not read)
  std::uint64_t bytes_written = 0;
  std::uint64_t bytes_elided = 0;
  std::uint64_t copy_calls = 0;
  copy_method method = copy_method::copy_file_range;  ///< in use at the end
  bool fell_back = false;
  std::uint64_t bytes_cloned = 0;  ///< of bytes_written: extents shared with the core
  std::uint64_t bytes_served = 0;  ///< left in the core for its page server (engine_options::serve_lazy)
};

/// Appends the pages of `p`'s candidate runs that need data to `out_fd`
/// (positioned at its end) and returns their pagemap entries. `files` holds
/// the mapped files' content (io::stat_files with map_content); without it
/// file pages are all written. `core` must be the file the plan was made from.
template <class Arch>
result<pages_report> write_pages(const io::mapped_file& core, const plan::resurrection& p, const io::file_facts& files,
                                 int out_fd, const std::string& out_path, const engine_options& opt = {}) {
  constexpr std::uint64_t page = Arch::page_size;
  NECRO_TRY(detail::check_runs(core, p.runs, page));
  // Shared extents make reading pages to elide them cost more than keeping them.
  const bool clone = opt.reflink && !p.runs.empty() && detail::can_clone(core.fd(), p.runs.front().core_offset, out_fd, page);
  const auto rules = detail::engine_rules(p, files, opt.elide, clone);
  ::posix_fadvise(core.fd(), 0, 0, POSIX_FADV_SEQUENTIAL);

  range_copier copier(core, out_fd, out_path, opt.method);
  if (clone) copier.clone_extents();
  // A clone costs per call, not per byte: each contiguous range is one call.
  const std::uint64_t max_copy = clone ? UINT64_MAX / page * page : std::max<std::uint64_t>(opt.max_copy, page) / page * page;
  detail::coalesced_copy copy(copier, out_fd, max_copy, opt.dry_run, opt.writeback);
  detail::pagemap_builder pagemap(opt.max_entry_pages, page);
  pages_report rep;
  const auto served = [&](const plan::page_run& r) { return opt.serve_lazy && (r.flags & criu::pe::lazy); };
  progress prog;
  for (const auto& r : p.runs) prog.total += r.pages * page;
  const auto report_progress = [&] {
    if (!opt.progress) return;
    prog.written = copy.written();
    prog.elided = rep.bytes_elided;
    opt.progress(prog);
  };
  const auto consume = [&](const detail::scan_batch& b) -> result<void> {
    if (opt.cancel && opt.cancel->load()) return fail(error(errc::io, out_path, "interrupted while writing pages"));
    for (const auto& k : b.kept) {
      const auto& r = p.runs[k.run];
      if (served(r)) {
        pagemap.add(k.run, r.vaddr + k.first * page, k.pages, criu::pe::lazy);
        rep.bytes_served += k.pages * page;
        continue;
      }
      pagemap.add(k.run, r.vaddr + k.first * page, k.pages, r.flags);
      NECRO_TRY(copy.add(r.core_offset + k.first * page, k.pages * page));
    }
    rep.pages += b.st;
    rep.hole_pages += b.holes;
    rep.bytes_elided += b.st.elided_pages() * page;
    prog.done += b.bytes;
    report_progress();
    return {};
  };

  // Cloning reads nothing: one window per run (a SEEK_DATA/SEEK_HOLE pair per
  // extent, not per 8 MiB) and no scanner thread to hand windows over.
  detail::scanner scan(core, p.runs, rules, page, clone ? UINT64_MAX : opt.window, /*read_pages=*/!clone,
                       /*unread_flags=*/opt.serve_lazy ? criu::pe::lazy : 0);
  NECRO_TRY(detail::scan_batches(scan, opt.parallel && !clone, out_path, consume));
  NECRO_TRY(copy.flush());
  report_progress();
  rep.pagemap = std::move(pagemap).take();
  rep.bytes_written = copy.written();
  rep.copy_calls = copier.calls();
  rep.method = copier.method();
  rep.fell_back = copier.fell_back();
  rep.bytes_cloned = copier.cloned_bytes();
  return rep;
}

/// What write_pages would write for `p`, without writing: the same rules,
/// the same scan (window by window, dropping what it read, so memory does not
/// grow with the core), the same pagemap and counts (bytes_written: what the
/// write would write). Reads every candidate page an elision rule applies to.
template <class Arch>
result<pages_report> classify_pages(const io::mapped_file& core, const plan::resurrection& p,
                                    const io::file_facts& files, engine_options opt = {}) {
  opt.dry_run = true;
  opt.parallel = false;  // nothing to copy alongside the scan
  return write_pages<Arch>(core, p, files, -1, core.path(), opt);
}

}  // namespace necro::write

#endif
