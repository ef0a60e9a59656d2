/*
 * libcounter.c - e2e victim: counter.c's loop, with the count kept by a
 * shared library of its own (libstep.c, libnecrostep.so), found through the
 * run path $ORIGIN/../lib. The test installs both in a directory of their own
 * (OPT/bin/libcounter, OPT/lib/libnecrostep.so), lets the victim die under
 * necro-catch, and then takes that directory away: the "other machine".
 *
 *   libcounter OUTFILE
 *
 * - resets SIGQUIT to SIG_DFL, so `kill -QUIT` kills it with a core dump;
 * - every ~10 ms: asks the library for the next value, checks it against the
 *   library's key, and appends "<value>\n" to OUTFILE (O_APPEND, opened once);
 *   a value that does not check out ends the process with exit code 6.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

extern uint64_t step_key;
uint64_t step_next(void);
uint64_t step_value(void);

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTFILE\n", argv[0]);
        return 2;
    }
    signal(SIGQUIT, SIG_DFL);
    int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return 3;
    const struct timespec tick = {0, 10 * 1000 * 1000}; /* 10 ms */
    for (;;) {
        uint64_t v = step_next() ^ step_key;
        if (v != step_value())
            return 6;
        char line[32];
        int n = snprintf(line, sizeof line, "%llu\n", (unsigned long long)v);
        if (write(fd, line, (size_t)n) != n)
            return 5;
        nanosleep(&tick, NULL);
    }
}
