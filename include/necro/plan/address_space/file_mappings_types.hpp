/// necro::plan::rebuilt_mappings: what rebuild_file_mappings
/// (plan/address_space/file_mappings.hpp) found — the NT_FILE entries, the
/// objects they map, warnings — and the kernel.core_file_note_size_limit that
/// would have kept NT_FILE in the core.
#ifndef NECRO_PLAN_ADDRESS_SPACE_FILE_MAPPINGS_TYPES_HPP
#define NECRO_PLAN_ADDRESS_SPACE_FILE_MAPPINGS_TYPES_HPP
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <necro/elf/core_view.hpp>

namespace necro::plan {

/// The kernel's cap on sysctl kernel.core_file_note_size_limit (16 MiB).
inline constexpr std::uint64_t core_file_note_size_max = 16u << 20;
/// Its default, which is also its smallest value (4 MiB): below it every
/// core the kernel writes has NT_FILE.
inline constexpr std::uint64_t core_file_note_size_default = 4u << 20;
/// At most this many suspicious segments are named in the warning.
inline constexpr std::size_t max_listed_segments = 16;

/// One rebuilt object: where it was loaded and how many VMAs map it.
struct rebuilt_object {
  std::string path;
  std::uint64_t bias = 0;
  std::size_t mappings = 0;
  std::string build_id;  ///< hex; empty when the core lacks the object's headers
};

/// What rebuild_file_mappings found.
struct rebuilt_mappings {
  std::vector<elf::owned_file_mapping> entries;  ///< sorted by start, as NT_FILE would list them
  std::vector<rebuilt_object> objects;
  std::vector<std::string> warnings;
  std::uint64_t vma_count = 0;  ///< PT_LOADs of the core: the VMAs the kernel counted
  bool link_map = false;        ///< the dynamic linker's list named objects (else: the executable alone)
};

/// The smallest kernel.core_file_note_size_limit (bytes, rounded up to a MiB)
/// with which the kernel would have written NT_FILE for `vmas` VMAs: it needs
/// 64 bytes a VMA below the limit (a quarter more when paths are long).
inline std::uint64_t note_size_limit_for(std::uint64_t vmas) {
  const std::uint64_t need = vmas * 64 + vmas * 16 + 1;
  return (need + (1u << 20) - 1) / (1u << 20) * (1u << 20);
}

}  // namespace necro::plan

#endif
