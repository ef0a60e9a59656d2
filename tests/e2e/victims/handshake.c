/*
 * handshake.c - e2e victim: threads asleep in different system calls that,
 * after a resurrection, still complete a handshake among themselves.
 *
 *   handshake OUTFILE
 *
 * - "waiter" blocks in pthread_cond_wait (futex);
 * - "reader" blocks in read() on a pipe;
 * - "sleeper" loops in nanosleep, ticking "sleeper <n>";
 * - main loops in nanosleep, ticking "main <n>".
 * On SIGUSR1 (the test sends it to the resurrected process), main writes a
 * byte into the pipe; the reader wakes, writes "reader woke", signals the
 * condition; the waiter wakes, writes "waiter woke" and sets `done`; the
 * sleeper sees it and writes "handshake complete". Each line is one write to
 * OUTFILE (O_WRONLY|O_APPEND). The process lives on afterwards.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int out_fd, pipe_fd[2];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int woken, announced;
static volatile sig_atomic_t go, done;

static void say(const char *s)
{
    if (write(out_fd, s, strlen(s)) < 0)
        _exit(5);
}

static void *waiter(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!woken)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    say("waiter woke\n");
    done = 1;
    return NULL;
}

static void *reader(void *arg)
{
    (void)arg;
    char c;
    while (read(pipe_fd[0], &c, 1) != 1)
        ;
    say("reader woke\n");
    pthread_mutex_lock(&mu);
    woken = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void *sleeper(void *arg)
{
    (void)arg;
    const struct timespec tick = {0, 20 * 1000 * 1000};
    for (unsigned long n = 1;; n++) {
        char line[48];
        snprintf(line, sizeof line, "sleeper %lu\n", n);
        say(line);
        if (done && !announced) {
            announced = 1;
            say("handshake complete\n");
        }
        nanosleep(&tick, NULL);
    }
    return NULL;
}

static void on_usr1(int sig)
{
    (void)sig;
    go = 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTFILE\n", argv[0]);
        return 2;
    }
    signal(SIGQUIT, SIG_DFL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    out_fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (out_fd < 0 || pipe(pipe_fd) != 0)
        return 3;
    pthread_t t[3];
    pthread_create(&t[0], NULL, waiter, NULL);
    pthread_create(&t[1], NULL, reader, NULL);
    pthread_create(&t[2], NULL, sleeper, NULL);
    const struct timespec tick = {0, 10 * 1000 * 1000};
    for (unsigned long n = 1;; n++) {
        char line[48];
        snprintf(line, sizeof line, "main %lu\n", n);
        say(line);
        if (go == 1) {
            go = 2;
            say("main sends\n");
            if (write(pipe_fd[1], "x", 1) != 1)
                return 4;
        }
        nanosleep(&tick, NULL);
    }
}
