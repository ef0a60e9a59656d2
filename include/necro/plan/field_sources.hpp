/// necro::plan::field_sources: one hop from any field of any CRIU message
/// necro writes to where its value comes from — a compile-time mapping table
/// (map/), a named planning or writing function, the donor's image (kept), or
/// a stated default — in donor mode and in donor-less mode. One list;
/// tests/unit/plan/field_sources_test.cpp walks the protobuf descriptors of
/// every written message against it (and checks it on the fixtures), and
/// docs/fields.md is generated from it (field_sources_markdown()).
#ifndef NECRO_PLAN_FIELD_SOURCES_HPP
#define NECRO_PLAN_FIELD_SOURCES_HPP
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/hana/for_each.hpp>
#include <fmt/format.h>
#include <google/protobuf/descriptor.h>

#include <necro/map/aarch64.hpp>
#include <necro/map/x86_64.hpp>
#include <necro/pb/core.pb.h>
#include <necro/pb/fdinfo.pb.h>
#include <necro/pb/fs.pb.h>
#include <necro/pb/ghost_file.pb.h>
#include <necro/pb/inventory.pb.h>
#include <necro/pb/memfd.pb.h>
#include <necro/pb/mm.pb.h>
#include <necro/pb/pagemap.pb.h>
#include <necro/pb/pstree.pb.h>
#include <necro/pb/remap_file_path.pb.h>

namespace necro::plan {

/// Where a field's value comes from.
enum class origin : std::uint8_t {
  table,      ///< a compile-time mapping table (map/): `by` names the table and its row
  function,   ///< a named function sets it: `by` names the function and says how
  donor,      ///< kept from the donor's image as CRIU dumped it (donor mode only)
  defaulted,  ///< a stated default, or not written at all (CRIU's default): `by` says which
  pending,    ///< not decided yet (the mode is being built)
};

constexpr std::string_view describe(origin o) noexcept {
  switch (o) {
    case origin::table: return "table";
    case origin::function: return "function";
    case origin::donor: return "donor";
    case origin::defaulted: return "default";
    case origin::pending: return "pending";
  }
  return "?";
}

/// One source: its kind and the table, function or default it names.
struct field_source {
  origin kind = origin::pending;
  std::string by;
};

/// A field, by its path from the message written into an image
/// ("core_entry.thread_core.creds.uid"; repeated messages add no index), and
/// its source in each mode.
struct field_entry {
  std::string path;
  field_source donor;      ///< `criu-necromancer -c CORE -i DONOR -o OUT`
  field_source donorless;  ///< `criu-necromancer -c CORE -o OUT`
};

/// A message necro writes, and the images it goes into.
struct written_message {
  std::string_view image;
  const google::protobuf::Descriptor* descriptor;
};

/// Every message type necro writes as an image entry (donor and donor-less);
/// field_sources() must name every field under them.
inline std::vector<written_message> written_messages() {
  return {
      {"core-<tid>.img", pb::core_entry::descriptor()},
      {"mm-<pid>.img", pb::mm_entry::descriptor()},
      {"pstree.img", pb::pstree_entry::descriptor()},
      {"pagemap-<pid>.img, pagemap-shmem-<shmid>.img (head)", pb::pagemap_head::descriptor()},
      {"pagemap-<pid>.img, pagemap-shmem-<shmid>.img", pb::pagemap_entry::descriptor()},
      {"files.img", pb::file_entry::descriptor()},
      {"memfd.img", pb::memfd_inode_entry::descriptor()},
      {"remap-fpath.img", pb::remap_file_path_entry::descriptor()},
      {"ghost-file-<id>.img (head)", pb::ghost_file_entry::descriptor()},
      {"ghost-file-<id>.img (chunks)", pb::ghost_chunk_entry::descriptor()},
      {"inventory.img", pb::inventory_entry::descriptor()},
      {"fs-<pid>.img", pb::fs_entry::descriptor()},
      {"ids-<pid>.img", pb::task_kobj_ids_entry::descriptor()},
      {"fdinfo-<id>.img", pb::fdinfo_entry::descriptor()},
  };
}

namespace sources {

inline field_source table(std::string by) { return {origin::table, std::move(by)}; }
inline field_source set_by(std::string by) { return {origin::function, std::move(by)}; }
inline field_source kept(std::string note = {}) { return {origin::donor, std::move(note)}; }
inline field_source defaulted(std::string what) { return {origin::defaulted, std::move(what)}; }
inline field_source pending() { return {origin::pending, "donor-less mode not merged yet (branch donorless)"}; }

/// Builds the list: one row per field, helpers for fields that share a source.
class field_list {
 public:
  void add(std::string path, field_source donor, field_source donorless) {
    rows_.push_back({std::move(path), std::move(donor), std::move(donorless)});
  }
  /// Several fields under `prefix` with the same sources.
  void each(std::string_view prefix, std::span<const std::string_view> names, const field_source& donor,
            const field_source& donorless) {
    for (const auto n : names) add(fmt::format("{}.{}", prefix, n), donor, donorless);
  }
  void each(std::string_view prefix, std::initializer_list<std::string_view> names, const field_source& donor,
            const field_source& donorless) {
    each(prefix, std::span(names.begin(), names.size()), donor, donorless);
  }
  /// Every mapped row of a map:: table, under `prefix`: "<table> (<src>.<member>)".
  template <class Table>
  void table(std::string_view prefix, const Table& t, std::string_view table_name, std::string_view src,
             const field_source& donorless) {
    boost::hana::for_each(t, [&](const auto& row) {
      if constexpr (!std::remove_cvref_t<decltype(row)>::is_ignored)
        add(fmt::format("{}.{}", prefix, row.dst), sources::table(fmt::format("{} ({}.{})", table_name, src, row.name)),
            donorless);
    });
  }
  std::vector<field_entry> take() && { return std::move(rows_); }

