/*
 * pool.c - multi-threaded test victim/donor for necro fixtures.
 *
 *   pool NTHREADS          (1 <= NTHREADS <= 64)
 *
 * - resets SIGQUIT to SIG_DFL (background jobs of a script start with it
 *   ignored), so `kill -QUIT` produces a core dump;
 * - starts NTHREADS workers; worker i stores its kernel tid in tids[i];
 * - a COUNTING worker i increments its own `static __thread` my_count every
 *   (5 + i) ms (nanosleep, i.e. clock_nanosleep: asleep with
 *   -ERESTART_RESTARTBLOCK) and mirrors it into counts[i];
 * - if NTHREADS >= 3, the last two workers do not count:
 *     worker NTHREADS-2 blocks in read() on a pipe nobody writes
 *       (asleep in read: -ERESTARTSYS),
 *     worker NTHREADS-1 blocks in pthread_cond_wait forever
 *       (asleep in futex: -ERESTARTSYS);
 * - the main thread sleeps in pthread_join(worker 0) (futex: -ERESTARTSYS);
 * - writes nothing.
 *
 * Build: gcc -O1 -g -pthread -o pool pool.c   (dynamic glibc, on purpose)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64

volatile unsigned long counts[MAX_THREADS]; /* counts[i] == worker i's my_count */
volatile pid_t tids[MAX_THREADS];           /* tids[i] == worker i's kernel tid */

static __thread unsigned long my_count; /* TLS: one per thread */

static long nthreads;
static int quiet_pipe[2]; /* nobody ever writes to quiet_pipe[1] */
static pthread_mutex_t never_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never_cond = PTHREAD_COND_INITIALIZER;

static void *worker(void *arg)
{
    const long id = (long)arg;
    tids[id] = gettid();

    if (nthreads >= 3 && id == nthreads - 1) {
        /* Asleep in futex, forever: nobody signals never_cond. */
        pthread_mutex_lock(&never_mutex);
        for (;;)
            pthread_cond_wait(&never_cond, &never_mutex);
    }
    if (nthreads >= 3 && id == nthreads - 2) {
        /* Asleep in read, forever: the write end stays open, unused. */
        char c;
        for (;;)
            if (read(quiet_pipe[0], &c, 1) >= 0)
                _exit(5);
    }

    const struct timespec tick = {0, (5 + id) * 1000 * 1000}; /* (5 + i) ms */
    for (;;) {
        my_count++;
        counts[id] = my_count;
        nanosleep(&tick, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    signal(SIGQUIT, SIG_DFL);
    nthreads = atol(argv[1]);
    if (nthreads < 1 || nthreads > MAX_THREADS)
        return 2;
    if (nthreads >= 3 && pipe2(quiet_pipe, O_CLOEXEC) != 0)
        return 3;

    pthread_t t[MAX_THREADS];
    for (long i = 0; i < nthreads; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i) != 0)
            return 4;
    pthread_join(t[0], NULL); /* never returns: worker 0 never exits */
    return 0;
}
