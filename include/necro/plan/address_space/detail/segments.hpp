/// necro::plan::detail: the core's segments as every planner of VMAs sees
/// them: by address (the order NT_FILE lists VMAs in), with their
/// protection, and a VMA entry over one (plan/address_space/).
#ifndef NECRO_PLAN_ADDRESS_SPACE_DETAIL_SEGMENTS_HPP
#define NECRO_PLAN_ADDRESS_SPACE_DETAIL_SEGMENTS_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/pb/mm.pb.h>

namespace necro::plan::detail {

/// The segment's protection as CRIU stores it (PROT_*).
inline std::uint32_t prot_of(const elf::segment& s) {
  return (s.readable() ? criu::mmap_bits::prot_read : 0) | (s.writable() ? criu::mmap_bits::prot_write : 0) |
         (s.executable() ? criu::mmap_bits::prot_exec : 0);
}

/// A VMA entry over the whole segment: its range and protection, no file
/// offset, shmid or fd; flags and status are the caller's.
inline pb::vma_entry segment_entry(const elf::segment& s) {
  pb::vma_entry e;
  e.set_start(s.vaddr);
  e.set_end(s.end());
  e.set_pgoff(0);
  e.set_shmid(0);
  e.set_prot(prot_of(s));
  e.set_fd(-1);
  return e;
}

/// The core's segments sorted by address (the order NT_FILE lists VMAs in).
template <class Arch>
std::vector<const elf::segment*> segments_by_address(const elf::core_view<Arch>& core) {
  std::vector<const elf::segment*> out;
  out.reserve(core.segments().size());
  for (const auto& s : core.segments()) out.push_back(&s);
  std::sort(out.begin(), out.end(), [](const auto* a, const auto* b) { return a->vaddr < b->vaddr; });
  return out;
}

}  // namespace necro::plan::detail

#endif
