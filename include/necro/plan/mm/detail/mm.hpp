/// necro::plan::detail: the victim's mm_entry (plan/resurrection.hpp): the
/// donor's, with the victim's VMAs, code and data range, brk, initial stack
/// and saved auxv.
#ifndef NECRO_PLAN_MM_DETAIL_MM_HPP
#define NECRO_PLAN_MM_DETAIL_MM_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/plan/address_space/address_space.hpp>
#include <necro/plan/address_space/layout.hpp>
#include <necro/plan/mm/initial_stack.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan::detail {

inline std::uint64_t page_align_up(std::uint64_t v, std::uint64_t page) { return (v + page - 1) / page * page; }

/// The donor's mm with the victim's VMAs; the steps below set the rest.
inline void start_mm(const criu::image_set& donor, resurrection& out) {
  out.mm = donor.mm();
  out.mm.clear_vmas();
  for (const auto& v : out.vmas) *out.mm.add_vmas() = v.entry;
}

/// mm's start/end code and data: the donor's, moved by the executable's load
/// delta (docs/pitfalls.md#code-data-range). Without the executable in both
/// layouts, the victim's own mappings of it stand in (code: its executable
/// range, data: all of it above the code), with a warning; prctl(PR_SET_MM_MAP)
/// needs start_code < end_code and start_data <= end_data.
inline void plan_code_data(const address_space& as, const relocator& reloc, resurrection& out) {
  auto& mm = out.mm;
  const auto d = reloc.donor().find(as.exe_path);
  const auto v = reloc.victim().find(as.exe_path);
  if (d != reloc.donor().end() && v != reloc.victim().end()) {
    const std::uint64_t delta = v->second.base() - d->second.base();
    for (auto [get, set, name] :
         {std::tuple{&pb::mm_entry::mm_start_code, &pb::mm_entry::set_mm_start_code, "start_code"},
          std::tuple{&pb::mm_entry::mm_end_code, &pb::mm_entry::set_mm_end_code, "end_code"},
          std::tuple{&pb::mm_entry::mm_start_data, &pb::mm_entry::set_mm_start_data, "start_data"},
          std::tuple{&pb::mm_entry::mm_end_data, &pb::mm_entry::set_mm_end_data, "end_data"}}) {
      const std::uint64_t from = (mm.*get)();
      (mm.*set)(from + delta);
      out.relocations.push_back({fmt::format("mm {}", name), from, from + delta, "executable load delta"});
    }
    return;
  }
  std::uint64_t code_lo = UINT64_MAX, code_hi = 0, lo = UINT64_MAX, hi = 0;
  for (const auto& x : out.vmas) {
    if (x.kind != vma_kind::exe) continue;
    lo = std::min(lo, x.entry.start());
    hi = std::max(hi, x.entry.end());
    if (!(x.entry.prot() & criu::mmap_bits::prot_exec)) continue;
    code_lo = std::min(code_lo, x.entry.start());
    code_hi = std::max(code_hi, x.entry.end());
  }
  if (hi == 0) lo = hi = as.exe_end;  // the executable has no VMA of its own: an empty range at its end
  if (code_hi == 0) code_lo = lo, code_hi = std::max(hi, lo + 1);
  // Data follows the code: everything of the executable above it (a superset).
  const std::uint64_t data_lo = std::min(code_hi, hi), data_hi = hi;
  mm.set_mm_start_code(code_lo);
  mm.set_mm_end_code(code_hi);
  mm.set_mm_start_data(data_lo);
  mm.set_mm_end_data(data_hi);
  out.warnings.push_back(fmt::format("{} is not mapped in both processes: start/end code {:#x}-{:#x} and data "
                                     "{:#x}-{:#x} taken from the victim's mappings of it (estimates)",
                                     as.exe_path, code_lo, code_hi, data_lo, data_hi));
}

