/// necro::plan::plan_address_space: the victim's VMAs, built from the core
/// (PT_LOAD + NT_FILE + auxv + registers), never by index-matching the donor's;
/// the donor only lends what the core lacks (share mode, vvar size, file ids).
#ifndef NECRO_PLAN_ADDRESS_SPACE_HPP
#define NECRO_PLAN_ADDRESS_SPACE_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/map/criu_thread.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/shared_memory.hpp>

namespace necro::plan {

/// How far above the executable the brk heap may start (randomised, pitfall 19).
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

namespace detail {

inline std::uint32_t prot_of(const elf::segment& s) {
  return (s.readable() ? criu::mmap_bits::prot_read : 0) | (s.writable() ? criu::mmap_bits::prot_write : 0) |
         (s.executable() ? criu::mmap_bits::prot_exec : 0);
}

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

/// A VMA of memory that lived only in the process (shared anonymous memory, a
/// memfd, a deleted file): share mode, ids and content are planned by
/// plan_shared_memory once every VMA is known. System V shm is refused.
inline result<void> shared_vma(vma_kind kind, const elf::file_mapping& fm, vma& v, const std::string& core_path) {
  if (kind == vma_kind::sysv_shm)
    return fail(error(errc::unsupported, core_path,
                      fmt::format("VMA {:#x}-{:#x} maps {} (System V shared memory): not supported; CRIU restores "
                                  "SysV segments only with the IPC namespace they live in (criu dump --namespaces "
                                  "ipc), and the core does not say which segment id was attached",
                                  fm.start, fm.end, fm.path)));
  v.kind = kind;
  v.label = std::string(fm.path);
  v.entry.set_pgoff(fm.offset);
  return {};
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

}  // namespace detail

/// Builds the victim's VMAs. `disk` holds stat() facts for the mapped files
/// (empty with `offline`, when the donor's recorded sizes stand in).
template <class Arch>
result<address_space> plan_address_space(const elf::core_view<Arch>& core, const criu::image_set& donor,
                                         const io::file_facts& disk, bool offline,
                                         std::vector<std::string>& warnings, const share_modes& shares = {}) {
  using namespace criu;
  address_space as;
  as.files = donor.files();
  const auto& notes = core.process();
  const std::string core_path(core.path());

  // The executable: the NT_FILE range that holds the program headers (AT_PHDR).
  const auto phdr = core.auxv(arch::at::phdr);
  if (!phdr) return fail(error(errc::missing, core_path, "NT_AUXV has no AT_PHDR: cannot find the executable"));
  for (const auto& f : notes.files)
    if (*phdr >= f.start && *phdr < f.end) as.exe_path = std::string(f.path);
  if (as.exe_path.empty())
    return fail(error(errc::missing, core_path,
                      fmt::format("no NT_FILE entry covers AT_PHDR {:#x}: cannot find the executable", *phdr)));
  for (const auto& f : notes.files)
    if (f.path == as.exe_path) as.exe_end = std::max(as.exe_end, f.end);

  const auto* donor_exe = donor.reg_file(donor.mm().exe_file_id());
  if (!donor_exe)
    return fail(error(errc::missing, (donor.dir() / "files.img").string(),
                      fmt::format("no regular file entry {} for the donor's executable", donor.mm().exe_file_id())));
  if (donor_exe->name() != as.exe_path)
    return fail(error(errc::mismatch, core_path,
                      fmt::format("the core is of {} but the donor runs {}: dump a donor of the same program",
                                  as.exe_path, donor_exe->name())));

  // Registered files by path, and the next free file id.
  std::uint32_t next_id = 1;
  for (const auto& f : as.files) next_id = std::max(next_id, f.id() + 1);
  auto file_id = [&](const std::string& path, std::uint32_t fdflags) -> result<std::uint32_t> {
    for (const auto& f : as.files)
      if (f.has_reg() && f.reg().name() == path && (f.reg().flags() & 3) == (fdflags & 3)) return f.id();
    // A file only the victim mapped: CRIU checks its size at restore (pitfall 12).
    pb::file_entry fe;
    fe.set_type(pb::REG);
    fe.set_id(next_id);
    auto* reg = fe.mutable_reg();
    reg->set_id(next_id);
    reg->set_flags(fdflags);
    reg->set_pos(0);
    reg->mutable_fown()->set_uid(0);
    reg->mutable_fown()->set_euid(0);
    reg->mutable_fown()->set_signum(0);
    reg->mutable_fown()->set_pid_type(0);
    reg->mutable_fown()->set_pid(0);
    reg->set_name(path);
    const auto it = disk.find(path);
    if (it != disk.end() && it->second) {
      reg->set_size(it->second->size);
      reg->set_mode(it->second->mode);
    } else if (!offline) {
      return fail(error(errc::missing, path, "mapped by the dead process but missing on disk: CRIU cannot restore it"));
    }
    as.files.push_back(std::move(fe));
    return next_id++;
  };

  // File size as restore will see it: the disk's, else what the donor recorded.
  auto file_size = [&](const std::string& path) -> std::optional<std::uint64_t> {
    const auto it = disk.find(path);
    if (it != disk.end() && it->second) return it->second->size;
    for (const auto& f : as.files)
      if (f.has_reg() && f.reg().name() == path && f.reg().has_size()) return f.reg().size();
    return std::nullopt;
  };

  // vdso and the single vvar VMA CRIU expects below it (pitfall 3).
  const auto vdso_addr = core.auxv(arch::at::sysinfo_ehdr);
  const auto* donor_vdso = detail::donor_vma_with(donor, vma_status::vdso);
  const auto* donor_vvar = detail::donor_vma_with(donor, vma_status::vvar);
  std::optional<pb::vma_entry> vvar;
  if (vdso_addr && donor_vdso && donor_vvar) {
    vvar = *donor_vvar;
    const std::uint64_t size = donor_vvar->end() - donor_vvar->start();
    const std::uint64_t start = *vdso_addr + (donor_vvar->start() - donor_vdso->start());
    vvar->set_start(start);
    vvar->set_end(start + size);
    if (!detail::vvar_fits(core, *vvar, *vdso_addr)) {
      warnings.push_back(fmt::format("the donor's vvar, placed at {:#x}-{:#x} beside the victim's vDSO, would overlap "
                                     "other memory of the core: vvar not recreated (the restore may need CRIU's vDSO proxy)",
                                     vvar->start(), vvar->end()));
      vvar.reset();
    }
  }

  // The stack: the VMA holding AT_EXECFN's string (the initial stack), else the main thread's sp.
  const std::uint64_t stack_at = detail::initial_stack_anchor(core);
  // The donor's stack lends its flags: the VMA of its sp, unless that is not a
  // MAP_GROWSDOWN one (a signal stack); then the donor's MAP_GROWSDOWN VMA.
  const auto* donor_stack = detail::donor_vma_at(donor, map::criu_thread<Arch>::sp(donor.leader_core()));
  if (!donor_stack || !(donor_stack->flags() & mmap_bits::map_growsdown))
    for (const auto& v : donor.mm().vmas())
      if (v.flags() & mmap_bits::map_growsdown) donor_stack = &v;

  std::vector<const elf::segment*> segs;
  for (const auto& s : core.segments()) segs.push_back(&s);
  std::sort(segs.begin(), segs.end(), [](const auto* a, const auto* b) { return a->vaddr < b->vaddr; });

  for (const auto* s : segs) {
    const auto seg_index = static_cast<std::int64_t>(s - core.segments().data());
    if (vvar && s->vaddr >= vvar->start() && s->end() <= vvar->end()) continue;  // replaced below
    vma v;
    v.segment = seg_index;
    v.page_limit = s->end();
    auto& e = v.entry;
    e.set_start(s->vaddr);
    e.set_end(s->end());
    e.set_pgoff(0);
    e.set_shmid(0);
    e.set_prot(detail::prot_of(*s));
    e.set_fd(-1);

    if (Arch::vsyscall_start != 0 && s->vaddr == Arch::vsyscall_start) {
      if (const auto* dv = detail::donor_vma_with(donor, vma_status::vsyscall)) e = *dv;
      else {
        e.set_flags(mmap_bits::map_private | mmap_bits::map_anonymous);
        e.set_status(vma_status::vsyscall | vma_status::anon_private);
      }
      v.label = "[vsyscall]";
      as.vmas.push_back(std::move(v));
      continue;
    }
    if (vdso_addr && s->vaddr == *vdso_addr) {
      e.set_flags(mmap_bits::map_private | mmap_bits::map_anonymous);
      e.set_status(vma_status::regular | vma_status::vdso | vma_status::anon_private);
      v.label = "[vdso]";
      v.carries_pages = true;
      as.vdso = as.vmas.size();
      as.vmas.push_back(std::move(v));
      continue;
    }
    const elf::file_mapping* fm = nullptr;
    for (const auto& f : notes.files)
      if (f.start == s->vaddr && f.end == s->end()) fm = &f;
    if (fm) {
      const std::string path(fm->path);
      if (const auto kind = kind_of_path(path); kind != vma_kind::plain) {
        NECRO_TRY(detail::shared_vma(kind, *fm, v, core_path));
        as.vmas.push_back(std::move(v));
        continue;
      }
      // Share mode is not in the core: take the donor's for the same file and offset (pitfall 10).
      std::uint32_t flags = mmap_bits::map_private, status = vma_status::regular | vma_status::file_private;
      std::uint32_t fdflags = 0;
      for (const auto& dv : donor.mm().vmas()) {
        const auto* reg = (dv.status() & (vma_status::file_private | vma_status::file_shared)) ? donor.reg_file(dv.shmid()) : nullptr;
        if (reg && reg->name() == path && dv.pgoff() == fm->offset) {
          flags = dv.flags();
          status = dv.status();
          fdflags = dv.has_fdflags() ? dv.fdflags() : 0;
          break;
        }
      }
      e.set_pgoff(fm->offset);
      e.set_flags(flags);
      e.set_status(status);
      e.set_fdflags(fdflags);
      NECRO_TRY_ASSIGN(const auto id, file_id(path, fdflags));
      e.set_shmid(id);
      v.label = path;
      v.carries_pages = (status & vma_status::file_private) != 0;
      // Pages past the end of the file are not memory (pitfall 13).
      if (const auto size = file_size(path)) {
        const std::uint64_t eof_page = (*size + Arch::page_size - 1) / Arch::page_size * Arch::page_size;
        v.page_limit = eof_page <= fm->offset ? s->vaddr : std::min(s->end(), s->vaddr + (eof_page - fm->offset));
      } else {
        warnings.push_back(fmt::format("size of {} unknown: pages past its end may be written", path));
      }
      as.vmas.push_back(std::move(v));
      continue;
    }
    // Anonymous private memory.
    e.set_flags(mmap_bits::map_private | mmap_bits::map_anonymous);
    e.set_status(vma_status::regular | vma_status::anon_private);
    v.label = "[anon]";
    v.carries_pages = true;
    v.anonymous = true;
    if (stack_at >= s->vaddr && stack_at < s->end()) {
      if (donor_stack) {
        e.set_flags(donor_stack->flags());
        e.set_status(donor_stack->status());
        if (donor_stack->has_madv()) e.set_madv(donor_stack->madv());
      } else {
        e.set_flags(e.flags() | mmap_bits::map_growsdown);
      }
      v.label = "[stack]";
      as.stack = as.vmas.size();
    }
    as.vmas.push_back(std::move(v));
  }

  if (vvar) {
    vma v;
    v.entry = *vvar;
    v.label = "[vvar]";
    v.page_limit = vvar->start();
    as.vmas.push_back(std::move(v));
  } else if (vdso_addr) {
    warnings.push_back("the donor has no vDSO/vvar VMAs: vvar not recreated");
  }
  std::sort(as.vmas.begin(), as.vmas.end(), [](const vma& a, const vma& b) { return a.entry.start() < b.entry.start(); });
  for (std::size_t i = 0; i < as.vmas.size(); ++i) {
    if (as.vmas[i].label == "[vdso]") as.vdso = i;
    if (as.vmas[i].label == "[stack]") as.stack = i;
    if (i > 0 && as.vmas[i].entry.start() < as.vmas[i - 1].entry.end())
      return fail(error(errc::bad_value, core_path,
                        fmt::format("VMAs overlap at {:#x} ({} and {})", as.vmas[i].entry.start(),
                                    as.vmas[i - 1].label, as.vmas[i].label)));
  }

  NECRO_TRY_ASSIGN(as.shared, plan_shared_memory(core, donor, as.vmas, as.files, warnings, shares));

  // Thread stacks: the VMA holding each other thread's sp, and the PROT_NONE
  // guard right below it. CRIU dumps them as plain anonymous memory; the donor's
  // thread stacks lend their madvise bits (glibc marks them MADV_NOHUGEPAGE).
  const pb::vma_entry* donor_thread_stack = nullptr;
  for (const auto& [tid, c] : donor.cores())
    if (tid != donor.pid())
      if (const auto* v = detail::donor_vma_at(donor, map::criu_thread<Arch>::sp(c))) donor_thread_stack = v;
  for (const auto& t : core.threads()) {
    if (&t == &core.leader()) continue;
    const std::uint64_t tsp = Arch::sp(t.regs());
    if (!core.segment_at(tsp))
      warnings.push_back(fmt::format("thread {}'s stack pointer {:#x} is in no memory of the core: its stack is not "
                                     "labelled (it restores as it died)",
                                     t.tid(), tsp));
    for (std::size_t i = 0; i < as.vmas.size(); ++i) {
      auto& v = as.vmas[i];
      if (tsp < v.entry.start() || tsp >= v.entry.end() || v.label != "[anon]") continue;
      v.label = fmt::format("[stack:{}]", t.tid());
      if (donor_thread_stack && donor_thread_stack->has_madv()) v.entry.set_madv(donor_thread_stack->madv());
      if (i > 0 && as.vmas[i - 1].label == "[anon]" && as.vmas[i - 1].entry.prot() == 0 &&
          as.vmas[i - 1].entry.end() == v.entry.start()) {
        auto& g = as.vmas[i - 1];
        g.label = fmt::format("[guard:{}]", t.tid());
        g.carries_pages = false;  // a guard page has no memory to restore
        if (donor_thread_stack && donor_thread_stack->has_madv()) g.entry.set_madv(donor_thread_stack->madv());
      }
      break;
    }
  }

  // The brk heap: the first anonymous rw VMA above the executable that is not
  // glued to it (that one is bss), within the brk randomisation range (pitfall 19).
  // Without brk randomisation (randomize_va_space < 2, setarch -R, gdb) the
  // heap is glued to the executable: then the donor's is too.
  const bool glued_heap = detail::donor_heap_glued(donor);
  for (std::size_t i = 0; i < as.vmas.size(); ++i) {
    auto& v = as.vmas[i];
    if (v.entry.start() < as.exe_end) continue;
    if (v.entry.start() - as.exe_end > max_brk_gap) break;
    if (!v.anonymous || v.label != "[anon]") continue;
    if (v.entry.start() == as.exe_end && !glued_heap) continue;
    if ((v.entry.prot() & (mmap_bits::prot_read | mmap_bits::prot_write)) !=
        (mmap_bits::prot_read | mmap_bits::prot_write))
      continue;
    v.entry.set_status(v.entry.status() | vma_status::heap);
    v.label = "[heap]";
    as.heap = i;
    break;
  }
  return as;
}

}  // namespace necro::plan

#endif
