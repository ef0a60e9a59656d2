// SPDX-License-Identifier: GPL-2.0
/* necro-catch: the kernel's state of a dying process, read by a task
 * iterator that necro-catch limits to that process (bpf_iter_link_info.task
 * .pid, kernels >= 6.1) while the kernel holds it for the core_pattern
 * helper. Per thread: sigaltstack, comm, clear_child_tid, robust list, rseq,
 * scheduling, timer slack; once, from the first thread: the 64 sigactions of
 * the shared sighand and the process-wide settings (personality, securebits,
 * no_new_privs, seccomp, mm flags). A second iterator (iter/task_vma) writes
 * the VMAs that carry madvise or mlock bits. Every read is CO-RE
 * (BPF_CORE_READ): one object for any kernel with BTF. docs/capture.md,
 * "The kernel's state". */
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
  if (ctx->meta->seq_num == 0) write_actions(seq, t), write_process(seq, t);
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
