/* catchme: a victim for necro-catch, holding one fd of every kind the capture
 * describes. In its cwd it writes:
 *   appended.txt   opened O_WRONLY|O_APPEND, 17 bytes written, then lseek to 7
 *   fds.txt        `N LINK` per open fd (its own /proc/self/fd), after all are open
 *   ports.txt      `tcp PORT` and `udp PORT` (127.0.0.1, ephemeral)
 *   ready          once everything is set up
 * and holds: a pipe (both ends), an eventfd (count 42), a timerfd (monotonic,
 * 1000 s then every 2.5 s), a signalfd (SIGUSR1|SIGUSR2, blocked), a listening
 * TCP socket and a bound UDP socket on 127.0.0.1, a listening unix socket
 * `sock` in its cwd, and an epoll instance watching the eventfd (EPOLLIN,
 * data 0x1122334455667788), the pipe's read end (EPOLLIN|EPOLLET, data 7) and
 * the TCP socket (EPOLLIN, data its fd). Then it sleeps until killed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

static void die(const char* what) {
  perror(what);
  exit(1);
}

static int inet_socket(int type, int* port) {
  int s = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (s < 0 || bind(s, (struct sockaddr*)&a, sizeof a) != 0) die("bind inet");
  if (type == SOCK_STREAM && listen(s, 16) != 0) die("listen inet");
  if (getsockname(s, (struct sockaddr*)&a, &len) != 0) die("getsockname");
  *port = ntohs(a.sin_port);
  return s;
}

static int unix_listener(const char* path) {
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strncpy(a.sun_path, path, sizeof a.sun_path - 1);
  unlink(path);
  if (s < 0 || bind(s, (struct sockaddr*)&a, sizeof a) != 0 || listen(s, 8) != 0) die("unix listener");
  return s;
}

static void watch(int ep, int fd, unsigned events, unsigned long long data) {
  struct epoll_event ev = {.events = events, .data.u64 = data};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
}

/* Lists the fds into memory first, so neither the directory nor fds.txt is listed. */
static void list_fds(void) {
  static char text[65536];
  size_t used = 0;
  DIR* d = opendir("/proc/self/fd");
  struct dirent* e;
  char path[300], link[512];
  while ((e = readdir(d)) != NULL && used < sizeof text - 600) {
    if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d)) continue;
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t n = readlink(path, link, sizeof link - 1);
    link[n < 0 ? 0 : n] = 0;
    used += (size_t)snprintf(text + used, sizeof text - used, "%s %s\n", e->d_name, link);
  }
  closedir(d);
  FILE* out = fopen("fds.txt", "w");
  fputs(text, out);
  fclose(out);
}

int main(void) {
  signal(SIGQUIT, SIG_DFL);
  int app = open("appended.txt", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  if (app < 0 || write(app, "necro-catch-test\n", 17) != 17 || lseek(app, 7, SEEK_SET) != 7) die("appended.txt");
  int p[2];
  if (pipe(p) != 0) die("pipe");
  int efd = eventfd(42, EFD_CLOEXEC);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  struct itimerspec its = {.it_value = {1000, 0}, .it_interval = {2, 500000000}};
  if (efd < 0 || tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) != 0) die("eventfd/timerfd");
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sfd = signalfd(-1, &set, SFD_NONBLOCK);
  int tcp_port, udp_port;
  int tcp = inet_socket(SOCK_STREAM, &tcp_port), udp = inet_socket(SOCK_DGRAM, &udp_port);
  int usk = unix_listener("sock");
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (sfd < 0 || ep < 0) die("signalfd/epoll");
  watch(ep, efd, EPOLLIN, 0x1122334455667788ull);
  watch(ep, p[0], EPOLLIN | EPOLLET, 7);
  watch(ep, tcp, EPOLLIN, (unsigned long long)tcp);
  FILE* ports = fopen("ports.txt", "w");
  fprintf(ports, "tcp %d\nudp %d\n", tcp_port, udp_port);
  fclose(ports);
  list_fds();
  (void)usk, (void)udp;
  close(open("ready", O_WRONLY | O_CREAT | O_TRUNC, 0644));
  for (;;) pause();
}
