/* necro-catch: the records the BPF task iterator (task_state.bpf.c) writes
 * and necro-catch reads (kernel_state.hpp). Fixed-width, no padding holes, the
 * same in the BPF object and in user space. C, for clang -target bpf too. */
#ifndef NECRO_CATCH_TASK_STATE_H
#define NECRO_CATCH_TASK_STATE_H

#define NECRO_TS_THREAD 1u
#define NECRO_TS_ACTION 2u
#define NECRO_TS_SIGNALS 64u

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

#endif
