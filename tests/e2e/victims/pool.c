/*
 * pool.c - e2e victim: a pool of threads, each counting on its own.
 *
 *   pool OUTFILE NTHREADS
 *   pool - NTHREADS     (the lines go to stdout, for donor-less resurrection with --stdio)
 *
 * Resets SIGQUIT; starts NTHREADS workers (1..64). Worker i counts every
 * ~(5 + i) ms and appends "w<i> <count>\n" to OUTFILE (O_WRONLY|O_APPEND,
 * shared by all threads; each line is one write). The main thread sleeps in
 * pthread_join. After a resurrection every worker's next line must be its own
 * dead value + 1: each thread came back with its own registers, stack and TLS.
 * Victim and donor may be started with different NTHREADS: the donor's thread
 * images then serve as templates for more, or fewer, victim threads.
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

static int out_fd;
static __thread unsigned long my_count; /* TLS: must come back per thread */

static void *worker(void *arg)
{
    const long id = (long)arg;
    const struct timespec tick = {0, (5 + id) * 1000 * 1000};
    for (;;) {
        char line[48];
        my_count++;
        int n = snprintf(line, sizeof line, "w%ld %lu\n", id, my_count);
        if (write(out_fd, line, (size_t)n) != n)
            _exit(5);
        nanosleep(&tick, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s OUTFILE NTHREADS\n", argv[0]);
        return 2;
    }
    signal(SIGQUIT, SIG_DFL);
    const long n = atol(argv[2]);
    if (n < 1 || n > 64)
        return 2;
    out_fd = strcmp(argv[1], "-") == 0 ? STDOUT_FILENO
                                       : open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (out_fd < 0)
        return 3;
    pthread_t t[64];
    for (long i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i) != 0)
            return 4;
    pthread_join(t[0], NULL);
    return 0;
}
