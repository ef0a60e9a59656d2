/*
 * counter.c - tiny deterministic test victim/donor for necro fixtures.
 *
 * - resets SIGQUIT to SIG_DFL (background jobs of a script start with it
 *   ignored), so `kill -QUIT` produces a core dump;
 * - mallocs a small buffer and fills it with a known pattern;
 * - increments a volatile counter every 10 ms, forever;
 * - writes nothing to stdout.
 *
 * Build: gcc -O1 -g -o counter counter.c   (dynamic glibc, on purpose)
 */
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#define PATTERN_LEN 4096

volatile unsigned long counter;
unsigned char *volatile pattern_buf;

int main(void)
{
    signal(SIGQUIT, SIG_DFL);

    pattern_buf = malloc(PATTERN_LEN);
    if (!pattern_buf)
        return 1;
    /* Known pattern: byte i == (i * 7 + 0x5a) & 0xff, preceded by a tag. */
    for (unsigned i = 0; i < PATTERN_LEN; i++)
        pattern_buf[i] = (unsigned char)((i * 7u + 0x5au) & 0xffu);
    static const char tag[] = "NECRO-COUNTER-PATTERN";
    for (unsigned i = 0; i < sizeof(tag); i++)
        pattern_buf[i] = (unsigned char)tag[i];

    const struct timespec tick = { 0, 10 * 1000 * 1000 }; /* 10 ms */
    for (;;) {
        counter++;
        nanosleep(&tick, NULL);
    }
}
