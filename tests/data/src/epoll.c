/*
 * epoll.c - test victim/donor for necro's epoll fixtures.
 *
 * Registers three pipe read ends with one epoll instance, each with a
 * different kind of epoll_event.data, the way servers do:
 *   - a pointer into the brk heap (a malloc'd connection, like nginx's),
 *   - a pointer into anonymous memory malloc got from mmap (a large array of
 *     connections, like nginx's with many worker_connections),
 *   - a pointer into the executable's .data with bit 0 set (nginx ORs an
 *     `instance` bit into its pointers),
 *   - the fd number itself (like Redis and memcached).
 * Writes the values it registered to argv[1] ("key=value" lines), then waits
 * in epoll_wait forever. Resets SIGQUIT to SIG_DFL so `kill -QUIT` dumps core.
 *
 * Build: gcc -O1 -g -o epoll epoll.c   (dynamic glibc, on purpose)
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

struct conn {
    int fd;
    char name[60];
};

struct conn data_conn = { -1, "in .data" };

static int watch(int ep, int fd, uint64_t data)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u64 = data;
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int main(int argc, char **argv)
{
    signal(SIGQUIT, SIG_DFL);
    if (argc < 2)
        return 2;
    /* First allocation of the process: the same heap offset in every run. */
    struct conn *heap_conn = malloc(sizeof(*heap_conn));
    /* Above malloc's mmap threshold (128 KiB): its own anonymous mapping. */
    struct conn *anon_conns = malloc(4096 * sizeof(struct conn));
    int heap_pipe[2], data_pipe[2], fd_pipe[2], anon_pipe[2];
    if (!heap_conn || !anon_conns || pipe(heap_pipe) || pipe(data_pipe) || pipe(fd_pipe) || pipe(anon_pipe))
        return 1;
    struct conn *anon_conn = &anon_conns[1000];
    anon_conn->fd = anon_pipe[0];
    strcpy(anon_conn->name, "in mmap'd memory");
    heap_conn->fd = heap_pipe[0];
    strcpy(heap_conn->name, "in the heap");
    data_conn.fd = data_pipe[0];

    const int ep = epoll_create1(0);
    const uint64_t heap_data = (uintptr_t)heap_conn;
    const uint64_t data_data = (uintptr_t)&data_conn | 1;
    const uint64_t fd_data = (uint64_t)fd_pipe[0];
    const uint64_t anon_data = (uintptr_t)anon_conn | 1;
    if (ep < 0 || watch(ep, heap_pipe[0], heap_data) || watch(ep, data_pipe[0], data_data) ||
        watch(ep, fd_pipe[0], fd_data) || watch(ep, anon_pipe[0], anon_data))
        return 1;

    char out[512];
    const int n = snprintf(out, sizeof(out),
                           "epoll_fd=%d\nheap_fd=%d\nheap_data=0x%llx\ndata_fd=%d\ndata_data=0x%llx\n"
                           "number_fd=%d\nnumber_data=0x%llx\nanon_fd=%d\nanon_data=0x%llx\n",
                           ep, heap_pipe[0], (unsigned long long)heap_data, data_pipe[0],
                           (unsigned long long)data_data, fd_pipe[0], (unsigned long long)fd_data, anon_pipe[0],
                           (unsigned long long)anon_data);
    const int f = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (f < 0 || write(f, out, (size_t)n) != n || close(f))
        return 1;

    struct epoll_event ev;
    for (;;)
        epoll_wait(ep, &ev, 1, 10);
}
