/// necro::plan::resurrection: the pure result of planning — every image to
/// write, every page run to copy, and the reasons (for --explain). No I/O.
#ifndef NECRO_PLAN_PLAN_HPP
#define NECRO_PLAN_PLAN_HPP
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <necro/pb/core.pb.h>
#include <necro/pb/fdinfo.pb.h>
#include <necro/pb/ghost_file.pb.h>
#include <necro/pb/memfd.pb.h>
#include <necro/pb/mm.pb.h>
#include <necro/pb/pstree.pb.h>
#include <necro/pb/remap_file_path.pb.h>

namespace necro::plan {

/// What a VMA maps, as plan_address_space classified it. The core tells the
/// shared-memory kinds apart by the NT_FILE path only (docs/shared-memory.md).
enum class vma_kind : std::uint8_t {
  anon,          ///< private anonymous memory
  heap,          ///< the brk heap (private anonymous memory)
  stack,         ///< the main thread's stack
  thread_stack,  ///< the stack of another thread (anonymous memory holding its sp)
  stack_guard,   ///< the PROT_NONE anonymous page right below a thread's stack
  exe,           ///< a mapping of the executable
  file,          ///< a mapping of another file on disk
  vdso,          ///< [vdso]
  vvar,          ///< [vvar], recreated beside the vDSO
  vsyscall,      ///< [vsyscall]
  shared_anon,   ///< MAP_SHARED|MAP_ANONYMOUS: "/dev/zero (deleted)"
  memfd,         ///< a memfd_create() file, shared or private: "/memfd:NAME (deleted)"
  deleted_file,  ///< a file unlinked since it was mapped: "PATH (deleted)"
  sysv_shm,      ///< System V shared memory: "/SYSV<key> (deleted)"
};

/// Whether the kind is memory that lived only in the process (plan/shared_memory/shared_memory.hpp).
constexpr bool is_shared_memory(vma_kind k) noexcept {
  return k == vma_kind::shared_anon || k == vma_kind::memfd || k == vma_kind::deleted_file ||
         k == vma_kind::sysv_shm;
}

/// The kind in words, for --explain and errors.
constexpr std::string_view describe(vma_kind k) noexcept {
  switch (k) {
    case vma_kind::anon: return "memory";
    case vma_kind::heap: return "heap";
    case vma_kind::stack: return "stack";
    case vma_kind::thread_stack: return "thread stack";
    case vma_kind::stack_guard: return "stack guard";
    case vma_kind::exe: return "executable";
    case vma_kind::file: return "file";
    case vma_kind::vdso: return "vDSO";
    case vma_kind::vvar: return "vvar";
    case vma_kind::vsyscall: return "vsyscall";
    case vma_kind::shared_anon: return "shared anonymous memory";
    case vma_kind::memfd: return "memfd";
    case vma_kind::deleted_file: return "deleted file";
    case vma_kind::sysv_shm: return "System V shared memory";
  }
  return "?";
}

/// Which VMAs the process mapped MAP_SHARED, as a capture at death recorded
/// them (/proc/PID/maps); a core does not say. Not `known`: no capture, or
/// one without them (format 1).
struct share_modes {
  bool known = false;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> shared;  ///< [start, end) of each shared VMA

