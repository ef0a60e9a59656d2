// SPDX-License-Identifier: GPL-2.0
/* necro-catch: the kernel's state of a dying process, read by a task
 * iterator that necro-catch limits to that process (bpf_iter_link_info.task
 * .pid, kernels >= 6.1) while the kernel holds it for the core_pattern
 * helper. Per thread: sigaltstack, comm, clear_child_tid, robust list, rseq,
 * scheduling, timer slack, CPU time; once, from the first thread: the 64
 * sigactions of the shared sighand, the process-wide settings (personality,
 * securebits, no_new_privs, seccomp, mm flags), every POSIX timer and the
 * interval timers of the shared signal_struct. A second iterator
 * (iter/task_vma) writes the VMAs that carry madvise or mlock bits. Every read
 * is CO-RE (BPF_CORE_READ): one object for any kernel with BTF.
 * docs/capture.md, "The kernel's state". */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "task_state.h"

char LICENSE[] SEC("license") = "GPL";

static void read_thread(struct task_struct *t, struct necro_ts_thread *r) {
  r->kind = NECRO_TS_THREAD;
  r->tid = BPF_CORE_READ(t, pid);
  r->tgid = BPF_CORE_READ(t, tgid);
  r->sas_sp = BPF_CORE_READ(t, sas_ss_sp);
  r->sas_size = BPF_CORE_READ(t, sas_ss_size);
  r->sas_flags = BPF_CORE_READ(t, sas_ss_flags);
  r->clear_child_tid = (__u64)BPF_CORE_READ(t, clear_child_tid);
  r->robust_list = (__u64)BPF_CORE_READ(t, robust_list);
  if (bpf_core_field_exists(t->rseq)) {
    r->rseq = (__u64)BPF_CORE_READ(t, rseq);
    r->rseq_sig = BPF_CORE_READ(t, rseq_sig);
  }
  if (bpf_core_field_exists(t->rseq_len)) r->rseq_len = BPF_CORE_READ(t, rseq_len);
  r->policy = BPF_CORE_READ(t, policy);
  r->rt_priority = BPF_CORE_READ(t, rt_priority);
  r->static_prio = BPF_CORE_READ(t, static_prio);
  r->normal_prio = BPF_CORE_READ(t, normal_prio);
  r->timer_slack = BPF_CORE_READ(t, timer_slack_ns);
  BPF_CORE_READ_STR_INTO(&r->comm, t, comm);
}

struct action_loop {
  struct seq_file *seq;
  struct sighand_struct *sh;
};

/* Signal i + 1's sigaction, as one call of bpf_loop (kernels >= 5.17; the pid
 * filter needs 6.1 anyway): the verifier checks this body once instead of
 * walking a bounded loop 64 times, 2 ms less per load here (docs/capture.md,
 * "Time"). */
static long write_action(__u32 i, void *data) {
  struct action_loop *l = data;
  struct sighand_struct *sh = l->sh; /* not inside bpf_core_read: action_loop is ours, not the kernel's */
  struct k_sigaction ka;
  struct necro_ts_action a = {};
  if (i >= NECRO_TS_SIGNALS || bpf_core_read(&ka, sizeof(ka), &sh->action[i])) return 0;
  a.kind = NECRO_TS_ACTION;
  a.sig = i + 1;
  a.handler = (__u64)ka.sa.sa_handler;
  a.flags = ka.sa.sa_flags;
  a.restorer = (__u64)ka.sa.sa_restorer;
  a.mask = ka.sa.sa_mask.sig[0];
  bpf_seq_write(l->seq, &a, sizeof(a));
  return 0;
}

/* Layouts of older kernels, for CO-RE: before 6.10 (about) signal->posix_timers
 * was a list_head, before 6.13 k_itimer.sigq a pointer. libbpf matches the
 * flavours by name (the ___ suffix) and the unused branch is dead code. */
struct signal_struct___list {
  struct list_head posix_timers;
} __attribute__((preserve_access_index));
struct k_itimer___list {
  struct list_head list;
} __attribute__((preserve_access_index));
struct k_itimer___sigq_ptr {
  struct sigqueue *sigq;
} __attribute__((preserve_access_index));

/* The number of a struct pid in the initial namespace, 0 for none. */
static __s32 pid_nr(struct pid *p) {
  __s32 nr = 0;
  if (p) bpf_core_read(&nr, sizeof(nr), &p->numbers[0].nr);
  return nr;
}

static void write_cpu_sample(struct seq_file *seq, struct task_struct *t) {
  struct necro_ts_cpu_sample r = {};
  r.kind = NECRO_TS_CPU_SAMPLE;
  r.tid = BPF_CORE_READ(t, pid);
  r.utime = BPF_CORE_READ(t, utime);
  r.stime = BPF_CORE_READ(t, stime);
  r.sum_exec = BPF_CORE_READ(t, se.sum_exec_runtime);
  bpf_seq_write(seq, &r, sizeof(r));
}

