/// necro::plan::detail: the VMAs a synthetic donor lends plan_address_space
/// (plan/donorless.hpp): file mappings (shared as a capture recorded them,
/// else private), the vDSO and one vvar, vsyscall, the initial stack and a
/// heap glued to the executable; and the executable's path.
#ifndef NECRO_PLAN_ADDRESS_SPACE_DETAIL_SYNTHETIC_VMAS_HPP
#define NECRO_PLAN_ADDRESS_SPACE_DETAIL_SYNTHETIC_VMAS_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/arch/kernel_abi.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/pb/mm.pb.h>
#include <necro/plan/address_space/detail/address_space.hpp>
#include <necro/plan/address_space/detail/segments.hpp>
#include <necro/plan/files/detail/synthetic_files.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan::detail {

/// An anonymous VMA over segment `s` with `status` and `flags`.
inline pb::vma_entry anon_vma(const elf::segment& s, std::uint32_t status, std::uint32_t flags) {
  auto e = segment_entry(s);
  e.set_flags(flags);
  e.set_status(status);
  return e;
}

/// vvar: the read-only, unnamed segments right below the vDSO, as one VMA
/// (CRIU dumps [vvar] and [vvar_vclock] as one; docs/pitfalls.md#one-vvar).
/// Readable ones only: a PROT_NONE anonymous mapping glued below the vvar
/// pages (a big reservation placed top-down right under them) is the
/// program's, and joined to them it makes CRIU's vvar size check fail.
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
    if (!s || !s->readable() || s->writable() || s->executable() || s->end() != lo || named(*s)) break;
    lo = s->vaddr;
  }
  if (lo == vdso) return std::nullopt;
  elf::segment whole;
  whole.vaddr = lo;
  whole.memsz = vdso - lo;
  whole.flags = arch::elfc::pf_r;
  auto e = anon_vma(whole, criu::vma_status::regular | criu::vma_status::vvar | criu::vma_status::anon_private,
                    criu::mmap_bits::map_private | criu::mmap_bits::map_anonymous);
  e.set_madv(1ULL << arch::madv::dontdump);  // CRIU marks vvar MADV_DONTDUMP (a bit per advice)
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
    e.set_fdflags(shared && s.writable() ? arch::o::rdwr : 0);  // a shared writable mapping's file opens read-write
    return e;
  }
  if (stack_at >= s.vaddr && stack_at < s.end())
    return anon_vma(s, vma_status::regular | vma_status::anon_private, anon | mmap_bits::map_growsdown);
  return std::nullopt;
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

/// The executable's path: the NT_FILE range that holds AT_PHDR.
template <class Arch>
result<std::string> executable_path(const elf::core_view<Arch>& core) {
  const auto phdr = core.auxv(arch::at::phdr);
  if (!phdr) return fail(error(errc::missing, std::string(core.path()), "NT_AUXV has no AT_PHDR: cannot find the executable"));
  for (const auto& f : core.process().files)
    if (*phdr >= f.start && *phdr < f.end) return std::string(f.path);
  return fail(error(errc::missing, std::string(core.path()),
                    fmt::format("no NT_FILE entry covers AT_PHDR {:#x}: cannot find the executable", *phdr)));
}

}  // namespace necro::plan::detail

#endif
