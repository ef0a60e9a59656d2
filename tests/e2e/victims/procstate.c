/* procstate - a victim whose process-wide kernel state (issue 21) is not in
 * its core: THP disabled (PR_SET_THP_DISABLE), no_new_privs, securebits
 * (SECBIT_KEEP_CAPS), personality ADDR_NO_RANDOMIZE, a seccomp filter that
 * allows everything, and anonymous VMAs with madvise advice (DONTFORK,
 * WIPEONFORK, HUGEPAGE, NOHUGEPAGE, RANDOM, SEQUENTIAL) and one mlock'ed.
 * Writes `region NAME START END` per VMA and `ready`, then counts seconds
 * into OUT until killed, each line with what the process itself sees:
 * `tick N secbits=0x.. thp_disabled=N no_new_privs=N seccomp=N
 * personality=0x..`. Usage: procstate OUT */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <unistd.h>

static FILE *out;

static void die(const char *what) {
  perror(what);
  exit(2);
}

/* A region of `pages` pages between two guard pages, so that it is a VMA of its own. */
static char *region(const char *name, size_t pages, int advice) {
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  char *g = mmap(NULL, (pages + 2) * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g == MAP_FAILED) die("mmap");
  char *p = g + page;
  if (mprotect(p, pages * page, PROT_READ | PROT_WRITE)) die("mprotect");
  if (advice >= 0 && madvise(p, pages * page, advice)) die(name);
  if (advice == -2 && mlock(p, pages * page)) die("mlock");
  memset(p, name[0], pages * page);
  fprintf(out, "region %s %p %p\n", name, (void *)p, (void *)(p + pages * page));
  return p;
}

int main(int argc, char **argv) {
  if (argc != 2) return fprintf(stderr, "usage: procstate OUT\n"), 2;
  out = fopen(argv[1], "w");
  if (!out) die(argv[1]);
  setvbuf(out, NULL, _IOLBF, 0);
  if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)) die("PR_SET_THP_DISABLE");
  if (personality(PER_LINUX | ADDR_NO_RANDOMIZE) < 0) die("personality");
  if (prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS, 0, 0, 0)) die("PR_SET_SECUREBITS (needs CAP_SETPCAP)");
  region("dontfork", 4, MADV_DONTFORK);
  region("wipeonfork", 4, MADV_WIPEONFORK);
  region("hugepage", 4, MADV_HUGEPAGE);
  region("nohugepage", 4, MADV_NOHUGEPAGE);
  region("random", 4, MADV_RANDOM);
  region("sequential", 4, MADV_SEQUENTIAL);
  region("locked", 4, -2);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) die("PR_SET_NO_NEW_PRIVS");
  struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog prog = {.len = 1, .filter = &allow};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0)) die("PR_SET_SECCOMP");
  fprintf(out, "ready\n");
  for (unsigned long n = 1;; ++n) {
    sleep(1);
    fprintf(out, "tick %lu secbits=%#x thp_disabled=%d no_new_privs=%d seccomp=%d personality=%#x\n", n,
            (unsigned)prctl(PR_GET_SECUREBITS, 0, 0, 0, 0), (int)prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0),
            (int)prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), (int)prctl(PR_GET_SECCOMP, 0, 0, 0, 0),
            (unsigned)personality(0xffffffff));
  }
}
