/*
 * counter.c - e2e victim: a counter that must continue after resurrection.
 *
 *   counter OUTFILE
 *   counter -          (the lines go to stdout: a victim whose only external
 *                       state is stdio, for donor-less resurrection with --stdio)
 *
 * - resets SIGQUIT to SIG_DFL (a script's background jobs start with it
 *   ignored), so `kill -QUIT` kills it with a core dump;
 * - fills a 64 KiB heap buffer with a known pattern (memory for the oracle);
 * - every ~10 ms: increments `counter` and appends "<counter>\n" to OUTFILE.
 *
 * OUTFILE is opened once, O_WRONLY|O_APPEND: CRIU does not check the size of
 * such a file at restore, so a resurrected process can keep appending to it
 * although the file grew after the dump. The first line ever written is "1";
 * after a resurrection the next line must be the dead value + 1.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PATTERN_LEN (64 * 1024)

volatile unsigned long counter;
unsigned char *volatile pattern_buf;

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTFILE\n", argv[0]);
        return 2;
    }
    signal(SIGQUIT, SIG_DFL);

    int fd = strcmp(argv[1], "-") == 0 ? STDOUT_FILENO
                                       : open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return 3;

    pattern_buf = malloc(PATTERN_LEN);
    if (!pattern_buf)
        return 4;
    for (unsigned i = 0; i < PATTERN_LEN; i++)
        pattern_buf[i] = (unsigned char)((i * 7u + 0x5au) & 0xffu);

    const struct timespec tick = {0, 10 * 1000 * 1000}; /* 10 ms */
    for (;;) {
        char line[32];
        counter++;
        int n = snprintf(line, sizeof line, "%lu\n", counter);
        if (write(fd, line, (size_t)n) != n)
            return 5;
        nanosleep(&tick, NULL);
    }
}
