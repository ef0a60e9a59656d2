/// necro::choose_lazy_path: where a lazy restore's memory comes from. Either
/// from the image set (pages-*.img, cloned from the core where the output's
/// file system shares extents, copied elsewhere) or straight from the core,
/// by necro's lazy-pages daemon (lazy/uffd_daemon.hpp; or a page server of
/// necro's that `criu lazy-pages --page-server` asks): no copy, and extra
/// disk space that does not grow with the core. Reflink stays the first choice where it works; the
/// reason for the choice is kept for --explain and the CLI.
#ifndef NECRO_RESURRECT_LAZY_PATH_HPP
#define NECRO_RESURRECT_LAZY_PATH_HPP
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <necro/elf/link_map.hpp>
#include <necro/io/error.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/io/unique_fd.hpp>
#include <necro/lazy/launch.hpp>
#include <necro/lazy/page_server.hpp>
#include <necro/lazy/served_ranges.hpp>
#include <necro/map/criu_thread.hpp>
#include <necro/resurrect/options.hpp>
#include <necro/resurrect/session.hpp>
#include <necro/write/detail/copy_methods.hpp>

namespace necro {

/// The `--lazy-source` names.
inline std::optional<lazy_source> parse_lazy_source(std::string_view s) {
  if (s == "auto") return lazy_source::automatic;
  if (s == "core") return lazy_source::core;
  if (s == "images") return lazy_source::images;
  return std::nullopt;
}

/// The path a lazy restore takes, and why.
struct lazy_path {
  bool from_core = false;
  std::string why;
};

/// Whether a file in `dir` can share extents with the core (FICLONERANGE of
/// one page at `core_offset` into a scratch file there, which is then gone).
inline bool dir_shares_extents(const io::mapped_file& core, std::uint64_t core_offset, const std::filesystem::path& dir,
                               std::uint64_t page) {
  io::unique_fd f(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (f.get() < 0) {  // a file system without O_TMPFILE: a named scratch file, unlinked at once
    std::string name = (dir / ".necro-reflink-probe-XXXXXX").string();
    f = io::unique_fd(::mkstemp(name.data()));
    if (f.get() < 0) return false;
    ::unlink(name.c_str());
  }
  return write::detail::can_clone(core.fd(), core_offset, f.get(), page);
}

/// The directory whose file system the set's pages would go to.
inline std::filesystem::path output_filesystem_dir(const resurrect_options& o) {
  std::error_code ec;
  const std::filesystem::path out = o.out.empty() ? o.donor : o.out;
  if (std::filesystem::is_directory(out, ec)) return out;
  const auto parent = std::filesystem::absolute(out, ec).parent_path();
  return parent.empty() ? std::filesystem::path(".") : parent;
}

/// Which path `o.lazy_source` takes for the plan of `s`, and why. Only
/// meaningful for a lazy restore.
template <class Arch>
lazy_path choose_lazy_path(const session<Arch>& s, const resurrect_options& o) {
  const auto served = lazy::served_ranges(s.plan.runs);
  if (o.pages_from == lazy_source::core)
    return {true, "--lazy-source=core: the lazy pages are served from the core"};
  if (o.pages_from == lazy_source::images)
    return {false, "--lazy-source=images: the lazy pages go into pages-*.img and criu lazy-pages reads them there"};
  if (served.empty()) return {false, "the plan has no lazy pages: nothing to serve from the core"};
  const auto dir = output_filesystem_dir(o);
  if (o.reflink && dir_shares_extents(*s.core().file(), served.front().core_offset, dir, Arch::page_size))
    return {false, fmt::format("{}'s file system shares extents with the core (reflink): pages-*.img is cloned, "
                               "no byte copied, no space used", dir.string())};
  return {true, fmt::format("{} cannot share extents with the core{}: serving the lazy pages from the core costs no "
                            "copy and no space",
                            dir.string(), o.reflink ? "" : " (--no-reflink)")};
}

/// What necro's lazy-pages daemon (or page server) of `s`'s core serves: its lazy runs, from the core
/// as it is now (its size and modification time are checked before every answer).
template <class Arch>
result<lazy::page_source> page_source_of(const session<Arch>& s) {
  const auto& core = *s.core().file();
  lazy::page_source src;
  src.core_fd = core.fd();
  src.core = core.path();
  NECRO_TRY_ASSIGN(src.planned, lazy::identify(core.fd(), src.core));
  src.ranges = lazy::served_ranges(s.plan.runs);
  src.pid = static_cast<std::uint64_t>(s.plan.pid);
  src.page = Arch::page_size;
  for (const auto& v : s.plan.vmas) src.vmas.emplace_back(v.entry.start(), v.entry.end());
  for (const auto& t : s.plan.threads) {
    src.hot.push_back(map::criu_thread<Arch>::sp(t.core));
    src.hot_pages.push_back(map::criu_thread<Arch>::thread_pointer(t.core));  // libthread_db reads the TCB
  }
  // gdb reads the dynamic linker's list as it attaches: a page it cannot
  // read there (the kernel refuses a debugger's read of a missing page)
  // costs it every library's symbols. A list that cannot be read is only
  // not pushed first.
  if constexpr (Arch::elf_class == arch::elfc::class64) {
    if (auto loaded = elf::read_loaded_objects(s.core())) {
      if (loaded->r_debug) src.hot_pages.push_back(*loaded->r_debug);
      for (const auto& o : loaded->objects) {
        src.hot_pages.push_back(o.at);
        if (o.name_at) src.hot_pages.push_back(o.name_at);
      }
    }
  }
  NECRO_TRY(lazy::check_ranges(src.ranges, src.planned.size, src.page, src.core));
  return src;
}

}  // namespace necro

#endif