/* One POSIX timer's record. Its expiry sits in the union member of its
 * clock: hrtimer (REALTIME, MONOTONIC, BOOTTIME, TAI), alarm (*_ALARM) or
 * cpu_timer (negative clock ids: CPU clocks). */
static void write_posix_timer(struct seq_file *seq, struct k_itimer *tm) {
  struct necro_ts_posix_timer r = {};
  r.kind = NECRO_TS_POSIX_TIMER;
  r.id = BPF_CORE_READ(tm, it_id);
  r.clock = BPF_CORE_READ(tm, it_clock);
  r.notify = BPF_CORE_READ(tm, it_sigev_notify);
  r.target = pid_nr(BPF_CORE_READ(tm, it_pid));
  r.interval = BPF_CORE_READ(tm, it_interval);
  r.overrun = BPF_CORE_READ(tm, it_overrun_last);
  if (bpf_core_field_size(tm->sigq) == sizeof(void *)) {
    struct sigqueue *q = BPF_CORE_READ((struct k_itimer___sigq_ptr *)tm, sigq);
    r.signo = BPF_CORE_READ(q, info.si_signo);
    r.sigev_value = (__u64)BPF_CORE_READ(q, info._sifields._timer._sigval.sival_ptr);
  } else {
    r.signo = BPF_CORE_READ(tm, sigq.info.si_signo);
    r.sigev_value = (__u64)BPF_CORE_READ(tm, sigq.info._sifields._timer._sigval.sival_ptr);
  }
  if (r.clock < 0) {
    r.base_clock = -1;
    r.expires = BPF_CORE_READ(tm, it.cpu.node.expires);
    r.armed = r.expires != 0;
    r.cpu_tid = pid_nr(BPF_CORE_READ(tm, it.cpu.pid));
  } else if (r.clock == 8 || r.clock == 9) { /* CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM */
    r.base_clock = r.clock == 8 ? 0 : 7;
    r.expires = BPF_CORE_READ(tm, it.alarm.alarmtimer.node.expires);
    r.armed = BPF_CORE_READ(tm, it.alarm.alarmtimer.state) & 1;
  } else {
    r.base_clock = r.clock; /* REALTIME, MONOTONIC, BOOTTIME, TAI: each on its own base */
    r.expires = BPF_CORE_READ(tm, it.real.timer.node.expires);
    r.armed = BPF_CORE_READ(tm, it.real.timer.state) & 1; /* HRTIMER_STATE_ENQUEUED */
  }
  bpf_seq_write(seq, &r, sizeof(r));
}

/* The walk's state, for bpf_loop's callbacks: one verified body instead of
 * NECRO_TS_MAX_POSIX_TIMERS unrolled ones (a bounded loop cost ~0.7 s of
 * verification at load; bpf_loop is there since 5.17, the pid filter needs 6.1). */
struct timer_walk {
  struct seq_file *seq;
  struct necro_ts_itimers *r;
  void *n;    /* the current node: hlist_node or list_head */
  void *head; /* list_head layout: the list's head, where the walk ends; 0 for an hlist */
  __u64 off;  /* the node's offset in struct k_itimer */
};

/* The node after `n`: `next` is the first member of hlist_node and of
 * list_head in every kernel, read without CO-RE (each CO-RE type costs a scan
 * of the kernel's BTF at load, docs/capture.md "Time"). */
static void *next_node(void *n) {
  void *next = 0;
  bpf_probe_read_kernel(&next, sizeof(next), n);
  return next;
}

/* One step of either walk: an hlist ends at NULL, a list at its head. */
static long walk_timers(__u32 i, void *ctx) {
  struct timer_walk *w = ctx;
  if (!w->n || w->n == w->head) return 1;
  write_posix_timer(w->seq, (struct k_itimer *)((char *)w->n - w->off));
  w->r->posix_count++;
  w->n = next_node(w->n);
  return 0;
}

/* Every POSIX timer of the process, up to NECRO_TS_MAX_POSIX_TIMERS. */
static void write_posix_timers(struct seq_file *seq, struct signal_struct *sig, struct necro_ts_itimers *r) {
  struct timer_walk w = {.seq = seq, .r = r};
  if (bpf_core_field_size(sig->posix_timers) == sizeof(struct hlist_head)) {
    w.n = BPF_CORE_READ(sig, posix_timers.first);
    w.off = bpf_core_field_offset(struct k_itimer, list);
    bpf_loop(NECRO_TS_MAX_POSIX_TIMERS, walk_timers, &w, 0);
    r->posix_more = w.n != 0;
  } else if (bpf_core_field_size(sig->posix_timers) == sizeof(struct list_head)) {
    struct signal_struct___list *s = (void *)sig;
    w.head = &s->posix_timers;
    w.n = next_node(w.head);
    w.off = bpf_core_field_offset(struct k_itimer___list, list);
    bpf_loop(NECRO_TS_MAX_POSIX_TIMERS, walk_timers, &w, 0);
    r->posix_more = w.n && w.n != w.head;
  } else {
    r->layout = NECRO_TS_TIMERS_UNKNOWN_LAYOUT;
  }
}

