/* mtstate: threads that each have their own name, scheduling policy and nice,
 * one of them holding a robust, process-shared mutex in a MAP_SHARED file
 * mapping, for e2e.catch-mt (tests/catch-threads.sh). The kernel keeps all of
 * it per thread, and none of it is in a core: necro-catch reads it through
 * BPF, criu-necromancer puts it back.
 *
 * Usage: mtstate OUT MUTEXFILE
 *
 * MUTEXFILE is created (4 KiB) and mapped MAP_SHARED; a robust PTHREAD_PROCESS_SHARED
 * mutex at its offset 0 is locked by the thread "mt-holder" and never
 * released. The main thread takes nice 1; every other thread first sets its
 * name (pthread_setname_np), its nice (setpriority on its tid, before the
 * policy: SCHED_IDLE keeps the nice it finds) and its policy
 * (sched_setscheduler on its tid), then reads them back and writes
 *   thread NAME TID POLICY RTPRIO NICE
 * and then "tick NAME N" every 50 ms (it runs). "holder TID" is written once
 * the mutex is held, "ready" once every thread has written its line. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct spec {
  const char* name;
  int policy;
  int rt_priority;
  int nice;
};

/* Each value differs from the defaults a donor-less set takes (SCHED_OTHER,
 * the leader's nice, the leader's name), so each must come back on its own. */
static const struct spec specs[] = {
    {"mt-batch", SCHED_BATCH, 0, 5},
    {"mt-idle", SCHED_IDLE, 0, 12},
    {"mt-nice", SCHED_OTHER, 0, -4},
    {"mt-fifo", SCHED_FIFO, 7, 0},
    {"mt-holder", SCHED_OTHER, 0, 3},
};
enum { nspecs = sizeof specs / sizeof specs[0], main_nice = 1 };

static int out_fd;
static pthread_mutex_t* shared_mutex;
static volatile int lines_written;

static void put(const char* s) {
  if (write(out_fd, s, strlen(s)) != (ssize_t)strlen(s)) _exit(3);
}

static void fail(const char* what, int err) {
  char line[160];
  snprintf(line, sizeof line, "error %s: %s\n", what, strerror(err));
  put(line);
  _exit(4);
}

static void* run(void* arg) {
  const struct spec* s = arg;
  const pid_t tid = gettid();
  char line[160];
  if ((errno = pthread_setname_np(pthread_self(), s->name)) != 0) fail("pthread_setname_np", errno);
  if (setpriority(PRIO_PROCESS, (id_t)tid, s->nice) != 0) fail("setpriority", errno);
  const struct sched_param param = {.sched_priority = s->rt_priority};
  if (sched_setscheduler(tid, s->policy, &param) != 0) fail("sched_setscheduler", errno);
  if (strcmp(s->name, "mt-holder") == 0) {
    if ((errno = pthread_mutex_lock(shared_mutex)) != 0) fail("pthread_mutex_lock", errno);
    snprintf(line, sizeof line, "holder %d\n", (int)tid);
    put(line);
  }
  struct sched_param got;
  errno = 0;
  const int policy = sched_getscheduler(tid), nice = getpriority(PRIO_PROCESS, (id_t)tid);
  if (policy < 0 || errno != 0 || sched_getparam(tid, &got) != 0) fail("reading the scheduling back", errno);
  snprintf(line, sizeof line, "thread %s %d %d %d %d\n", s->name, (int)tid, policy, got.sched_priority, nice);
  put(line);
  __atomic_add_fetch(&lines_written, 1, __ATOMIC_SEQ_CST);
  for (unsigned long n = 1;; n++) {
    const struct timespec tick = {0, 50 * 1000 * 1000};
    nanosleep(&tick, NULL);
    snprintf(line, sizeof line, "tick %s %lu\n", s->name, n);
    put(line);
  }
  return NULL;
}

static pthread_mutex_t* map_mutex(const char* path) {
  const int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ftruncate(fd, 4096) != 0) fail(path, errno);
  void* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) fail("mmap", errno);
  close(fd);
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  if ((errno = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST)) != 0) fail("setrobust", errno);
  if ((errno = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED)) != 0) fail("setpshared", errno);
  if ((errno = pthread_mutex_init(p, &a)) != 0) fail("pthread_mutex_init", errno);
  return p;
}

int main(int argc, char** argv) {
  if (argc != 3) return fprintf(stderr, "usage: mtstate OUT MUTEXFILE\n"), 2;
  signal(SIGQUIT, SIG_DFL); /* docs/pitfalls.md#sigquit-ignored */
  out_fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out_fd < 0) return perror(argv[1]), 1;
  shared_mutex = map_mutex(argv[2]);
  if (setpriority(PRIO_PROCESS, (id_t)gettid(), main_nice) != 0) fail("setpriority", errno);
  pthread_t t[nspecs];
  for (int i = 0; i < nspecs; i++)
    if ((errno = pthread_create(&t[i], NULL, run, (void*)&specs[i])) != 0) fail("pthread_create", errno);
  while (__atomic_load_n(&lines_written, __ATOMIC_SEQ_CST) < nspecs) usleep(1000);
  char line[64];
  snprintf(line, sizeof line, "thread mtstate %d %d 0 %d\n", (int)getpid(), sched_getscheduler(0), main_nice);
  put(line);
  put("ready\n");
  pthread_join(t[0], NULL);
  return 0;
}
