/// necro::plan::donorless_options: what the caller decides, or knows of this
/// machine, for a donor-less image set (plan/donorless.hpp), and the CRIU ids
/// a synthetic dump uses.
#ifndef NECRO_PLAN_DONORLESS_OPTIONS_HPP
#define NECRO_PLAN_DONORLESS_OPTIONS_HPP
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <necro/arch/kernel_abi.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan {

/// A file or directory a donor-less set opens by path, with its stat mode.
struct opened_path {
  std::string path;
  std::uint32_t mode = 0;  ///< st_mode; 0 when unknown (CRIU then does not check it)
  bool given = false;      ///< chosen by the user (--stdio, --cwd), not a default
};

/// Where glibc's rseq ABI symbols are in a file the process mapped (read from
/// its dynamic symbol table on disk by the caller: elf/dynamic_symbols.hpp).
struct rseq_symbols {
  std::string file;                ///< the mapped file (ld.so or libc) that defines them
  std::uint64_t offset_symbol = 0; ///< st_value of __rseq_offset (ptrdiff_t)
  std::uint64_t size_symbol = 0;   ///< st_value of __rseq_size (unsigned int)
};

/// What the caller decides, or knows of this machine, for a donor-less set.
struct donorless_options {
  opened_path stdio{"/dev/null", 020666};  ///< fds 0, 1 and 2
  opened_path cwd{"/", 040755};
  opened_path root{"/", 040755};
  std::uint32_t umask = 022;
  /// RLIMIT_* (cur, max) in the kernel's order: the necro process's own.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> rlimits;
  /// Capability sets of the necro process (32-bit words): what a root victim gets.
  std::array<std::uint32_t, 2> cap_eff{}, cap_bnd{};
  /// The victim's pid is in use on this machine (restore needs it free).
  bool pid_taken = false;
  std::optional<rseq_symbols> rseq;
  /// The share mode of each VMA, from a capture at death (else file mappings come back private).
  share_modes shares;
  std::string rseq_missing = "no __rseq_offset symbol was looked up";  ///< why rseq is empty
};

/// The CRIU object ids a synthetic dump uses: kernel objects of the task
/// (2, as in a dump of one process) and namespaces (those of CRIU's dump of a
/// process in the initial namespaces). Restore without --namespaces needs the
/// task's namespace ids to equal the inventory's root ids: they do, by construction.
namespace synthetic_ids {
inline constexpr std::uint32_t task_objects = 2, root_objects = 1;
inline constexpr std::uint32_t pid_ns = 1, net_ns = 2, ipc_ns = 3, uts_ns = 4, time_ns = 5, mnt_ns = 6, user_ns = 7,
                               cgroup_ns = 8;
inline constexpr std::uint32_t pages = 1;
}  // namespace synthetic_ids

/// RLIMIT_NLIMITS (arch::rlim::count): the rlimits CRIU keeps for a task, under the name callers use.
inline constexpr std::size_t rlimit_count = arch::rlim::count;

}  // namespace necro::plan

#endif
