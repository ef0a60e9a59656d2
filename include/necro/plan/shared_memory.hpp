/// necro::plan shared memory: memory that lived only in the process — shared
/// anonymous memory, memfds (shared and private mappings) and files deleted
/// since they were mapped — rebuilt as CRIU dumps them (docs/shared-memory.md):
/// memfd inodes whose content goes to pagemap-shmem-<shmid>.img, and ghost
/// files whose content goes to ghost-file-<id>.img. The bytes come from the
/// core; the donor lends its object of the same kind and name (ids, owner,
/// seals, share mode) where it has one. System V shm is refused.
#ifndef NECRO_PLAN_SHARED_MEMORY_HPP
#define NECRO_PLAN_SHARED_MEMORY_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan {

/// The name shared anonymous memory gets as a memfd (CRIU's own choice).
inline constexpr std::string_view shared_anon_name = "/dev/zero";
/// How the kernel marks a mapped file that has no name left.
inline constexpr std::string_view deleted_suffix = " (deleted)";

/// The kind of VMA an NT_FILE path names.
constexpr vma_kind kind_of_path(std::string_view p) noexcept {
  if (p == "/dev/zero (deleted)") return vma_kind::shared_anon;
  if (p.starts_with("/SYSV") && p.ends_with(deleted_suffix)) return vma_kind::sysv_shm;
  if (p.starts_with("/memfd:") && p.ends_with(deleted_suffix)) return vma_kind::memfd;
  if (p.ends_with(deleted_suffix)) return vma_kind::deleted_file;
  return vma_kind::plain;
}

/// The object's name: the memfd's name, the deleted file's path, "/dev/zero".
inline std::string object_name(vma_kind k, std::string_view p) {
  const auto bare = p.substr(0, p.size() - std::min(p.size(), deleted_suffix.size()));
  if (k == vma_kind::shared_anon) return std::string(shared_anon_name);
  if (k == vma_kind::memfd) return std::string(bare.substr(std::min<std::size_t>(bare.size(), 7)));  // "/memfd:"
  return std::string(bare);
}

