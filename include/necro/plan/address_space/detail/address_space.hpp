/// necro::plan::detail: the steps of plan_address_space (plan/address_space/address_space.hpp):
/// the file registry, the executable, the vvar beside the vDSO, the
/// classification of each core segment into a VMA, thread stacks and their
/// guards, and the brk heap.
#ifndef NECRO_PLAN_ADDRESS_SPACE_DETAIL_ADDRESS_SPACE_HPP
#define NECRO_PLAN_ADDRESS_SPACE_DETAIL_ADDRESS_SPACE_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/arch/kernel_abi.hpp>
#include <necro/criu/file_entries.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/map/criu_thread.hpp>
#include <necro/plan/address_space/detail/segments.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/shared_memory/shared_memory.hpp>

namespace necro::plan::detail {

inline const pb::vma_entry* donor_vma_with(const criu::image_set& d, std::uint32_t status_bit) {
  for (const auto& v : d.mm().vmas())
    if (v.status() & status_bit) return &v;
  return nullptr;
}

inline const pb::vma_entry* donor_vma_at(const criu::image_set& d, std::uint64_t addr) {
  for (const auto& v : d.mm().vmas())
    if (addr >= v.start() && addr < v.end()) return &v;
  return nullptr;
}

/// Whether a vvar VMA at [v.start, v.end) only covers the core's vvar pages:
/// every segment it touches lies inside it, and the vDSO is not one of them.
template <class Arch>
bool vvar_fits(const elf::core_view<Arch>& core, const pb::vma_entry& v, std::uint64_t vdso) {
  for (const auto& s : core.segments()) {
    const bool touches = s.vaddr < v.end() && s.end() > v.start();
    if (touches && (s.vaddr < v.start() || s.end() > v.end() || s.vaddr == vdso)) return false;
  }
  return true;
}

/// The end of the donor executable's file mappings.
inline std::uint64_t donor_exe_end(const criu::image_set& d) {
  const auto* exe = d.reg_file(d.mm().exe_file_id());
  std::uint64_t end = 0;
  for (const auto& v : d.mm().vmas())
    if (v.status() & (criu::vma_status::file_private | criu::vma_status::file_shared))
      if (const auto* r = d.reg_file(v.shmid()); exe && r && r->name() == exe->name()) end = std::max(end, v.end());
  return end;
}

/// Whether the donor's brk heap starts right at its executable's end (brk not
/// randomised): the victim's, from the same setting, is glued the same way.
inline bool donor_heap_glued(const criu::image_set& d) {
  const auto* heap = donor_vma_with(d, criu::vma_status::heap);
  return heap && heap->start() == donor_exe_end(d);
}

/// An address in the main thread's initial stack: AT_EXECFN's string or
/// AT_RANDOM's bytes (the kernel writes both there), else the main thread's
/// sp (which may be on a signal stack or a coroutine's stack instead).
template <class Arch>
std::uint64_t initial_stack_anchor(const elf::core_view<Arch>& core) {
  for (const auto key : {arch::at::execfn, arch::at::random})
    if (const auto a = core.auxv(key); a && core.segment_at(*a)) return *a;
  return Arch::sp(core.leader().regs());
}

/// The files.img entries of the victim: the donor's, and one more for each
/// file only the victim mapped. Sizes as restore will see them: the disk's,
/// else (offline) what the donor recorded.
class file_registry {
 public:
  file_registry(std::vector<pb::file_entry>& files, const io::file_facts& disk, bool offline)
      : files_(files), disk_(disk), offline_(offline) {
    for (const auto& f : files_) next_id_ = std::max(next_id_, f.id() + 1);
  }

  /// The id of the regular file `path` opened with `fdflags`' access mode;
  /// a new entry when the donor has none.
  result<std::uint32_t> id_of(const std::string& path, std::uint32_t fdflags) {
    for (const auto& f : files_)
      if (f.has_reg() && f.reg().name() == path && (f.reg().flags() & arch::o::accmode) == (fdflags & arch::o::accmode))
        return f.id();
    return add(path, fdflags);
  }

