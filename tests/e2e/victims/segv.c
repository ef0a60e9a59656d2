/*
 * segv.c - e2e victim: does some work, then dereferences NULL.
 *
 *   segv OUTFILE DELAY_MS MODE        MODE: main | thread
 *
 * Blocks SIGHUP and SIGUSR2 in the working thread.
 * Fills a 256 KiB heap buffer with a pattern, appends "filled <sum>" to
 * OUTFILE, sleeps DELAY_MS, then stores through a NULL pointer (read from a
 * volatile, so the compiler emits a real store, not a trap).
 *
 * MODE main:   the main thread does it all (single-threaded process).
 * MODE thread: a worker thread does it while the main thread waits in
 *              pthread_join (a futex wait: -ERESTARTSYS in the core). The
 *              fatal signal is then taken by a thread that is not the leader,
 *              so the core's first NT_PRSTATUS is not the leader's.
 *
 * The victim runs with a short delay; the donor runs with a long one, so it
 * is dumped before it gets to crash. A resurrected victim that is continued
 * re-executes the faulting store and dies of SIGSEGV again at the same ip.
 *
 * necro_probe is never called by the program: gdb calls it in the resurrected
 * process (`call necro_probe(14)` prints 43), which it cannot do on the core.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUF_LEN (256 * 1024)

int *volatile null_ptr; /* stays NULL */
unsigned char *volatile heap_buf;
volatile unsigned long work_sum;
static int out_fd;
static long delay_ms;

/* For gdb's `call` (see above): pure, kept and not inlined. */
__attribute__((used, noinline)) int necro_probe(int x)
{
    return x * 3 + 1;
}

static void *work(void *arg)
{
    (void)arg;
    /* A blocked mask of the working thread only (the leader's stays empty in
     * thread mode): each thread's mask must come back as it was. */
    sigset_t blk;
    sigemptyset(&blk);
    sigaddset(&blk, SIGHUP);
    sigaddset(&blk, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &blk, NULL);
    heap_buf = malloc(BUF_LEN);
    if (!heap_buf)
        _exit(4);
    unsigned long sum = 0;
    for (unsigned i = 0; i < BUF_LEN; i++) {
        heap_buf[i] = (unsigned char)((i * 13u + 0x21u) ^ (i >> 9));
        sum = sum * 31 + heap_buf[i];
    }
    work_sum = sum;
    char line[64];
    int n = snprintf(line, sizeof line, "filled %lu\n", sum);
    if (write(out_fd, line, (size_t)n) != n)
        _exit(5);

    struct timespec d = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
    while (nanosleep(&d, &d) != 0)
        ;
    *null_ptr = (int)work_sum; /* SIGSEGV */
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[3], "main") != 0 && strcmp(argv[3], "thread") != 0)) {
        fprintf(stderr, "usage: %s OUTFILE DELAY_MS main|thread\n", argv[0]);
        return 2;
    }
    signal(SIGQUIT, SIG_DFL);
    out_fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (out_fd < 0)
        return 3;
    delay_ms = strtol(argv[2], NULL, 10);

    if (strcmp(argv[3], "main") == 0) {
        work(NULL);
    } else {
        pthread_t t;
        if (pthread_create(&t, NULL, work, NULL) != 0)
            return 6;
        pthread_join(t, NULL);
    }
    return 7; /* not reached */
}