namespace detail {

inline constexpr std::uint32_t o_rdwr = 2;
inline constexpr std::uint32_t memfd_mode = 0100777, ghost_mode = 0100600;

/// A donor VMA of a shared-memory object.
struct donor_shared_vma {
  vma_kind kind;
  std::string name;
  const pb::vma_entry* entry;
};

inline const pb::file_entry* donor_file(const criu::image_set& d, std::uint64_t id) {
  for (const auto& f : d.files())
    if (f.id() == id) return &f;
  return nullptr;
}

/// The donor's VMAs of memfds (shared anonymous memory included) and deleted files, in address order.
inline std::vector<donor_shared_vma> donor_shared_vmas(const criu::image_set& d) {
  using namespace criu;
  std::vector<donor_shared_vma> out;
  for (const auto& v : d.mm().vmas()) {
    if (!(v.status() & (vma_status::file_private | vma_status::file_shared))) continue;
    const auto* f = donor_file(d, v.shmid());
    if (!f) continue;
    if ((v.status() & vma_status::memfd) && f->has_memfd()) {
      const auto* ino = d.shared_memory().memfd_inode(f->memfd().inode_id());
      if (!ino) continue;
      const auto k = ino->name() == shared_anon_name ? vma_kind::shared_anon : vma_kind::memfd;
      out.push_back({k, ino->name(), &v});
    } else if (f->has_reg() && d.shared_memory().ghost_remap(f->id())) {
      out.push_back({vma_kind::deleted_file, f->reg().name(), &v});
    }
  }
  return out;
}

/// A victim object: its VMAs (indices into address_space::vmas) and its extent.
struct victim_object {
  vma_kind kind;
  std::string name;
  std::vector<std::size_t> vmas;
  std::uint64_t extent = 0;  ///< bytes mapped from offset 0: max(pgoff + length)
};

/// Groups the shared-memory VMAs into objects: memfds and deleted files by
/// name; shared anonymous memory by region (each mmap is its own object; a
/// VMA that continues the previous one at the next offset is the same one,
/// split by mprotect or madvise).
inline std::vector<victim_object> group_objects(const std::vector<vma>& vmas) {
  std::vector<victim_object> objs;
  const vma* prev_anon = nullptr;
  std::size_t prev_obj = 0;
  for (std::size_t i = 0; i < vmas.size(); ++i) {
    const auto& v = vmas[i];
    if (v.kind == vma_kind::plain || v.kind == vma_kind::sysv_shm) continue;
    const auto name = object_name(v.kind, v.label);
    std::size_t o = objs.size();
    if (v.kind == vma_kind::shared_anon) {
      if (prev_anon && prev_anon->entry.end() == v.entry.start() &&
          prev_anon->entry.pgoff() + (prev_anon->entry.end() - prev_anon->entry.start()) == v.entry.pgoff())
        o = prev_obj;
      prev_anon = &v;
      prev_obj = o;
    } else {
      for (std::size_t k = 0; k < objs.size(); ++k)
        if (objs[k].kind == v.kind && objs[k].name == name) o = k;
    }
    if (o == objs.size()) objs.push_back({v.kind, name, {}, 0});
    objs[o].vmas.push_back(i);
    objs[o].extent = std::max(objs[o].extent, v.entry.pgoff() + (v.entry.end() - v.entry.start()));
  }
  return objs;
}

/// Share mode and open flags of victim VMA `v` of object `o`: shared
/// anonymous memory is shared; otherwise the donor's VMA of the same object
/// and offset (the n-th such VMA for the n-th), else what a capture at death
/// recorded, else MAP_SHARED with a warning: the core does not say, and the same bytes come back either way
/// (a shared VMA's through the object, a private one's through the process's
/// pagemap); only two VMAs of the same offset would then alias.
inline void choose_share_mode(const victim_object& o, vma& v, std::size_t nth,
                              const std::vector<donor_shared_vma>& donor, const share_modes& shares,
                              std::vector<std::string>& warnings) {
  using namespace criu;
  std::vector<const pb::vma_entry*> same;
  for (const auto& d : donor)
    if (d.kind == o.kind && d.name == o.name && d.entry->pgoff() == v.entry.pgoff()) same.push_back(d.entry);
  const pb::vma_entry* match = same.empty() ? nullptr : same[std::min(nth, same.size() - 1)];
  bool shared = true;
  std::uint32_t fdflags = o.kind == vma_kind::deleted_file && !(v.entry.prot() & mmap_bits::prot_write) ? 0 : o_rdwr;
  if (o.kind == vma_kind::shared_anon) {
    shared = true;
  } else if (match) {
    shared = (match->flags() & mmap_bits::map_shared) != 0;
    if (match->has_fdflags()) fdflags = match->fdflags();
  } else if (shares.known) {
    shared = shares.is_shared(v.entry.start(), v.entry.end());  // the capture read /proc/PID/maps
  } else {
    warnings.push_back(fmt::format("{} {} at {:#x}: the donor has no mapping of it at offset {:#x} and the core "
                                   "does not say whether it was shared; taken as MAP_SHARED",
                                   describe(o.kind), o.name, v.entry.start(), v.entry.pgoff()));
  }
  auto& e = v.entry;
  e.set_flags(shared ? mmap_bits::map_shared : mmap_bits::map_private);
  e.set_status(vma_status::regular | (shared ? vma_status::file_shared : vma_status::file_private) |
               (o.kind == vma_kind::deleted_file ? 0u : vma_status::memfd));
  e.set_fdflags(fdflags);
  v.carries_pages = !shared;
}

/// The object's size: the donor's object of the same name when it fits what
/// the victim mapped (less than a page shorter), else the mapped extent.
inline std::uint64_t choose_size(const victim_object& o, const criu::image_set& donor, std::uint64_t page,
                                 std::vector<std::string>& warnings) {
  std::optional<std::uint64_t> known;
  if (o.kind == vma_kind::memfd) {
    for (const auto& m : donor.shared_memory().memfd_inodes)
      if (m.name() == o.name) known = m.size();
  } else if (o.kind == vma_kind::deleted_file) {
    for (const auto& f : donor.files())
      if (f.has_reg() && f.reg().name() == o.name && f.reg().has_size() && donor.shared_memory().ghost_remap(f.id()))
        known = f.reg().size();
  } else {
    return o.extent;  // shared anonymous memory is as long as its mapping
  }
  if (known && *known <= o.extent && *known + page > o.extent) return *known;
  warnings.push_back(fmt::format("{} {}: size unknown (the donor's {}); taken as the {} bytes mapped", describe(o.kind),
                                 o.name, known ? fmt::format("is {} bytes", *known) : std::string("has none"), o.extent));
  return o.extent;
}

/// Ids not yet taken, for objects the donor does not have.
struct id_source {
  std::uint32_t file = 1, inode = 1, shmid = 1, remap = 1;
  std::uint32_t uid = 0, gid = 0;  ///< the donor's owner, for new objects

