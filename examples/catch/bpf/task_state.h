/* necro-catch: the records the BPF task iterator (task_state.bpf.c) writes
 * and necro-catch reads (kernel_state.hpp). Fixed-width, no padding holes, the
 * same in the BPF object and in user space. C, for clang -target bpf too. */
#ifndef NECRO_CATCH_TASK_STATE_H
#define NECRO_CATCH_TASK_STATE_H

#define NECRO_TS_THREAD 1u
#define NECRO_TS_ACTION 2u
#define NECRO_TS_PROCESS 3u
#define NECRO_TS_VMA 4u
#define NECRO_TS_SIGNALS 64u
/* Timers (format 4): kinds far from the others so that new kinds do not collide. */
#define NECRO_TS_ITIMERS 0x10u
#define NECRO_TS_POSIX_TIMER 0x11u
#define NECRO_TS_CPU_SAMPLE 0x12u
/* The most POSIX timers the iterator walks (a bounded loop for the verifier). */
#define NECRO_TS_MAX_POSIX_TIMERS 1024u
/* Why a timer record is incomplete (necro_ts_itimers.layout). */
#define NECRO_TS_TIMERS_READ 0u
#define NECRO_TS_TIMERS_UNKNOWN_LAYOUT 1u

/* One per thread the iterator visits. */
struct necro_ts_thread {
  __u32 kind; /* NECRO_TS_THREAD */
  __s32 tid;
  __s32 tgid;
  __u32 sas_flags;
  __u64 sas_sp;
  __u64 sas_size;
  __u64 clear_child_tid;
  __u64 robust_list;
  __u64 rseq;
  __u32 rseq_len;
  __u32 rseq_sig;
  __u32 policy;
  __u32 rt_priority;
  __s32 static_prio;
  __s32 normal_prio;
  __u64 timer_slack;
  char comm[16];
};

/* One per signal 1..64, after the first thread's record. */
struct necro_ts_action {
  __u32 kind; /* NECRO_TS_ACTION */
  __u32 sig;
  __u64 handler;
  __u64 flags;
  __u64 restorer;
  __u64 mask;
};

/* Once, from the first thread: the process's interval timers. Expiries are
 * absolute: ITIMER_REAL's on CLOCK_MONOTONIC (real_armed: its hrtimer is
 * queued), VIRTUAL's and PROF's in the thread group's CPU time (0: disarmed),
 * against the group's cputimer (running while any of them is armed). */
struct necro_ts_itimers {
  __u32 kind; /* NECRO_TS_ITIMERS */
  __u32 real_armed;
  __u64 real_expires;
  __u64 real_incr;
  __u64 prof_expires;
  __u64 prof_incr;
  __u64 virt_expires;
  __u64 virt_incr;
  __u64 group_utime; /* signal->cputimer, ns */
  __u64 group_stime;
  __u64 group_sum_exec;
  __u32 group_running; /* posix_cputimers.timers_active */
  __u32 layout;        /* NECRO_TS_TIMERS_READ, or why the POSIX timers were not walked */
  __u32 posix_count;   /* POSIX timer records that follow */
  __u32 posix_more;    /* 1: more than NECRO_TS_MAX_POSIX_TIMERS, the rest unread */
  __u64 now;           /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) at the read */
};

/* One per POSIX timer (signal->posix_timers), after the itimers record. */
struct necro_ts_posix_timer {
  __u32 kind; /* NECRO_TS_POSIX_TIMER */
  __s32 id;
  __s32 clock;       /* it_clock as timer_create got it (CPU clocks: (~pid << 3) | kind) */
  __s32 base_clock;  /* the clock `expires` counts on; -1: a CPU clock */
  __s32 signo;
  __s32 notify;      /* it_sigev_notify */
  __s32 target;      /* it_pid's number: the thread or process signalled */
  __s32 cpu_tid;     /* CPU clocks: the task whose clock it is (cpu.pid) */
  __u32 armed;       /* hrtimer queued, or a CPU timer with an expiry */
  __u32 pad;
  __u64 sigev_value;
  __u64 interval;    /* ns */
  __u64 expires;     /* absolute: ns of base_clock, or CPU time ns */
  __s64 overrun;     /* it_overrun_last (timer_getoverrun) */
};

/* One per thread (for CPU timers' time left): the thread's CPU time, ns. */
struct necro_ts_cpu_sample {
  __u32 kind; /* NECRO_TS_CPU_SAMPLE */
  __s32 tid;
  __u64 utime;
  __u64 stime;
  __u64 sum_exec;
};

/* Once, after the actions: the process-wide settings of the first thread. */
struct necro_ts_process {
  __u32 kind; /* NECRO_TS_PROCESS */
  __u32 personality;
  __u32 securebits;     /* task->cred->securebits */
  __u32 atomic_flags;   /* task->atomic_flags: bit 0 PFA_NO_NEW_PRIVS */
  __s32 seccomp_mode;   /* SECCOMP_MODE_* */
  __s32 seccomp_filters; /* task->seccomp.filter_count; -1 on kernels without it */
  __u64 mm_flags;       /* the first word of mm->flags (MMF_*), 0 without an mm */
};

/* One per VMA of the task_vma iterator that has any of the flags below
 * (include/linux/mm.h's VM_* values, unchanged since their introduction). */
#define NECRO_VM_LOCKED 0x00002000ull
#define NECRO_VM_SEQ_READ 0x00008000ull
#define NECRO_VM_RAND_READ 0x00010000ull
#define NECRO_VM_DONTCOPY 0x00020000ull
#define NECRO_VM_WIPEONFORK 0x02000000ull
#define NECRO_VM_DONTDUMP 0x04000000ull
#define NECRO_VM_HUGEPAGE 0x20000000ull
#define NECRO_VM_NOHUGEPAGE 0x40000000ull
#define NECRO_VM_MERGEABLE 0x80000000ull
#define NECRO_VM_ADVICE                                                                                   \
  (NECRO_VM_LOCKED | NECRO_VM_SEQ_READ | NECRO_VM_RAND_READ | NECRO_VM_DONTCOPY | NECRO_VM_WIPEONFORK | NECRO_VM_DONTDUMP | NECRO_VM_HUGEPAGE | \
   NECRO_VM_NOHUGEPAGE | NECRO_VM_MERGEABLE)

struct necro_ts_vma {
  __u32 kind; /* NECRO_TS_VMA */
  __s32 tgid;
  __u64 start;
  __u64 end;
  __u64 flags; /* vm_flags & NECRO_VM_ADVICE */
};

#endif
