/// necro::plan::detail: the synthetic donor's mm (plan/donorless.hpp): the
/// VMAs it lends (address_space/detail/synthetic_vmas.hpp), and mm's code and
/// data range from the executable's program headers in the core's memory.
#ifndef NECRO_PLAN_MM_DETAIL_SYNTHETIC_MM_HPP
#define NECRO_PLAN_MM_DETAIL_SYNTHETIC_MM_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/elf/types.hpp>
#include <necro/io/error.hpp>
#include <necro/pb/mm.pb.h>
#include <necro/plan/address_space/detail/synthetic_vmas.hpp>
#include <necro/plan/files/detail/synthetic_files.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan::detail {

/// A cap on AT_PHNUM (the kernel refuses executables with more than 64 KiB of headers).
inline constexpr std::uint64_t max_exe_phdrs = 65536 / sizeof(elf::phdr64);

/// The executable's load bias: AT_PHDR less PT_PHDR's vaddr, else the start
/// of its mapping at file offset 0 less its first PT_LOAD's page.
template <class Arch>
std::optional<std::uint64_t> load_bias(const elf::core_view<Arch>& core, const std::vector<elf::phdr64>& ph,
                                       const std::string& exe) {
  const auto at_phdr = *core.auxv(arch::at::phdr);
  for (const auto& p : ph)
    if (p.type == arch::elfc::pt_phdr) return at_phdr - p.vaddr;
  for (const auto& p : ph) {
    if (p.type != arch::elfc::pt_load) continue;
    for (const auto& f : core.process().files)
      if (f.path == exe && f.offset == 0) return f.start - (p.vaddr & ~(Arch::page_size - 1));
    break;
  }
  return std::nullopt;
}

/// mm's start/end code and data as the kernel's ELF loader set them: from
/// the executable's program headers (AT_PHDR, AT_PHNUM) in the core's memory.
template <class Arch>
bool code_data_from_phdrs(const elf::core_view<Arch>& core, const std::string& exe, pb::mm_entry& mm) {
  const auto at = core.auxv(arch::at::phdr);
  const auto n = core.auxv(arch::at::phnum);
  if (!at || !n || *n == 0 || *n > max_exe_phdrs) return false;
  std::vector<elf::phdr64> ph;
  for (std::uint64_t i = 0; i < *n; ++i) {
    const auto p = core.template read_memory<elf::phdr64>(*at + i * sizeof(elf::phdr64));
    if (!p) return false;
    ph.push_back(*p);
  }
  const auto bias = load_bias(core, ph, exe);
  if (!bias) return false;
  std::uint64_t start_code = UINT64_MAX, end_code = 0, start_data = 0, end_data = 0;
  for (const auto& p : ph) {
    if (p.type != arch::elfc::pt_load) continue;
    const bool x = (p.flags & arch::elfc::pf_x) != 0;
    if (x) start_code = std::min(start_code, p.vaddr), end_code = std::max(end_code, p.vaddr + p.filesz);
    start_data = std::max(start_data, p.vaddr);
    end_data = std::max(end_data, p.vaddr + p.filesz);
  }
  if (end_code == 0) return false;
  mm.set_mm_start_code(start_code + *bias);
  mm.set_mm_end_code(end_code + *bias);
  mm.set_mm_start_data(start_data + *bias);
  mm.set_mm_end_data(end_data + *bias);
  return true;
}

/// mm of the synthetic donor. brk and the initial stack's ranges are left to
/// plan_resurrection, which finds them in the core (start_brk 0 says the
/// donor's heap tells nothing).
template <class Arch>
pb::mm_entry synthesize_mm(const elf::core_view<Arch>& core, const synthetic_file_ids& ids, std::uint32_t exe_id,
                           const share_modes& shares, std::vector<default_taken>& defaults) {
  pb::mm_entry mm;
  const std::uint64_t stack_at = initial_stack_anchor(core);
  for (const auto& s : core.segments())
    if (auto v = synthetic_vma(core, s, ids, stack_at, shares)) *mm.add_vmas() = std::move(*v);
  if (const auto vdso = core.auxv(arch::at::sysinfo_ehdr))
    if (auto vvar = synthetic_vvar(core, *vdso); vvar && vvar->end() > vvar->start()) *mm.add_vmas() = std::move(*vvar);
  std::string exe;
  for (const auto& [path, id] : ids.mapped)
    if (id == exe_id) exe = path;
  mark_glued_heap(core, exe, mm);
  std::sort(mm.mutable_vmas()->begin(), mm.mutable_vmas()->end(),
            [](const auto& a, const auto& b) { return a.start() < b.start(); });
  mm.set_exe_file_id(exe_id);
  if (!code_data_from_phdrs(core, exe, mm)) {
    // Without the executable's VMAs plan_code_data estimates the range from
    // the victim's mappings (and says so).
    auto* vmas = mm.mutable_vmas();
    vmas->erase(std::remove_if(vmas->begin(), vmas->end(), [&](const auto& v) { return v.shmid() == exe_id; }),
                vmas->end());
  }
  for (auto set : {&pb::mm_entry::set_mm_start_stack, &pb::mm_entry::set_mm_arg_start, &pb::mm_entry::set_mm_arg_end,
                   &pb::mm_entry::set_mm_env_start, &pb::mm_entry::set_mm_env_end})
    (mm.*set)(stack_at);  // replaced from the initial stack when plan_initial_stack finds it
  mm.set_mm_start_brk(0);
  mm.set_mm_brk(0);
  mm.set_dumpable(1);  // it dumped core
  mm.set_thp_disabled(false);
  defaults.push_back({"THP and madvise bits", "none (thp_disabled false, no MADV_* on any VMA but vvar)",
                      "not in the core"});
  return mm;
}

}  // namespace necro::plan::detail

#endif