  static id_source of(const criu::image_set& d, const std::vector<pb::file_entry>& files) {
    id_source s;
    for (const auto& f : files) s.file = std::max(s.file, f.id() + 1);
    const auto& sm = d.shared_memory();
    for (const auto& m : sm.memfd_inodes) {
      s.inode = std::max<std::uint32_t>(s.inode, static_cast<std::uint32_t>(m.inode_id()) + 1);
      s.shmid = std::max(s.shmid, m.shmid() + 1);
    }
    for (const auto& [shmid, pages] : sm.shmem_pages) s.shmid = std::max(s.shmid, shmid + 1);
    for (const auto& r : sm.remaps) s.remap = std::max(s.remap, r.remap_id() + 1);
    for (const auto& [id, g] : sm.ghosts) s.remap = std::max(s.remap, id + 1);
    const auto& core = d.leader_core();
    if (core.has_thread_core() && core.thread_core().has_creds()) {
      s.uid = core.thread_core().creds().uid();
      s.gid = core.thread_core().creds().gid();
    }
    return s;
  }
};

inline pb::file_entry new_file_entry(pb::fd_types type, std::uint32_t id) {
  pb::file_entry fe;
  fe.set_type(type);
  fe.set_id(id);
  return fe;
}

template <class Entry>
void clear_fown(Entry& e) {
  auto* f = e.mutable_fown();
  f->set_uid(0);
  f->set_euid(0);
  f->set_signum(0);
  f->set_pid_type(0);
  f->set_pid(0);
}

/// Ids and images of a memfd object: the donor's inode of the same name
/// (resized) or a new inode and MEMFD file entry.
inline void place_memfd(shmem_object& obj, shared_memory_plan& sp,
                        std::vector<pb::file_entry>& files, id_source& ids) {
  if (obj.kind == vma_kind::memfd)
    for (auto& m : sp.memfd_inodes)
      for (const auto& f : files)
        if (m.name() == obj.name && f.has_memfd() && f.memfd().inode_id() == m.inode_id()) {
          m.set_size(obj.size);
          obj.file_id = f.id();
          obj.content_id = m.shmid();
          obj.from_donor = true;
          sp.replaced.push_back(criu::image_name("pagemap-shmem-", m.shmid()));
          return;
        }
  pb::memfd_inode_entry m;
  m.set_name(obj.name);
  m.set_uid(ids.uid);
  m.set_gid(ids.gid);
  m.set_size(obj.size);
  m.set_shmid(ids.shmid++);
  // Shared anonymous memory cannot be sealed (CRIU records F_SEAL_SEAL); a
  // memfd the donor lacks is left unsealed.
  m.set_seals(obj.kind == vma_kind::shared_anon ? criu::seal::seal : 0);
  m.set_inode_id(ids.inode++);
  m.set_mode(memfd_mode);
  auto fe = new_file_entry(pb::MEMFD, ids.file++);
  auto* mf = fe.mutable_memfd();
  mf->set_id(fe.id());
  mf->set_flags(o_rdwr);
  mf->set_pos(0);
  clear_fown(*mf);
  mf->set_inode_id(static_cast<std::uint32_t>(m.inode_id()));
  obj.file_id = fe.id();
  obj.content_id = m.shmid();
  sp.memfd_inodes.push_back(std::move(m));
  files.push_back(std::move(fe));
}

/// Ids and images of a deleted file: the donor's REG entry and ghost of the
/// same path (resized) or new ones.
inline void place_ghost(shmem_object& obj, const criu::image_set& donor, shared_memory_plan& sp,
                        std::vector<pb::file_entry>& files, id_source& ids) {
  const auto& sm = donor.shared_memory();
  for (auto& f : files)
    if (f.has_reg() && f.reg().name() == obj.name)
      if (const auto* r = sm.ghost_remap(f.id()); r && sm.ghosts.count(r->remap_id())) {
        f.mutable_reg()->set_size(obj.size);
        obj.file_id = f.id();
        obj.content_id = r->remap_id();
        obj.ghost = sm.ghosts.at(r->remap_id());
        obj.from_donor = true;
        break;
      }
  if (!obj.from_donor) {
    auto fe = new_file_entry(pb::REG, ids.file++);
    auto* reg = fe.mutable_reg();
    reg->set_id(fe.id());
    reg->set_flags(0);
    reg->set_pos(0);
    clear_fown(*reg);
    reg->set_name(obj.name);
    reg->set_size(obj.size);
    reg->set_mode(ghost_mode);
    pb::remap_file_path_entry r;
    r.set_orig_id(fe.id());
    r.set_remap_id(ids.remap++);
    r.set_remap_type(pb::GHOST);
    obj.file_id = fe.id();
    obj.content_id = r.remap_id();
    obj.ghost.set_uid(ids.uid);
    obj.ghost.set_gid(ids.gid);
    obj.ghost.set_mode(ghost_mode);
    sp.remaps.push_back(std::move(r));
    files.push_back(std::move(fe));
  }
  // The content follows as chunks (one per run of the core), sized exactly.
  obj.ghost.set_chunks(true);
  obj.ghost.set_size(obj.size);
  sp.replaced.push_back(criu::image_name("ghost-file-", obj.content_id));
}

/// [a, b) minus the sorted, disjoint `covered` ranges.
inline std::vector<std::pair<std::uint64_t, std::uint64_t>> uncovered(
    std::uint64_t a, std::uint64_t b, const std::vector<std::pair<std::uint64_t, std::uint64_t>>& covered) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  for (const auto& [c0, c1] : covered) {
    if (c1 <= a || c0 >= b) continue;
    if (c0 > a) out.emplace_back(a, c0);
    a = std::max(a, c1);
  }
  if (a < b) out.emplace_back(a, b);
  return out;
}

