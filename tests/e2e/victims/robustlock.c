/* robustlock: another process's view of mtstate's robust mutex (offset 0 of
 * MUTEXFILE, PTHREAD_PROCESS_SHARED, PTHREAD_MUTEX_ROBUST), for
 * e2e.catch-mt (tests/catch-threads.sh).
 *
 *   robustlock MUTEXFILE word       prints "word 0xWORD tid TID owner-died 0|1"
 *                                   (the futex word: the owner's tid, and
 *                                   FUTEX_OWNER_DIED once the kernel found
 *                                   the owner dead on its robust list)
 *   robustlock MUTEXFILE set TID    sets the word to TID: the mutex as it was
 *                                   at the holder's death, before the kernel's
 *                                   robust-list walk marked it
 *   robustlock MUTEXFILE lock MS    pthread_mutex_timedlock for MS ms; prints
 *                                   "EOWNERDEAD" (then makes it consistent and
 *                                   unlocks), "ETIMEDOUT", "locked" or the
 *                                   error; exit 0 for the first three */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 3) return fprintf(stderr, "usage: robustlock MUTEXFILE word|set TID|lock MS\n"), 2;
  const int fd = open(argv[1], O_RDWR | O_CLOEXEC);
  if (fd < 0) return perror(argv[1]), 1;
  pthread_mutex_t* m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) return perror("mmap"), 1;
  /* glibc's struct __pthread_mutex_s: __lock is the futex word. */
  int* word = &m->__data.__lock;
  if (strcmp(argv[2], "word") == 0) {
    const unsigned w = (unsigned)__atomic_load_n(word, __ATOMIC_SEQ_CST);
    printf("word %#x tid %u owner-died %d\n", w, w & FUTEX_TID_MASK, (w & FUTEX_OWNER_DIED) != 0);
    return 0;
  }
  if (strcmp(argv[2], "set") == 0 && argc == 4) {
    __atomic_store_n(word, atoi(argv[3]), __ATOMIC_SEQ_CST);
    return msync(m, 4096, MS_SYNC) != 0;
  }
  if (strcmp(argv[2], "lock") == 0 && argc == 4) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    const long ms = atol(argv[3]);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    const int rc = pthread_mutex_timedlock(m, &until);
    switch (rc) {
      case EOWNERDEAD:
        puts("EOWNERDEAD");
        pthread_mutex_consistent(m);
        pthread_mutex_unlock(m);
        return 0;
      case ETIMEDOUT: puts("ETIMEDOUT"); return 0;
      case 0: puts("locked"); pthread_mutex_unlock(m); return 0;
      default: printf("%s\n", strerror(rc)); return 1;
    }
  }
  return fprintf(stderr, "usage: robustlock MUTEXFILE word|set TID|lock MS\n"), 2;
}