  /// The size restore will check for `path`, if anything knows it.
  std::optional<std::uint64_t> size_of(const std::string& path) const {
    const auto it = disk_.find(path);
    if (it != disk_.end() && it->second) return it->second->size;
    for (const auto& f : files_)
      if (f.has_reg() && f.reg().name() == path && f.reg().has_size()) return f.reg().size();
    return std::nullopt;
  }

 private:
  /// A file only the victim mapped: CRIU checks its size at restore
  /// (docs/pitfalls.md#victim-only-files).
  result<std::uint32_t> add(const std::string& path, std::uint32_t fdflags) {
    auto reg = criu::make_reg_file(next_id_, path, fdflags);
    const auto it = disk_.find(path);
    if (it != disk_.end() && it->second) {
      reg.set_size(it->second->size);
      reg.set_mode(it->second->mode);
    } else if (!offline_) {
      return fail(error(errc::missing, path, "mapped by the dead process but missing on disk: CRIU cannot restore it"));
    }
    files_.push_back(criu::make_file_entry(std::move(reg)));
    return next_id_++;
  }

  std::vector<pb::file_entry>& files_;
  const io::file_facts& disk_;
  bool offline_;
  std::uint32_t next_id_ = 1;
};

/// The victim's executable: its path and the end of its mappings.
struct victim_executable {
  std::string path;
  std::uint64_t end = 0;
};

/// The executable is the NT_FILE range that holds the program headers
/// (AT_PHDR); the donor must run the same one.
template <class Arch>
result<victim_executable> find_executable(const elf::core_view<Arch>& core, const criu::image_set& donor) {
  const std::string core_path(core.path());
  const auto& files = core.process().files;
  const auto phdr = core.auxv(arch::at::phdr);
  if (!phdr) return fail(error(errc::missing, core_path, "NT_AUXV has no AT_PHDR: cannot find the executable"));
  victim_executable exe;
  for (const auto& f : files)
    if (*phdr >= f.start && *phdr < f.end) exe.path = std::string(f.path);
  if (exe.path.empty())
    return fail(error(errc::missing, core_path,
                      fmt::format("no NT_FILE entry covers AT_PHDR {:#x}: cannot find the executable", *phdr)));
  for (const auto& f : files)
    if (f.path == exe.path) exe.end = std::max(exe.end, f.end);

  const auto* donor_exe = donor.reg_file(donor.mm().exe_file_id());
  if (!donor_exe)
    return fail(error(errc::missing, (donor.dir() / "files.img").string(),
                      fmt::format("no regular file entry {} for the donor's executable", donor.mm().exe_file_id())));
  if (donor_exe->name() != exe.path)
    return fail(error(errc::mismatch, core_path,
                      fmt::format("the core is of {} but the donor runs {}: dump a donor of the same program",
                                  exe.path, donor_exe->name())));
  return exe;
}

/// The single vvar VMA CRIU expects below the vDSO (docs/pitfalls.md#one-vvar):
/// the donor's, at the same distance from the victim's vDSO; none (with a
/// warning) when it would overlap other memory of the core.
template <class Arch>
std::optional<pb::vma_entry> place_vvar(const elf::core_view<Arch>& core, const criu::image_set& donor,
                                        std::optional<std::uint64_t> vdso_addr, std::vector<std::string>& warnings) {
  const auto* donor_vdso = donor_vma_with(donor, criu::vma_status::vdso);
  const auto* donor_vvar = donor_vma_with(donor, criu::vma_status::vvar);
  if (!vdso_addr || !donor_vdso || !donor_vvar) return std::nullopt;
  pb::vma_entry vvar = *donor_vvar;
  const std::uint64_t size = donor_vvar->end() - donor_vvar->start();
  const std::uint64_t start = *vdso_addr + (donor_vvar->start() - donor_vdso->start());
  vvar.set_start(start);
  vvar.set_end(start + size);
  if (vvar_fits(core, vvar, *vdso_addr)) return vvar;
  warnings.push_back(fmt::format("the donor's vvar, placed at {:#x}-{:#x} beside the victim's vDSO, would overlap "
                                 "other memory of the core: vvar not recreated (the restore may need CRIU's vDSO proxy)",
                                 vvar.start(), vvar.end()));
  return std::nullopt;
}

/// The donor's stack, which lends its flags: the VMA of its sp, unless that is
/// not a MAP_GROWSDOWN one (a signal stack); then the donor's MAP_GROWSDOWN VMA.
template <class Arch>
const pb::vma_entry* donor_stack_vma(const criu::image_set& donor) {
  const auto* stack = donor_vma_at(donor, map::criu_thread<Arch>::sp(donor.leader_core()));
  if (!stack || !(stack->flags() & criu::mmap_bits::map_growsdown))
    for (const auto& v : donor.mm().vmas())
      if (v.flags() & criu::mmap_bits::map_growsdown) stack = &v;
  return stack;
}

/// What classifying a core segment needs besides the segment.
template <class Arch>
struct segment_context {
  const elf::core_view<Arch>& core;
  const criu::image_set& donor;
  const std::string& exe_path;
  std::optional<std::uint64_t> vdso_addr;
  std::uint64_t stack_at;               ///< an address in the main thread's initial stack
  const pb::vma_entry* donor_stack;     ///< lends the stack's flags; may be null
  file_registry& files;
  std::vector<std::string>& warnings;
};

/// A VMA over the whole segment, with its protection and nothing else decided.
inline vma segment_vma(const elf::segment& s, std::int64_t index) {
  vma v;
  v.segment = index;
  v.page_limit = s.end();
  v.entry = segment_entry(s);
  return v;
}

/// [vsyscall]: the donor's entry, else a private anonymous one.
inline void classify_vsyscall(const criu::image_set& donor, vma& v) {
  auto& e = v.entry;
  if (const auto* dv = donor_vma_with(donor, criu::vma_status::vsyscall)) e = *dv;
  else {
    e.set_flags(criu::mmap_bits::map_private | criu::mmap_bits::map_anonymous);
    e.set_status(criu::vma_status::vsyscall | criu::vma_status::anon_private);
  }
  v.kind = vma_kind::vsyscall;
  v.label = "[vsyscall]";
}

/// [vdso]: its pages come from the core.
inline void classify_vdso(vma& v) {
  v.entry.set_flags(criu::mmap_bits::map_private | criu::mmap_bits::map_anonymous);
  v.entry.set_status(criu::vma_status::regular | criu::vma_status::vdso | criu::vma_status::anon_private);
  v.kind = vma_kind::vdso;
  v.label = "[vdso]";
  v.carries_pages = true;
}

/// The share mode of a file mapping.
struct share_mode {
  std::uint32_t flags = criu::mmap_bits::map_private;
  std::uint32_t status = criu::vma_status::regular | criu::vma_status::file_private;
  std::uint32_t fdflags = 0;
};

/// Share mode is not in the core: the donor's for the same file and offset
/// (docs/pitfalls.md#share-mode), else private.
inline share_mode donor_share_mode(const criu::image_set& donor, const std::string& path, std::uint64_t offset) {
  namespace vma_status = criu::vma_status;
  for (const auto& dv : donor.mm().vmas()) {
    const auto* reg = (dv.status() & (vma_status::file_private | vma_status::file_shared)) ? donor.reg_file(dv.shmid()) : nullptr;
    if (reg && reg->name() == path && dv.pgoff() == offset)
      return {dv.flags(), dv.status(), dv.has_fdflags() ? dv.fdflags() : 0};
  }
  return {};
}

/// A mapping of a file on disk (the executable or another file), or of memory
/// that lived only in the process.
template <class Arch>
result<void> classify_file(const elf::file_mapping& fm, segment_context<Arch>& ctx, vma& v) {
  const std::string path(fm.path);
  if (const auto kind = kind_of_path(path); kind != vma_kind::file)
    return shared_vma(kind, fm, v, std::string(ctx.core.path()));
  const auto mode = donor_share_mode(ctx.donor, path, fm.offset);
  auto& e = v.entry;
  e.set_pgoff(fm.offset);
  e.set_flags(mode.flags);
  e.set_status(mode.status);
  e.set_fdflags(mode.fdflags);
  NECRO_TRY_ASSIGN(const auto id, ctx.files.id_of(path, mode.fdflags));
  e.set_shmid(id);
  v.kind = path == ctx.exe_path ? vma_kind::exe : vma_kind::file;
  v.label = path;
  v.carries_pages = (mode.status & criu::vma_status::file_private) != 0;
  // Pages past the end of the file are not memory (docs/pitfalls.md#pages-past-eof).
  if (const auto size = ctx.files.size_of(path)) {
    const std::uint64_t eof_page = (*size + Arch::page_size - 1) / Arch::page_size * Arch::page_size;
    v.page_limit = eof_page <= fm.offset ? e.start() : std::min(e.end(), e.start() + (eof_page - fm.offset));
  } else {
    ctx.warnings.push_back(fmt::format("size of {} unknown: pages past its end may be written", path));
  }
  return {};
}

/// Anonymous private memory; the main thread's stack when it holds `stack_at`.
template <class Arch>
void classify_anon(const segment_context<Arch>& ctx, vma& v) {
  auto& e = v.entry;
  e.set_flags(criu::mmap_bits::map_private | criu::mmap_bits::map_anonymous);
  e.set_status(criu::vma_status::regular | criu::vma_status::anon_private);
  v.kind = vma_kind::anon;
  v.label = "[anon]";
  v.carries_pages = true;
  v.anonymous = true;
  if (ctx.stack_at < e.start() || ctx.stack_at >= e.end()) return;
  if (const auto* ds = ctx.donor_stack) {
    e.set_flags(ds->flags());
    e.set_status(ds->status());
    if (ds->has_madv()) e.set_madv(ds->madv());
  } else {
    e.set_flags(e.flags() | criu::mmap_bits::map_growsdown);
  }
  v.kind = vma_kind::stack;
  v.label = "[stack]";
}

/// The VMA of one core segment: [vsyscall], [vdso], a file mapping (the
/// NT_FILE entry of exactly its range) or anonymous memory.
template <class Arch>
result<vma> classify_segment(const elf::segment& s, segment_context<Arch>& ctx) {
  vma v = segment_vma(s, static_cast<std::int64_t>(&s - ctx.core.segments().data()));
  if (Arch::vsyscall_start != 0 && s.vaddr == Arch::vsyscall_start) {
    classify_vsyscall(ctx.donor, v);
    return v;
  }
  if (ctx.vdso_addr && s.vaddr == *ctx.vdso_addr) {
    classify_vdso(v);
    return v;
  }
  const elf::file_mapping* fm = nullptr;
  for (const auto& f : ctx.core.process().files)
    if (f.start == s.vaddr && f.end == s.end()) fm = &f;
  if (fm) {
    NECRO_TRY(classify_file(*fm, ctx, v));
    return v;
  }
  classify_anon(ctx, v);
  return v;
}

/// The vvar VMA: no pages of its own (the kernel provides them).
inline vma vvar_vma(const pb::vma_entry& entry) {
  vma v;
  v.entry = entry;
  v.kind = vma_kind::vvar;
  v.label = "[vvar]";
  v.page_limit = entry.start();
  return v;
}

/// Sorts the VMAs by start; an error naming both when two overlap.
inline result<void> sort_vmas(std::vector<vma>& vmas, const std::string& core_path) {
  std::sort(vmas.begin(), vmas.end(), [](const vma& a, const vma& b) { return a.entry.start() < b.entry.start(); });
  for (std::size_t i = 1; i < vmas.size(); ++i)
    if (vmas[i].entry.start() < vmas[i - 1].entry.end())
      return fail(error(errc::bad_value, core_path,
                        fmt::format("VMAs overlap at {:#x} ({} and {})", vmas[i].entry.start(), vmas[i - 1].label,
                                    vmas[i].label)));
  return {};
}

/// The index of the last VMA of `kind`.
inline std::optional<std::size_t> last_of_kind(const std::vector<vma>& vmas, vma_kind kind) {
  std::optional<std::size_t> found;
  for (std::size_t i = 0; i < vmas.size(); ++i)
    if (vmas[i].kind == kind) found = i;
  return found;
}

/// A thread's stack, and the PROT_NONE guard right below it; the donor's
/// thread stacks lend their madvise bits (glibc marks them MADV_NOHUGEPAGE).
inline void label_thread_stack(std::vector<vma>& vmas, std::size_t i, std::int32_t tid,
                               const pb::vma_entry* donor_thread_stack) {
  const bool madv = donor_thread_stack && donor_thread_stack->has_madv();
  auto& v = vmas[i];
  v.kind = vma_kind::thread_stack;
  v.label = fmt::format("[stack:{}]", tid);
  if (madv) v.entry.set_madv(donor_thread_stack->madv());
  if (i == 0) return;
  auto& g = vmas[i - 1];
  if (g.kind != vma_kind::anon || g.entry.prot() != 0 || g.entry.end() != v.entry.start()) return;
  g.kind = vma_kind::stack_guard;
  g.label = fmt::format("[guard:{}]", tid);
  g.carries_pages = false;  // a guard page has no memory to restore
  if (madv) g.entry.set_madv(donor_thread_stack->madv());
}

/// Thread stacks: the anonymous VMA holding each other thread's sp. CRIU dumps
/// them as plain anonymous memory; only the labels and madvise bits change.
template <class Arch>
void label_thread_stacks(const elf::core_view<Arch>& core, const criu::image_set& donor, std::vector<vma>& vmas,
                         std::vector<std::string>& warnings) {
  const pb::vma_entry* donor_thread_stack = nullptr;
  for (const auto& [tid, c] : donor.cores())
    if (tid != donor.pid())
      if (const auto* v = donor_vma_at(donor, map::criu_thread<Arch>::sp(c))) donor_thread_stack = v;
  for (const auto& t : core.threads()) {
    if (&t == &core.leader()) continue;
    const std::uint64_t tsp = Arch::sp(t.regs());
    if (!core.segment_at(tsp))
      warnings.push_back(fmt::format("thread {}'s stack pointer {:#x} is in no memory of the core: its stack is not "
                                     "labelled (it restores as it died)",
                                     t.tid(), tsp));
    for (std::size_t i = 0; i < vmas.size(); ++i) {
      const auto& v = vmas[i];
      if (tsp < v.entry.start() || tsp >= v.entry.end() || v.kind != vma_kind::anon) continue;
      label_thread_stack(vmas, i, t.tid(), donor_thread_stack);
      break;
    }
  }
}

/// The brk heap: the first anonymous rw VMA above the executable that is not
/// glued to it (that one is bss), within `max_gap` of it (brk randomisation,
/// docs/pitfalls.md#brk-heap). Without brk randomisation (randomize_va_space
/// < 2, setarch -R, gdb) the heap is glued to the executable: then the donor's
/// is too.
inline std::optional<std::size_t> find_heap(const criu::image_set& donor, std::vector<vma>& vmas,
                                            std::uint64_t exe_end, std::uint64_t max_gap) {
  namespace mmap_bits = criu::mmap_bits;
  const bool glued_heap = donor_heap_glued(donor);
  for (std::size_t i = 0; i < vmas.size(); ++i) {
    auto& v = vmas[i];
    if (v.entry.start() < exe_end) continue;
    if (v.entry.start() - exe_end > max_gap) break;
    if (!v.anonymous || v.kind != vma_kind::anon) continue;
    if (v.entry.start() == exe_end && !glued_heap) continue;
    if ((v.entry.prot() & (mmap_bits::prot_read | mmap_bits::prot_write)) != (mmap_bits::prot_read | mmap_bits::prot_write))
      continue;
    v.entry.set_status(v.entry.status() | criu::vma_status::heap);
    v.kind = vma_kind::heap;
    v.label = "[heap]";
    return i;
  }
  return std::nullopt;
}

}  // namespace necro::plan::detail

#endif