/// Which coredump_filter bits decide whether the kernel dumps such a VMA
/// (vma_dump_size in fs/coredump.c): a shared mapping of a file without
/// links (shared anonymous memory, memfd, deleted file) is bit 1; a private
/// one is bit 0 once written, else bit 2.
constexpr std::string_view filter_bits(bool shared) noexcept {
  return shared ? "bit 1 (anonymous shared memory; the kernel counts shared mappings of memfds and deleted files as such)"
                : "bits 0 and 2 (anonymous private, file-backed private)";
}

/// The object's content: each page from the first VMA that maps it, shared
/// VMAs before private ones (a private VMA's written pages go to the
/// process's own pagemap anyway). Fails when a needed VMA is not in the core.
template <class Arch>
result<void> collect_content(const elf::core_view<Arch>& core, const std::vector<vma>& vmas,
                             const victim_object& o, shmem_object& obj) {
  constexpr std::uint64_t page = Arch::page_size;
  const std::uint64_t limit = (obj.size + page - 1) / page * page;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> covered;
  for (const bool want_shared : {true, false}) {
    for (const auto i : o.vmas) {
      const auto& v = vmas[i];
      if (((v.entry.flags() & criu::mmap_bits::map_shared) != 0) != want_shared || v.segment < 0) continue;
      const auto& seg = core.segments()[static_cast<std::size_t>(v.segment)];
      const std::uint64_t a = v.entry.pgoff(), b = std::min(limit, a + (v.entry.end() - v.entry.start()));
      if (a >= b) continue;
      const auto gaps = uncovered(a, b, covered);
      if (!gaps.empty() && seg.filesz < seg.memsz)
        return fail(error(errc::missing, std::string(core.path()), seg.offset,
                          fmt::format("VMA {:#x}-{:#x} maps {} {} but the core does not hold its pages: the "
                                      "process's coredump_filter lacked {}",
                                      v.entry.start(), v.entry.end(), describe(o.kind), o.name, filter_bits(want_shared))));
      for (const auto& [g0, g1] : gaps)
        obj.runs.push_back({g0, (g1 - g0) / page, seg.offset + (g0 - a)});
      covered.emplace_back(a, b);
      std::sort(covered.begin(), covered.end());
    }
  }
  std::sort(obj.runs.begin(), obj.runs.end(), [](const auto& x, const auto& y) { return x.vaddr < y.vaddr; });
  return {};
}

/// A private VMA's pages past the object's end are not memory (pitfall 13).
template <class Arch>
void limit_private_pages(vma& v, std::uint64_t size) {
  const std::uint64_t eof = (size + Arch::page_size - 1) / Arch::page_size * Arch::page_size;
  const auto& e = v.entry;
  v.page_limit = eof <= e.pgoff() ? e.start() : std::min(e.end(), e.start() + (eof - e.pgoff()));
}

}  // namespace detail

