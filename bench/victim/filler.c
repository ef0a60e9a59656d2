/*
 * filler.c - the victim of the large-core benchmarks: a process whose memory
 * is N MiB of data, plus zero pages and a private file mapping.
 *
 *   filler DATA_MIB ZERO_MIB FILE READY
 *
 * - DATA_MIB MiB of anonymous memory, every 8-byte word non-zero
 *   (xorshift64), so no page of it can be elided;
 * - ZERO_MIB MiB of anonymous memory: the first half written with zeros
 *   (present pages of zeros in the core), the second half never touched (holes
 *   of the sparse core);
 * - FILE mapped whole, MAP_PRIVATE read/write, every page read and one page in
 *   16 changed (copy-on-write): the other pages still equal the file.
 * Then it creates the file READY and sleeps until a signal. SIGQUIT is reset to
 * its default (a shell may start background jobs with it ignored) so that
 * `kill -QUIT` leaves a core. SIGUSR1 makes it answer: it sums its data's last
 * page and writes "answer HEX" to READY.answer (after a lazy restore, that
 * page comes through userfaultfd on this touch).
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
#include <unistd.h>

static volatile sig_atomic_t asked;
static void on_usr1(int sig)
{
    (void)sig;
    asked = 1;
}

static void *map_anon(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(4);
    }
    return p;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s DATA_MIB ZERO_MIB FILE READY\n", argv[0]);
        return 2;
    }
    signal(SIGQUIT, SIG_DFL);
    signal(SIGUSR1, on_usr1);
    const size_t mib = 1u << 20, page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t data_len = (size_t)strtoull(argv[1], NULL, 10) * mib;
    const size_t zero_len = (size_t)strtoull(argv[2], NULL, 10) * mib;

    uint64_t *data = NULL;
    if (data_len) {
        uint64_t x = 0x9E3779B97F4A7C15ull;
        data = map_anon(data_len);
        for (size_t i = 0; i < data_len / 8; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            data[i] = x | 1;
        }
    }
    if (zero_len) {
        volatile unsigned char *zero = map_anon(zero_len);
        for (size_t i = 0; i < zero_len / 2; i += page)
            zero[i] = 0; /* a write fault: a present page of zeros */
    }

    int fd = open(argv[3], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
        perror(argv[3]);
        return 5;
    }
    const size_t file_len = (size_t)st.st_size;
    volatile unsigned char *f = mmap(NULL, file_len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (f == MAP_FAILED) {
        perror("mmap file");
        return 5;
    }
    close(fd);
    unsigned sum = 0;
    for (size_t i = 0; i < file_len; i += page) {
        sum += f[i];
        if ((i / page) % 16 == 0)
            f[i] = (unsigned char)(f[i] + 1);
    }

    int r = open(argv[4], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (r < 0 || write(r, "ready\n", 6) != 6)
        return 6;
    close(r);
    char answer_path[4096];
    snprintf(answer_path, sizeof answer_path, "%s.answer", argv[4]);
    for (;;) {
        pause();
        if (!asked || !data)
            continue;
        asked = 0;
        uint64_t h = 0;
        const uint64_t *last = data + (data_len - page) / 8;
        for (size_t i = 0; i < page / 8; i++)
            h ^= last[i];
        char line[64];
        const int n = snprintf(line, sizeof line, "answer %016llx\n", (unsigned long long)h);
        int a = open(answer_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (a >= 0) {
            if (write(a, line, (size_t)n) != n)
                sum++;
            close(a);
        }
    }
    return (int)(sum & 1);
}