  /// Whether [start, end) lies in a VMA recorded as shared.
  bool is_shared(std::uint64_t start, std::uint64_t end) const noexcept {
    for (const auto& [s, e] : shared)
      if (s <= start && end <= e) return true;
    return false;
  }
};

/// One VMA of the victim, with where it came from.
struct vma {
  pb::vma_entry entry;
  std::string label;        ///< file path, or [heap] [stack] [stack:TID] [guard:TID] [vdso] [vvar] [vsyscall] [anon]
  std::int64_t segment = -1;  ///< index into core_view::segments(), -1 when none
  std::uint64_t page_limit = 0;  ///< pages at or above this address get no data (file EOF)
  bool carries_pages = false;    ///< private memory whose bytes go to pages-*.img
  bool anonymous = false;        ///< zero pages need no data
  vma_kind kind = vma_kind::anon;
};

/// Candidate pages: `pages` pages at `vaddr`, from byte `core_offset` of the
/// core. The page engine (write::write_pages) decides which of them need data
/// and gives those pagemap entries with `flags`.
struct page_run {
  std::uint64_t vaddr = 0;
  std::uint64_t pages = 0;
  std::uint64_t core_offset = 0;
  std::uint32_t flags = 0;  ///< pagemap_entry.flags (criu::pe) of the run's entries
};

/// A shared-memory object rebuilt from the core: a memfd inode (memfds and
/// shared anonymous memory, which CRIU dumps as a memfd named "/dev/zero")
/// or a ghost file (a deleted file). Its VMAs point at files.img entry
/// `file_id` (vma_entry.shmid).
struct shmem_object {
  vma_kind kind = vma_kind::memfd;
  std::string name;             ///< memfd name without "memfd:", or the deleted file's path
  std::uint64_t size = 0;       ///< bytes
  std::uint32_t file_id = 0;    ///< files.img entry (MEMFD or REG)
  std::uint32_t content_id = 0; ///< memfd: shmid (pagemap-shmem-<id>.img); ghost: remap id (ghost-file-<id>.img)
  std::uint32_t pages_id = 0;   ///< memfd: pages-<id>.img (set by plan_resurrection)
  bool from_donor = false;      ///< the donor has an object of the same kind and name; its ids serve
  pb::ghost_file_entry ghost;   ///< deleted file: the ghost-file header
  std::vector<page_run> runs;   ///< content from the core; vaddr = offset in the object; sorted
};

/// Every shared-memory object, and the images that list them.
struct shared_memory_plan {
  std::vector<shmem_object> objects;
  std::vector<pb::memfd_inode_entry> memfd_inodes;   ///< memfd.img: the donor's plus new ones
  std::vector<pb::remap_file_path_entry> remaps;     ///< remap-fpath.img: the donor's plus new ones
  std::vector<std::string> replaced;                 ///< donor images rewritten (not carried)
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
  /// The image's bytes when the donor was made in memory (a synthetic donor,
  /// plan/donorless.hpp): written as they are instead of copied from `from`.
  std::optional<std::string> bytes = std::nullopt;
};

/// A value a donor-less resurrection had to choose because the core does not
/// hold it (--explain's "not in the core").
struct default_taken {
  std::string what;   ///< e.g. "signal handlers"
  std::string value;  ///< e.g. "SIG_DFL for every signal"
  std::string why;    ///< the consequence, e.g. "the process's handlers are lost"
};

/// What a capture at death (necro-catch, plan/capture.hpp) gave the image
/// set, and what of the dead process's files does not come back.
struct capture_use {
  std::string dir;                    ///< the capture directory read
  std::vector<std::string> restored;  ///< one line per fd or setting taken from it
  std::vector<std::string> closed;    ///< "fd N: what: why" for each fd that does not come back
  std::vector<std::string> lost;      ///< what comes back different (signal handlers, unread pipe bytes...)
};

/// Counts of the candidate pages, for the report; what is written and elided
/// is the page engine's (write::pages_report).
struct page_stats {
  std::uint64_t candidate_pages = 0;  ///< pages of the candidate runs
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
  std::vector<page_run> runs;  ///< candidate pages, in address order (the page engine makes the pagemap)
  shared_memory_plan shared;   ///< memfds, shared anonymous memory, deleted files
  page_stats stats;
  std::vector<carried_file> carried;
  std::vector<default_taken> not_in_core;  ///< donor-less only: the defaults taken
  std::optional<capture_use> capture;      ///< set when a capture at death was applied
  std::vector<relocation> relocations;
  /// Where each mapped file is on this machine, one line per object
  /// (place_located_files); empty when nothing was looked up (offline).
  std::vector<std::string> objects;
  std::string cpu;  ///< the CPU check's result in words (plan/cpu/cpu_check.hpp); empty: not run
  std::vector<std::string> warnings;
  std::vector<std::string> changes;  ///< human-readable list of fields changed
};

}  // namespace necro::plan

#endif
