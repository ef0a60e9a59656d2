/*
 * pattern.c - e2e and bench victim: MIB MiB of memory whose every 8-byte word
 * is a function of the process's pid and the word's address, and NTHREADS
 * threads, for the load and full-disk tests of necro-catch (tests/catch-load.sh,
 * tests/catch-fulldisk.sh) and the BPF step's bench (bench/catch-bpf.sh).
 *
 *   pattern READY MIB NTHREADS
 *
 * - resets SIGQUIT to SIG_DFL (a script's background jobs start with it
 *   ignored), so `kill -QUIT` kills it with a core dump;
 * - maps MIB MiB anonymous private memory and writes word w at address a as
 *   pattern_word(pid, a) (below; necro-e2e-pattern-check computes the same):
 *   the pid in it tells one victim's core from another's, the address a page
 *   from another page, and no page is all zeros (none becomes a hole);
 * - starts NTHREADS - 1 threads (64 KiB stacks) that sleep in pause();
 * - then writes "buffer 0xADDR BYTES\n" to READY.tmp and renames it READY
 *   (a reader never sees half a line), and sleeps until killed.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* splitmix64's finalizer of (pid << 40) ^ address: pattern_check.cpp has the same. */
static uint64_t pattern_word(uint64_t pid, uint64_t addr)
{
    uint64_t z = (pid << 40) ^ addr;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return z | 1; /* never zero */
}

static void *sleeper(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s READY MIB NTHREADS\n", argv[0]);
        return 2;
    }
    signal(SIGQUIT, SIG_DFL);
    const size_t bytes = (size_t)strtoull(argv[2], NULL, 10) << 20;
    const long threads = strtol(argv[3], NULL, 10);
    if (bytes == 0 || threads < 1 || threads > 4096) {
        fprintf(stderr, "pattern: MIB must be > 0, NTHREADS 1..4096\n");
        return 2;
    }
    uint64_t *buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) {
        perror("pattern: mmap");
        return 3;
    }
    const uint64_t pid = (uint64_t)getpid();
    for (size_t i = 0; i < bytes / 8; i++)
        buf[i] = pattern_word(pid, (uint64_t)(uintptr_t)&buf[i]);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (long i = 1; i < threads; i++) {
        pthread_t t;
        const int err = pthread_create(&t, &attr, sleeper, NULL);
        if (err) {
            fprintf(stderr, "pattern: thread %ld: %s\n", i, strerror(err));
            return 3;
        }
    }

    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "buffer %p %zu\n", (void *)buf, bytes) < 0 || fclose(f) != 0 || rename(tmp, argv[1]) != 0) {
        perror("pattern: READY");
        return 3;
    }
    for (;;)
        pause();
}