/* The POSIX timers, then the interval timers with the group's CPU time. */
static void write_timers(struct seq_file *seq, struct task_struct *t) {
  struct signal_struct *sig = BPF_CORE_READ(t, signal);
  struct necro_ts_itimers r = {};
  if (!sig) return;
  r.kind = NECRO_TS_ITIMERS;
  write_posix_timers(seq, sig, &r);
  r.real_armed = BPF_CORE_READ(sig, real_timer.state) & 1;
  r.real_expires = BPF_CORE_READ(sig, real_timer.node.expires);
  r.real_incr = BPF_CORE_READ(sig, it_real_incr);
  r.prof_expires = BPF_CORE_READ(sig, it[0].expires); /* CPUCLOCK_PROF */
  r.prof_incr = BPF_CORE_READ(sig, it[0].incr);
  r.virt_expires = BPF_CORE_READ(sig, it[1].expires); /* CPUCLOCK_VIRT */
  r.virt_incr = BPF_CORE_READ(sig, it[1].incr);
  r.group_utime = BPF_CORE_READ(sig, cputimer.cputime_atomic.utime.counter);
  r.group_stime = BPF_CORE_READ(sig, cputimer.cputime_atomic.stime.counter);
  r.group_sum_exec = BPF_CORE_READ(sig, cputimer.cputime_atomic.sum_exec_runtime.counter);
  if (bpf_core_field_exists(sig->posix_cputimers))
    r.group_running = BPF_CORE_READ(sig, posix_cputimers.timers_active);
  r.now = bpf_ktime_get_ns();
  bpf_seq_write(seq, &r, sizeof(r));
}

static void write_process(struct seq_file *seq, struct task_struct *t) {
  struct necro_ts_process p = {};
  struct mm_struct *mm = BPF_CORE_READ(t, mm);
  p.kind = NECRO_TS_PROCESS;
  p.personality = BPF_CORE_READ(t, personality);
  p.securebits = BPF_CORE_READ(t, cred, securebits);
  p.atomic_flags = (__u32)BPF_CORE_READ(t, atomic_flags);
  p.seccomp_mode = BPF_CORE_READ(t, seccomp.mode);
  p.seccomp_filters = -1;
  if (bpf_core_field_exists(t->seccomp.filter_count)) p.seccomp_filters = BPF_CORE_READ(t, seccomp.filter_count.counter);
  /* mm->flags is an unsigned long, or (6.18) a bitmap whose first word it is. */
  if (mm) bpf_core_read(&p.mm_flags, sizeof(p.mm_flags), &mm->flags);
  bpf_seq_write(seq, &p, sizeof(p));
}

static void write_actions(struct seq_file *seq, struct task_struct *t) {
  struct action_loop l = {seq, BPF_CORE_READ(t, sighand)};
  if (l.sh) bpf_loop(NECRO_TS_SIGNALS, write_action, &l, 0);
}

/* The task iterator's context (struct bpf_iter__task, struct bpf_iter_meta),
 * declared here without CO-RE: its layout is the iterator ABI, unchanged since
 * iterators came (5.8), and each CO-RE type costs libbpf a scan of the
 * kernel's ~126 000 BTF types at load (about 1.2 ms each here). */
struct necro_iter_meta {
  struct seq_file *seq;
  __u64 session_id;
  __u64 seq_num;
};
struct necro_iter_task {
  struct necro_iter_meta *meta;
  struct task_struct *task;
};
struct necro_iter_task_vma {
  struct necro_iter_meta *meta;
  struct task_struct *task;
  struct vm_area_struct *vma;
};

SEC("iter/task")
int necro_task_state(struct necro_iter_task *ctx) {
  struct seq_file *seq = ctx->meta->seq;
  struct task_struct *t = ctx->task;
  struct necro_ts_thread r = {};
  if (!t) return 0;
  read_thread(t, &r);
  bpf_seq_write(seq, &r, sizeof(r));
  write_cpu_sample(seq, t);
  if (ctx->meta->seq_num == 0) write_actions(seq, t), write_process(seq, t), write_timers(seq, t);
  return 0;
}

SEC("iter/task_vma")
int necro_task_vma(struct necro_iter_task_vma *ctx) {
  struct vm_area_struct *vma = ctx->vma;
  struct task_struct *t = ctx->task;
  struct necro_ts_vma r = {};
  if (!vma || !t) return 0;
  r.flags = BPF_CORE_READ(vma, vm_flags) & NECRO_VM_ADVICE;
  if (!r.flags) return 0;
  r.kind = NECRO_TS_VMA;
  r.tgid = BPF_CORE_READ(t, tgid);
  r.start = BPF_CORE_READ(vma, vm_start);
  r.end = BPF_CORE_READ(vma, vm_end);
  bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
  return 0;
}
