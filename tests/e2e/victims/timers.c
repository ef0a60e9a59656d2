/* timers: ticks on three timers, for e2e.catch-timers*. OUT gets
 * "threads TICKER SPINNER" once, then one line per tick with its
 * CLOCK_MONOTONIC time in ns:
 *   alarm N NS   setitimer(ITIMER_REAL) every 100 ms, SIGALRM handler (any thread)
 *   mono N NS    timer_create(CLOCK_MONOTONIC, SIGEV_THREAD_ID) every 150 ms,
 *                SIGRTMIN to the ticker thread, which takes it with sigwaitinfo
 *   cpu N NS     timer_create(pthread_getcpuclockid(spinner)) every 5 ms of the
 *                spinner thread's CPU time, SIGEV_THREAD_ID SIGRTMIN+1 to it:
 *                a clock id and a target that both name a non-leader tid
 * The spinner burns about 1 ms of CPU every 10 ms. Usage: timers OUT. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int out = -1;
static volatile sig_atomic_t alarms, cpu_ticks;
static volatile pid_t spinner_tid;

static long long mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One line, written whole (O_APPEND): from handlers too (write is async-signal-safe). */
static void tick(const char* what, int n) {
  char line[96];
  const int len = snprintf(line, sizeof line, "%s %d %lld\n", what, n, mono_ns());
  if (write(out, line, (size_t)len) < 0) _exit(3);
}

static void on_alarm(int sig) {
  (void)sig;
  alarms = alarms + 1;
  tick("alarm", alarms);
}

static void on_cpu(int sig) {
  (void)sig;
  cpu_ticks = cpu_ticks + 1;
  tick("cpu", cpu_ticks);
}

static pid_t gettid_(void) { return (pid_t)syscall(SYS_gettid); }

/* Takes SIGRTMIN (blocked everywhere) from its SIGEV_THREAD_ID timer. */
static void* ticker(void* arg) {
  const pid_t* tid = arg;
  *(volatile pid_t*)tid = gettid_();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGRTMIN);
  for (int n = 1;;) {
    siginfo_t si;
    if (sigwaitinfo(&set, &si) < 0) continue; /* EINTR: also after a resurrection */
    tick("mono", n++);
  }
  return NULL;
}

static void* spinner(void* arg) {
  (void)arg;
  spinner_tid = gettid_();
  clockid_t me;
  pthread_getcpuclockid(pthread_self(), &me);
  for (;;) {
    struct timespec a, b;
    clock_gettime(me, &a);
    do clock_gettime(me, &b);
    while ((b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec) < 1000000);
    const struct timespec rest = {0, 9 * 1000 * 1000};
    nanosleep(&rest, NULL);
  }
  return NULL;
}

static int arm(timer_t* t, clockid_t clock, int sig, pid_t tid, long period_ns) {
  struct sigevent ev;
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_THREAD_ID;
  ev.sigev_signo = sig;
  ev._sigev_un._tid = tid;
  if (timer_create(clock, &ev, t) != 0) return perror("timer_create"), -1;
  const struct itimerspec its = {{period_ns / 1000000000, period_ns % 1000000000},
                                 {period_ns / 1000000000, period_ns % 1000000000}};
  if (timer_settime(*t, 0, &its, NULL) != 0) return perror("timer_settime"), -1;
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 2) return fprintf(stderr, "usage: timers OUT\n"), 2;
  signal(SIGQUIT, SIG_DFL); /* docs/pitfalls.md#sigquit-ignored */
  out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) return perror(argv[1]), 1;
  sigset_t rt;
  sigemptyset(&rt);
  sigaddset(&rt, SIGRTMIN);
  pthread_sigmask(SIG_BLOCK, &rt, NULL); /* every thread inherits it: only sigwaitinfo takes it */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_alarm;
  if (sigaction(SIGALRM, &sa, NULL) != 0) return perror("sigaction"), 1;
  sa.sa_handler = on_cpu;
  if (sigaction(SIGRTMIN + 1, &sa, NULL) != 0) return perror("sigaction"), 1;

  static pid_t ticker_tid;
  pthread_t th;
  if (pthread_create(&th, NULL, ticker, &ticker_tid) != 0 || pthread_create(&th, NULL, spinner, NULL) != 0)
    return fprintf(stderr, "pthread_create failed\n"), 1;
  while (!*(volatile pid_t*)&ticker_tid || !spinner_tid) usleep(1000);
  char line[64];
  snprintf(line, sizeof line, "threads %d %d\n", (int)ticker_tid, (int)spinner_tid);
  if (write(out, line, strlen(line)) < 0) return 3;

  timer_t mono, cpu;
  clockid_t spin_clock;
  if (pthread_getcpuclockid(th, &spin_clock) != 0) return fprintf(stderr, "pthread_getcpuclockid failed\n"), 1;
  if (arm(&mono, CLOCK_MONOTONIC, SIGRTMIN, ticker_tid, 150 * 1000 * 1000) != 0) return 1;
  if (arm(&cpu, spin_clock, SIGRTMIN + 1, spinner_tid, 5 * 1000 * 1000) != 0) return 1;
  const struct itimerval every = {{0, 100 * 1000}, {0, 100 * 1000}};
  if (setitimer(ITIMER_REAL, &every, NULL) != 0) return perror("setitimer"), 1;
  for (;;) pause();
}