/// Plans every shared-memory object of the victim: share mode, size, ids and
/// content of each, the VMAs' shmid, and the donor images they replace.
/// `files` is files.img as planned so far (new entries are appended).
template <class Arch>
result<shared_memory_plan> plan_shared_memory(const elf::core_view<Arch>& core, const criu::image_set& donor,
                                              std::vector<vma>& vmas, std::vector<pb::file_entry>& files,
                                              std::vector<std::string>& warnings, const share_modes& shares = {}) {
  shared_memory_plan sp;
  sp.memfd_inodes = donor.shared_memory().memfd_inodes;
  sp.remaps = donor.shared_memory().remaps;
  const auto donor_vmas = detail::donor_shared_vmas(donor);
  auto ids = detail::id_source::of(donor, files);
  for (const auto& o : detail::group_objects(vmas)) {
    std::vector<std::pair<std::uint64_t, std::size_t>> nth;  // (pgoff, count) seen so far
    for (const auto i : o.vmas) {
      std::size_t n = 0;
      for (auto& [off, c] : nth)
        if (off == vmas[i].entry.pgoff()) n = c++;
      if (n == 0) nth.emplace_back(vmas[i].entry.pgoff(), 1);
      detail::choose_share_mode(o, vmas[i], n, donor_vmas, shares, warnings);
    }
    shmem_object obj;
    obj.kind = o.kind;
    obj.name = o.name;
    obj.size = detail::choose_size(o, donor, Arch::page_size, warnings);
    if (o.kind == vma_kind::deleted_file) detail::place_ghost(obj, donor, sp, files, ids);
    else detail::place_memfd(obj, sp, files, ids);
    for (const auto i : o.vmas) {
      vmas[i].entry.set_shmid(obj.file_id);
      detail::limit_private_pages<Arch>(vmas[i], obj.size);
    }
    NECRO_TRY(detail::collect_content(core, vmas, o, obj));
    sp.objects.push_back(std::move(obj));
  }
  return sp;
}

/// Whether files.img entry `file_id` is a deleted file restored from a ghost.
inline bool is_ghost(const shared_memory_plan& sp, std::uint32_t file_id) noexcept {
  for (const auto& r : sp.remaps)
    if (r.orig_id() == file_id && r.remap_type() == pb::GHOST) return true;
  return false;
}

/// Gives each memfd object a pages id no donor image uses.
inline void assign_pages_ids(const criu::image_set& donor, shared_memory_plan& sp) {
  std::uint32_t next = donor.pages_id() + 1;
  for (const auto& [shmid, pages] : donor.shared_memory().shmem_pages) next = std::max(next, pages + 1);
  for (auto& o : sp.objects)
    if (o.kind != vma_kind::deleted_file) o.pages_id = next++;
}

/// What becomes of a donor image in the new set, as far as shared memory goes.
enum class carry { as_usual, copy, drop };

/// memfd.img and remap-fpath.img are rewritten, as is the content of every
/// donor object the victim replaced; the content of the donor's other
/// objects (pagemap-shmem-<shmid>.img and its pages, ghost-file-<id>.img) is
/// copied as it is: the donor's files.img still names them.
inline carry carry_shared(std::string_view name, const criu::image_set& donor, const shared_memory_plan& sp) {
  if (name == "memfd.img" || name == "remap-fpath.img") return carry::drop;
  if (std::find(sp.replaced.begin(), sp.replaced.end(), name) != sp.replaced.end()) return carry::drop;
  if (name.starts_with("pagemap-shmem-") || name.starts_with("ghost-file-")) return carry::copy;
  for (const auto& [shmid, pages] : donor.shared_memory().shmem_pages)
    if (name == criu::image_name("pages-", pages) &&
        std::find(sp.replaced.begin(), sp.replaced.end(), criu::image_name("pagemap-shmem-", shmid)) == sp.replaced.end())
      return carry::copy;
  return carry::as_usual;
}

/// The content of memfd object `obj` as a plan the page engine writes into
/// pages-<pages_id>.img, with pagemap-shmem-<shmid>.img's entries: its runs
/// flagged present (never lazy), over one anonymous VMA spanning the object
/// (offsets as addresses), so that all-zero pages are left out (a pagemap
/// hole restores as zero).
inline resurrection shmem_page_plan(const shmem_object& obj, std::uint64_t page) {
  resurrection p;
  p.pages_id = obj.pages_id;
  p.runs = obj.runs;
  for (auto& r : p.runs) r.flags = criu::pe::present;
  vma whole;
  whole.entry.set_start(0);
  whole.entry.set_end((obj.size + page - 1) / page * page);
  whole.anonymous = true;
  whole.carries_pages = true;
  p.vmas.push_back(std::move(whole));
  return p;
}

}  // namespace necro::plan

#endif
