/*
 * heapsig.c - e2e victim: heap, big mmap, file mapping, vDSO and a signal
 * handler, all checking themselves while the process runs.
 *
 *   heapsig OUTFILE DATAFILE
 *
 * Sets up:
 * - 2000 small mallocs (brk heap), each filled with a pattern of its index;
 * - one 8 MiB malloc (glibc serves it with its own mmap), filled with a
 *   pattern;
 * - DATAFILE mapped PROT_READ, MAP_PRIVATE, one page LONGER than the file
 *   rounded up to pages (the tail page is past EOF: not memory, never read);
 * - a SIGUSR1 handler that appends "usr1 <n> tick <t>" to OUTFILE with write(2);
 * - SIGUSR2 blocked, and raised: pending for good.
 * Then, every ~10 ms (tick t = 1, 2, ...): re-verifies every small allocation,
 * a 256 KiB stripe of the big buffer (all of it every 32 ticks) and the
 * checksum of the mapped file; reads CLOCK_MONOTONIC through the vDSO; and
 * appends "tick <t> sum <checksum>" to OUTFILE. A failed verification appends
 * "CORRUPT <what> tick <t>" and exits with status 3.
 *
 * The first line is "start sum <checksum>". After a resurrection the ticks
 * must continue from the dead value + 1 and no "start" line may appear.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SMALL_COUNT 2000
#define BIG_LEN (8u << 20)
#define STRIPE (256u << 10)

static int out_fd;
static volatile sig_atomic_t usr1_count;
static volatile unsigned long tick;

unsigned char **small;
uint64_t *big;
const unsigned char *data_map;
size_t data_size, data_map_len;
uint64_t data_sum_ref;
volatile uint64_t last_clock_ns;

static size_t small_size(unsigned i) { return 16 + (i * 37u) % 240u; }
static unsigned char small_byte(unsigned i, size_t j) { return (unsigned char)(i * 131u + j * 7u + 1u); }
static uint64_t big_word(uint64_t k) { return (k * 0x9E3779B97F4A7C15ull) ^ 0x5EC0DEC0FFEEull; }

/* Async-signal-safe "<prefix><number><mid><number>\n" formatting. */
static size_t put_ulong(char *p, unsigned long v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}
static void emit(const char *a, unsigned long x, const char *b, unsigned long y)
{
    char line[128];
    size_t n = 0, la = strlen(a), lb = strlen(b);
    memcpy(line + n, a, la), n += la;
    n += put_ulong(line + n, x);
    memcpy(line + n, b, lb), n += lb;
    n += put_ulong(line + n, y);
    line[n++] = '\n';
    if (write(out_fd, line, n) != (ssize_t)n)
        _exit(5);
}

static void on_usr1(int sig)
{
    (void)sig;
    usr1_count = usr1_count + 1;
    emit("usr1 ", (unsigned long)usr1_count, " tick ", tick);
}

static uint64_t data_sum(void)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < data_size; i++)
        h = (h ^ data_map[i]) * 0x100000001b3ull;
    return h;
}

static void corrupt(const char *what)
{
    emit("CORRUPT ", 0, what, tick);
    _exit(3);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s OUTFILE DATAFILE\n", argv[0]);
        return 2;
    }
    signal(SIGQUIT, SIG_DFL);
    out_fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (out_fd < 0)
        return 3;

    small = malloc(SMALL_COUNT * sizeof *small);
    if (!small)
        return 4;
    for (unsigned i = 0; i < SMALL_COUNT; i++) {
        small[i] = malloc(small_size(i));
        if (!small[i])
            return 4;
        for (size_t j = 0; j < small_size(i); j++)
            small[i][j] = small_byte(i, j);
    }
    big = malloc(BIG_LEN);
    if (!big)
        return 4;
    for (uint64_t k = 0; k < BIG_LEN / 8; k++)
        big[k] = big_word(k);

    int dfd = open(argv[2], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (dfd < 0 || fstat(dfd, &st) != 0 || st.st_size == 0)
        return 6;
    long page = sysconf(_SC_PAGESIZE);
    data_size = (size_t)st.st_size;
    data_map_len = (data_size + (size_t)page - 1) / (size_t)page * (size_t)page + (size_t)page;
    data_map = mmap(NULL, data_map_len, PROT_READ, MAP_PRIVATE, dfd, 0);
    if (data_map == MAP_FAILED)
        return 6;
    close(dfd);
    data_sum_ref = data_sum();

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        return 7;

    /* SIGUSR2 blocked and pending for good: masks come back from the core. */
    sigset_t blk;
    sigemptyset(&blk);
    sigaddset(&blk, SIGUSR2);
    if (sigprocmask(SIG_BLOCK, &blk, NULL) != 0 || raise(SIGUSR2) != 0)
        return 7;

    emit("start sum ", (unsigned long)data_sum_ref, " usr1 ", 0);

    const struct timespec d = {0, 10 * 1000 * 1000};
    for (;;) {
        tick = tick + 1;
        for (unsigned i = 0; i < SMALL_COUNT; i++)
            for (size_t j = 0; j < small_size(i); j++)
                if (small[i][j] != small_byte(i, j))
                    corrupt(" small-malloc tick ");
        uint64_t from = (tick % 32) * (STRIPE / 8), to = from + STRIPE / 8;
        if (tick % 32 == 0)
            from = 0, to = BIG_LEN / 8;
        for (uint64_t k = from; k < to; k++)
            if (big[k] != big_word(k))
                corrupt(" big-malloc tick ");
        uint64_t s = data_sum();
        if (s != data_sum_ref)
            corrupt(" data-map tick ");
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        last_clock_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
        emit("tick ", tick, " sum ", (unsigned long)s);
        nanosleep(&d, NULL);
    }
}