/// mm's brk range: the heap VMA, else an empty heap right after the executable.
template <class Arch>
void plan_brk(const address_space& as, const criu::image_set& donor, resurrection& out) {
  if (as.heap) {
    const auto& heap = out.vmas[*as.heap].entry;
    out.mm.set_mm_start_brk(heap.start());
    out.mm.set_mm_brk(heap.end());
    // A heap glued to the executable may hold bss below start_brk (one VMA):
    // start_brk sits where it sits in the donor, after the same executable.
    const auto dexe = donor_exe_end(donor);
    if (heap.start() == as.exe_end && dexe != 0 && donor.mm().mm_start_brk() >= dexe)
      out.mm.set_mm_start_brk(std::min(heap.end(), as.exe_end + (donor.mm().mm_start_brk() - dexe)));
    return;
  }
  const auto brk = page_align_up(as.exe_end, Arch::page_size);
  out.mm.set_mm_start_brk(brk);
  out.mm.set_mm_brk(brk);
  out.warnings.push_back(fmt::format("no brk heap found (no anonymous rw VMA within {} MiB above the executable): "
                                     "start_brk = brk = {:#x}, the end of the executable; malloc's brk arena, if "
                                     "it had one, is restored as plain memory",
                                     max_brk_gap >> 20, brk));
}

/// The segment of the main thread's initial stack: the [stack] VMA, else the
/// segment that holds AT_EXECFN's string; nullptr if the core has neither.
template <class Arch>
const elf::segment* initial_stack_segment(const elf::core_view<Arch>& core, const address_space& as,
                                          const resurrection& out) {
  if (as.stack && out.vmas[*as.stack].segment >= 0)
    return &core.segments()[static_cast<std::size_t>(out.vmas[*as.stack].segment)];
  const auto execfn = core.auxv(arch::at::execfn);
  return execfn ? core.segment_at(*execfn) : nullptr;
}

/// mm's start_stack and arg/env ranges from the victim's initial stack
/// (docs/pitfalls.md#initial-stack); values only estimated are warnings, and
/// with nothing to go by the donor's stay (ordered addresses the kernel
/// accepts).
template <class Arch>
void plan_initial_stack(const elf::core_view<Arch>& core, const address_space& as, resurrection& out) {
  const auto* seg = initial_stack_segment(core, as, out);
  if (!seg) out.warnings.push_back("no segment of the core holds the main thread's initial stack");
  const auto st = find_initial_stack(core, seg);
  if (!st) {
    out.warnings.push_back("the initial stack was not found (no stack segment, no AT_EXECFN): start_stack and the "
                           "arg/env ranges stay the donor's; /proc/PID/cmdline and environ will read wrong");
    return;
  }
  auto& mm = out.mm;
  mm.set_mm_start_stack(st->start_stack);
  mm.set_mm_arg_start(st->arg_start);
  mm.set_mm_arg_end(st->arg_end);
  mm.set_mm_env_start(st->env_start);
  mm.set_mm_env_end(st->env_end);
  out.changes.push_back(fmt::format("initial stack: argc {}, envc {}; start_stack from {}, arg_start from {}, "
                                    "env_start from {}, env_end from {}",
                                    st->argc, st->envc, st->start_stack_from, st->arg_start_from,
                                    st->env_start_from, st->env_end_from));
  for (const auto& e : st->estimates) out.warnings.push_back("initial stack: " + e);
}

/// mm's saved auxv: NT_AUXV without the AT_NULL pair
/// (docs/pitfalls.md#auxv-too-long). CRIU takes at most
/// Arch::max_saved_auxv_words; the kernel only shows the saved copy in
/// /proc/PID/auxv (the process reads its own from the stack), so the trailing
/// pairs beyond are dropped, with a warning.
template <class Arch>
void plan_saved_auxv(const elf::core_view<Arch>& core, resurrection& out) {
  auto& mm = out.mm;
  mm.clear_mm_saved_auxv();
  std::vector<std::uint64_t> dropped;
  for (const auto& a : core.process().auxv) {
    if (a.key == arch::at::null) break;
    if (mm.mm_saved_auxv_size() + 2 > Arch::max_saved_auxv_words) {
      dropped.push_back(a.key);
      continue;
    }
    mm.add_mm_saved_auxv(a.key);
    mm.add_mm_saved_auxv(a.value);
  }
  if (!dropped.empty())
    out.warnings.push_back(fmt::format("NT_AUXV has {} pairs; CRIU keeps at most {}: the saved auxv (only shown in "
                                       "/proc/PID/auxv) drops the trailing keys {}",
                                       Arch::max_saved_auxv_words / 2 + dropped.size(), Arch::max_saved_auxv_words / 2,
                                       fmt::join(dropped, ", ")));
}

}  // namespace necro::plan::detail

#endif
