// norseq: run a program (or a shell) with the rseq(2) system call refused.
//
//   norseq [PROG [ARGS...]]
//
// glibc >= 2.35 registers an rseq area in every thread at start-up. A process
// restored by CRIU from foreign images can fail on a stale rseq registration;
// necro relocates the area so this is rarely needed, but a donor or a victim
// started under norseq has no rseq area at all, which takes rseq out of the
// picture when debugging a failed restore. The refusal (ENOSYS) is inherited
// by every child. Also sets GLIBC_TUNABLES=glibc.pthread.rseq=0 for clarity.

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

#if defined(__x86_64__)
constexpr unsigned audit_arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr unsigned audit_arch = AUDIT_ARCH_AARCH64;
#else
#error "norseq: unsupported architecture"
#endif

#ifndef SYS_rseq
#if defined(__x86_64__)
constexpr long sys_rseq = 334;
#else
constexpr long sys_rseq = 293;
#endif
#else
constexpr long sys_rseq = SYS_rseq;
#endif

bool refuse_rseq() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, audit_arch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(sys_rseq), 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])), filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && (std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0)) {
    std::printf("usage: norseq [PROG [ARGS...]]\nRuns PROG (default: $SHELL or /bin/sh) with rseq(2) refused.\n");
    return 0;
  }
  if (!refuse_rseq()) {
    std::fprintf(stderr, "norseq: cannot install the seccomp filter: %s\n", std::strerror(errno));
    return 126;
  }
  setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0", 1);
  if (argc > 1) {
    execvp(argv[1], argv + 1);
    std::fprintf(stderr, "norseq: cannot run %s: %s\n", argv[1], std::strerror(errno));
    return 127;
  }
  const char* shell = std::getenv("SHELL");
  if (!shell || !*shell) shell = "/bin/sh";
  execl(shell, shell, static_cast<char*>(nullptr));
  std::fprintf(stderr, "norseq: cannot run %s: %s\n", shell, std::strerror(errno));
  return 127;
}
