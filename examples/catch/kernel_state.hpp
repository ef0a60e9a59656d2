// necro-catch: the kernel's state of the dying process (sigactions, per-thread
// sigaltstack, comm, clear_child_tid, robust list, rseq, scheduling, timer
// slack, CPU time; personality, securebits, no_new_privs, seccomp, mm flags;
// interval and POSIX timers; the VMAs' madvise and mlock bits), read through
// the BPF iterators of bpf/task_state.bpf.c limited to the pid, while the
// kernel holds the task. Every failure is a reason in
// kernel_state::missing, never an error: the core and the /proc capture do
// not depend on it. docs/capture.md, "The kernel's state".
#pragma once

#include <linux/types.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/capture/model.hpp>

#include "bpf/task_state.h"
#include "kernel_timers.hpp"

#if NECRO_CATCH_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "task_state.skel.h"
#endif

namespace catcher {

/// The result of the BPF step and its cost.
struct kernel_read {
  necro::capture::kernel_state state;
  double ms = 0;       ///< wall time of the whole step (load, attach, read)
  double load_ms = 0;  ///< of which opening and loading the program (BTF, CO-RE, verifier)
};

/// The clock bases of hrtimers and their offsets to CLOCK_MONOTONIC now
/// (REALTIME, MONOTONIC, BOOTTIME, TAI), for timers' time left.
inline clock_offsets measure_clock_offsets() {
  const auto ns = [](clockid_t c) {
    timespec ts{};
    ::clock_gettime(c, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  };
  clock_offsets off;
  for (const clockid_t c : {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_TAI}) {
    const auto mono0 = ns(CLOCK_MONOTONIC), v = ns(c), mono1 = ns(CLOCK_MONOTONIC);
    off[c] = v - (mono0 + (mono1 - mono0) / 2);
  }
  return off;
}

/// A timer record at `pos`, if the bytes hold one whole; advances `pos`.
template <class Record>
bool take_record(const std::vector<char>& bytes, std::size_t& pos, Record& r) {
  if (pos + sizeof(Record) > bytes.size()) return false;
  std::memcpy(&r, bytes.data() + pos, sizeof r);
  pos += sizeof r;
  return true;
}

/// One timer record (NECRO_TS_ITIMERS, _POSIX_TIMER, _CPU_SAMPLE) into `tr`; false if none or cut.
inline bool take_timer_record(std::uint32_t kind, const std::vector<char>& bytes, std::size_t& pos, timer_records& tr) {
  if (kind == NECRO_TS_ITIMERS) return tr.seen = take_record(bytes, pos, tr.itimers);
  if (kind == NECRO_TS_POSIX_TIMER) {
    necro_ts_posix_timer t{};
    if (!take_record(bytes, pos, t)) return false;
    tr.posix.push_back(t);
    return true;
  }
  if (kind == NECRO_TS_CPU_SAMPLE) {
    necro_ts_cpu_sample s{};
    if (!take_record(bytes, pos, s)) return false;
    tr.samples[s.tid] = s;
    return true;
  }
  return false;
}

/// A VMA's VM_* advice bits as CRIU's madv bitmap (1 << MADV_*).
inline std::uint64_t madv_of(std::uint64_t vm_flags) {
  constexpr std::pair<std::uint64_t, unsigned> bits[] = {
      {NECRO_VM_RAND_READ, 1},  {NECRO_VM_SEQ_READ, 2},  {NECRO_VM_DONTCOPY, 10},  {NECRO_VM_MERGEABLE, 12},  {NECRO_VM_HUGEPAGE, 14},
      {NECRO_VM_NOHUGEPAGE, 15}, {NECRO_VM_DONTDUMP, 16}, {NECRO_VM_WIPEONFORK, 18}};
  std::uint64_t m = 0;
  for (const auto& [vm, madv] : bits)
    if (vm_flags & vm) m |= std::uint64_t{1} << madv;
  return m;
}

/// The iterator's records (task_state.h) into a kernel_state; records of
/// another process are ignored, a truncated tail is a reason. `offsets`:
/// the clock bases' offsets measured right after the read.
inline necro::capture::kernel_state parse_records(const std::vector<char>& bytes, std::int32_t pid,
                                                  const clock_offsets& offsets) {
  necro::capture::kernel_state k;
  timer_records tr;
  std::size_t pos = 0;
  while (pos + sizeof(std::uint32_t) <= bytes.size()) {
    std::uint32_t kind = 0;
    std::memcpy(&kind, bytes.data() + pos, sizeof kind);
    if (kind == NECRO_TS_THREAD && pos + sizeof(necro_ts_thread) <= bytes.size()) {
      necro_ts_thread r{};
      std::memcpy(&r, bytes.data() + pos, sizeof r);
      pos += sizeof r;
      if (r.tgid != pid) continue;
      necro::capture::thread_state t;
      t.tid = r.tid;
      t.comm.assign(r.comm, strnlen(r.comm, sizeof r.comm));
      t.comm.resize(std::min<std::size_t>(t.comm.size(), 15));
      t.sas_sp = r.sas_sp, t.sas_size = r.sas_size, t.sas_flags = r.sas_flags;
      t.clear_child_tid = r.clear_child_tid, t.robust_list = r.robust_list;
      t.rseq = r.rseq, t.rseq_len = r.rseq_len, t.rseq_sig = r.rseq_sig;
      t.policy = r.policy, t.rt_priority = r.rt_priority;
      t.static_prio = r.static_prio, t.normal_prio = r.normal_prio, t.nice = r.static_prio - 120;
      t.timer_slack = r.timer_slack;
      k.threads.push_back(std::move(t));
    } else if (kind == NECRO_TS_PROCESS && pos + sizeof(necro_ts_process) <= bytes.size()) {
      necro_ts_process r{};
      std::memcpy(&r, bytes.data() + pos, sizeof r);
      pos += sizeof r;
      if (k.process) continue;
      auto& p = k.process.emplace();
      p.personality = r.personality, p.securebits = r.securebits, p.no_new_privs = r.atomic_flags & 1u;
      p.seccomp_mode = r.seccomp_mode, p.seccomp_filters = r.seccomp_filters, p.mm_flags = r.mm_flags;
    } else if (kind == NECRO_TS_VMA && pos + sizeof(necro_ts_vma) <= bytes.size()) {
      necro_ts_vma r{};
      std::memcpy(&r, bytes.data() + pos, sizeof r);
      pos += sizeof r;
      // The iterator walks the mm once per thread: a start at or below the last one's is another pass.
      if (r.tgid != pid || (!k.vmas.empty() && r.start < k.vmas.back().end) || r.start >= r.end) continue;
      k.vmas.push_back({r.start, r.end, madv_of(r.flags), (r.flags & NECRO_VM_LOCKED) ? 1u : 0u});
    } else if (kind == NECRO_TS_ACTION && pos + sizeof(necro_ts_action) <= bytes.size()) {
      necro_ts_action r{};
      std::memcpy(&r, bytes.data() + pos, sizeof r);
      pos += sizeof r;
      if (r.sig < 1 || r.sig > NECRO_TS_SIGNALS || (!k.actions.empty() && k.actions.back().sig >= r.sig)) continue;
      k.actions.push_back({r.sig, r.handler, r.flags, r.restorer, r.mask});
    } else if (take_timer_record(kind, bytes, pos, tr)) {
      continue;
    } else {
      k.missing = fmt::format("the task iterator's output is cut or unknown at byte {} of {}", pos, bytes.size());
      break;
    }
  }
  if (k.missing.empty() && k.threads.empty())
    k.missing = fmt::format("the task iterator saw no thread of pid {} (gone already?)", pid);
  if (!k.read()) k.actions.clear(), k.threads.clear(), k.vmas.clear(), k.process.reset();
  else k.timers = timers_from_records(tr, offsets);
  return k;
}

/// Why the BPF step is off before trying it, or empty.
inline std::string bpf_disabled(bool no_bpf_option) {
  if (no_bpf_option) return "disabled by --no-bpf";
  const char* env = std::getenv("NECRO_CATCH_NO_BPF");
  if (env && *env && std::strcmp(env, "0") != 0) return fmt::format("disabled by NECRO_CATCH_NO_BPF={}", env);
#if !NECRO_CATCH_BPF
  return "necro-catch was built without BPF support (NECRO_CATCH_BPF=OFF: no bpftool, clang, libbpf or BTF at build time)";
#else
  if (::access("/sys/kernel/btf/vmlinux", R_OK) != 0)
    return fmt::format("the kernel has no BTF (/sys/kernel/btf/vmlinux: {})", std::strerror(errno));
  return {};
#endif
}

#if NECRO_CATCH_BPF
inline int quiet_libbpf(enum libbpf_print_level, const char*, va_list) { return 0; }

/// What an errno from loading or attaching means here.
inline std::string bpf_errno_text(int err) {
  std::string s = fmt::format("{} (errno {})", std::strerror(err), err);
  if (err == EPERM || err == EACCES) s += ": needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN";
  return s;
}

/// Attaches iterator `prog` to `pid`'s threads and appends its output to
/// `bytes`; why it failed, or empty.
inline std::string read_iterator(bpf_program* prog, std::int32_t pid, std::vector<char>& bytes) {
  union bpf_iter_link_info info {};
  info.task.pid = static_cast<__u32>(pid);
  DECLARE_LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info, .link_info_len = sizeof info);
  bpf_link* link = bpf_program__attach_iter(prog, &opts);
  if (!link)
    return fmt::format("attaching the iterator {} to pid {} failed (a pid filter needs kernel >= 6.1): {}",
                       bpf_program__name(prog), pid, bpf_errno_text(errno));
  const int fd = bpf_iter_create(bpf_link__fd(link));
  std::string why;
  if (fd < 0) why = fmt::format("creating the iterator {} failed: {}", bpf_program__name(prog), bpf_errno_text(errno));
  for (char buf[8192]; fd >= 0;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) why = fmt::format("reading the iterator {} failed: {}", bpf_program__name(prog), bpf_errno_text(errno));
    if (n <= 0) break;
    bytes.insert(bytes.end(), buf, buf + n);
  }
  if (fd >= 0) ::close(fd);
  bpf_link__destroy(link);
  return why;
}