 private:
  std::vector<field_entry> rows_;
};

inline constexpr std::array<std::string_view, 5> fown_fields = {"uid", "euid", "signum", "pid_type", "pid"};
inline constexpr std::array<std::string_view, 12> kobj_ids_fields = {
    "vm_id",     "files_id",  "fs_id",      "sighand_id",   "pid_ns_id", "net_ns_id",
    "ipc_ns_id", "uts_ns_id", "mnt_ns_id",  "user_ns_id",   "cgroup_ns_id", "time_ns_id"};

/// core_entry.thread_info (x86-64) and ti_aarch64, and the other architectures' slots.
inline void thread_info(field_list& l) {
  const std::string ti = "core_entry.thread_info";
  l.add(ti + ".clear_tid_addr",
        set_by("relocate_thread_pointers: the template thread's, moved by the thread-pointer delta (pitfall 8)"),
        pending());
  l.table(ti + ".gpregs", map::x86_64::gpregs, "map::x86_64::gpregs", "NT_PRSTATUS user_regs_struct, after "
          "Arch::rewind_syscall", pending());
  l.add(ti + ".gpregs.mode", set_by("criu_thread<x86_64>::set_registers: NATIVE"), pending());
  l.table(ti + ".fpregs", map::x86_64::fpregs_table, "map::x86_64::fpregs_table",
          "NT_PRFPREG (else NT_X86_XSTATE's legacy area)", pending());
  l.add(ti + ".fpregs.xsave.xstate_bv", set_by("criu_thread<x86_64>::set_registers: the XSAVE header of NT_X86_XSTATE"),
        pending());
  l.each(ti + ".fpregs.xsave",
         {"ymmh_space", "bndreg_state", "bndcsr_state", "opmask_reg", "zmm_upper", "hi16_zmm", "pkru"},
         set_by("criu_thread<x86_64>::set_registers: the XSAVE component of NT_X86_XSTATE at the CPU's offset "
                "(NT_X86_XSAVE_LAYOUT, pitfall 14), as many elements as the donor's image has; no xsave without "
                "NT_X86_XSTATE"),
         pending());
  l.each(ti + ".fpregs.xsave.cet", {"cet", "ssp"}, kept("set_registers leaves it"), pending());
  l.each(ti + ".tls",
         {"entry_number", "base_addr", "limit", "seg_32bit", "contents_h", "contents_l", "read_exec_only",
          "limit_in_pages", "seg_not_present", "usable"},
         kept("GDT TLS entries: the core has none"), pending());

  // aarch64: planned from the tables of map/aarch64.hpp once an aarch64 donor
  // or donor-less core is written; an x86-64 donor has no ti_aarch64.
  const auto no_arm_donor = kept("an x86-64 donor has none (aarch64 donors are not planned)");
  const std::string ta = "core_entry.ti_aarch64";
  l.each(ta, {"clear_tid_addr", "tls"}, no_arm_donor, pending());
  l.each(ta + ".gpregs", {"regs", "sp", "pc", "pstate"}, no_arm_donor, pending());
  l.each(ta + ".fpsimd", {"vregs", "fpsr", "fpcr"}, no_arm_donor, pending());
  l.each(ta + ".pac_keys.pac_address_keys",
         {"apiakey_lo", "apiakey_hi", "apibkey_lo", "apibkey_hi", "apdakey_lo", "apdakey_hi", "apdbkey_lo",
          "apdbkey_hi", "pac_enabled_key"},
         no_arm_donor, pending());
  l.each(ta + ".pac_keys.pac_generic_keys", {"apgakey_lo", "apgakey_hi"}, no_arm_donor, pending());
  l.each("core_entry", {"ti_arm", "ti_ppc64", "ti_s390", "ti_mips", "ti_loongarch64", "ti_riscv64"},
         kept("not modelled (bytes); an x86-64 donor has none"), defaulted("not written"));
}

/// core_entry.tc: the process-wide part, in the leader's image only (pitfall 7).
inline void task_core(field_list& l) {
  const std::string tc = "core_entry.tc";
  l.add(tc + ".exit_code", set_by("plan_thread: 0"), pending());
  l.add(tc + ".blk_sigset", set_by("plan_thread: the leader's NT_PRSTATUS pr_sighold (pitfall 15)"), pending());
  l.add(tc + ".comm", set_by("plan_thread: NT_PRPSINFO pr_fname (the donor's when empty)"), pending());
  l.add(tc + ".signals_s.signals.siginfo", set_by("plan_thread: cleared (the death is not re-queued, pitfall 16)"),
        pending());
  l.each(tc + ".sigactions", {"sigaction", "restorer"},
         set_by("relocate_sigactions: the donor's, moved by the load delta of the file holding them (pitfall 9); "
                "reset to SIG_DFL when in no file"),
         pending());
  l.each(tc + ".sigactions", {"flags", "mask", "compat_sigaction", "mask_extended"}, kept(), pending());
  l.each(tc,
         {"task_state", "personality", "flags", "cg_set", "old_seccomp_mode", "old_seccomp_filter", "loginuid",
          "oom_score_adj", "child_subreaper", "blk_sigset_extended", "stop_signo", "membarrier_registration_mask"},
         kept(), pending());
  for (const char* t : {"real", "virt", "prof"})
    l.each(tc + ".timers." + t, {"isec", "iusec", "vsec", "vusec"}, kept(), pending());
  l.each(tc + ".timers.posix",
         {"it_id", "clock_id", "si_signo", "it_sigev_notify", "sival_ptr", "overrun", "isec", "insec", "vsec", "vnsec",
          "notify_thread_id"},
         kept(), pending());
  l.each(tc + ".rlimits.rlimits", {"cur", "max"}, kept(), pending());
}

/// core_entry.thread_core: per thread, from the donor thread used as template.
inline void thread_core(field_list& l) {
  const std::string th = "core_entry.thread_core";
  l.add(th + ".futex_rla",
        set_by("relocate_thread_pointers: the robust list, moved by the thread-pointer delta (pitfall 8)"),
        pending());
  l.add(th + ".blk_sigset", set_by("plan_thread: the thread's NT_PRSTATUS pr_sighold (pitfall 15)"), pending());
  l.add(th + ".signals_p.signals.siginfo",
        set_by("plan_thread: one SI_TKILL siginfo per signal of pr_sigpend but the fatal one and SIGKILL "
               "(pending_signals, make_siginfo)"),
        pending());
  l.each(th + ".sas", {"ss_sp", "ss_size", "ss_flags"},
         set_by("relocate_thread_pointers: the donor's sigaltstack moved by its file's load delta, else disabled"),
         pending());
  l.add(th + ".rseq_entry.rseq_abi_pointer",
        set_by("relocate_thread_pointers: moved by the thread-pointer delta (pitfall 4)"), pending());
  l.add(th + ".rseq_entry.rseq_cs_pointer", set_by("relocate_thread_pointers: cleared"), pending());
  l.each(th + ".rseq_entry", {"rseq_abi_size", "signature"}, kept(), pending());
  l.each(th,
         {"futex_rla_len", "sched_nice", "sched_policy", "sched_prio", "pdeath_sig", "seccomp_mode", "seccomp_filter",
          "comm", "blk_sigset_extended", "cg_set"},
         kept(), pending());
  l.each(th + ".creds",
         {"uid", "gid", "euid", "egid", "suid", "sgid", "fsuid", "fsgid", "cap_inh", "cap_prm", "cap_eff", "cap_bnd",
          "secbits", "groups", "lsm_profile", "lsm_sockcreate", "apparmor_data", "no_new_privs", "cap_amb"},
         kept(), pending());
}

inline void core(field_list& l) {
  l.add("core_entry.mtype", kept("checked: must be the core's architecture (plan_resurrection)"), pending());
  thread_info(l);
  task_core(l);
  l.each("core_entry.ids", kobj_ids_fields, kept("leader only (pitfall 7)"), pending());
  thread_core(l);
}

inline void mm(field_list& l) {
  const std::string mm = "mm_entry";
  l.each(mm, {"mm_start_code", "mm_end_code", "mm_start_data", "mm_end_data"},
         set_by("plan_code_data: the donor's, moved by the executable's load delta (pitfall 18)"), pending());
  l.each(mm, {"mm_start_stack", "mm_arg_start", "mm_arg_end", "mm_env_start", "mm_env_end"},
         set_by("plan_initial_stack: find_initial_stack on the victim's initial stack (pitfall 17)"), pending());
  l.each(mm, {"mm_start_brk", "mm_brk"}, set_by("plan_brk: the victim's brk heap VMA (pitfall 19)"), pending());
  l.add(mm + ".mm_saved_auxv", set_by("plan_saved_auxv: NT_AUXV less AT_NULL, at most 44 words (pitfall 2)"),
        pending());
  l.add(mm + ".exe_file_id", kept("checked: names the core's executable (plan_address_space)"), pending());
  l.each(mm, {"dumpable", "thp_disabled"}, kept(), pending());
  l.each(mm + ".aios", {"id", "nr_req", "ring_len"}, kept(), pending());
  const std::string v = mm + ".vmas";
  l.each(v, {"start", "end", "prot"}, set_by("plan_address_space: the core's PT_LOAD"), pending());
  l.add(v + ".pgoff", set_by("plan_address_space: NT_FILE's page offset"), pending());
  l.add(v + ".shmid",
        set_by("plan_address_space: the files.img id of the mapped file; plan_shared_memory: the memfd or ghost "
               "file's"),
        pending());
  l.each(v, {"flags", "status", "fdflags"},
         set_by("plan_address_space: the donor's VMA of the same file and offset (pitfall 10), anonymous/stack/heap/"
                "vdso/vvar bits from the core's layout; choose_share_mode for shared memory"),
         pending());
  l.add(v + ".fd", set_by("plan_address_space: -1"), pending());
  l.add(v + ".madv", set_by("plan_address_space: the donor's stack or thread stack's; absent otherwise"), pending());
}

inline void pstree_and_pages(field_list& l) {
  l.add("pstree_entry.pid", set_by("plan_resurrection: the core's pid"), pending());
  l.add("pstree_entry.ppid", kept(), pending());
  l.each("pstree_entry", {"pgid", "sid"},
         set_by("plan_resurrection: the donor's, the victim's pid where the donor's was its own"), pending());
  l.add("pstree_entry.threads", set_by("plan_resurrection: the core's tids, leader first"), pending());
  l.add("pagemap_head.pages_id",
        set_by("plan_resurrection: the donor's pages id; assign_pages_ids for pagemap-shmem"), pending());
  l.each("pagemap_entry", {"vaddr", "nr_pages", "compat_nr_pages", "flags"},
         set_by("write_pages: one entry per run of kept pages (zero and file-equal pages elided; both page counts, "
                "pitfall 1)"),
         pending());
  l.add("pagemap_entry.in_parent", defaulted("not written (false: no parent images)"), pending());
}

/// files.img: the donor's entries kept; entries for what only the victim has
/// are made by the named functions.
inline void files(field_list& l) {
  const std::string f = "file_entry";
  l.each(f, {"type", "id"},
         kept("new entries: plan_address_space (files only the victim mapped), place_memfd, place_ghost"), pending());
  l.each(f, {"isk", "nsf", "psk", "nlsk", "efd", "sgfd", "tunf", "tfd", "ify", "ffy", "ext", "usk", "fifo", "pipe",
             "tty", "bpf", "pidfd"},
         kept("not modelled (bytes)"), pending());
  const std::string r = f + ".reg";
  const auto new_reg = "new entries: plan_address_space (files only the victim mapped, pitfall 12), place_ghost";
  l.each(r, {"id", "flags", "pos", "name"}, kept(new_reg), pending());
  l.each(r + ".fown", fown_fields, kept(std::string(new_reg) + ": 0"), pending());
  l.add(r + ".size",
        set_by("plan_address_space: stat() size for a new file; place_ghost: the deleted file's size from the core; "
               "the donor's otherwise"),
        pending());
  l.add(r + ".mode", kept("new entries: plan_address_space (stat() mode), place_ghost (0100600)"), pending());
  l.each(r, {"mnt_id", "ext", "build_id", "checksum", "checksum_config", "checksum_parameter"},
         kept("new entries: not written"), pending());
  const std::string e = f + ".epfd";
  l.each(e, {"id", "flags"}, kept(), pending());
  l.each(e + ".fown", fown_fields, kept(), pending());
  l.add(e + ".tfd.data",
        set_by("relocate_eventpolls: a pointer into donor memory moved into the victim's (move_epoll_data)"),
        pending());
  l.each(e + ".tfd", {"id", "tfd", "events", "dev", "inode", "pos"}, kept(), pending());
  const std::string m = f + ".memfd";
  l.each(m, {"id", "flags", "pos", "inode_id"}, kept("new entries: place_memfd"), pending());
  l.each(m + ".fown", fown_fields, kept("new entries: place_memfd: 0"), pending());
}

inline void shared_memory(field_list& l) {
  const std::string m = "memfd_inode_entry";
  l.add(m + ".size", set_by("place_memfd: the object's size (choose_size: the donor's when it fits, else mapped)"),
        pending());
  l.each(m, {"name", "uid", "gid", "shmid", "seals", "inode_id", "mode"},
         kept("the donor's inode of the same name; new inodes: place_memfd (uid/gid the donor's creds)"), pending());
  l.add(m + ".hugetlb_flag", kept("new inodes: not written"), pending());
  l.each("remap_file_path_entry", {"orig_id", "remap_id", "remap_type"}, kept("new ghosts: place_ghost (GHOST)"),
         pending());
  const std::string g = "ghost_file_entry";
  l.each(g, {"chunks", "size"}, set_by("place_ghost: chunked, the deleted file's size"), pending());
  l.each(g, {"uid", "gid", "mode"}, kept("new ghosts: place_ghost (the donor's creds, 0100600)"), pending());
  l.each(g, {"dev", "ino", "rdev", "symlnk_target"}, kept("new ghosts: not written"), pending());
  for (const char* t : {"atim", "mtim"})
    l.each(g + "." + t, {"tv_sec", "tv_usec"}, kept("new ghosts: not written"), pending());
  l.each("ghost_chunk_entry", {"len", "off"}, set_by("write_ghost_content: one chunk per run of the core"),
         pending());
}

/// Images donor mode copies as they are (renamed per pid).
inline void carried(field_list& l) {
  const auto copied = [](std::string_view img) { return kept(fmt::format("{} copied", img)); };
  const std::string inv = "inventory_entry";
  l.each(inv,
         {"img_version", "fdinfo_per_id", "ns_per_id", "root_cg_set", "lsmtype", "dump_uptime", "pre_dump_mode",
          "tcp_close", "network_lock_method", "dump_criu_run_id", "allow_uprobes"},
         copied("inventory.img"), pending());
  l.each(inv + ".root_ids", kobj_ids_fields, copied("inventory.img"), pending());
  l.add(inv + ".plugins_entry.plugins", copied("inventory.img"), pending());
  l.each("fs_entry", {"cwd_id", "root_id", "umask"}, copied("fs-<pid>.img"), pending());
  l.each("task_kobj_ids_entry", kobj_ids_fields, copied("ids-<pid>.img"), pending());
  l.each("fdinfo_entry", {"id", "flags", "type", "fd", "xattr_security_selinux"}, copied("fdinfo-<id>.img"),
         pending());
}

}  // namespace sources

/// The list: every field of every message in written_messages(), and its source.
inline const std::vector<field_entry>& field_sources() {
  static const std::vector<field_entry> list = [] {
    sources::field_list l;
    sources::core(l);
    sources::mm(l);
    sources::pstree_and_pages(l);
    sources::files(l);
    sources::shared_memory(l);
    sources::carried(l);
    return std::move(l).take();
  }();
  return list;
}

/// One field of a written message, found by walking its descriptor.
struct field_row {
  std::string image;  ///< written_message::image
  std::string path;   ///< as in field_entry::path
  int number = 0;
  std::string type;   ///< "uint64", "repeated uint32", "message user_x86_regs_entry"
  bool is_message = false;
  const field_entry* entry = nullptr;  ///< null when the list lacks it
};

namespace detail {

inline std::string type_of(const google::protobuf::FieldDescriptor& f) {
  std::string t = f.is_repeated() ? "repeated " : "";
  if (f.message_type()) return t + "message " + std::string(f.message_type()->name());
  if (f.enum_type()) return t + "enum " + std::string(f.enum_type()->name());
  return t + f.type_name();
}

inline void walk(const google::protobuf::Descriptor& d, const std::string& prefix, const std::string& image,
                 const std::map<std::string, const field_entry*>& by_path, std::vector<field_row>& out, int depth) {
  if (depth > 16) return;  // no recursive messages in CRIU's schema; a guard all the same
  for (int i = 0; i < d.field_count(); ++i) {
    const auto& f = *d.field(i);
    field_row r;
    r.image = image;
    r.path = prefix + "." + std::string(f.name());
    r.number = f.number();
    r.type = type_of(f);
    r.is_message = f.message_type() != nullptr;
    if (const auto it = by_path.find(r.path); it != by_path.end()) r.entry = it->second;
    out.push_back(r);
    if (r.is_message) walk(*f.message_type(), r.path, image, by_path, out, depth + 1);
  }
}

}  // namespace detail

/// Every field under written_messages(), in descriptor order, with its entry in `list`.
inline std::vector<field_row> field_rows(const std::vector<field_entry>& list = field_sources()) {
  std::map<std::string, const field_entry*> by_path;
  for (const auto& e : list) by_path.emplace(e.path, &e);
  std::vector<field_row> out;
  for (const auto& m : written_messages())
    detail::walk(*m.descriptor, std::string(m.descriptor->name()), std::string(m.image), by_path, out, 0);
  return out;
}

/// What is wrong with the list, one sentence each (empty: nothing): a field
/// with no entry, an entry naming no field, a path listed twice, a source
/// that names nothing.
inline std::vector<std::string> field_source_problems(const std::vector<field_entry>& list = field_sources()) {
  constexpr std::string_view where = "necro::plan::field_sources() in include/necro/plan/field_sources.hpp";
  std::vector<std::string> out;
  const auto rows = field_rows(list);
  std::map<std::string, const field_row*> fields;
  for (const auto& r : rows) fields.emplace(r.path, &r);
  for (const auto& r : rows)
    if (!r.is_message && !r.entry)
      out.push_back(fmt::format("field {} (number {}, {}) of {} has no source: add it to {} with its donor and "
                                "donor-less sources",
                                r.path, r.number, r.type, r.image, where));
  std::map<std::string, int> seen;
  for (const auto& e : list) {
    if (++seen[e.path] == 2) out.push_back(fmt::format("{} is listed more than once in {}", e.path, where));
    const auto it = fields.find(e.path);
    if (it == fields.end())
      out.push_back(fmt::format("{} names no field of the messages necro writes (written_messages()): fix or "
                                "remove it in {}",
                                e.path, where));
    for (const auto* s : {&e.donor, &e.donorless})
      if (s->kind != origin::donor && s->kind != origin::pending && s->by.empty())
        out.push_back(fmt::format("{}: a {} source must name its table, function or default in {}", e.path,
                                  describe(s->kind), where));
  }
  return out;
}

/// Fields per origin in one mode (leaf fields: messages are counted by their fields).
struct field_counts {
  std::size_t table = 0, function = 0, donor = 0, defaulted = 0, pending = 0;
  std::size_t set() const noexcept { return table + function; }
  std::size_t total() const noexcept { return table + function + donor + defaulted + pending; }
};

inline field_counts count_fields(bool donorless) {
  field_counts c;
  for (const auto& e : field_sources()) {
    switch ((donorless ? e.donorless : e.donor).kind) {
      case origin::table: ++c.table; break;
      case origin::function: ++c.function; break;
      case origin::donor: ++c.donor; break;
      case origin::defaulted: ++c.defaulted; break;
      case origin::pending: ++c.pending; break;
    }
  }
  return c;
}

namespace detail {
inline std::string cell(const field_source& s) {
  std::string by = s.by;
  for (auto& ch : by)
    if (ch == '|') ch = '/';
  if (by.empty()) return std::string(describe(s.kind));
  return fmt::format("{}: {}", describe(s.kind), by);
}
}  // namespace detail

/// docs/fields.md: the list as markdown, with the counts.
inline std::string field_sources_markdown() {
  std::string md;
  auto it = std::back_inserter(md);
  fmt::format_to(it,
                 "# Where every CRIU field comes from\n\n"
                 "<!-- Generated from include/necro/plan/field_sources.hpp; do not edit. Regenerate with\n"
                 "     cmake --build build --target update_fields_md -->\n\n"
                 "One row per field of every protobuf message necro writes: its source in donor mode\n"
                 "(`criu-necromancer -c CORE -i DONOR -o OUT`) and in donor-less mode (`-c CORE -o OUT`).\n"
                 "**table**: a compile-time mapping table (map/) and its row; **function**: the named function "
                 "sets it;\n**donor**: kept from the donor's image; **default**: a stated default, or not written "
                 "(CRIU's default);\n**pending**: not decided yet. Message fields are shown for their place; "
                 "their fields carry the sources.\n"
                 "tests/unit/plan/field_sources_test.cpp fails when a field has no row, and checks the donor-mode "
                 "sources on the counter fixture.\n\n");
  fmt::format_to(it, "| mode | fields | set from a table | set by a function | kept from the donor | defaulted | "
                     "pending |\n|---|---:|---:|---:|---:|---:|---:|\n");
  for (const bool dl : {false, true}) {
    const auto c = count_fields(dl);
    fmt::format_to(it, "| {} | {} | {} | {} | {} | {} | {} |\n", dl ? "donor-less" : "donor", c.total(), c.table,
                   c.function, c.donor, c.defaulted, c.pending);
  }
  std::string image;
  for (const auto& r : field_rows()) {
    if (r.image != image) {
      image = r.image;
      const auto dot = r.path.find('.');
      fmt::format_to(it, "\n## {} ({})\n\n| field | # | type | donor mode | donor-less |\n|---|---:|---|---|---|\n",
                     r.path.substr(0, dot), image);
    }
    if (r.is_message) {
      fmt::format_to(it, "| `{}` | {} | {} | | |\n", r.path, r.number, r.type);
      continue;
    }
    fmt::format_to(it, "| `{}` | {} | {} | {} | {} |\n", r.path, r.number, r.type,
                   r.entry ? detail::cell(r.entry->donor) : "**missing**",
                   r.entry ? detail::cell(r.entry->donorless) : "**missing**");
  }
  return md;
}

}  // namespace necro::plan

#endif
