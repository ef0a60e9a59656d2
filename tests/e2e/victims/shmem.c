/*
 * shmem.c - e2e victim: memory that lives only in the process.
 *
 *   shmem OUTFILE DIR [all|shared|bare]
 *
 * Sets up five regions, each holding a pattern seeded by this run's pid (a
 * donor run, with another pid, holds other bytes) and a counter:
 * - "anon":  MAP_SHARED|MAP_ANONYMOUS, 3 pages (NT_FILE: /dev/zero (deleted));
 * - "mfd":   a memfd "necro-shm" (MFD_ALLOW_SEALING, 5 pages, sealed against
 *            shrinking and growing), mapped MAP_SHARED;
 * - "mfdp":  the same memfd mapped MAP_PRIVATE (copy-on-write of it);
 * - "ghost": DIR/ghost-data (2.5 pages) mapped MAP_SHARED, then unlinked;
 * - "ghostp": the same deleted file mapped MAP_PRIVATE.
 * Every fd is closed once mapped: only the mappings keep the objects alive.
 * "shared" leaves out the two MAP_PRIVATE mappings, "bare" everything but
 * "anon" (a donor without memfd and ghost file).
 *
 * Every ~10 ms (tick t = 1, 2, ...): each region's counter must equal t - 1
 * and its pattern must hold, else "<region> <t> seed <seed>", "CORRUPT <t> seed <seed>" and exit 3;
 * then every counter becomes t and "tick <t> seed <seed>" is appended to
 * OUTFILE. The first line is "start 0 seed <seed>". After a resurrection the
 * ticks continue from the dead value + 1, with the dead run's seed, and no
 * "start" line: the shared memory came back with the dead process's bytes.
 * SIGQUIT is reset to SIG_DFL (scripts start background jobs with it ignored).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define ANON_LEN (3 * PAGE)
#define MFD_LEN (5 * PAGE)
#define GHOST_LEN (2 * PAGE + PAGE / 2)

struct region {
    const char *name;
    volatile uint64_t *counter; /* the region's first word */
    unsigned char *bytes;       /* pattern from byte 8 on */
    size_t len;
    unsigned salt;
};

static int out_fd;
static unsigned long seed;
static struct region regions[5];
static int nregions;
static volatile unsigned long tick;

static unsigned char pattern(unsigned salt, size_t i)
{
    return (unsigned char)((i * 131u + salt * 17u + seed * 7u + 1u) & 0xffu);
}

static void fill(struct region *r)
{
    *r->counter = 0;
    for (size_t i = 8; i < r->len; i++)
        r->bytes[i] = pattern(r->salt, i);
}

static int holds(const struct region *r)
{
    if (*r->counter != tick)
        return 0;
    for (size_t i = 8; i < r->len; i++)
        if (r->bytes[i] != pattern(r->salt, i))
            return 0;
    return 1;
}

static void say(const char *what, unsigned long t)
{
    char line[128];
    int n = snprintf(line, sizeof line, "%s %lu seed %lu\n", what, t, seed);
    if (write(out_fd, line, (size_t)n) != n)
        _exit(5);
}

static void *map_or_die(size_t len, int flags, int fd)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (p == MAP_FAILED)
        _exit(4);
    return p;
}

/* Region number i (its salt is i + 1, whichever regions the mode keeps). */
static void add(int i, const char *name, void *p, size_t len)
{
    regions[nregions] = (struct region){name, (volatile uint64_t *)p, p, len, (unsigned)i + 1};
    fill(&regions[nregions++]);
}

int main(int argc, char **argv)
{
    const char *mode = argc == 4 ? argv[3] : "all";
    const int shared_only = !strcmp(mode, "shared"), bare = !strcmp(mode, "bare");
    if ((argc != 3 && argc != 4) || (!shared_only && !bare && strcmp(mode, "all"))) {
        fprintf(stderr, "usage: %s OUTFILE DIR [all|shared|bare]\n", argv[0]);
        return 2;
    }
    signal(SIGQUIT, SIG_DFL);
    out_fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (out_fd < 0)
        return 3;
    seed = (unsigned long)getpid();

    add(0, "anon", map_or_die(ANON_LEN, MAP_SHARED | MAP_ANONYMOUS, -1), ANON_LEN);

    if (bare)
        goto run;
    int mfd = memfd_create("necro-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0 || ftruncate(mfd, MFD_LEN) != 0 || fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0)
        return 4;
    add(1, "mfd", map_or_die(MFD_LEN, MAP_SHARED, mfd), MFD_LEN);
    if (!shared_only)
        add(2, "mfdp", map_or_die(MFD_LEN, MAP_PRIVATE, mfd), MFD_LEN);
    close(mfd);

    char path[4096];
    snprintf(path, sizeof path, "%s/ghost-data", argv[2]);
    int gfd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (gfd < 0 || ftruncate(gfd, GHOST_LEN) != 0)
        return 4;
    /* Both mappings cover the whole last page; bytes past EOF are not file. */
    add(3, "ghost", map_or_die(GHOST_LEN, MAP_SHARED, gfd), GHOST_LEN);
    if (!shared_only)
        add(4, "ghostp", map_or_die(GHOST_LEN, MAP_PRIVATE, gfd), GHOST_LEN);
    close(gfd);
    unlink(path);

run:
    say("start", 0);
    const struct timespec step = {0, 10 * 1000 * 1000};
    for (;;) {
        for (int i = 0; i < nregions; i++)
            if (!holds(&regions[i])) {
                say(regions[i].name, tick + 1); /* "<region> <tick> seed <seed>" */
                say("CORRUPT", tick + 1);
                _exit(3);
            }
        tick++;
        for (int i = 0; i < nregions; i++)
            *regions[i].counter = tick;
        say("tick", tick);
        nanosleep(&step, NULL);
    }
}