/// Loads the iterators, runs them on `pid`'s threads and VMAs, reads their
/// records; `load_ms` gets the time the load took (the bulk of the step).
inline necro::capture::kernel_state run_iterator(std::int32_t pid, double& load_ms) {
  necro::capture::kernel_state k;
  libbpf_set_print(quiet_libbpf);
  const auto t0 = std::chrono::steady_clock::now();
  task_state* skel = task_state__open_and_load();
  load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!skel) return k.missing = "loading the BPF task iterator failed: " + bpf_errno_text(errno), k;
  std::vector<char> bytes;
  std::string why = read_iterator(skel->progs.necro_task_state, pid, bytes);
  const auto offsets = measure_clock_offsets();  // right after the timers' read time
  if (why.empty()) why = read_iterator(skel->progs.necro_task_vma, pid, bytes);
  task_state__destroy(skel);
  if (!why.empty()) return k.missing = why, k;
  return parse_records(bytes, pid, offsets);
}
#endif

/// The BPF step: the kernel's state of `pid`, or why not.
inline kernel_read read_kernel_state(std::int32_t pid, bool no_bpf_option) {
  const auto t0 = std::chrono::steady_clock::now();
  kernel_read r;
  r.state.missing = bpf_disabled(no_bpf_option);
#if NECRO_CATCH_BPF
  if (r.state.missing.empty()) r.state = run_iterator(pid, r.load_ms);
#else
  (void)pid;
#endif
  r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace catcher
