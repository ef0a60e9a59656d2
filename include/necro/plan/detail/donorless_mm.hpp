/// necro::plan::detail: the synthetic donor's mm (plan/donorless.hpp): the
/// VMAs plan_address_space borrows from a donor (file mappings, vDSO and one
/// vvar, vsyscall, the initial stack), and mm's code and data range from the
/// executable's program headers in the core's memory.
#ifndef NECRO_PLAN_DETAIL_DONORLESS_MM_HPP
#define NECRO_PLAN_DETAIL_DONORLESS_MM_HPP
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
#include <necro/plan/address_space.hpp>
#include <necro/plan/detail/donorless_files.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan::detail {

/// CRIU marks the vvar VMA MADV_DONTDUMP (vma_entry.madv is a bit per advice).
inline constexpr std::uint64_t madv_dontdump_bit = 1ULL << 16;
/// Program header types read here.
inline constexpr std::uint32_t pt_load = 1, pt_phdr = 6;
/// A cap on AT_PHNUM (the kernel refuses executables with more than 64 KiB of headers).
inline constexpr std::uint64_t max_exe_phdrs = 65536 / sizeof(elf::phdr64);

inline pb::vma_entry anon_vma(const elf::segment& s, std::uint32_t status, std::uint32_t flags) {
  pb::vma_entry e;
  e.set_start(s.vaddr);
  e.set_end(s.end());
  e.set_pgoff(0);
  e.set_shmid(0);
  e.set_prot(prot_of(s));
  e.set_flags(flags);
  e.set_status(status);
  e.set_fd(-1);
  return e;
}

/// vvar: the read-only, unnamed segments right below the vDSO, as one VMA
/// (CRIU dumps [vvar] and [vvar_vclock] as one; docs/pitfalls.md#one-vvar).
template <class Arch>
std::optional<pb::vma_entry> synthetic_vvar(const elf::core_view<Arch>& core, std::uint64_t vdso) {
  const auto named = [&](const elf::segment& s) {
    for (const auto& f : core.process().files)
      if (f.start < s.end() && f.end > s.vaddr) return true;
    return false;
  };
  std::uint64_t lo = vdso;
  while (lo >= Arch::page_size) {
    const auto* s = core.segment_at(lo - 1);
    if (!s || s->writable() || s->executable() || s->end() != lo || named(*s)) break;
    lo = s->vaddr;
  }
  if (lo == vdso) return std::nullopt;
  elf::segment whole;
  whole.vaddr = lo;
  whole.memsz = vdso - lo;
  whole.flags = arch::elfc::pf_r;
  auto e = anon_vma(whole, criu::vma_status::regular | criu::vma_status::vvar | criu::vma_status::anon_private,
                    criu::mmap_bits::map_private | criu::mmap_bits::map_anonymous);
  e.set_madv(madv_dontdump_bit);
  return e;
}

/// The VMA of segment `s` a donor would lend the planner, if any.
template <class Arch>
std::optional<pb::vma_entry> synthetic_vma(const elf::core_view<Arch>& core, const elf::segment& s,
                                           const synthetic_file_ids& ids, std::uint64_t stack_at,
                                           const share_modes& shares) {
  using namespace criu;
  const std::uint32_t anon = mmap_bits::map_private | mmap_bits::map_anonymous;
  if (Arch::vsyscall_start != 0 && s.vaddr == Arch::vsyscall_start) return anon_vma(s, vma_status::vsyscall | vma_status::anon_private, anon);
  if (core.auxv(arch::at::sysinfo_ehdr) == s.vaddr)
    return anon_vma(s, vma_status::regular | vma_status::vdso | vma_status::anon_private, anon);
  for (const auto& f : core.process().files) {
    if (f.start != s.vaddr || f.end != s.end()) continue;
    const auto id = ids.mapped.find(f.path);
    if (id == ids.mapped.end()) return std::nullopt;  // shared memory: plan_shared_memory's own
    // Shared as the capture recorded it; else private (the core does not say).
    const bool shared = shares.is_shared(s.vaddr, s.end());
    auto e = anon_vma(s, vma_status::regular | (shared ? vma_status::file_shared : vma_status::file_private),
                      shared ? mmap_bits::map_shared : mmap_bits::map_private);
    e.set_pgoff(f.offset);
    e.set_shmid(id->second);
    e.set_fdflags(shared && s.writable() ? o_rdwr : 0);  // a shared writable mapping's file opens read-write
    return e;
  }
  if (stack_at >= s.vaddr && stack_at < s.end())
    return anon_vma(s, vma_status::regular | vma_status::anon_private, anon | mmap_bits::map_growsdown);
  return std::nullopt;
}

/// The executable's load bias: AT_PHDR less PT_PHDR's vaddr, else the start
/// of its mapping at file offset 0 less its first PT_LOAD's page.
template <class Arch>
std::optional<std::uint64_t> load_bias(const elf::core_view<Arch>& core, const std::vector<elf::phdr64>& ph,
                                       const std::string& exe) {
  const auto at_phdr = *core.auxv(arch::at::phdr);
  for (const auto& p : ph)
    if (p.type == pt_phdr) return at_phdr - p.vaddr;
  for (const auto& p : ph) {
    if (p.type != pt_load) continue;
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
    if (p.type != pt_load) continue;
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

/// Without ASLR (the executable at the architecture's ELF_ET_DYN_BASE) the
/// brk heap starts right at the executable's end: the synthetic donor says so
/// with a HEAP VMA there, as CRIU's dump of such a process does
/// (docs/pitfalls.md#brk-heap).
template <class Arch>
void mark_glued_heap(const elf::core_view<Arch>& core, const std::string& exe, pb::mm_entry& mm) {
  if constexpr (requires { Arch::et_dyn_base; }) {
    std::uint64_t base = UINT64_MAX, end = 0;
    for (const auto& f : core.process().files)
      if (f.path == exe) base = std::min(base, f.start - f.offset), end = std::max(end, f.end);
    if (base != Arch::et_dyn_base) return;
    const auto* s = core.segment_at(end);
    if (!s || s->vaddr != end || !s->readable() || !s->writable()) return;
    for (const auto& f : core.process().files)
      if (f.start < s->end() && f.end > s->vaddr) return;
    *mm.add_vmas() = anon_vma(*s, criu::vma_status::regular | criu::vma_status::anon_private | criu::vma_status::heap,
                              criu::mmap_bits::map_private | criu::mmap_bits::map_anonymous);
  }
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
