/// necro::write::detail staging: where a commit goes (a new directory, or the
/// donor's own with its originals kept aside), the sibling staging directory
/// the set is written into, the checks made before writing anything, and the
/// renames that make the set appear at once.
#ifndef NECRO_WRITE_DETAIL_STAGING_HPP
#define NECRO_WRITE_DETAIL_STAGING_HPP
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
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
#include <necro/io/error.hpp>
#include <necro/plan/plan.hpp>

namespace necro::write::detail {

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

/// The commit's way out when `cancel` turned true: "interrupted: nothing was
/// written", naming the output directory.
struct interruption {
  const std::atomic<bool>* cancel = nullptr;
  std::filesystem::path out_dir;
  result<void> operator()() const {
    if (cancel && cancel->load()) return fail(error(errc::io, out_dir.string(), "interrupted: nothing was written"));
    return {};
  }
};

/// Creates the staging directory beside `out_dir`, `.<name>.necro-<pid>`
/// (anything left there by an earlier run removed first), which `guard`
/// removes unless the commit disarms it.
inline result<void> create_staging(staging_guard& guard, const std::filesystem::path& out_dir) {
  std::error_code ec;
  guard.dir = out_dir.parent_path() / fmt::format(".{}.necro-{}", out_dir.filename().string(), ::getpid());
  std::filesystem::remove_all(guard.dir, ec);
  if (::mkdir(guard.dir.c_str(), 0755) != 0)
    return fail(error::from_errno(guard.dir.string(), "cannot create the staging directory", errno));
  return {};
}

/// Moves the staged set to where.out_dir: in place, the donor's directory goes
/// to where.kept first (and comes back if the second rename fails).
inline result<void> move_into_place(const std::filesystem::path& staged, const target& where) {
  if (where.in_place) {
    if (::rename(where.donor_dir.c_str(), where.kept.c_str()) != 0)
      return fail(error::from_errno(where.donor_dir.string(), "cannot move the donor's images aside", errno));
    if (::rename(staged.c_str(), where.donor_dir.c_str()) != 0) {
      const int err = errno;
      ::rename(where.kept.c_str(), where.donor_dir.c_str());  // put the originals back
      return fail(error::from_errno(where.donor_dir.string(), "cannot move the new images in place", err));
    }
    return {};
  }
  ::rmdir(where.out_dir.c_str());  // the empty directory checked above, if any (rmdir removes nothing else)
  if (::rename(staged.c_str(), where.out_dir.c_str()) != 0)
    return fail(error::from_errno(where.out_dir.string(), "cannot move the new images into place", errno));
  return {};
}

}  // namespace necro::write::detail

#endif
