/*
 * manymaps.c - e2e victim: a process with more mappings than NT_FILE can list.
 *
 *   manymaps OUTFILE REGIONS [DATAFILE]
 *   manymaps - REGIONS [DATAFILE]   (the lines go to stdout: for donor-less
 *                                    resurrection with --stdio)
 *
 * - resets SIGQUIT to SIG_DFL (a script's background jobs start with it
 *   ignored), so `kill -QUIT` kills it with a core dump;
 * - dlopen()s libm.so.6 and libz.so.1 (file mappings the dynamic linker lists
 *   in its link_map, besides the executable, libc and the dynamic linker);
 * - maps DATAFILE (when given) read-only and private: a file mapping that is
 *   in no link_map, so a core without NT_FILE cannot tell what it maps;
 * - maps REGIONS one-page anonymous regions next to one another, alternately
 *   PROT_READ|PROT_WRITE and PROT_NONE so that the kernel keeps each one a
 *   VMA of its own; every 32nd writable region holds a pattern (memory for the
 *   oracle), the others stay untouched (not dumped: the core stays small);
 * - writes "ready <vmas>\n" (the count of lines of /proc/self/maps), then
 *   every ~10 ms increments `counter`, checks one patterned region and
 *   appends "<counter>\n" to OUTFILE (like counter.c: after a resurrection the
 *   next line must be the dead value + 1); a broken pattern writes "CORRUPT".
 *
 * Built with -DMANYMAPS_STATIC (a -static program, tests/data's
 * manymaps-static) it loads no library: a static program's dlopen() maps
 * them where no dynamic linker's list of the core names them.
 *
 * With more than 65 535 VMAs (vm.max_map_count raised) the kernel's NT_FILE
 * note would exceed kernel.core_file_note_size_limit (4 MiB by default: 64
 * bytes a VMA) and is left out of the core; the core also needs PN_XNUM.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define STRIDE 32UL /* every STRIDE-th writable region carries a pattern */

volatile unsigned long counter;
unsigned char *volatile regions;
volatile unsigned long region_count;
const unsigned char *volatile data_map;
void *volatile libs[2];

static unsigned char pattern(unsigned long region, unsigned long i)
{
    return (unsigned char)((region * 131u + i * 7u + 0x5au) & 0xffu);
}

static int count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    int lines = 0, c;
    while ((c = fgetc(f)) != EOF)
        lines += c == '\n';
    fclose(f);
    return lines;
}

static int map_regions(unsigned long n)
{
    /* One reservation, then every other page made inaccessible: VMAs alternate rw-/---. */
    unsigned char *base = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return -1;
    for (unsigned long r = 1; r < n; r += 2)
        if (mprotect(base + r * PAGE, PAGE, PROT_NONE) != 0)
            return -1;
    for (unsigned long r = 0; r < n; r += 2 * STRIDE)
        for (unsigned long i = 0; i < PAGE; i++)
            base[r * PAGE + i] = pattern(r, i);
    regions = base;
    region_count = n;
    return 0;
}

static int check_region(unsigned long tick)
{
    const unsigned long slots = (region_count + 2 * STRIDE - 1) / (2 * STRIDE);
    const unsigned long r = (tick % slots) * 2 * STRIDE;
    for (unsigned long i = 0; i < PAGE; i++)
        if (regions[r * PAGE + i] != pattern(r, i))
            return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s OUTFILE REGIONS [DATAFILE]\n", argv[0]);
        return 2;
    }
    signal(SIGQUIT, SIG_DFL);
    int fd = strcmp(argv[1], "-") == 0 ? STDOUT_FILENO
                                       : open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return 3;
#ifndef MANYMAPS_STATIC
    libs[0] = dlopen("libm.so.6", RTLD_NOW);
    libs[1] = dlopen("libz.so.1", RTLD_NOW);
    if (!libs[0] || !libs[1])
        return 4;
#endif
    if (argc == 4) {
        int dfd = open(argv[3], O_RDONLY | O_CLOEXEC);
        if (dfd < 0)
            return 5;
        data_map = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, dfd, 0);
        close(dfd);
        if (data_map == MAP_FAILED)
            return 5;
    }
    if (map_regions(strtoul(argv[2], NULL, 10)) != 0)
        return 6;
    char line[64];
    int n = snprintf(line, sizeof line, "ready %d\n", count_maps());
    if (write(fd, line, (size_t)n) != n)
        return 7;

    const struct timespec tick = {0, 10 * 1000 * 1000}; /* 10 ms */
    for (;;) {
        counter++;
        n = check_region(counter) == 0 ? snprintf(line, sizeof line, "%lu\n", counter)
                                       : snprintf(line, sizeof line, "CORRUPT %lu\n", counter);
        if (write(fd, line, (size_t)n) != n)
            return 8;
        nanosleep(&tick, NULL);
    }
}
