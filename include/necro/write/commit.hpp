/// necro::write::commit: carries out a plan. Every image is written into a
/// fresh sibling directory which then appears atomically (rename); the donor's
/// images are never modified. In place, the donor's originals are kept aside.
#ifndef NECRO_WRITE_COMMIT_HPP
#define NECRO_WRITE_COMMIT_HPP
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <necro/criu/image.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/io/unique_fd.hpp>
#include <necro/plan/plan.hpp>
#include <necro/write/page_engine.hpp>
#include <necro/write/shared_memory.hpp>

namespace necro::write {

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

namespace detail {

using io::unique_fd;

inline result<void> write_file(const std::filesystem::path& path, std::string_view bytes, bool durable = true) {
  unique_fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return fail(error::from_errno(path.string(), "cannot create", errno));
  NECRO_TRY(write_all(fd.get(), reinterpret_cast<const std::byte*>(bytes.data()), bytes.size(), path.string()));
  if (durable && ::fsync(fd.get()) != 0) return fail(error::from_errno(path.string(), "cannot sync", errno));
  if (::close(fd.release()) != 0) return fail(error::from_errno(path.string(), "cannot close", errno));
  return {};
}

inline result<void> copy_file(const std::filesystem::path& from, const std::filesystem::path& to, bool durable = true) {
  NECRO_TRY_ASSIGN(io::mapped_file in, io::mapped_file::open(from.string()));
  const auto v = in.view();
  return write_file(to, std::string_view(reinterpret_cast<const char*>(v.data()), v.size()), durable);
}

/// syncfs(2) of the file system holding `dir`: every staged image and the
/// directory itself reach the disk with one flush of the device.
inline result<void> sync_filesystem(const std::filesystem::path& dir) {
  unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return fail(error::from_errno(dir.string(), "cannot open to sync", errno));
  if (::syncfs(fd.get()) != 0) return fail(error::from_errno(dir.string(), "cannot sync the images", errno));
  return {};
}

inline void sync_dir(const std::filesystem::path& dir) {
  unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() >= 0) ::fsync(fd.get());
}

/// Removes a half-written staging directory when the commit fails.
struct staging_guard {
  std::filesystem::path dir;
  bool armed = true;
  ~staging_guard() {
    if (armed && !dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }
};

/// An absolute, lexically normal `p` without a trailing slash.
inline result<std::filesystem::path> absolute_dir(const std::filesystem::path& p) {
  std::error_code ec;
  auto a = std::filesystem::absolute(p, ec);
  if (ec) return fail(error::from_errno(p.string(), "cannot make the path absolute", ec.value()));
  a = a.lexically_normal();
  if (a.filename().empty()) a = a.parent_path();
  return a;
}

/// What is at `p` (file_type::not_found when nothing); an error naming `p`
/// when the OS cannot say (a symlink loop, a name too long, no permission).
inline result<std::filesystem::file_status> status_of(const std::filesystem::path& p) {
  std::error_code ec;
  const auto st = std::filesystem::status(p, ec);
  if (ec && st.type() != std::filesystem::file_type::not_found)
    return fail(error::from_errno(p.string(), "cannot look at", ec.value()));
  return st;
}

/// Where a commit goes: out_dir, or the donor's own directory (in place) with
/// its originals kept in `kept`.
struct target {
  std::filesystem::path out_dir, donor_dir, kept;
  bool in_place = false;
};

/// Resolves and checks the target: out_dir must be absent or an empty
/// directory, unless it is the donor's directory and `kept` is free. An empty
/// `donor_dir` (a donor made in memory) is never patched in place.
inline result<target> resolve_target(const std::filesystem::path& out_dir, const std::filesystem::path& donor_dir) {
  namespace fs = std::filesystem;
  target t;
  NECRO_TRY_ASSIGN(t.out_dir, absolute_dir(out_dir));
  std::error_code ec;
  if (!donor_dir.empty()) {  // a donor made in memory has no directory to patch in place
    NECRO_TRY_ASSIGN(t.donor_dir, absolute_dir(donor_dir));
    t.in_place = fs::equivalent(t.out_dir, t.donor_dir, ec);
  }
  t.kept = fs::path(t.donor_dir.string() + ".donor");
  NECRO_TRY_ASSIGN(const auto out_st, status_of(t.out_dir));
  if (!t.in_place && fs::exists(out_st)) {
    const bool empty_dir = fs::is_directory(out_st) && fs::is_empty(t.out_dir, ec);
    if (ec) return fail(error::from_errno(t.out_dir.string(), "cannot read the output directory", ec.value()));
    if (!empty_dir)
      return fail(error(errc::bad_value, t.out_dir.string(), "exists and is not an empty directory: refusing to overwrite"));
  }
  if (t.in_place) {
    NECRO_TRY_ASSIGN(const auto kept_st, status_of(t.kept));
    if (fs::exists(kept_st))
      return fail(error(errc::bad_value, t.kept.string(), "exists: move it away before patching in place again"));
  }
  return t;
}

/// Every message of `p` fits in one image entry; one that does not (a path of
/// megabytes from a hostile NT_FILE) is an error naming the image, not an abort.
inline result<void> check_entry_sizes(const plan::resurrection& p, const std::filesystem::path& out_dir) {
  const auto fits = [&](const google::protobuf::Message& m, const std::string& image) -> result<void> {
    const std::size_t len = m.ByteSizeLong();
    if (len <= criu::max_entry_size) return {};
    return fail(error(errc::limit, (out_dir / image).string(),
                      fmt::format("cannot write a {} entry of {} bytes: over the cap of {}", m.GetDescriptor()->name(), len,
                                  criu::max_entry_size)));
  };
  for (const auto& t : p.threads) NECRO_TRY(fits(t.core, criu::image_name("core-", static_cast<std::uint64_t>(t.tid))));
  NECRO_TRY(fits(p.mm, criu::image_name("mm-", static_cast<std::uint64_t>(p.pid))));
  NECRO_TRY(fits(p.pstree, "pstree.img"));
  for (const auto& f : p.files) NECRO_TRY(fits(f, "files.img"));
  return {};
}

}  // namespace detail

/// Writes the image set of `p` into `out_dir`. `out_dir` must not exist (or be
/// an empty directory), unless it is the donor's own directory: then the new
/// set replaces it and the originals are kept in `<dir>.donor`.
template <class Arch>
result<commit_report> commit(const plan::resurrection& p, const elf::core_view<Arch>& core,
                             const criu::image_set& donor, std::filesystem::path out_dir,
                             const commit_options& opt = {}) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!core.file()) return fail(error(errc::unsupported, std::string(core.path()), "the core is not backed by a file"));
  NECRO_TRY_ASSIGN(const detail::target where, detail::resolve_target(out_dir, donor.dir()));
  out_dir = where.out_dir;
  const fs::path& donor_dir = where.donor_dir;
  const fs::path& kept = where.kept;
  const bool in_place = where.in_place;
  NECRO_TRY(detail::check_entry_sizes(p, out_dir));

  const auto go_on = [&]() -> result<void> {
    if (opt.cancel && opt.cancel->load())
      return fail(error(errc::io, out_dir.string(), "interrupted: nothing was written"));
    return {};
  };
  NECRO_TRY(go_on());
  detail::staging_guard guard;
  guard.dir = out_dir.parent_path() / fmt::format(".{}.necro-{}", out_dir.filename().string(), ::getpid());
  fs::remove_all(guard.dir, ec);
  if (::mkdir(guard.dir.c_str(), 0755) != 0)
    return fail(error::from_errno(guard.dir.string(), "cannot create the staging directory", errno));
  const fs::path& tmp = guard.dir;

  const bool durable = opt.durable;
  // Each image is written without its own fsync: one syncfs below covers all.
  constexpr bool each_synced = false;
  for (const auto& t : p.threads) {
    criu::image_builder b(criu::magic::core);
    b.add(t.core);
    NECRO_TRY(detail::write_file(tmp / criu::image_name("core-", static_cast<std::uint64_t>(t.tid)), b.bytes(), each_synced));
    NECRO_TRY(go_on());
  }
  {
    criu::image_builder b(criu::magic::mm);
    b.add(p.mm);
    NECRO_TRY(detail::write_file(tmp / criu::image_name("mm-", static_cast<std::uint64_t>(p.pid)), b.bytes(), each_synced));
  }
  {
    criu::image_builder b(criu::magic::pstree);
    b.add(p.pstree);
    NECRO_TRY(detail::write_file(tmp / "pstree.img", b.bytes(), each_synced));
  }
  {
    criu::image_builder b(criu::magic::files);
    for (const auto& f : p.files) b.add(f);
    NECRO_TRY(detail::write_file(tmp / "files.img", b.bytes(), each_synced));
  }
  commit_report rep;
  {
    // The page engine decides which pages need data, so the pagemap follows the pages.
    const fs::path pages = tmp / criu::image_name("pages-", p.pages_id);
    detail::unique_fd fd(::open(pages.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (fd.get() < 0) return fail(error::from_errno(pages.string(), "cannot create", errno));
    const io::file_facts no_files;
    engine_options eo;
    eo.method = opt.method;
    eo.reflink = opt.reflink;
    eo.progress = opt.progress;
    eo.writeback = durable;
    eo.cancel = opt.cancel;
    auto written = write_pages<Arch>(*core.file(), p, opt.files ? *opt.files : no_files, fd.get(), pages.string(), eo);
    if (!written) {
      NECRO_TRY(go_on());  // stopped by `cancel`: one message for the whole set, not the staging file's
      return fail(std::move(written).error_value());
    }
    rep.pages = std::move(*written);
    rep.page_bytes = rep.pages.bytes_written;
    rep.copy_fell_back = rep.pages.fell_back;
  }
  NECRO_TRY(go_on());
  {
    criu::image_builder b(criu::magic::pagemap);
    pb::pagemap_head head;
    head.set_pages_id(p.pages_id);
    b.add(head);
    for (const auto& e : rep.pages.pagemap) b.add(e);
    NECRO_TRY(detail::write_file(tmp / criu::image_name("pagemap-", static_cast<std::uint64_t>(p.pid)), b.bytes(), each_synced));
  }
  NECRO_TRY(write_shared_memory<Arch>(p, core, tmp, each_synced, opt.method, opt.cancel));
  for (const auto& c : p.carried) {
    if (c.bytes) NECRO_TRY(detail::write_file(tmp / c.to, *c.bytes, each_synced));
    else NECRO_TRY(detail::copy_file(donor_dir / c.from, tmp / c.to, each_synced));
  }
  if (durable) NECRO_TRY(detail::sync_filesystem(tmp));
  NECRO_TRY(go_on());  // the last chance: from here on the set moves into place

  if (in_place) {
    if (::rename(donor_dir.c_str(), kept.c_str()) != 0)
      return fail(error::from_errno(donor_dir.string(), "cannot move the donor's images aside", errno));
    if (::rename(tmp.c_str(), donor_dir.c_str()) != 0) {
      const int err = errno;
      ::rename(kept.c_str(), donor_dir.c_str());  // put the originals back
      return fail(error::from_errno(donor_dir.string(), "cannot move the new images in place", err));
    }
    rep.kept_donor = kept;
  } else {
    ::rmdir(out_dir.c_str());  // the empty directory checked above, if any (rmdir removes nothing else)
    if (::rename(tmp.c_str(), out_dir.c_str()) != 0)
      return fail(error::from_errno(out_dir.string(), "cannot move the new images into place", errno));
  }
  guard.armed = false;
  if (durable) detail::sync_dir(out_dir.parent_path());
  rep.out_dir = out_dir;
  return rep;
}

}  // namespace necro::write

#endif
