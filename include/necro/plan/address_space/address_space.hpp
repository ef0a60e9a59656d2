/// necro::plan::plan_address_space: the victim's VMAs, built from the core
/// (PT_LOAD + NT_FILE + auxv + registers), never by index-matching the donor's;
/// the donor only lends what the core lacks (share mode, vvar size, file ids).
#ifndef NECRO_PLAN_ADDRESS_SPACE_ADDRESS_SPACE_HPP
#define NECRO_PLAN_ADDRESS_SPACE_ADDRESS_SPACE_HPP
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <necro/arch/common.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/plan/address_space/detail/address_space.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/shared_memory/shared_memory.hpp>

namespace necro::plan {

/// How far above the executable the brk heap may start (randomised,
/// docs/pitfalls.md#brk-heap).
inline constexpr std::uint64_t max_brk_gap = 1ULL << 30;

/// The victim's address space and what was learned while building it.
struct address_space {
  std::vector<vma> vmas;  ///< sorted by start
  std::string exe_path;
  std::optional<std::size_t> heap, stack, vdso;
  std::uint64_t exe_end = 0;
  std::vector<pb::file_entry> files;  ///< the donor's files.img plus entries for new files
  shared_memory_plan shared;          ///< memfds, shared anonymous memory, deleted files
};

/// Builds the victim's VMAs. `disk` holds stat() facts for the mapped files
/// (empty with `offline`, when the donor's recorded sizes stand in).
template <class Arch>
result<address_space> plan_address_space(const elf::core_view<Arch>& core, const criu::image_set& donor,
                                         const io::file_facts& disk, bool offline,
                                         std::vector<std::string>& warnings, const share_modes& shares = {}) {
  address_space as;
  as.files = donor.files();
  const std::string core_path(core.path());
  NECRO_TRY_ASSIGN(auto exe, detail::find_executable(core, donor));
  as.exe_path = std::move(exe.path);
  as.exe_end = exe.end;

  // Each segment of the core, but the vvar's (the donor's takes its place), classified.
  detail::file_registry files(as.files, disk, offline);
  const auto vdso_addr = core.auxv(arch::at::sysinfo_ehdr);
  const auto vvar = detail::place_vvar(core, donor, vdso_addr, warnings);
  detail::segment_context<Arch> ctx{.core = core,
                                    .donor = donor,
                                    .exe_path = as.exe_path,
                                    .vdso_addr = vdso_addr,
                                    .stack_at = detail::initial_stack_anchor(core),
                                    .donor_stack = detail::donor_stack_vma<Arch>(donor),
                                    .files = files,
                                    .warnings = warnings};
  for (const auto* s : detail::segments_by_address(core)) {
    if (vvar && s->vaddr >= vvar->start() && s->end() <= vvar->end()) continue;  // replaced below
    NECRO_TRY_ASSIGN(auto v, detail::classify_segment(*s, ctx));
    as.vmas.push_back(std::move(v));
  }
  if (vvar) as.vmas.push_back(detail::vvar_vma(*vvar));
  else if (vdso_addr) warnings.push_back("the donor has no vDSO/vvar VMAs: vvar not recreated");
  NECRO_TRY(detail::sort_vmas(as.vmas, core_path));
  as.vdso = detail::last_of_kind(as.vmas, vma_kind::vdso);
  as.stack = detail::last_of_kind(as.vmas, vma_kind::stack);

  // Then what needs every VMA: shared memory, thread stacks, the heap.
  NECRO_TRY_ASSIGN(as.shared, plan_shared_memory(core, donor, as.vmas, as.files, warnings, shares));
  detail::label_thread_stacks(core, donor, as.vmas, warnings);
  as.heap = detail::find_heap(donor, as.vmas, as.exe_end, max_brk_gap);
  return as;
}

}  // namespace necro::plan

#endif
