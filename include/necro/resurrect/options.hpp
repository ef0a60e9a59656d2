/// necro::resurrect_options: everything a resurrection is asked to do — the
/// core, the donor or none, the capture at death, the choices a donor-less
/// set needs, where the set goes and how pages are copied — and the progress
/// callbacks. What criu-necromancer's command line fills in.
#ifndef NECRO_RESURRECT_OPTIONS_HPP
#define NECRO_RESURRECT_OPTIONS_HPP
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <necro/io/zstd_file.hpp>
#include <necro/write/commit.hpp>
#include <necro/write/copy_methods.hpp>

namespace necro {

/// Which capture at death (necro-catch's CORE.necro/) completes the set.
enum class capture_choice {
  beside_core,  ///< CORE.necro/ when it exists; an unreadable one is a warning, and none is used
  given,        ///< resurrect_options::capture_dir; an unreadable one is an error
  none,         ///< none
};

/// Where a lazy restore's memory comes from (resurrect/lazy_path.hpp).
enum class lazy_source {
  automatic,  ///< images where the output's file system shares extents with the core (reflink), else the core
  core,       ///< straight from the core, through necro's page server
  images,     ///< from pages-*.img (copied, or cloned where it can be)
};

struct resurrect_options {
  std::filesystem::path core;   ///< an x86_64 or aarch64 ELF core, plain or zstd-compressed
  std::filesystem::path donor;  ///< a `criu dump` directory; empty: every image synthesized from the core
  /// Where the new set goes (must not exist). Empty: the donor's directory is
  /// patched in place and its originals kept in DIR.donor.
  std::filesystem::path out;
  capture_choice capture = capture_choice::beside_core;
  std::filesystem::path capture_dir;  ///< with capture_choice::given
  /// Without a donor: fds 0-2 of the resurrected process ("" is /dev/null)
  /// and its working directory ("" is the captured one, else /).
  std::string stdio, cwd;
  /// The dead process's program, for a core without NT_FILE whose dynamic
  /// linker's list does not name it (a static program, qemu-user's cores).
  /// Empty: AT_EXECFN, the donor's, then NT_PRPSINFO's name are tried. Either
  /// way it is used only when its ELF headers fit the core
  /// (plan::executable_fit, plan/address_space/executable.hpp).
  std::filesystem::path exe;
  /// Read nothing of this machine's mapped files (a core from another machine),
  /// and do not compare the core's CPU features with this machine's.
  bool offline = false;
  /// Look each mapped or open file P up as SYSROOT/P first, then as P (as
  /// gdb's `set sysroot`); empty: P only.
  std::filesystem::path sysroot;
  /// Fetch mapped ELF objects found nowhere by build-id from the servers in
  /// DEBUGINFOD_URLS; unset: on when DEBUGINFOD_URLS is set.
  std::optional<bool> debuginfod;
  /// Without a donor: what holds the fd of a captured regular file that is
  /// missing on this machine.
  std::string missing_files_as = "/dev/null";
  /// Go on when the dead process may use CPU features this CPU lacks (with a
  /// warning; the xsave state keeps only this CPU's XSAVE components).
  bool force_cpu = false;
  write::copy_method method = write::copy_method::copy_file_range;
  bool reflink = true;  ///< clone page runs from the core where the file system can
  bool durable = true;  ///< fsync the set before it appears
  /// For a lazy restore: where its memory comes from (choose_lazy_path).
  lazy_source pages_from = lazy_source::automatic;
  /// Leave the lazy runs' pages in the core for its page server (write::
  /// commit_options::serve_lazy); set from choose_lazy_path's answer.
  bool serve_lazy = false;
  /// Cancellation (a signal handler's flag, see resurrect/interrupt.hpp): the
  /// write stops and removes what it wrote.
  const std::atomic<bool>* cancel = nullptr;
};

/// Progress of the two long steps: decompressing a .zst core, writing pages.
struct progress_callbacks {
  io::decompress_progress_fn decompress = {};
  write::progress_fn pages = {};
};

}  // namespace necro

#endif
