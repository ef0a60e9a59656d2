/// necro::plan::field_sources: one hop from any field of any CRIU message
/// necro writes to where its value comes from — a compile-time mapping table
/// (map/), a named planning or writing function, the donor's image (kept), or
/// a stated default — in donor mode and in donor-less mode. One list;
/// tests/unit/plan/field_sources_test.cpp walks the protobuf descriptors of
/// every written message against it (and checks it on the fixtures), and
/// docs/fields.md is generated from it (field_sources_markdown()).
#ifndef NECRO_PLAN_DOCS_FIELD_SOURCES_HPP
#define NECRO_PLAN_DOCS_FIELD_SOURCES_HPP
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
#include <necro/plan/docs/detail/field_markdown.hpp>
#include <necro/plan/docs/detail/field_walk.hpp>

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

/// One source: its kind, the table, function or default it names, and the
/// value every instance must have on the fixtures when it is a fixed one
/// (`expect`, as field_sources_test prints values; "<unset>": not written).
struct field_source {
  origin kind = origin::pending;
  std::string by;
  std::string expect;
};

/// A field, by its path from the message written into an image
/// ("core_entry.thread_core.creds.uid"; repeated messages add no index), and
/// its source in each mode.
struct field_entry {
  std::string path;
  field_source donor;      ///< `criu-necromancer -c CORE -i DONOR -o OUT`
  field_source donorless;  ///< `criu-necromancer -c CORE -o OUT`: plan_resurrection on synthesize_donor()'s images
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

/// The helpers the list is written with.
namespace sources {

inline field_source table(std::string by) { return {origin::table, std::move(by), {}}; }
inline field_source set_by(std::string by) { return {origin::function, std::move(by), {}}; }
inline field_source kept(std::string note = {}) { return {origin::donor, std::move(note), {}}; }
/// A default: `what` says which and why; `expect` is its value as the test prints it.
inline field_source defaulted(std::string what, std::string expect = {}) {
  return {origin::defaulted, std::move(what), std::move(expect)};
}
/// Not written at all: CRIU's default applies.
inline field_source unwritten(std::string_view why) {
  return {origin::defaulted, fmt::format("not written ({})", why), "<unset>"};
}
inline field_source pending(std::string why = "not decided yet") {
  return {origin::pending, std::move(why), {}};
}

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
  /// Every mapped row of a map:: table, under `prefix`, in both modes:
  /// "<table> row <member> (<src>)".
  template <class Table>
  void table(std::string_view prefix, const Table& t, std::string_view table_name, std::string_view src) {
    boost::hana::for_each(t, [&](const auto& row) {
      if constexpr (!std::remove_cvref_t<decltype(row)>::is_ignored) {
        auto s = sources::table(fmt::format("{} row {} ({})", table_name, row.name, src));
        add(fmt::format("{}.{}", prefix, row.dst), s, s);
      }
    });
  }
  std::vector<field_entry> take() && { return std::move(rows_); }

