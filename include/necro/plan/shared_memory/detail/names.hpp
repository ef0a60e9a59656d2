/// necro::plan::detail: how the kernel names memory that lived only in the
/// process in NT_FILE and /proc/PID/maps ("/memfd:x (deleted)", "/dev/zero
/// (deleted)", "<path> (deleted)") and the object each name stands for.
/// plan/shared_memory/shared_memory.hpp makes these public (plan::kind_of_path, ...).
#ifndef NECRO_PLAN_SHARED_MEMORY_DETAIL_NAMES_HPP
#define NECRO_PLAN_SHARED_MEMORY_DETAIL_NAMES_HPP
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

#include <necro/plan/plan.hpp>

namespace necro::plan::detail {

/// The name shared anonymous memory gets as a memfd (CRIU's own choice).
inline constexpr std::string_view shared_anon_name = "/dev/zero";
/// How the kernel marks a mapped file that has no name left.
inline constexpr std::string_view deleted_suffix = " (deleted)";

/// The kind of VMA an NT_FILE path names: a shared-memory kind, else a file on disk.
constexpr vma_kind kind_of_path(std::string_view p) noexcept {
  if (p == "/dev/zero (deleted)") return vma_kind::shared_anon;
  if (p.starts_with("/SYSV") && p.ends_with(deleted_suffix)) return vma_kind::sysv_shm;
  if (p.starts_with("/memfd:") && p.ends_with(deleted_suffix)) return vma_kind::memfd;
  if (p.ends_with(deleted_suffix)) return vma_kind::deleted_file;
  return vma_kind::file;
}

/// The object's name: the memfd's name, the deleted file's path, "/dev/zero".
inline std::string object_name(vma_kind k, std::string_view p) {
  const auto bare = p.substr(0, p.size() - std::min(p.size(), deleted_suffix.size()));
  if (k == vma_kind::shared_anon) return std::string(shared_anon_name);
  if (k == vma_kind::memfd) return std::string(bare.substr(std::min<std::size_t>(bare.size(), 7)));  // "/memfd:"
  return std::string(bare);
}

}  // namespace necro::plan::detail

#endif
