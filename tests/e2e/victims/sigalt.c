/* sigalt: counts SIGUSR1 in an SA_SIGINFO|SA_ONSTACK handler that runs on
 * the program's own sigaltstack (64 KiB from malloc), for e2e.catch-sigalt.
 * OUT gets "altstack LO HI" once, then "usr1 N sp 0xSP" for each handled
 * signal: N the count, SP the address of a local of the handler (on the
 * sigaltstack when the disposition and the stack are the dead process's).
 * Usage: sigalt OUT. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t count;
static volatile uintptr_t handler_sp;

static void on_usr1(int sig, siginfo_t* info, void* ctx) {
  volatile char here = 0;
  (void)sig, (void)info, (void)ctx;
  handler_sp = (uintptr_t)&here;
  count = count + 1;
}

static void put(int fd, const char* s) {
  if (write(fd, s, strlen(s)) < 0) _exit(3);
}

int main(int argc, char** argv) {
  if (argc != 2) return fprintf(stderr, "usage: sigalt OUT\n"), 2;
  signal(SIGQUIT, SIG_DFL); /* docs/pitfalls.md#sigquit-ignored */
  const int out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) return perror(argv[1]), 1;
  const size_t size = 64 * 1024;
  stack_t ss = {.ss_sp = malloc(size), .ss_size = size, .ss_flags = 0};
  if (!ss.ss_sp || sigaltstack(&ss, NULL) != 0) return perror("sigaltstack"), 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_usr1;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGUSR2);
  if (sigaction(SIGUSR1, &sa, NULL) != 0) return perror("sigaction"), 1;
  char line[128];
  snprintf(line, sizeof line, "altstack %#lx %#lx\n", (unsigned long)(uintptr_t)ss.ss_sp,
           (unsigned long)((uintptr_t)ss.ss_sp + size));
  put(out, line);
  int written = 0;
  for (;;) {
    const struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    const int now = count;
    if (now == written) continue;
    written = now;
    snprintf(line, sizeof line, "usr1 %d sp %#lx\n", now, (unsigned long)handler_sp);
    put(out, line);
  }
}
