/// necro::plan::resurrection: the pure result of planning — every image to
/// write, every page run to copy, and the reasons (for --explain). No I/O.
#ifndef NECRO_PLAN_PLAN_HPP
#define NECRO_PLAN_PLAN_HPP
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <necro/pb/core.pb.h>
#include <necro/pb/fdinfo.pb.h>
#include <necro/pb/mm.pb.h>
#include <necro/pb/pagemap.pb.h>
#include <necro/pb/pstree.pb.h>

namespace necro::plan {

/// One VMA of the victim, with where it came from.
struct vma {
  pb::vma_entry entry;
  std::string label;        ///< file path, or [heap] [stack] [vdso] [vvar] [vsyscall] [anon]
  std::int64_t segment = -1;  ///< index into core_view::segments(), -1 when none
  std::uint64_t page_limit = 0;  ///< pages at or above this address get no data (file EOF)
  bool carries_pages = false;    ///< private memory whose bytes go to pages-*.img
  bool anonymous = false;        ///< zero pages need no data
};

/// Pages to copy: `pages` pages at `vaddr`, from byte `core_offset` of the core.
struct page_run {
  std::uint64_t vaddr = 0;
  std::uint64_t pages = 0;
  std::uint64_t core_offset = 0;
};

/// A donor address moved into the victim's layout.
struct relocation {
  std::string what;  ///< e.g. "thread 4711 rseq area", "SIGUSR1 handler"
  std::uint64_t from = 0, to = 0;
  std::string how;  ///< e.g. "libc.so.6 load delta", "fs_base delta"
};

/// A victim thread and the donor thread whose image served as its template.
struct thread_plan {
  std::int32_t tid = 0;
  std::uint32_t template_tid = 0;
  bool leader = false;
  std::string rewind;  ///< syscall restart applied, empty if none
  pb::core_entry core;
};

/// A donor file carried over: renamed (per-pid images) or copied as is.
struct carried_file {
  std::string from, to;
};

/// Counts for the page engine and the report.
struct page_stats {
  std::uint64_t pages_written = 0;
  std::uint64_t zero_pages_elided = 0;
  std::uint64_t past_eof_pages = 0;
  std::uint64_t not_dumped_pages = 0;  ///< filesz < memsz: the core lacks them
};

/// Everything write::commit needs, and everything --explain shows.
struct resurrection {
  std::int32_t pid = 0;
  std::uint32_t donor_pid = 0;
  std::string exe_path;      ///< the victim's executable
  std::string exe_build_id;  ///< its GNU build-id (hex) as the victim ran it, empty if unknown
  std::vector<thread_plan> threads;  ///< leader first
  std::vector<std::uint32_t> donor_tids;  ///< the donor's threads (pstree order): the templates to choose from
  pb::pstree_entry pstree;
  pb::mm_entry mm;
  std::vector<vma> vmas;  ///< sorted, same order as mm.vmas
  std::vector<pb::file_entry> files;  ///< files.img, donor's entries plus new ones
  std::uint32_t pages_id = 1;
  std::vector<pb::pagemap_entry> pagemap;
  std::vector<page_run> runs;  ///< in pagemap order
  page_stats stats;
  std::vector<carried_file> carried;
  std::vector<relocation> relocations;
  std::vector<std::string> warnings;
  std::vector<std::string> changes;  ///< human-readable list of fields changed
};

}  // namespace necro::plan

#endif
