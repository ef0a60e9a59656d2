/// necro::capture: what a core lacks, read from /proc/PID while the kernel
/// pipes the core to necro-catch — open fds, cwd, root, rlimits, creds,
/// signal masks, personality, mapped files' build-ids. Plain data: the text
/// form is capture/text.hpp, the CRIU form capture/criu_files.hpp.
#ifndef NECRO_CAPTURE_MODEL_HPP
#define NECRO_CAPTURE_MODEL_HPP
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace necro::capture {

/// The capture format's version, and the oldest a reader still takes.
/// Version 2 added the share mode of the VMAs (`shared-vmas`, `shared`);
/// version 3 the kernel's state of the task (`kernel-state`, `action`, `thread`);
/// version 4 the process-wide settings and VMA advice (`process`, `madvise`)
/// and the timers (`timers`, `itimer`, `posix-timer`).
inline constexpr unsigned format_version = 4, oldest_format_version = 1;

/// What an open file descriptor refers to (from its /proc/PID/fd link).
enum class fd_kind {
  reg,       ///< a path on a file system (files, directories, devices, FIFOs: see mode)
  pipe,      ///< pipe:[ino]
  inet,      ///< a TCP or UDP socket found in /proc/PID/net/{tcp,tcp6,udp,udp6}
  unix_sk,   ///< a unix socket found in /proc/PID/net/unix
  socket,    ///< a socket of another family (netlink, packet...): recorded, not described
  eventfd,   ///< anon_inode:[eventfd]
  epoll,     ///< anon_inode:[eventpoll]
  signalfd,  ///< anon_inode:[signalfd]
  timerfd,   ///< anon_inode:[timerfd]
  other,     ///< any other anon inode or unknown link: recorded by kind, skipped
};

/// The name of a kind in the text form ("reg", "pipe", ...).
constexpr std::string_view kind_name(fd_kind k) noexcept {
  constexpr std::array<std::string_view, 10> names{"reg",     "pipe",  "inet",     "unix",    "socket",
                                                   "eventfd", "epoll", "signalfd", "timerfd", "other"};
  return names[static_cast<std::size_t>(k)];
}

/// One epoll registration (a `tfd:` line of the epoll fd's fdinfo).
struct epoll_target {
  std::uint32_t tfd = 0;
  std::uint32_t events = 0;
  std::uint64_t data = 0;
  std::uint64_t ino = 0;  ///< the target file's inode (hex in fdinfo)
  std::uint64_t pos = 0;
};

/// timerfd settings (fdinfo of a timerfd).
struct timer_setting {
  std::uint32_t clockid = 0;
  std::uint64_t ticks = 0;
  std::uint32_t settime_flags = 0;
  std::uint64_t value_sec = 0, value_nsec = 0;        ///< it_value: time left
  std::uint64_t interval_sec = 0, interval_nsec = 0;  ///< it_interval
};

/// A socket's identity and local end (from /proc/PID/net/*).
struct socket_info {
  std::uint32_t family = 0;  ///< AF_INET 2, AF_INET6 10, AF_UNIX 1
  std::uint32_t type = 0;    ///< SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5
  std::uint32_t proto = 0;   ///< IPPROTO_TCP 6, IPPROTO_UDP 17; 0 for unix
  std::uint32_t state = 0;   ///< the kernel's TCP_* state number (10 = LISTEN, 7 = CLOSE)
  std::array<std::uint8_t, 16> local_addr{};  ///< network byte order; first 4 bytes for IPv4
  std::uint32_t local_port = 0;
  std::array<std::uint8_t, 16> remote_addr{};
  std::uint32_t remote_port = 0;
  std::uint32_t backlog = 0;   ///< /proc shows no backlog: 0 for inet (state says LISTEN); unix: 1 if listening
  std::string unix_name;       ///< unix: bound path, or "@name" for an abstract one; may be empty
};

/// One open file descriptor of the dead process.
struct fd_entry {
  std::int32_t fd = -1;
  fd_kind kind = fd_kind::other;
  std::string link;               ///< readlink of /proc/PID/fd/N, verbatim (may hold any byte)
  std::uint32_t flags = 0;        ///< fdinfo `flags:` (O_* including O_APPEND, O_CLOEXEC)
  std::uint64_t pos = 0;          ///< fdinfo `pos:`
  std::int32_t mnt_id = -1;       ///< fdinfo `mnt_id:`
  std::uint64_t ino = 0;          ///< fdinfo `ino:` (or the stat below)
  std::uint32_t mode = 0;         ///< st_mode from stat of /proc/PID/fd/N
  std::uint64_t size = 0;         ///< st_size
  std::uint64_t dev = 0;          ///< st_dev
  std::optional<std::uint64_t> eventfd_count;
  std::optional<std::uint64_t> sigmask;  ///< signalfd
  std::optional<timer_setting> timer;
  std::vector<epoll_target> targets;     ///< epoll
  std::optional<socket_info> sock;
  /// The lowest fd sharing this fd's open file description (one offset and
  /// status flags: dup, dup2, stdout and stderr of `>log 2>&1`), when another does.
  std::optional<std::int32_t> shares;
};

/// A resource limit; `unlimited` is RLIM_INFINITY (~0).
struct rlimit_entry {
  std::string name;  ///< the /proc/PID/limits row ("Max open files") mapped to RLIMIT_* below
  int resource = -1;
  std::uint64_t cur = 0, max = 0;
};

/// Credentials from /proc/PID/status.
struct credentials {
  std::array<std::uint32_t, 4> uid{}, gid{};  ///< real, effective, saved, fs
  std::vector<std::uint32_t> groups;
  std::uint64_t cap_inh = 0, cap_prm = 0, cap_eff = 0, cap_bnd = 0, cap_amb = 0;
  std::uint32_t no_new_privs = 0;
};

/// Signal masks from /proc/PID/status (bit n-1 for signal n).
struct signal_masks {
  std::uint64_t caught = 0, blocked = 0, ignored = 0, pending = 0, shared_pending = 0;
};

/// A file mapped into the address space, with its build-id when it is ELF.
struct mapped_file {
  std::string path;
  std::uint64_t ino = 0;
  std::string build_id;  ///< lowercase hex; empty when the file has none or could not be read
};

/// An address range of the process: a VMA.
struct vma_range {
  std::uint64_t start = 0, end = 0;
};

/// One signal's disposition as the kernel held it (task->sighand->action[sig-1]).
struct signal_action {
  std::uint32_t sig = 0;       ///< 1..64
  std::uint64_t handler = 0;   ///< sa_handler: 0 SIG_DFL, 1 SIG_IGN, else an address in the process
  std::uint64_t flags = 0;     ///< sa_flags (SA_SIGINFO 0x4, SA_ONSTACK 0x08000000, SA_RESTORER 0x04000000 ...)
  std::uint64_t restorer = 0;  ///< sa_restorer
  std::uint64_t mask = 0;      ///< sa_mask, bit n-1 for signal n
  std::size_t line = 0;        ///< its line in capture.txt, for warnings (0: not read from a file)
};

/// One thread's kernel state (its task_struct) at death.
struct thread_state {
  std::int32_t tid = 0;              ///< initial pid namespace
  std::string comm;                  ///< the thread's own name (task->comm, at most 15 bytes)
  std::uint64_t sas_sp = 0;          ///< sigaltstack: ss_sp
  std::uint64_t sas_size = 0;        ///< ss_size
  std::uint32_t sas_flags = 0;       ///< the task's sas_ss_flags (SS_AUTODISARM 1<<31); 0 with a stack set
  std::uint64_t clear_child_tid = 0; ///< set_tid_address
  std::uint64_t robust_list = 0;     ///< set_robust_list's head (its length is not kept by the kernel)
  std::uint64_t rseq = 0;            ///< the registered rseq area, 0 for none
  std::uint32_t rseq_len = 0;        ///< its registered length (kernels >= 6.3; else 0)
  std::uint32_t rseq_sig = 0;        ///< its signature
  std::uint32_t policy = 0;          ///< SCHED_OTHER 0, FIFO 1, RR 2, BATCH 3, IDLE 5, DEADLINE 6
  std::uint32_t rt_priority = 0;     ///< sched_param.sched_priority (FIFO/RR)
  std::int32_t static_prio = 120;    ///< 120 + nice
  std::int32_t normal_prio = 120;
  std::int32_t nice = 0;             ///< static_prio - 120
  std::uint64_t timer_slack = 0;     ///< ns (prctl PR_SET_TIMERSLACK)
  std::size_t line = 0;        ///< its line in capture.txt, for warnings (0: not read from a file)
};

/// An interval timer (setitimer) at death, 0 0 when disarmed.
struct interval_timer {
  std::uint32_t which = 0;        ///< ITIMER_REAL 0, ITIMER_VIRTUAL 1, ITIMER_PROF 2
  std::uint64_t value_ns = 0;     ///< time left (REAL: on CLOCK_MONOTONIC; VIRTUAL, PROF: process CPU time)
  std::uint64_t interval_ns = 0;  ///< it_interval
};

/// A POSIX timer (timer_create) at death.
struct posix_timer {
  std::int32_t id = 0;            ///< the timer_t the process holds
  std::int32_t clock = 0;         ///< the clock id; CPU clocks (~pid << 3) | kind, with the pid the kernel resolved
  std::uint32_t signo = 0;        ///< sigev_signo
  std::uint32_t notify = 0;       ///< sigev_notify: SIGEV_SIGNAL 0, SIGEV_NONE 1, SIGEV_THREAD 2, SIGEV_THREAD_ID 4
  std::int32_t tid = 0;           ///< the thread (SIGEV_THREAD_ID) or process signalled, initial pid namespace
  std::uint64_t sigev_value = 0;  ///< sigev_value.sival_ptr
  std::uint64_t value_ns = 0;     ///< time left, 0 when disarmed
  std::uint64_t interval_ns = 0;  ///< it_interval
  std::uint32_t overrun = 0;      ///< timer_getoverrun (the kernel clamps it to INT_MAX)
  std::size_t line = 0;           ///< its line in capture.txt, for warnings (0: not read from a file)
};

/// The process's timers, read with the rest of the kernel state (format 4);
/// `missing` says why they were not (the kernel's layout unknown...).
struct timers_state {
  std::string missing;                    ///< empty when read
  std::vector<interval_timer> itimers;    ///< REAL, VIRTUAL, PROF, in that order
  std::vector<posix_timer> posix;         ///< ascending ids
  bool read() const noexcept { return missing.empty(); }
};

/// The process-wide settings the kernel held at death (format 4), read from
/// the first thread: what /proc shows only in part (securebits not at all).
struct process_state {
  std::uint32_t personality = 0;    ///< task->personality (PER_LINUX 0, ADDR_NO_RANDOMIZE 0x0040000 ...)
  std::uint32_t securebits = 0;     ///< cred->securebits (SECBIT_NOROOT 1, KEEP_CAPS 0x10 ...)
  std::uint32_t no_new_privs = 0;   ///< 1 when PR_SET_NO_NEW_PRIVS was set
  std::int32_t seccomp_mode = 0;    ///< SECCOMP_MODE_DISABLED 0, STRICT 1, FILTER 2
  std::int32_t seccomp_filters = 0; ///< how many filters are attached; -1 when the kernel does not count them
  std::uint64_t mm_flags = 0;       ///< the first word of mm->flags (MMF_*: dumpable bits 0-1, THP disable bit 24)
  std::size_t line = 0;        ///< its line in capture.txt, for warnings (0: not read from a file)
};

/// One VMA that carried madvise or mlock bits at death (format 4), as CRIU's
/// vma_entry.madv bitmap (bit MADV_* for each advice) and the mlock bit.
struct vma_advice {
  std::uint64_t start = 0, end = 0;
  std::uint64_t madv = 0;     ///< 1 << MADV_RANDOM (1), SEQUENTIAL (2), DONTFORK (10), WIPEONFORK (18), DONTDUMP (16), HUGEPAGE (14), NOHUGEPAGE (15), MERGEABLE (12)
  std::uint32_t locked = 0;   ///< 1 when mlock'ed (VM_LOCKED)
  std::size_t line = 0;        ///< its line in capture.txt, for warnings (0: not read from a file)
};

/// The kernel's state of the dying task, read by necro-catch through a BPF
/// task iterator while the kernel holds it (format 3). `missing` says why it
/// was not read (no BPF support compiled in, disabled, load failed: errno...);
/// then the lists are empty.
struct kernel_state {
  std::string missing;                 ///< empty when read
  std::vector<signal_action> actions;  ///< signals 1..64 in ascending order
  std::vector<thread_state> threads;   ///< every thread the iterator saw
  std::optional<process_state> process;  ///< format 4 on
  std::vector<vma_advice> vmas;        ///< format 4 on: ascending, not overlapping
  /// Interval and POSIX timers: nullopt in a capture older than format 4.
  std::optional<timers_state> timers;
  bool read() const noexcept { return missing.empty(); }
};

/// Everything necro-catch recorded about one dead process.
struct process_capture {
  unsigned version = format_version;
  std::int32_t pid = 0;       ///< initial pid namespace (%P)
  std::string comm;           ///< /proc/PID/comm
  std::string exe;            ///< readlink /proc/PID/exe
  std::string cwd, root;      ///< readlink /proc/PID/{cwd,root}
  std::optional<std::uint32_t> umask;
  std::optional<std::uint32_t> personality;
  std::optional<credentials> creds;
  std::optional<signal_masks> signals;
  std::vector<rlimit_entry> rlimits;
  std::vector<fd_entry> fds;             ///< in fd order
  std::vector<mapped_file> mapped_files;
  /// The VMAs mapped MAP_SHARED (`s` in /proc/PID/maps; a core does not say),
  /// when the maps were read: nullopt in a version 1 capture.
  std::optional<std::vector<vma_range>> shared_vmas;
  /// The kernel's state of the task (sigactions, per-thread state), or why
  /// it is missing: nullopt in a capture older than format 3.
  std::optional<kernel_state> kernel;
  std::vector<std::string> skipped;      ///< what the capture could not read (one reason each)
  bool complete = false;                 ///< the `end` line was reached
};

}  // namespace necro::capture

#endif
