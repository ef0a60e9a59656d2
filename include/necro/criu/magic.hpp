/// CRIU image magics (criu/include/magic.h), VMA status bits and pagemap flags
/// (criu/include/image.h), as necro's own constants.
#ifndef NECRO_CRIU_MAGIC_HPP
#define NECRO_CRIU_MAGIC_HPP
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace necro::criu {

namespace magic {
inline constexpr std::uint32_t common = 0x54564319;
inline constexpr std::uint32_t service = 0x55105940;
inline constexpr std::uint32_t inventory = 0x58313116;
inline constexpr std::uint32_t pstree = 0x50273030;
inline constexpr std::uint32_t fdinfo = 0x56213732;
inline constexpr std::uint32_t pagemap = 0x56084025;
inline constexpr std::uint32_t core = 0x55053847;
inline constexpr std::uint32_t ids = 0x54432030;
inline constexpr std::uint32_t creds = 0x54023547;
inline constexpr std::uint32_t reg_files = 0x50363636;
inline constexpr std::uint32_t fs = 0x51403912;
inline constexpr std::uint32_t mm = 0x57492820;
inline constexpr std::uint32_t files = 0x56303138;
inline constexpr std::uint32_t tty_info = 0x59453036;
inline constexpr std::uint32_t seccomp = 0x64413049;
inline constexpr std::uint32_t timens = 0x43114433;
inline constexpr std::uint32_t shmem_pagemap = pagemap;  ///< pagemap-shmem-<shmid>.img
inline constexpr std::uint32_t remap_fpath = 0x59133954;
inline constexpr std::uint32_t ghost_file = 0x52583605;
inline constexpr std::uint32_t memfd_inode = 0x48453499;
}  // namespace magic

/// The image name prefixes necro knows, with their magic. `per_id` images are
/// named `<prefix><id>.img` (core-<tid>, mm-<pid>, pagemap-<pid>, ...).
struct image_kind {
  std::string_view prefix;
  std::uint32_t magic;
  bool per_id;
};
inline constexpr image_kind known_images[] = {
    {"inventory", magic::inventory, false}, {"pstree", magic::pstree, false},
    {"files", magic::files, false},         {"reg-files", magic::reg_files, false},
    {"core-", magic::core, true},           {"ids-", magic::ids, true},
    {"mm-", magic::mm, true},               {"pagemap-", magic::pagemap, true},
    {"fs-", magic::fs, true},               {"fdinfo-", magic::fdinfo, true},
    {"creds-", magic::creds, true},         {"tty-info", magic::tty_info, false},
    {"seccomp", magic::seccomp, false},     {"timens-", magic::timens, true},
    {"pagemap-shmem-", magic::shmem_pagemap, true}, {"memfd", magic::memfd_inode, false},
    {"remap-fpath", magic::remap_fpath, false},     {"ghost-file-", magic::ghost_file, true},
};

/// The magic of a file name like "core-4711.img", when necro knows it.
constexpr std::optional<std::uint32_t> magic_for(std::string_view file_name) {
  for (const auto& k : known_images) {
    if (k.per_id) {
      if (file_name.starts_with(k.prefix) && file_name.ends_with(".img") &&
          file_name.size() > k.prefix.size() + 4) {
        const auto mid = file_name.substr(k.prefix.size(), file_name.size() - k.prefix.size() - 4);
        bool digits = true;
        for (char c : mid) digits = digits && c >= '0' && c <= '9';
        if (digits) return k.magic;
      }
    } else if (file_name.size() == k.prefix.size() + 4 && file_name.starts_with(k.prefix) &&
               file_name.ends_with(".img")) {
      return k.magic;
    }
  }
  return std::nullopt;
}

/// inventory_entry.img_version of the image sets necro writes (CRIU's image format version).
inline constexpr std::uint32_t img_version = 2;

/// task_core_entry.task_state values: TASK_ALIVE.
namespace task_state {
inline constexpr std::uint32_t alive = 1;
}

/// memfd seals (F_SEAL_*), as memfd_inode_entry.seals holds them.
namespace seal {
inline constexpr std::uint32_t seal = 0x1, shrink = 0x2, grow = 0x4, write = 0x8, future_write = 0x10;
}

/// vma_entry.status bits.
namespace vma_status {
inline constexpr std::uint32_t regular = 1u << 0, stack = 1u << 1, vsyscall = 1u << 2,
                               vdso = 1u << 3, heap = 1u << 5, file_private = 1u << 6,
                               file_shared = 1u << 7, anon_shared = 1u << 8,
                               anon_private = 1u << 9, sysvipc = 1u << 10, socket = 1u << 11,
                               vvar = 1u << 12, aioring = 1u << 13, memfd = 1u << 14,
                               shstk = 1u << 15, guard = 1u << 16, uprobes = 1u << 17;
}

/// pagemap_entry.flags bits.
namespace pe {
inline constexpr std::uint32_t lazy = 1u << 1, present = 1u << 2;
}

/// Linux mmap prot/flags as CRIU stores them in vma_entry.
namespace mmap_bits {
inline constexpr std::uint32_t prot_read = 1, prot_write = 2, prot_exec = 4;
inline constexpr std::uint32_t map_shared = 0x01, map_private = 0x02, map_fixed = 0x10,
                               map_anonymous = 0x20, map_growsdown = 0x0100, map_locked = 0x2000;
}  // namespace mmap_bits

}  // namespace necro::criu

#endif