 private:
  std::vector<field_entry> rows_;
};

inline constexpr std::array<std::string_view, 5> fown_fields = {"uid", "euid", "signum", "pid_type", "pid"};
inline constexpr std::array<std::string_view, 4> kobj_task_fields = {"vm_id", "files_id", "fs_id", "sighand_id"};
/// The namespace ids, with the value a synthetic dump gives each (synthetic_ids).
inline constexpr std::array<std::pair<std::string_view, std::string_view>, 8> kobj_ns_fields = {{
    {"pid_ns_id", "1"}, {"net_ns_id", "2"}, {"ipc_ns_id", "3"}, {"uts_ns_id", "4"},
    {"mnt_ns_id", "6"}, {"user_ns_id", "7"}, {"cgroup_ns_id", "8"}, {"time_ns_id", "5"}}};

/// A task_kobj_ids_entry under `prefix`: kept in donor mode; in donor-less
/// mode the synthetic ids (the task's objects `task`, the namespaces').
inline void kobj_ids(field_list& l, std::string_view prefix, const field_source& donor, std::string_view made_by,
                     std::string_view task) {
  for (const auto f : kobj_task_fields)
    l.add(fmt::format("{}.{}", prefix, f), donor,
          defaulted(fmt::format("{}: {} (synthetic_ids: one dumped process)", made_by, task), std::string(task)));
  for (const auto& [f, v] : kobj_ns_fields)
    l.add(fmt::format("{}.{}", prefix, f), donor,
          defaulted(fmt::format("{}: {} (synthetic_ids: those of a dump in the initial namespaces; restore "
                                "without --namespaces needs task ids = inventory root ids)",
                                made_by, v),
                    std::string(v)));
}

/// core_entry.thread_info: what an x86-64 core writes.
inline void thread_info_x86_64(field_list& l) {
  const std::string ti = "core_entry.thread_info";
  l.add(ti + ".clear_tid_addr",
        set_by("relocate_thread_pointers: the template thread's, moved by the thread-pointer delta "
               "(docs/pitfalls.md#thread-pointers)"),
        set_by("synthesize_threads: &pd->tid of glibc's struct pthread found in the core (find_glibc_thread), "
               "else 0"));
  l.table(ti + ".gpregs", map::x86_64::gpregs, "map::x86_64::gpregs",
          "NT_PRSTATUS user_regs_struct, after Arch::rewind_syscall");
  const auto mode = set_by("criu_thread<x86_64>::set_registers: NATIVE");
  l.add(ti + ".gpregs.mode", mode, mode);
  l.table(ti + ".fpregs", map::x86_64::fpregs_table, "map::x86_64::fpregs_table",
          "NT_PRFPREG (else NT_X86_XSTATE's legacy area)");
  const auto bv = set_by("criu_thread<x86_64>::set_registers: the XSAVE header of NT_X86_XSTATE");
  l.add(ti + ".fpregs.xsave.xstate_bv", bv, bv);
  const auto xs = "criu_thread<x86_64>::set_registers: the XSAVE component of NT_X86_XSTATE at the CPU's offset "
                  "(NT_X86_XSAVE_LAYOUT, docs/pitfalls.md#xsave-offsets)";
  l.each(ti + ".fpregs.xsave",
         {"ymmh_space", "bndreg_state", "bndcsr_state", "opmask_reg", "zmm_upper", "hi16_zmm", "pkru"},
         set_by(fmt::format("{}, as many elements as the donor's image has", xs)),
         set_by(fmt::format("{}, as many elements as CRIU gives the components enabled in the core's XCR0 "
                            "(criu_thread<x86_64>::size_xsave)",
                            xs)));
  l.each(ti + ".fpregs.xsave.cet", {"cet", "ssp"}, kept("set_registers leaves it"),
         unwritten("no CET state: the core has none"));
  l.add(ti + ".tls.entry_number", kept("GDT TLS entries: the core has none"),
        defaulted("synthetic_thread_info: GDT slots 12, 13, 14, empty, as CRIU dumps a 64-bit thread"));
  for (const auto& [f, v] : {std::pair{"base_addr", "0"}, {"limit", "0"}, {"seg_32bit", "false"},
                             {"contents_h", "false"}, {"contents_l", "false"}, {"read_exec_only", "true"},
                             {"limit_in_pages", "false"}, {"seg_not_present", "true"}, {"usable", "false"}})
    l.add(ti + ".tls." + f, kept("GDT TLS entries: the core has none"),
          defaulted(fmt::format("synthetic_thread_info: {} (an empty GDT slot)", v), v));
}

/// core_entry.ti_aarch64: what an aarch64 core writes.
inline void thread_info_aarch64(field_list& l) {
  const std::string ta = "core_entry.ti_aarch64";
  l.add(ta + ".clear_tid_addr",
        set_by("relocate_thread_pointers: the template thread's, moved by the thread-pointer delta "
               "(docs/pitfalls.md#thread-pointers)"),
        set_by("synthesize_threads: &pd->tid of glibc's struct pthread found in the core (find_glibc_thread), "
               "else 0"));
  l.table(ta, map::aarch64::tls, "map::aarch64::tls", "NT_ARM_TLS; 0 without it");
  l.table(ta + ".gpregs", map::aarch64::gpregs, "map::aarch64::gpregs",
          "NT_PRSTATUS user_pt_regs, after Arch::rewind_syscall");
  l.table(ta + ".fpsimd", map::aarch64::fpsimd, "map::aarch64::fpsimd", "NT_PRFPREG; zeros without it");
  const auto pac = kept("criu_thread<aarch64>::set_registers leaves them");
  const auto no_pac = unwritten("the core holds no pointer-authentication keys: the kernel's");
  l.each(ta + ".pac_keys.pac_address_keys",
         {"apiakey_lo", "apiakey_hi", "apibkey_lo", "apibkey_hi", "apdakey_lo", "apdakey_hi", "apdbkey_lo",
          "apdbkey_hi", "pac_enabled_key"},
         pac, no_pac);
  l.each(ta + ".pac_keys.pac_generic_keys", {"apgakey_lo", "apgakey_hi"}, pac, no_pac);
}

/// core_entry.thread_info (x86-64 cores), ti_aarch64 (aarch64 cores), and the
/// other architectures' slots.
inline void thread_info(field_list& l) {
  thread_info_x86_64(l);
  thread_info_aarch64(l);
  l.each("core_entry", {"ti_arm", "ti_ppc64", "ti_s390", "ti_mips", "ti_loongarch64", "ti_riscv64"},
         kept("not modelled (bytes); an x86-64 donor has none"), unwritten("architectures necro does not read"));
}

/// core_entry.tc: the process-wide part, in the leader's image only (docs/pitfalls.md#thread-images).
inline void task_core(field_list& l) {
  const std::string tc = "core_entry.tc";
  const auto both = [&](std::string_view f, const field_source& s) { l.add(tc + "." + std::string(f), s, s); };
  const auto none = [](std::string_view why) { return unwritten(why); };
  both("exit_code", set_by("plan_thread: 0"));
  both("blk_sigset", set_by("plan_thread: the leader's NT_PRSTATUS pr_sighold (docs/pitfalls.md#blocked-masks)"));
  both("comm", set_by("plan_thread: NT_PRPSINFO pr_fname (the donor's when empty). With a capture of format 3 (necro-catch's BPF step, docs/capture.md), apply_kernel_state: the leader thread's comm"));
  both("signals_s.signals.siginfo",
       set_by("plan_thread: cleared (the death is not re-queued, docs/pitfalls.md#death-not-redelivered)"));
  l.each(tc + ".sigactions", {"sigaction", "restorer"},
         set_by("relocate_sigactions: the donor's, moved by the load delta of the file holding them "
                "(docs/pitfalls.md#signal-handlers); reset to SIG_DFL when in no file. With a capture of format 3 (necro-catch's BPF step, docs/capture.md), apply_kernel_state: the victim's own, each handler and restorer checked to lie in an executable mapping"),
         defaulted("synthetic_task_core: SIG_DFL for signals 1-64 but SIGKILL and SIGSTOP: the core holds no "
                   "handlers, they are lost. With a capture of format 3 (necro-catch's BPF step, docs/capture.md), apply_kernel_state: the victim's own (a handler or restorer in no executable mapping: "
                   "SIG_DFL and a warning)",
                   "0"));
  l.each(tc + ".sigactions", {"flags", "mask"}, kept("With a capture of format 3: the victim's own"),
         defaulted("synthetic_task_core: 0. With a capture of format 3 (necro-catch's BPF step, docs/capture.md), apply_kernel_state: the victim's own", "0"));
  l.add(tc + ".sigactions.compat_sigaction", kept(), defaulted("synthetic_task_core: false", "false"));
  l.add(tc + ".sigactions.mask_extended", kept(), none("signals above 64 have no handlers"));
  l.add(tc + ".task_state", kept(), defaulted("synthetic_task_core: TASK_ALIVE", "1"));
  l.add(tc + ".personality", kept("With a capture of format 4 (necro-catch's BPF step, docs/capture.md), apply_process_state: the victim's own (CRIU does not restore it)"),
        defaulted("synthetic_task_core: 0 (PER_LINUX): not in the core. With a capture: /proc/PID/personality; With a capture of format 4 (necro-catch's BPF step, docs/capture.md), apply_process_state: the victim's own "
                  "(CRIU does not restore it)", "0"));
  l.add(tc + ".flags", kept(), set_by("synthetic_task_core: NT_PRPSINFO pr_flag (PF_*)"));
  l.add(tc + ".loginuid", kept(), defaulted("synthetic_task_core: unset (-1): not in the core", "4294967295"));
  l.add(tc + ".oom_score_adj", kept(), defaulted("synthetic_task_core: 0: not in the core", "0"));
  l.add(tc + ".child_subreaper", kept(), defaulted("synthetic_task_core: false", "false"));
  l.each(tc, {"cg_set", "old_seccomp_mode", "old_seccomp_filter", "blk_sigset_extended", "stop_signo",
              "membarrier_registration_mask"},
         kept(), none("not in the core; CRIU's default"));
  const std::string from_capture_timers =
      "With a capture of format 4 (necro-catch's BPF step, docs/capture.md), apply_capture_timers: the victim's own, "
      "re-armed with the time it had left at death";
  for (const char* t : {"real", "virt", "prof"})
    l.each(tc + ".timers." + t, {"isec", "iusec", "vsec", "vusec"}, kept(from_capture_timers),
           defaulted("synthetic_task_core: 0, no interval timer: not in the core. " + from_capture_timers, "0"));
  l.each(tc + ".timers.posix", {"it_id", "si_signo", "it_sigev_notify", "sival_ptr", "overrun", "isec", "insec", "vsec", "vnsec"},
         kept(from_capture_timers + " (a timer on an unknown clock or naming a thread the core has not: dropped, with a warning)"),
         none("no POSIX timers: not in the core. " + from_capture_timers + " (a timer on an unknown clock or naming a "
              "thread the core has not: dropped, with a warning)"));
  l.each(tc + ".timers.posix", {"clock_id", "notify_thread_id"},
         kept("remap_donor_timers: a donor tid in a per-thread CPU clock id or a SIGEV_THREAD_ID target becomes the "
              "victim thread made from that donor thread; a timer whose thread has none is dropped, with a warning "
              "(docs/pitfalls.md#posix-timers-name-threads). " + from_capture_timers),
         none("no POSIX timers: not in the core. " + from_capture_timers + ", each tid checked to be a thread of the core"));
  l.each(tc + ".rlimits.rlimits", {"cur", "max"}, kept(),
         defaulted("synthetic_task_core: the necro process's own (donorless_options::rlimits, getrlimit): not in "
                   "the core"));
}

/// core_entry.thread_core: per thread, from the donor thread used as template.
inline void thread_core(field_list& l) {
  const std::string th = "core_entry.thread_core";
  const auto both = [&](std::string_view f, const field_source& s) { l.add(th + "." + std::string(f), s, s); };
  l.add(th + ".futex_rla",
        set_by("relocate_thread_pointers: the robust list, moved by the thread-pointer delta "
               "(docs/pitfalls.md#thread-pointers). With a capture of format 3 (necro-catch's BPF step, docs/capture.md), apply_kernel_state: the thread's own when mapped"),
        set_by("synthetic_thread_core: &pd->robust_head of glibc's struct pthread found in the core "
               "(find_glibc_thread), else 0. With a capture of format 3 (necro-catch's BPF step, docs/capture.md), apply_kernel_state: the thread's own when mapped (the guess stays otherwise)"));
  l.add(th + ".futex_rla_len", kept(), set_by("synthetic_thread_core: 24 with a robust list, else 0 (the kernel keeps "
                                               "no length: the same with a capture)"));
  both("blk_sigset", set_by("plan_thread: the thread's NT_PRSTATUS pr_sighold (docs/pitfalls.md#blocked-masks)"));
  both("signals_p.signals.siginfo",
       set_by("plan_thread: one SI_TKILL siginfo per signal of pr_sigpend but the fatal one and SIGKILL "
              "(pending_signals, make_siginfo)"));
  const auto sas = set_by("relocate_thread_pointers: the donor's sigaltstack moved by its file's load delta, else "
                          "disabled. With a capture of format 3 (necro-catch's BPF step, docs/capture.md), apply_kernel_state: the thread's own when mapped");
  l.add(th + ".sas.ss_sp", sas, defaulted("synthetic_thread_core: 0, disabled: not in the core. With a capture of format 3 (necro-catch's BPF step, docs/capture.md), apply_kernel_state: the thread's own "
                                          "when mapped", "0"));
  l.add(th + ".sas.ss_size", sas, defaulted("synthetic_thread_core: 0, disabled: not in the core. With a capture of format 3 (necro-catch's BPF step, docs/capture.md), apply_kernel_state: the thread's own",
                                            "0"));
  l.add(th + ".sas.ss_flags", sas, defaulted("synthetic_thread_core: SS_DISABLE: not in the core. With a capture of format 3 (necro-catch's BPF step, docs/capture.md), apply_kernel_state: SS_DISABLE "
                                             "without a stack, else the thread's SS_AUTODISARM bit", "2"));
  l.add(th + ".rseq_entry.rseq_abi_pointer",
        set_by("relocate_thread_pointers: moved by the thread-pointer delta (docs/pitfalls.md#rseq-area)"),
        set_by("thread_rseq: thread pointer + glibc's __rseq_offset, read from the core at the symbol's address "
               "in libc on disk; not registered (no rseq_entry) when unknown. With a capture of format 3 (necro-catch's BPF step, docs/capture.md), apply_kernel_state: the thread's own area when mapped"));
  both("rseq_entry.rseq_cs_pointer", set_by("relocate_thread_pointers: cleared"));
  l.add(th + ".rseq_entry.rseq_abi_size", kept(), defaulted("thread_rseq: 32 (glibc's struct rseq_area)", "32"));
  l.add(th + ".rseq_entry.signature", kept(),
        defaulted("thread_rseq: criu_thread<Arch>::rseq_signature (glibc's RSEQ_SIG; 0x53053053 on x86-64)",
                  "1392848979"));
  l.add(th + ".sched_nice", kept(), set_by("synthetic_thread_core: NT_PRPSINFO pr_nice. With a capture of format 3 (necro-catch's BPF step, docs/capture.md), apply_kernel_state: the thread's own"));
  l.add(th + ".sched_policy", kept(), defaulted("synthetic_thread_core: SCHED_OTHER: not in the core. With a capture of format 3 (necro-catch's BPF step, docs/capture.md), apply_kernel_state: the "
                                                "thread's own", "0"));
  l.add(th + ".sched_prio", kept(), unwritten("not in the core; CRIU's default. With a capture of format 3 (necro-catch's BPF step, docs/capture.md), apply_kernel_state: the thread's rt_priority"));
  l.add(th + ".comm", kept(),
        set_by("synthetic_thread_core: NT_PRPSINFO pr_fname for every thread (per-thread names are not in the "
               "core). With a capture of format 3 (necro-catch's BPF step, docs/capture.md), apply_kernel_state: the thread's own"));
  l.add(th + ".seccomp_mode", kept("With a capture of format 4 (necro-catch's BPF step, docs/capture.md), apply_process_state: strict when the victim was in strict mode (filters are not captured)"),
        unwritten("not in the core; CRIU's default. With a capture of format 4 (necro-catch's BPF step, docs/capture.md), apply_process_state: strict when the victim was in strict mode (filters are not captured: a warning)"));
  l.each(th, {"pdeath_sig", "seccomp_filter", "blk_sigset_extended", "cg_set"}, kept(),
         unwritten("not in the core; CRIU's default"));
  const std::string cr = th + ".creds";
  l.each(cr, {"uid", "euid", "suid", "fsuid"}, kept(), set_by("synthetic_creds: NT_PRPSINFO pr_uid"));
  l.each(cr, {"gid", "egid", "sgid", "fsgid"}, kept(), set_by("synthetic_creds: NT_PRPSINFO pr_gid"));
  l.add(cr + ".cap_inh", kept(), defaulted("synthetic_creds: none", "0"));
  l.each(cr, {"cap_prm", "cap_eff"}, kept(),
         defaulted("synthetic_creds: the necro process's CapEff for uid 0, none otherwise"));
  l.add(cr + ".cap_bnd", kept(), defaulted("synthetic_creds: the necro process's CapBnd"));
  l.add(cr + ".secbits", kept("With a capture of format 4 (necro-catch's BPF step, docs/capture.md), apply_process_state: the victim's cred->securebits"),
        defaulted("synthetic_creds: 0. With a capture of format 4 (necro-catch's BPF step, docs/capture.md), apply_process_state: the victim's cred->securebits", "0"));
  l.add(cr + ".no_new_privs", kept("With a capture of format 4 (necro-catch's BPF step, docs/capture.md), apply_process_state: the victim's own"),
        unwritten("only uid and gid are in the core. With a capture: /proc/PID/status NoNewPrivs; With a capture of format 4 (necro-catch's BPF step, docs/capture.md), apply_process_state: the victim's own"));
  l.each(cr, {"groups", "lsm_profile", "lsm_sockcreate", "apparmor_data", "cap_amb"}, kept(),
         unwritten("only uid and gid are in the core"));
}

inline void core(field_list& l) {
  // Which images carry the optional parts (message fields: their presence).
  const auto leader_only =
      set_by("plan_thread: the leader's image only, cleared in the others (docs/pitfalls.md#thread-images)");
  l.add("core_entry.tc", leader_only, leader_only);
  l.add("core_entry.thread_core.rseq_entry", kept("the template thread's, its pointers moved"),
        set_by("thread_rseq: present when glibc's __rseq_offset is known and the thread's area is registered"));
  l.add("core_entry.mtype", kept("checked: must be the core's architecture (plan_resurrection)"),
        set_by("criu_thread<Arch>::synthetic_thread_info: X86_64 or AARCH64"));
  thread_info(l);
  task_core(l);
  for (const auto f : kobj_task_fields)
    l.add(std::string("core_entry.ids.") + std::string(f), kept("CRIU 4 writes ids-<pid>.img instead"),
          unwritten("ids-<pid>.img holds them"));
  for (const auto& [f, v] : kobj_ns_fields)
    l.add(std::string("core_entry.ids.") + std::string(f), kept("CRIU 4 writes ids-<pid>.img instead"),
          unwritten("ids-<pid>.img holds them"));
  thread_core(l);
}

inline void mm(field_list& l) {
  const std::string mm = "mm_entry";
  const auto both = [&](std::string_view f, const field_source& s) { l.add(mm + "." + std::string(f), s, s); };
  l.each(mm, {"mm_start_code", "mm_end_code", "mm_start_data", "mm_end_data"},
         set_by("plan_code_data: the donor's, moved by the executable's load delta (docs/pitfalls.md#code-data-range)"),
         set_by("synthesize_mm: the executable's PT_LOADs (AT_PHDR, AT_PHNUM) in the core (code_data_from_phdrs); "
                "else plan_code_data's estimate from its mappings"));
  for (const auto f : {"mm_start_stack", "mm_arg_start", "mm_arg_end", "mm_env_start", "mm_env_end"})
    both(f, set_by("plan_initial_stack: find_initial_stack on the victim's initial stack "
                   "(docs/pitfalls.md#initial-stack)"));
  for (const auto f : {"mm_start_brk", "mm_brk"})
    both(f, set_by("plan_brk: the victim's brk heap VMA (docs/pitfalls.md#brk-heap)"));
  both("mm_saved_auxv", set_by("plan_saved_auxv: NT_AUXV less AT_NULL, at most Arch::max_saved_auxv_words (CRIU's: "
                               "44 on x86-64, 40 on aarch64; docs/pitfalls.md#auxv-too-long)"));
  l.add(mm + ".exe_file_id", kept("checked: names the core's executable (plan_address_space)"),
        set_by("synthesize_files: the files.img id of the NT_FILE entry holding AT_PHDR"));
  l.add(mm + ".dumpable", kept("With a capture of format 4 (necro-catch's BPF step, docs/capture.md), apply_process_state: mm->flags' dumpable mode when 0 or 1"),
        defaulted("synthesize_mm: 1 (it dumped core). With a capture of format 4 (necro-catch's BPF step, docs/capture.md), apply_process_state: mm->flags' dumpable mode when 0 or 1", "1"));
  l.add(mm + ".thp_disabled", kept("With a capture of format 4 (necro-catch's BPF step, docs/capture.md), apply_process_state: MMF_DISABLE_THP"),
        defaulted("synthesize_mm: false: not in the core. With a capture of format 4 (necro-catch's BPF step, docs/capture.md), apply_process_state: MMF_DISABLE_THP", "false"));
  l.each(mm + ".aios", {"id", "nr_req", "ring_len"}, kept(), unwritten("AIO rings are not in the core"));
  const std::string v = "vmas.";
  for (const auto f : {"start", "end", "prot"}) both(v + f, set_by("plan_address_space: the core's PT_LOAD"));
  both(v + "pgoff", set_by("plan_address_space: NT_FILE's page offset"));
  both(v + "shmid", set_by("plan_address_space: the files.img id of the mapped file; plan_shared_memory: the memfd "
                           "or ghost file's"));
  l.each(mm + ".vmas", {"flags", "status", "fdflags"},
         set_by("plan_address_space: the donor's VMA of the same file and offset (docs/pitfalls.md#share-mode), "
                "anonymous/stack/heap/vdso/vvar bits from the core's layout; choose_share_mode for shared memory"),
         set_by("plan_address_space, synthesize_mm: file mappings private and read-only (the share mode "
                "is not in the core), anonymous/stack/heap/vdso/vvar bits from the core's layout; choose_share_mode "
                "for shared memory"));
  both(v + "fd", set_by("plan_address_space: -1"));
  l.add(mm + ".vmas.madv", set_by("plan_address_space: the donor's for the stack, thread stacks, vvar and vsyscall; absent otherwise. "
                                  "With a capture of format 4 (necro-catch's BPF step, docs/capture.md), apply_process_state: the victim's own advice on every VMA (and MAP_LOCKED in flags when mlock'ed)"),
        set_by("plan_address_space: MADV_DONTDUMP on vvar (synthetic_vvar); absent otherwise. "
               "With a capture of format 4 (necro-catch's BPF step, docs/capture.md), apply_process_state: the victim's own advice on every VMA (and MAP_LOCKED in flags when mlock'ed)"));
}

inline void pstree_and_pages(field_list& l) {
  const auto both = [&](std::string path, const field_source& s) { l.add(std::move(path), s, s); };
  both("pstree_entry.pid", set_by("plan_resurrection: the core's pid"));
  l.add("pstree_entry.ppid", kept(), defaulted("synthesize_pstree: 0 (restore makes it CRIU's child)", "0"));
  l.each("pstree_entry", {"pgid", "sid"},
         set_by("plan_resurrection: the donor's, the victim's pid where the donor's was its own"),
         set_by("synthesize_pstree: NT_PRPSINFO pr_pgrp and pr_sid (the pid without them)"));
  both("pstree_entry.threads", set_by("plan_resurrection: the core's tids, leader first"));
  l.add("pagemap_head.pages_id", set_by("plan_resurrection: the donor's pages id; assign_pages_ids for pagemap-shmem"),
        set_by("plan_resurrection: synthetic_ids::pages (1); assign_pages_ids for pagemap-shmem"));
  l.each("pagemap_entry", {"vaddr", "nr_pages", "compat_nr_pages", "flags"},
         set_by("write_pages: one entry per run of kept pages (zero and file-equal pages elided; both page counts, "
                "docs/pitfalls.md#pagemap-page-counts)"),
         set_by("write_pages: one entry per run of kept pages (zero and file-equal pages elided; both page counts, "
                "docs/pitfalls.md#pagemap-page-counts)"));
  both("pagemap_entry.in_parent", unwritten("false: no parent images"));
}

/// files.img: the donor's entries kept; entries for what only the victim has
/// are made by the named functions.
inline void files(field_list& l) {
  const std::string f = "file_entry";
  const auto synth = "synthesize_files: the core's mapped files, then stdio (fds 0-2, --stdio), cwd (--cwd) and "
                     "root";
  const auto shm = "; shared memory: place_memfd, place_ghost";
  const auto new_entries = "new entries: plan_address_space (files only the victim mapped), place_memfd, place_ghost";
  l.add(f + ".type", kept(new_entries), set_by(fmt::format("{}{}", synth, shm)));
  l.add(f + ".id", kept(fmt::format("{}; checked: mm's exe_file_id must name a regular file (plan_address_space)", new_entries)),
        set_by(fmt::format("{}{}", synth, shm)));
  l.each(f, {"isk", "nsf", "psk", "nlsk", "efd", "sgfd", "tunf", "tfd", "ify", "ffy", "ext", "usk", "fifo", "pipe",
             "tty", "bpf", "pidfd"},
         kept("not modelled (bytes)"),
         unwritten("the core holds no file descriptors (a capture at death gives them: apply_capture, plan/capture.hpp)"));
  const std::string r = f + ".reg";
  const auto new_reg =
      "new entries: plan_address_space (files only the victim mapped, docs/pitfalls.md#victim-only-files), place_ghost";
  l.add(r + ".id", kept(new_reg), set_by(fmt::format("{}{}", synth, shm)));
  const auto located = "; then place_located_files: a file found under --sysroot or fetched from debuginfod is named "
                       "where it is (disk::locate_files)";
  l.add(r + ".name",
        kept(fmt::format("{}; checked: the executable's must be the core's (plan_address_space){}", new_reg, located)),
        set_by(fmt::format("{}{}{}; a captured file under the sysroot, or --missing-files-as (/dev/null) for one "
                           "missing (apply_capture)",
                           synth, shm, located)));
  l.add(r + ".flags", kept(new_reg),
        set_by("synthesize_files: O_RDONLY for mapped files, cwd and root; stdio O_RDONLY (fd 0) and "
               "O_WRONLY|O_APPEND (fds 1, 2), O_LARGEFILE"));
  l.add(r + ".pos", kept(new_reg),
        set_by("synthesize_files: 0; -1 (restore does not seek) for a tty, pipe or character device such as "
               "/dev/null; place_ghost: 0"));
  l.each(r + ".fown", fown_fields, kept(std::string(new_reg) + ": 0"),
         defaulted("synthesize_files, place_ghost: 0 (no owner)", "0"));
  l.add(r + ".size",
        set_by("plan_address_space: stat() size for a new file; place_ghost: the deleted file's size from the core; "
               "the donor's otherwise"),
        set_by("synthesize_files: stat() size of each mapped file (CRIU checks it); none for stdio, cwd and root; "
               "place_ghost: the deleted file's size from the core"));
  l.add(r + ".mode", kept("new entries: plan_address_space (stat() mode), place_ghost (0100600)"),
        set_by("synthesize_files: stat() mode (donorless_options::stdio/cwd/root for those); place_ghost: 0100600"));
  l.each(r, {"mnt_id", "ext", "build_id", "checksum", "checksum_config", "checksum_parameter"},
         kept("new entries: not written"), unwritten("CRIU's defaults: mnt_id -1, no build-id check"));
  const std::string e = f + ".epfd";
  const auto no_epoll =
      unwritten("the core holds no file descriptors: no epoll (a capture at death gives them: apply_capture)");
  l.each(e, {"id", "flags"}, kept(), no_epoll);
  l.each(e + ".fown", fown_fields, kept(), no_epoll);
  l.add(e + ".tfd.data",
        set_by("relocate_eventpolls: a pointer into donor memory moved into the victim's (move_epoll_data)"),
        no_epoll);
  l.each(e + ".tfd", {"id", "tfd", "events", "dev", "inode", "pos"}, kept(), no_epoll);
  const std::string m = f + ".memfd";
  l.each(m, {"id", "flags", "pos", "inode_id"}, kept("new entries: place_memfd"),
         set_by("place_memfd: a new entry per memfd or shared anonymous object of the core"));
  l.each(m + ".fown", fown_fields, kept("new entries: place_memfd: 0"), defaulted("place_memfd: 0 (no owner)", "0"));
}

inline void shared_memory(field_list& l) {
  const auto both = [&](std::string path, const field_source& s) { l.add(std::move(path), s, s); };
  const std::string m = "memfd_inode_entry";
  both(m + ".size", set_by("place_memfd: the object's size (choose_size: the donor's when it fits, else mapped)"));
  l.each(m, {"name", "uid", "gid", "shmid", "seals", "inode_id", "mode"},
         kept("the donor's inode of the same name; new inodes: place_memfd (uid/gid the donor's creds)"),
         set_by("place_memfd: name from NT_FILE, uid/gid the synthetic creds (NT_PRPSINFO), new ids, F_SEAL_SEAL for "
                "shared anonymous memory, mode 0100777"));
  l.add(m + ".hugetlb_flag", kept("new inodes: not written"), unwritten("hugetlb memfds are not recognised"));
  l.each("remap_file_path_entry", {"orig_id", "remap_id", "remap_type"}, kept("new ghosts: place_ghost (GHOST)"),
         set_by("place_ghost: a new ghost per deleted file of the core (GHOST)"));
  const std::string g = "ghost_file_entry";
  l.each(g, {"chunks", "size"}, set_by("place_ghost: chunked, the deleted file's size"),
         set_by("place_ghost: chunked, the deleted file's size"));
  l.each(g, {"uid", "gid", "mode"}, kept("new ghosts: place_ghost (the donor's creds, 0100600)"),
         set_by("place_ghost: the synthetic creds (NT_PRPSINFO), 0100600"));
  l.each(g, {"dev", "ino", "rdev", "symlnk_target"}, kept("new ghosts: not written"),
         unwritten("the deleted file's inode is gone"));
  for (const char* t : {"atim", "mtim"})
    l.each(g + "." + t, {"tv_sec", "tv_usec"}, kept("new ghosts: not written"),
           unwritten("the deleted file's times are not in the core"));
  l.each("ghost_chunk_entry", {"len", "off"}, set_by("write_ghost_content: one chunk per run of the core"),
         set_by("write_ghost_content: one chunk per run of the core"));
}

/// Images donor mode copies as they are (renamed per pid); donor-less mode
/// writes them from synthesize_images (fs- and fdinfo-: synthesize_file_images).
inline void carried(field_list& l) {
  const auto copied = [](std::string_view img) { return kept(fmt::format("{} copied", img)); };
  const std::string inv = "inventory_entry";
  const auto made = [](std::string_view what, std::string_view v) {
    return defaulted(fmt::format("synthesize_images: {}", what), std::string(v));
  };
  const auto img = copied("inventory.img");
  l.add(inv + ".img_version", img, made("2 (CRIU's image format version)", "2"));
  l.add(inv + ".fdinfo_per_id", img, made("true", "true"));
  l.add(inv + ".ns_per_id", img, made("true", "true"));
  l.add(inv + ".lsmtype", img, made("NO_LSM: no LSM profile is restored", "0"));
  l.add(inv + ".network_lock_method", img, made("0 (iptables; nothing is locked: no sockets)", "0"));
  l.each(inv, {"root_cg_set", "dump_uptime", "pre_dump_mode", "tcp_close", "dump_criu_run_id", "allow_uprobes"}, img,
         unwritten("CRIU's defaults: no cgroups, no pre-dump"));
  kobj_ids(l, inv + ".root_ids", img, "synthesize_images", "1");
  l.add(inv + ".plugins_entry.plugins", img, unwritten("no plugins"));
  const auto fs = copied("fs-<pid>.img");
  l.add("fs_entry.cwd_id", fs, set_by("synthesize_file_images: the files.img entry of --cwd (default /)"));
  l.add("fs_entry.root_id", fs, set_by("synthesize_file_images: the files.img entry of /"));
  l.add("fs_entry.umask", fs, defaulted("synthesize_file_images: 022 (donorless_options::umask): not in the core", "18"));
  kobj_ids(l, "task_kobj_ids_entry", copied("ids-<pid>.img"), "synthesize_images", "2");
  const auto fd = copied("fdinfo-<id>.img");
  l.add("fdinfo_entry.id", fd, set_by("synthesize_file_images: the stdio entries of files.img (fd 0 read, 1-2 write)"));
  l.add("fdinfo_entry.flags", fd, defaulted("synthesize_file_images: 0 (no FD_CLOEXEC)", "0"));
  l.add("fdinfo_entry.type", fd, defaulted("synthesize_file_images: REG", "1"));
  l.add("fdinfo_entry.fd", fd, set_by("synthesize_file_images: 0, 1, 2"));
  l.add("fdinfo_entry.xattr_security_selinux", fd, unwritten("no LSM"));
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

/// Every field under written_messages(), in descriptor order, with its entry in `list`.
inline std::vector<field_row> field_rows(const std::vector<field_entry>& list = field_sources()) {
  std::map<std::string, const field_entry*> by_path;
  for (const auto& e : list) by_path.emplace(e.path, &e);
  std::vector<field_row> out;
  for (const auto& m : written_messages())
    detail::walk_fields(*m.descriptor, std::string(m.descriptor->name()),
                        [&](const google::protobuf::FieldDescriptor& f, const std::string& path) {
                          field_row r;
                          r.image = std::string(m.image);
                          r.path = path;
                          r.number = f.number();
                          r.type = detail::type_of(f);
                          r.is_message = f.message_type() != nullptr;
                          if (const auto it = by_path.find(r.path); it != by_path.end()) r.entry = it->second;
                          out.push_back(r);
                        });
  return out;
}

/// What is wrong with the list, one sentence each (empty: nothing): a field
/// with no entry, an entry naming no field, a path listed twice, a source
/// that names nothing.
inline std::vector<std::string> field_source_problems(const std::vector<field_entry>& list = field_sources()) {
  constexpr std::string_view where = "necro::plan::field_sources() in include/necro/plan/docs/field_sources.hpp";
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
  for (const auto& r : field_rows()) {
    if (r.is_message || !r.entry) continue;
    switch ((donorless ? r.entry->donorless : r.entry->donor).kind) {
      case origin::table: ++c.table; break;
      case origin::function: ++c.function; break;
      case origin::donor: ++c.donor; break;
      case origin::defaulted: ++c.defaulted; break;
      case origin::pending: ++c.pending; break;
    }
  }
  return c;
}

/// docs/fields.md: the list as markdown, with the counts.
inline std::string field_sources_markdown() {
  const auto cell = [](const field_source& src) { return detail::markdown_cell(describe(src.kind), src.by); };
  std::string md;
  auto it = std::back_inserter(md);
  fmt::format_to(it, "{}", detail::fields_md_intro);
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
    if (r.is_message && !r.entry) {
      fmt::format_to(it, "| `{}` | {} | {} | | |\n", r.path, r.number, r.type);
      continue;
    }
    const bool same = r.entry && r.entry->donor.kind == r.entry->donorless.kind && r.entry->donor.by == r.entry->donorless.by;
    fmt::format_to(it, "| `{}` | {} | {} | {} | {} |\n", r.path, r.number, r.type,
                   r.entry ? cell(r.entry->donor) : "**missing**",
                   !r.entry ? "**missing**" : same ? "same" : cell(r.entry->donorless));
  }
  return md;
}

}  // namespace necro::plan

#endif
