// necro-e2e-oracle: compares a live (restored) process with an ELF core.
//
//   necro-e2e-oracle [options] CORE PID      compare; exit 0 same, 1 different, 2 error
//   necro-e2e-oracle --info CORE             print the core's pid, threads, signals, ip
//   necro-e2e-oracle --self-test-xsave       the XSAVE layout logic on synthetic AMD and
//                                            Intel images (xsave_selftest.cpp)
//   necro-e2e-oracle --enter-handler TID SIG stop thread TID on its handler of SIG, as a
//                                            restored timer may (e2e.oracle-frame)
//
// What "the same" means (see tests/e2e/README.md for why):
//   threads   the live process's tids are exactly the core's NT_PRSTATUS tids, and
//             PID is the core's pid.
//   registers every general register of each thread (PTRACE_GETREGS) equals the
//             core's NT_PRSTATUS registers after CRIU's dump-time syscall-restart
//             rewind (-512/-513/-514: ax = orig_ax, ip -= 2; -516: ax = -EINTR),
//             except orig_rax (-1 after `criu restore -s`). --raw-regs: no rewind,
//             orig_rax compared too (a live process never dumped, e.g. gcore).
//             FPU: the FXSAVE fields of NT_PRFPREG (PTRACE_GETFPREGS); xstate: every
//             XSAVE component above SSE (YMM, AVX-512, PKRU, ...) enabled in XCR0, of
//             NT_X86_XSTATE (PTRACE_GETREGSET), each side at its own offsets: the
//             core's from its NT_X86_XSAVE_LAYOUT (or, for gdb's gcore, gdb's
//             layout), the live one's from CPUID leaf 0xD (xsave_layout.hpp).
//   signals   each thread's blocked mask (/proc status SigBlk) is the core's
//             pr_sighold; its pending mask (SigPnd) is the core's pr_sigpend less
//             the fatal signal and SIGKILL; the fatal signal and SIGKILL are not
//             pending process-wide (ShdPnd) either: the death is not re-delivered.
//             (Not with --raw-regs, which compares a live, never-dumped process,
//             nor with --gdb-core: gcore writes no signal masks.)
//             --timer-signals SIGS: these may be pending besides, and a thread
//             stopped on the first instruction of a handler of one of them is
//             compared by the state saved in its signal frame (registers, FPU,
//             XSAVE, blocked mask), the frame's bytes left out of memory.
//   layout    every PT_LOAD range is mapped in /proc/PID/maps with the same r/w/x,
//             and nothing is mapped that the core does not have. --gdb-core: the
//             core was written by gdb's gcore, which leaves mappings out and
//             lists PROT_NONE ones as r--: only coverage of the core's ranges is
//             checked (and signal masks are not compared).
//   memory    every dumped byte (p_filesz) of every PT_LOAD equals /proc/PID/mem,
//             except: [vvar]/[vvar_vclock]/[vsyscall] (kernel data, not process
//             memory); the kernel-written fields of each thread's rseq area
//             (cpu_id_start, cpu_id, node_id, mm_cid, and rseq_cs when the live one
//             is 0); pages of a file mapping past the end of its file (not memory:
//             unreadable live, zeros in the core).
// Each thread is attached with PTRACE_SEIZE + PTRACE_INTERRUPT and detached with
// no signal: a running process runs on, and the kernel puts a group-stopped one
// (e.g. after `criu restore -s`) back into its stop, a moment after the detach
// (it is briefly not in state T), before any user instruction.
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <necro/arch/x86_64.hpp>
#include <necro/elf/core_view.hpp>

#include "xsave_layout.hpp"

namespace {

using arch = necro::arch::x86_64;
using core_t = necro::elf::core_view<arch>;
using u64 = std::uint64_t;

constexpr long ptrace_get_rseq_configuration = 0x420f;
constexpr unsigned nt_x86_xstate = 0x202;

struct rseq_config {
  u64 rseq_abi_pointer;
  std::uint32_t rseq_abi_size, signature, flags, pad;
};

struct options {
  bool raw_regs = false;
  bool regs = true;
  bool memory = true;
  bool gdb_core = false;
  std::size_t max_report = 20;
  /// Signals the restored process's own timers may have made pending since
  /// the restore (--timer-signals 14,34: a stopped task's timers still run).
  std::uint64_t timer_signals = 0;
};

[[noreturn]] void die(const std::string& m) {
  std::fprintf(stderr, "oracle: error: %s\n", m.c_str());
  std::exit(2);
}

std::string hex(u64 v) {
  char b[32];
  std::snprintf(b, sizeof b, "%#" PRIx64, v);
  return b;
}

constexpr std::array<const char*, 27> reg_names = {
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9",      "r8",      "rax", "rcx", "rdx", "rsi",
    "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es",  "fs",  "gs"};
constexpr std::size_t reg_orig_rax = 15;
static_assert(sizeof(user_regs_struct) == 27 * 8);
static_assert(sizeof(arch::user_regs) == 27 * 8);
static_assert(sizeof(user_fpregs_struct) == 512);

// ------------------------------------------------------------------ /proc
struct map_entry {
  u64 start = 0, end = 0, offset = 0;
  std::string perms, path;
  bool kernel_data() const {
    return path == "[vvar]" || path == "[vvar_vclock]" || path == "[vsyscall]";
  }
  bool file_backed() const { return !path.empty() && path.front() == '/'; }
};

std::vector<map_entry> read_maps(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  if (!in) die("cannot read /proc/" + std::to_string(pid) + "/maps");
  std::vector<map_entry> out;
  std::string line;
  while (std::getline(in, line)) {
    map_entry e;
    std::istringstream ls(line);
    std::string range, dev, inode;
    ls >> range >> e.perms >> std::hex >> e.offset >> dev >> std::dec >> inode;
    std::getline(ls >> std::ws, e.path);
    const auto dash = range.find('-');
    e.start = std::stoull(range.substr(0, dash), nullptr, 16);
    e.end = std::stoull(range.substr(dash + 1), nullptr, 16);
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<pid_t> live_tids(pid_t pid) {
  std::vector<pid_t> t;
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec))
    t.push_back(static_cast<pid_t>(std::stol(d.path().filename().string())));
  if (ec) die("cannot list /proc/" + std::to_string(pid) + "/task: " + ec.message());
  std::sort(t.begin(), t.end());
  return t;
}

/// Size of the file a mapping maps (through /proc/PID/map_files), if known.
std::optional<u64> mapped_file_size(pid_t pid, const map_entry& e) {
  char name[96];
  std::snprintf(name, sizeof name, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, pid, e.start, e.end);
  struct stat st{};
  if (stat(name, &st) != 0) return std::nullopt;
  return static_cast<u64>(st.st_size);
}

// ------------------------------------------------------------------ ptrace
struct tracee {
  pid_t tid;
  bool attached = false;
};

void attach(tracee& t) {
  if (ptrace(PTRACE_SEIZE, t.tid, nullptr, nullptr) != 0)
    die("PTRACE_SEIZE " + std::to_string(t.tid) + ": " + std::strerror(errno));
  t.attached = true;
  if (ptrace(PTRACE_INTERRUPT, t.tid, nullptr, nullptr) != 0)
    die("PTRACE_INTERRUPT " + std::to_string(t.tid) + ": " + std::strerror(errno));
  int st = 0;
  if (waitpid(t.tid, &st, __WALL) != t.tid) die("waitpid " + std::to_string(t.tid) + ": " + std::strerror(errno));
  if (!WIFSTOPPED(st)) die("thread " + std::to_string(t.tid) + " did not stop (status " + hex(static_cast<u64>(st)) + ")");
}

void detach(tracee& t) {
  if (t.attached && ptrace(PTRACE_DETACH, t.tid, nullptr, nullptr) != 0)
    std::fprintf(stderr, "oracle: warning: PTRACE_DETACH %d: %s\n", t.tid, std::strerror(errno));
  t.attached = false;
}

// ------------------------------------------------------------------ report
struct report {
  u64 mem_compared = 0, mem_skipped_kernel = 0, mem_skipped_rseq = 0, mem_skipped_eof = 0, mem_skipped_frame = 0,
      mem_mismatch = 0,
      mem_unreadable = 0, layout_mismatch = 0, regs_compared = 0, regs_mismatch = 0, threads_mismatch = 0;
  std::size_t printed = 0;
};

// ------------------------------------------------------------------ thread state
/// What the oracle compares of one live thread.
struct thread_state {
  user_regs_struct regs{};
  user_fpregs_struct fp{};
  std::vector<unsigned char> xstate;  ///< standard format, XCR0 at 464: as PTRACE_GETREGSET gives it
  std::optional<u64> blocked;         ///< from a signal frame: the mask before its handler
  std::vector<int> frames;            ///< the signals whose frames were unwound, innermost first
  u64 frame_lo = 0, frame_hi = 0;     ///< where those frames lie on the stack
};

thread_state ptrace_state(pid_t tid) {
  thread_state s;
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &s.regs) != 0) die("PTRACE_GETREGS " + std::to_string(tid) + ": " + std::strerror(errno));
  if (ptrace(PTRACE_GETFPREGS, tid, nullptr, &s.fp) != 0) die("PTRACE_GETFPREGS: " + std::string(std::strerror(errno)));
  s.xstate.resize(1 << 16);
  iovec iov{s.xstate.data(), s.xstate.size()};
  if (ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(static_cast<std::uintptr_t>(nt_x86_xstate)), &iov) != 0)
    die("PTRACE_GETREGSET NT_X86_XSTATE: " + std::string(std::strerror(errno)));
  s.xstate.resize(iov.iov_len);
  return s;
}

// ------------------------------------------------------------------ timer signal frames
// CRIU arms the restored timers in its restorer, before the tasks' sigreturn.
// A timer that fires before `criu restore -s` lets them go is delivered ahead
// of the SIGSTOP that keeps them (the lower signal is dequeued first): the
// thread stops on the first instruction of its handler, and the state the
// restore gave it is in an rt_sigframe on its stack (arch/x86/kernel/signal.c).
// With --timer-signals the oracle compares that saved state and leaves the
// frame's bytes out of the memory comparison. A frame is told by what
// setup_rt_frame() leaves: rdi the signal (one of --timer-signals), rsp at the
// frame's return address, rdx its ucontext (rsp + 8), rsi its siginfo (after
// the ucontext; written only for SA_SIGINFO handlers), the ucontext's flags
// and code segment, and its FPU state above them.

/// The kernel's x86-64 ucontext: glibc's ucontext_t up to the kernel's 8-byte
/// sigset_t (glibc's sigset_t is longer, and its FPU copy is not the kernel's).
constexpr std::size_t kernel_ucontext_size = offsetof(ucontext_t, uc_sigmask) + 8;
static_assert(offsetof(ucontext_t, uc_mcontext) == 40 && kernel_ucontext_size == 304);
constexpr std::size_t frame_head = 8 + kernel_ucontext_size + sizeof(siginfo_t);  // pretcode, uc, info
constexpr std::uint32_t fp_xstate_magic1 = 0x46505853;  // struct _fpx_sw_bytes at 464 of the frame's FXSAVE area
constexpr u64 uc_sigcontext_ss = 0x2;
constexpr u64 uc_flags_known = 0x7;  // UC_FP_XSTATE, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS

bool read_mem(int memfd, u64 addr, void* buf, std::size_t n) {
  return pread(memfd, buf, n, static_cast<off_t>(addr)) == static_cast<ssize_t>(n);
}

/// A frame's XSAVE image as PTRACE_GETREGSET gives it: XCR0 at 464 (the frame
/// has its _fpx_sw_bytes there), and components whose XSTATE_BV bit is clear
/// in their initial configuration (XSAVE need not write them).
void as_ptrace_xstate(std::vector<unsigned char>& x, u64 xcr0, const necro_e2e::xlayout& cpu) {
  std::memcpy(x.data() + 464, &xcr0, sizeof xcr0);
  if (x.size() < 512 + 8) return;
  u64 bv = 0;
  std::memcpy(&bv, x.data() + 512, sizeof bv);
  if (!(bv & 1)) {  // x87: FCW 0x37f, everything else 0 (MXCSR is SSE's)
    std::memset(x.data(), 0, 24);
    std::memset(x.data() + 32, 0, 128);
    x[0] = 0x7f;
    x[1] = 0x03;
  }
  if (!(bv & 2)) std::memset(x.data() + 160, 0, 256);  // xmm0-15
  for (const auto& [f, pos] : cpu)
    if (!((bv >> f) & 1) && std::uint64_t{pos.first} + pos.second <= x.size()) std::memset(x.data() + pos.first, 0, pos.second);
}

/// Replaces `s` by the state saved in the timer signal frame its thread
/// stopped in, as long as there is one (a second timer may fire into the
/// first handler). A thread that is not at such a frame is left as it is.
void unwind_timer_frames(int memfd, pid_t tid, thread_state& s, u64 timer_signals) {
  static const necro_e2e::xlayout cpu = necro_e2e::cpuid_layout();
  for (int depth = 0; depth < 8; ++depth) {
    const user_regs_struct& r = s.regs;
    const u64 sig = r.rdi;
    if (sig < 1 || sig > 64 || !((timer_signals >> (sig - 1)) & 1)) return;
    if (r.rdx != r.rsp + 8 || r.rsi != r.rsp + 8 + kernel_ucontext_size) return;
    std::array<unsigned char, frame_head> f{};
    if (!read_mem(memfd, r.rsp, f.data(), f.size())) return;
    ucontext_t uc{};
    std::memcpy(&uc, f.data() + 8, kernel_ucontext_size);
    if ((uc.uc_flags & ~uc_flags_known) || uc.uc_link || (static_cast<u64>(uc.uc_mcontext.gregs[REG_CSGSFS]) & 0xffff) != r.cs)
      return;
    const u64 fpstate = reinterpret_cast<std::uintptr_t>(uc.uc_mcontext.fpregs);
    if (fpstate < r.rsp + frame_head || fpstate - r.rsp > (1 << 16)) return;
    std::vector<unsigned char> x(512);
    if (!read_mem(memfd, fpstate, x.data(), x.size())) return;
    std::uint32_t magic = 0, extended = 0, size = 512;
    u64 xcr0 = 0;
    std::memcpy(&magic, x.data() + 464, 4);
    if (magic == fp_xstate_magic1) {
      std::memcpy(&extended, x.data() + 468, 4);
      std::memcpy(&xcr0, x.data() + 472, 8);
      std::memcpy(&size, x.data() + 480, 4);
      if (size < 512 + 64 || size > (1 << 16) || extended < size) return;
      x.resize(size);
      if (!read_mem(memfd, fpstate, x.data(), x.size())) return;
    }
    as_ptrace_xstate(x, xcr0, cpu);

    const greg_t* g = uc.uc_mcontext.gregs;
    const auto u = [](greg_t v) { return static_cast<u64>(v); };
    thread_state prev = s;  // fs_base, gs_base and the data segments: not in the frame, unchanged by it
    auto& p = prev.regs;
    p.r8 = u(g[REG_R8]), p.r9 = u(g[REG_R9]), p.r10 = u(g[REG_R10]), p.r11 = u(g[REG_R11]);
    p.r12 = u(g[REG_R12]), p.r13 = u(g[REG_R13]), p.r14 = u(g[REG_R14]), p.r15 = u(g[REG_R15]);
    p.rdi = u(g[REG_RDI]), p.rsi = u(g[REG_RSI]), p.rbp = u(g[REG_RBP]), p.rbx = u(g[REG_RBX]);
    p.rdx = u(g[REG_RDX]), p.rax = u(g[REG_RAX]), p.rcx = u(g[REG_RCX]), p.rsp = u(g[REG_RSP]);
    p.rip = u(g[REG_RIP]), p.eflags = u(g[REG_EFL]);
    p.cs = u(g[REG_CSGSFS]) & 0xffff;
    if (uc.uc_flags & uc_sigcontext_ss) p.ss = u(g[REG_CSGSFS]) >> 48;
    std::memcpy(&prev.fp, x.data(), sizeof prev.fp);
    prev.xstate = std::move(x);
    u64 mask = 0;
    std::memcpy(&mask, &uc.uc_sigmask, sizeof mask);
    prev.blocked = mask;
    prev.frames.push_back(static_cast<int>(sig));
    const u64 hi = fpstate + std::max<u64>(extended, 512);
    const u64 lo = r.rsp;
    prev.frame_lo = s.frames.empty() ? lo : std::min(s.frame_lo, lo);
    prev.frame_hi = s.frames.empty() ? hi : std::max(s.frame_hi, hi);
    std::printf("oracle: thread %d: stopped on the first instruction of its handler of signal %d (a restored timer "
                "fired before the restore let it go): its frame at %s holds the state compared (rip %s)\n",
                tid, static_cast<int>(sig), hex(r.rsp).c_str(), hex(p.rip).c_str());
    s = std::move(prev);
  }
}

// ------------------------------------------------------------------ registers
/// The core's registers as CRIU's dump would have recorded them.
arch::user_regs rewound(arch::user_regs r, std::string& note) {
  note = "none";
  if (static_cast<std::int64_t>(r.orig_rax) < 0) return r;
  const auto ax = static_cast<std::int64_t>(r.rax);
  if (ax == -512 || ax == -513 || ax == -514) {
    r.rax = r.orig_rax;
    r.rip -= 2;
    note = "restart (ax " + std::to_string(ax) + " -> orig_ax, ip -= 2)";
  } else if (ax == -516) {
    r.rax = static_cast<u64>(-4);
    note = "eintr (ax -516 -> -EINTR)";
  }
  return r;
}

void compare_regs(const core_t& core, const necro::elf::thread_notes<arch>& t, pid_t tid, const thread_state& s,
                  const options& o, report& rep) {
  std::string note = "raw";
  const arch::user_regs want = o.raw_regs ? t.regs() : rewound(t.regs(), note);
  const user_regs_struct& live = s.regs;
  std::array<u64, 27> w{}, l{};
  std::memcpy(w.data(), &want, sizeof want);
  std::memcpy(l.data(), &live, sizeof live);
  u64 bad = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (i == reg_orig_rax && (!o.raw_regs || !s.frames.empty())) continue;  // -1 after restore -s; not in a frame
    ++rep.regs_compared;
    if (w[i] != l[i]) {
      ++bad;
      std::printf("oracle: thread %d: MISMATCH %s: core %s, live %s\n", tid, reg_names[i], hex(w[i]).c_str(),
                  hex(l[i]).c_str());
    }
  }
  // FPU: the FXSAVE legacy area (NT_PRFPREG).
  if (t.fpregs) {
    const user_fpregs_struct& lf = s.fp;
    const auto& cf = *t.fpregs;
    auto fp = [&](const char* name, u64 c, u64 v) {
      ++rep.regs_compared;
      if (c != v) {
        ++bad;
        std::printf("oracle: thread %d: MISMATCH fpu.%s: core %s, live %s\n", tid, name, hex(c).c_str(), hex(v).c_str());
      }
    };
    fp("cwd", cf.cwd, lf.cwd);
    fp("swd", cf.swd, lf.swd);
    fp("twd", cf.twd, lf.ftw);
    fp("fop", cf.fop, lf.fop);
    fp("rip", cf.rip, lf.rip);
    fp("rdp", cf.rdp, lf.rdp);
    fp("mxcsr", cf.mxcsr, lf.mxcsr);
    for (std::size_t r = 0; r < 8; ++r) {  // 10 significant bytes of each 16-byte x87 slot
      ++rep.regs_compared;
      if (std::memcmp(reinterpret_cast<const char*>(cf.st_space.data()) + r * 16,
                      reinterpret_cast<const char*>(lf.st_space) + r * 16, 10) != 0) {
        ++bad;
        std::printf("oracle: thread %d: MISMATCH fpu.st%zu\n", tid, r);
      }
    }
    for (std::size_t r = 0; r < 16; ++r) {
      ++rep.regs_compared;
      if (std::memcmp(cf.xmm_space.data() + r * 4, lf.xmm_space + r * 4, 16) != 0) {
        ++bad;
        std::printf("oracle: thread %d: MISMATCH fpu.xmm%zu\n", tid, r);
      }
    }
  } else {
    std::printf("oracle: thread %d: core has no NT_PRFPREG, FPU not compared\n", tid);
  }
  // XSAVE components above SSE: each at its offset in the core's layout and
  // at its offset in this CPU's (xsave_layout.hpp).
  if (t.xstate) {
    const std::span<const unsigned char> lx(s.xstate);
    const std::span<const unsigned char> cx(reinterpret_cast<const unsigned char*>(t.xstate->data()), t.xstate->size());
    static const necro_e2e::xlayout cpu = necro_e2e::cpuid_layout();
    const auto xcr0 = necro_e2e::xcr0_of(cx) ? necro_e2e::xcr0_of(cx) : necro_e2e::xcr0_of(lx);
    const auto layout = necro_e2e::resolve_core_layout(core.process().xsave_layout, o.gdb_core, cx.size(), xcr0, cpu);
    const auto x = necro_e2e::compare_xstate(cx, layout, lx, cpu, o.gdb_core);
    rep.regs_compared += x.compared;
    for (const auto& m : x.mismatches) {
      ++bad;
      std::printf("oracle: thread %d: MISMATCH %s\n", tid, m.c_str());
    }
    for (const auto& n : x.notes) std::printf("oracle: thread %d: %s\n", tid, n.c_str());
    std::printf("oracle: thread %d: xstate: %u components compared (core layout: %s; live: CPUID leaf 0xD)\n", tid,
                x.compared, layout.source.c_str());
  }
  rep.regs_mismatch += bad;
  std::printf("oracle: thread %d: registers %s (rewind: %s, core rip %s)\n", tid, bad ? "DIFFER" : "match",
              note.c_str(), hex(t.regs().rip).c_str());
}

// ------------------------------------------------------------------ signals
/// A 64-bit mask from a /proc/PID/task/TID/status line ("SigBlk:\t000...").
std::optional<u64> status_mask(pid_t pid, pid_t tid, std::string_view key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with(key) && line.size() > key.size() && line[key.size()] == ':')
      return std::stoull(line.substr(key.size() + 1), nullptr, 16);
  return std::nullopt;
}

std::string signals_of(u64 mask) {
  std::string s;
  for (int sig = 1; sig <= 64; ++sig)
    if (mask & (u64{1} << (sig - 1))) s += (s.empty() ? "" : ",") + std::to_string(sig);
  return s.empty() ? "none" : s;
}

/// Blocked masks equal the core's pr_sighold; nothing is pending that the core
/// did not have pending, and never the fatal signal: the core's first thread's
/// cursig, nor the SIGKILL the kernel queues to the other threads of a dying
/// process. Signals of `timer_signals` may be pending besides: the restored
/// timers fire while the task is stopped.
/// A thread stopped in a timer signal's handler is judged by the mask saved in
/// its frame (the handler's own blocks its signal).
void compare_signals(const core_t& core, pid_t pid, const std::set<pid_t>& live,
                     const std::map<pid_t, thread_state>& states, std::uint64_t timer_signals, report& rep) {
  const int fatal = core.threads().front().prstatus.cursig;
  const u64 dying = (fatal > 0 ? u64{1} << (fatal - 1) : 0) | (u64{1} << (9 - 1));
  for (const auto& t : core.threads()) {
    if (!live.count(t.tid())) continue;
    const auto st = states.find(t.tid());
    const auto blk = st != states.end() && st->second.blocked ? st->second.blocked : status_mask(pid, t.tid(), "SigBlk");
    const auto pnd = status_mask(pid, t.tid(), "SigPnd");
    const auto shd = status_mask(pid, t.tid(), "ShdPnd");
    if (!blk || !pnd || !shd) die("cannot read the signal masks of thread " + std::to_string(t.tid()));
    const u64 want_pnd = t.prstatus.sigpend & ~dying;
    u64 bad = 0;
    rep.regs_compared += 2;
    if (*blk != t.prstatus.sighold) {
      ++bad;
      std::printf("oracle: thread %d: MISMATCH blocked signals: core {%s}, live {%s}\n", t.tid(),
                  signals_of(t.prstatus.sighold).c_str(), signals_of(*blk).c_str());
    }
    if ((*pnd & ~timer_signals) != (want_pnd & ~timer_signals) || (*shd & dying)) {
      ++bad;
      std::printf("oracle: thread %d: MISMATCH pending signals: core {%s} less the fatal {%s}, live {%s} shared {%s}\n",
                  t.tid(), signals_of(t.prstatus.sigpend).c_str(), signals_of(dying).c_str(), signals_of(*pnd).c_str(),
                  signals_of(*shd).c_str());
    }
    rep.regs_mismatch += bad;
    std::printf("oracle: thread %d: signal masks %s (blocked {%s}, pending {%s}, shared {%s})\n", t.tid(),
                bad ? "DIFFER" : "match", signals_of(*blk).c_str(), signals_of(*pnd).c_str(), signals_of(*shd).c_str());
  }
}

// ------------------------------------------------------------------ memory
struct rseq_area {
  u64 addr = 0;
  std::uint32_t size = 0;
};

struct memory_checker {
  const core_t& core;
  pid_t pid;
  const options& o;
  report& rep;
  std::vector<map_entry> maps;
  std::vector<rseq_area> rseqs;
  std::vector<std::pair<u64, u64>> frames;  ///< timer signal frames' [lo, hi) (unwind_timer_frames)
  int memfd = -1;
  // mismatch ranges being coalesced
  u64 run_start = 0, run_end = 0;
  const necro::elf::segment* run_seg = nullptr;
  std::string run_map;

  /// Whether a differing byte is kernel-written rseq state.
  bool rseq_owned(u64 addr, unsigned char live) const {
    for (const auto& r : rseqs) {
      if (addr < r.addr || addr >= r.addr + 32) continue;
      const u64 off = addr - r.addr;
      if (off < 8 || (off >= 24 && off < 32)) return true;  // cpu_id_start, cpu_id / node_id, mm_cid
      if (off >= 8 && off < 16 && live == 0) return true;   // rseq_cs cleared
    }
    return false;
  }

  void flush_run() {
    if (run_end == run_start) return;
    if (rep.printed++ < o.max_report) {
      std::printf("oracle: MISMATCH memory [%s, %s) (%" PRIu64 " bytes) in PT_LOAD %s..%s (%s)\n",
                  hex(run_start).c_str(), hex(run_end).c_str(), run_end - run_start, hex(run_seg->vaddr).c_str(),
                  hex(run_seg->end()).c_str(), run_map.c_str());
      const u64 n = std::min<u64>(run_end - run_start, 16);
      std::string c, l;
      std::vector<unsigned char> lb(n);
      if (pread(memfd, lb.data(), n, static_cast<off_t>(run_start)) != static_cast<ssize_t>(n)) lb.assign(n, 0);
      for (u64 i = 0; i < n; ++i) {
        char b[4];
        std::snprintf(b, sizeof b, "%02x", static_cast<unsigned>(run_seg->bytes.data()[run_start - run_seg->vaddr + i]));
        c += b;
        std::snprintf(b, sizeof b, "%02x", static_cast<unsigned>(lb[i]));
        l += b;
      }
      std::printf("oracle:   core %s\noracle:   live %s\n", c.c_str(), l.c_str());
    }
    run_start = run_end = 0;
  }

  void mismatch(u64 addr, const necro::elf::segment& s, const map_entry& m) {
    if (run_end == addr && run_seg == &s) {
      ++run_end;
      return;
    }
    flush_run();
    run_start = addr;
    run_end = addr + 1;
    run_seg = &s;
    run_map = m.path.empty() ? "anonymous" : m.path;
  }

  void compare_bytes(u64 addr, const unsigned char* want, const unsigned char* live, u64 n,
                     const necro::elf::segment& s, const map_entry& m) {
    rep.mem_compared += n;
    if (std::memcmp(want, live, n) == 0) return;
    for (u64 i = 0; i < n; ++i) {
      if (want[i] == live[i]) continue;
      if (rseq_owned(addr + i, live[i])) {
        ++rep.mem_skipped_rseq;
        continue;
      }
      if (std::any_of(frames.begin(), frames.end(), [a = addr + i](const auto& f) { return a >= f.first && a < f.second; })) {
        ++rep.mem_skipped_frame;
        continue;
      }
      ++rep.mem_mismatch;
      mismatch(addr + i, s, m);
    }
  }

  void compare_range(u64 lo, u64 hi, const necro::elf::segment& s, const map_entry& m) {
    constexpr u64 chunk = 1 << 20;
    std::vector<unsigned char> buf(chunk);
    for (u64 a = lo; a < hi;) {
      const u64 n = std::min(chunk, hi - a);
      const auto* want = reinterpret_cast<const unsigned char*>(s.bytes.data()) + (a - s.vaddr);
      const ssize_t got = pread(memfd, buf.data(), n, static_cast<off_t>(a));
      if (got == static_cast<ssize_t>(n)) {
        compare_bytes(a, want, buf.data(), n, s, m);
        a += n;
        continue;
      }
      // Page by page, to find what cannot be read.
      for (u64 p = a; p < a + n;) {
        const u64 pe = std::min((p / arch::page_size + 1) * arch::page_size, a + n);
        const auto* w = want + (p - a);
        if (pread(memfd, buf.data(), pe - p, static_cast<off_t>(p)) == static_cast<ssize_t>(pe - p)) {
          compare_bytes(p, w, buf.data(), pe - p, s, m);
        } else {
          const bool zeros = std::all_of(w, w + (pe - p), [](unsigned char c) { return c == 0; });
          const auto fsize = m.file_backed() ? mapped_file_size(pid, m) : std::nullopt;
          const u64 file_off = m.offset + (p / arch::page_size * arch::page_size - m.start);
          if (zeros && fsize && file_off >= (*fsize + arch::page_size - 1) / arch::page_size * arch::page_size) {
            rep.mem_skipped_eof += pe - p;
          } else {
            rep.mem_unreadable += pe - p;
            rep.mem_mismatch += pe - p;
            if (rep.printed++ < o.max_report)
              std::printf("oracle: MISMATCH memory [%s, %s) unreadable live (%s), core has %s bytes\n", hex(p).c_str(),
                          hex(pe).c_str(), m.path.c_str(), zeros ? "zero" : "non-zero");
          }
        }
        p = pe;
      }
      a += n;
    }
  }

  static std::string perms_of(const necro::elf::segment& s) {
    return std::string(s.readable() ? "r" : "-") + (s.writable() ? "w" : "-") + (s.executable() ? "x" : "-");
  }

  void layout_error(const std::string& what) {
    ++rep.layout_mismatch;
    if (rep.printed++ < o.max_report) std::printf("oracle: MISMATCH layout: %s\n", what.c_str());
  }

  void run() {
    maps = read_maps(pid);
    const std::string memname = "/proc/" + std::to_string(pid) + "/mem";
    memfd = ::open(memname.c_str(), O_RDONLY | O_CLOEXEC);
    if (memfd < 0) die("open " + memname + ": " + std::strerror(errno));
    std::vector<const necro::elf::segment*> segs;
    for (const auto& s : core.segments()) segs.push_back(&s);
    std::sort(segs.begin(), segs.end(), [](auto* a, auto* b) { return a->vaddr < b->vaddr; });

    // /proc/PID/maps lists mappings sorted and disjoint: the ones overlapping
    // [lo, hi) are a contiguous run, found by binary search (a process may have
    // 70 000 of them; a scan per segment would be quadratic).
    const auto overlapping = [this](u64 lo, u64 hi) {
      auto b = std::lower_bound(maps.begin(), maps.end(), lo, [](const auto& m, u64 a) { return m.end <= a; });
      auto e = b;
      while (e != maps.end() && e->start < hi) ++e;
      return std::pair{b, e};
    };
    for (const auto* sp : segs) {
      const auto& s = *sp;
      // Layout: [vaddr, end) mapped, same protection.
      u64 at = s.vaddr;
      const auto [mb, me] = overlapping(s.vaddr, s.end());
      for (auto mi = mb; mi != me; ++mi) {
        const auto& m = *mi;
        if (m.start > at) layout_error("core PT_LOAD " + hex(s.vaddr) + ".." + hex(s.end()) + ": [" + hex(at) + ", " + hex(m.start) + ") is not mapped live");
        if (!m.kernel_data() && !o.gdb_core && m.perms.substr(0, 3) != perms_of(s))
          layout_error("core PT_LOAD " + hex(s.vaddr) + ".." + hex(s.end()) + " is " + perms_of(s) + ", live mapping " +
                       hex(m.start) + ".." + hex(m.end) + " (" + m.path + ") is " + m.perms.substr(0, 3));
        at = std::max(at, m.end);
      }
      if (at < s.end()) layout_error("core PT_LOAD " + hex(s.vaddr) + ".." + hex(s.end()) + ": [" + hex(at) + ", " + hex(s.end()) + ") is not mapped live");
      // Bytes.
      const u64 dumped_end = s.vaddr + s.bytes.size();
      for (auto mi = mb; mi != me; ++mi) {
        const auto& m = *mi;
        const u64 lo = std::max(m.start, s.vaddr), hi = std::min(m.end, dumped_end);
        if (lo >= hi) continue;
        if (m.kernel_data()) {
          rep.mem_skipped_kernel += hi - lo;
          continue;
        }
        compare_range(lo, hi, s, m);
      }
    }
    flush_run();
    // Layout: nothing mapped that the core does not have.
    for (const auto& m : maps) {
      u64 at = m.start;
      auto first = std::lower_bound(segs.begin(), segs.end(), at, [](const auto* sg, u64 a) { return sg->end() <= a; });
      for (auto si = first; si != segs.end() && (*si)->vaddr < m.end; ++si) {
        const auto* sp = *si;
        if (sp->end() <= at) continue;
        if (sp->vaddr > at) break;
        at = std::max(at, sp->end());
      }
      if (at < m.end) {
        if (o.gdb_core)
          std::printf("oracle: note: live mapping [%s, %s) %s is not in the core (gdb core)\n", hex(at).c_str(),
                      hex(m.end).c_str(), m.path.c_str());
        else
          layout_error("live mapping [" + hex(at) + ", " + hex(m.end) + ") " + m.perms + " " + m.path + " is not in the core");
      }
    }
    ::close(memfd);
    std::printf("oracle: memory: %zu PT_LOADs, %" PRIu64 " bytes compared, %" PRIu64 " mismatched (%" PRIu64
                " unreadable); skipped: %" PRIu64 " kernel data ([vvar], [vvar_vclock], [vsyscall]), %" PRIu64
                " rseq kernel fields, %" PRIu64 " past EOF of mapped files, %" PRIu64 " in timer signal frames\n",
                segs.size(), rep.mem_compared, rep.mem_mismatch, rep.mem_unreadable, rep.mem_skipped_kernel,
                rep.mem_skipped_rseq, rep.mem_skipped_eof, rep.mem_skipped_frame);
    std::printf("oracle: layout: %" PRIu64 " mismatch(es) over %zu live mappings\n", rep.layout_mismatch, maps.size());
  }
};

/// --enter-handler TID SIG, for e2e.oracle-frame: puts stopped thread TID where
/// a restored timer firing during `criu restore -s` leaves it: on the first
/// instruction of its handler of SIG, its state in the frame. orig_rax is set
/// to -1 first, as the restorer's sigreturn leaves it, so that a thread
/// stopped in a syscall is not restarted or interrupted by the delivery.
pid_t getpid_of(pid_t tid) {
  std::ifstream in("/proc/" + std::to_string(tid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("Tgid:")) return static_cast<pid_t>(std::stol(line.substr(5)));
  die("no thread " + std::to_string(tid));
}

int enter_handler(pid_t tid, int sig) {
  tracee t{tid};
  attach(t);
  user_regs_struct r{};
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &r) != 0) die("PTRACE_GETREGS: " + std::string(std::strerror(errno)));
  r.orig_rax = static_cast<unsigned long long>(-1);
  if (ptrace(PTRACE_SETREGS, tid, nullptr, &r) != 0) die("PTRACE_SETREGS: " + std::string(std::strerror(errno)));
  // Queued, the signal is taken before any user instruction: the thread
  // reports it (signal-delivery-stop), is stepped with it into its handler
  // and stops there (SIGTRAP). A signal given at an event stop is ignored.
  if (syscall(SYS_tgkill, getpid_of(tid), tid, sig) != 0) die("tgkill: " + std::string(std::strerror(errno)));
  long inject = 0;
  for (int steps = 0;; ++steps) {
    if (ptrace(PTRACE_SINGLESTEP, tid, nullptr, reinterpret_cast<void*>(inject)) != 0)
      die("PTRACE_SINGLESTEP: " + std::string(std::strerror(errno)));
    int st = 0;
    if (waitpid(tid, &st, __WALL) != tid || !WIFSTOPPED(st) || steps > 4)
      die("thread " + std::to_string(tid) + " did not stop at its handler (status " + hex(static_cast<u64>(st)) + ")");
    if (inject && WSTOPSIG(st) == SIGTRAP) break;
    if (WSTOPSIG(st) == sig && (st >> 16) == 0) inject = sig;
  }
  user_regs_struct h{};
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &h) != 0) die("PTRACE_GETREGS: " + std::string(std::strerror(errno)));
  std::printf("thread %d: in its handler of signal %d at %s, frame at %s (was at %s)\n", tid, sig,
              hex(h.rip).c_str(), hex(h.rsp).c_str(), hex(r.rip).c_str());
  detach(t);
  return 0;
}

int info(const core_t& core) {
  std::printf("pid=%d\nthreads=%zu\n", core.pid(), core.threads().size());
  if (const auto& si = core.process().siginfo; si && si->size() >= 4) {
    std::int32_t signo = 0;
    std::memcpy(&signo, si->data(), 4);
    std::printf("siginfo_signo=%d\n", signo);
  }
  for (std::size_t i = 0; i < core.threads().size(); ++i) {
    const auto& t = core.threads()[i];
    std::printf("thread%zu tid=%d cursig=%d rip=%s rax=%s orig_rax=%s fs_base=%s sigpend=%s sighold=%s\n", i, t.tid(),
                t.prstatus.cursig, hex(t.regs().rip).c_str(), hex(t.regs().rax).c_str(),
                hex(t.regs().orig_rax).c_str(), hex(t.regs().fs_base).c_str(), hex(t.prstatus.sigpend).c_str(),
                hex(t.prstatus.sighold).c_str());
  }
  return 0;
}

/// "14,34" -> the mask of those signals (1..64; others ignored).
std::uint64_t signal_mask(std::string_view list) {
  std::uint64_t m = 0;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto sig = std::atoi(std::string(list.substr(0, comma)).c_str());
    if (sig >= 1 && sig <= 64) m |= std::uint64_t{1} << (sig - 1);
    list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
  }
  return m;
}

int usage() {
  std::fprintf(stderr,
               "usage: necro-e2e-oracle [--raw-regs] [--regs-only|--memory-only] [--gdb-core]\n"
               "                        [--max-report N] [--timer-signals SIG,SIG...] CORE PID\n"
               "       necro-e2e-oracle --info CORE\n"
               "       necro-e2e-oracle --self-test-xsave\n"
               "       necro-e2e-oracle --enter-handler TID SIG\n");
  return 2;
}

}  // namespace

int xsave_self_test();  // xsave_selftest.cpp

int main(int argc, char** argv) {
  options o;
  bool info_mode = false;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--raw-regs") o.raw_regs = true;
    else if (a == "--regs-only") o.memory = false;
    else if (a == "--memory-only") o.regs = false;
    else if (a == "--gdb-core") o.gdb_core = true;
    else if (a == "--info") info_mode = true;
    else if (a == "--self-test-xsave") return xsave_self_test();
    else if (a == "--enter-handler" && i + 2 < argc) return enter_handler(std::atoi(argv[i + 1]), std::atoi(argv[i + 2]));
    else if (a == "--max-report" && i + 1 < argc) o.max_report = std::stoul(argv[++i]);
    else if (a == "--timer-signals" && i + 1 < argc) o.timer_signals = signal_mask(argv[++i]);
    else if (a.starts_with("--")) return usage();
    else pos.emplace_back(a);
  }
  if (pos.size() != (info_mode ? 1u : 2u)) return usage();

  auto opened = core_t::open(pos[0]);
  if (!opened) die(opened.error().message());
  const core_t& core = *opened;
  if (info_mode) return info(core);

  const pid_t pid = static_cast<pid_t>(std::stol(pos[1]));
  alarm(60);  // never hang a test run: SIGALRM kills us, the kernel detaches
  report rep;
  std::printf("oracle: core %s (pid %d, %zu threads, %zu PT_LOADs) vs live pid %d\n", pos[0].c_str(), core.pid(),
              core.threads().size(), core.segments().size(), pid);
  if (pid != core.pid()) {
    ++rep.threads_mismatch;
    std::printf("oracle: MISMATCH pid: core %d, live %d\n", core.pid(), pid);
  }

  std::set<pid_t> want_tids;
  for (const auto& t : core.threads()) want_tids.insert(t.tid());
  const auto tids = live_tids(pid);
  const std::set<pid_t> have_tids(tids.begin(), tids.end());
  if (want_tids != have_tids) {
    ++rep.threads_mismatch;
    std::string w, h;
    for (auto t : want_tids) w += " " + std::to_string(t);
    for (auto t : have_tids) h += " " + std::to_string(t);
    std::printf("oracle: MISMATCH threads: core{%s }, live{%s }\n", w.c_str(), h.c_str());
  }

  std::vector<tracee> tr;
  for (auto t : tids) tr.push_back({t});
  for (auto& t : tr) attach(t);

  std::vector<rseq_area> rseqs;
  for (auto& t : tr) {
    rseq_config rc{};
    if (ptrace(static_cast<__ptrace_request>(ptrace_get_rseq_configuration), t.tid,
               reinterpret_cast<void*>(sizeof rc), &rc) == static_cast<long>(sizeof rc) &&
        rc.rseq_abi_pointer) {
      rseqs.push_back({rc.rseq_abi_pointer, rc.rseq_abi_size});
      std::printf("oracle: thread %d: rseq area %s (%u bytes)\n", t.tid, hex(rc.rseq_abi_pointer).c_str(),
                  rc.rseq_abi_size);
    }
  }

  std::map<pid_t, thread_state> states;
  std::vector<std::pair<u64, u64>> frames;
  {
    const std::string memname = "/proc/" + std::to_string(pid) + "/mem";
    const int memfd = ::open(memname.c_str(), O_RDONLY | O_CLOEXEC);
    if (memfd < 0) die("open " + memname + ": " + std::strerror(errno));
    for (const auto& t : tr) {
      auto& s = states[t.tid] = ptrace_state(t.tid);
      if (o.timer_signals) unwind_timer_frames(memfd, t.tid, s, o.timer_signals);
      if (!s.frames.empty()) frames.emplace_back(s.frame_lo, s.frame_hi);
    }
    ::close(memfd);
  }
  if (o.regs) {
    for (const auto& t : core.threads())
      if (have_tids.count(t.tid())) compare_regs(core, t, t.tid(), states.at(t.tid()), o, rep);
    if (!o.raw_regs && !o.gdb_core) compare_signals(core, pid, have_tids, states, o.timer_signals, rep);
  }
  if (o.memory) {
    memory_checker mc{core, pid, o, rep, {}, rseqs, frames, -1, 0, 0, nullptr, {}};
    mc.run();
  }
  for (auto& t : tr) detach(t);

  const bool ok = rep.mem_mismatch == 0 && rep.regs_mismatch == 0 && rep.layout_mismatch == 0 && rep.threads_mismatch == 0;
  std::printf("RESULT %s threads_mismatch=%" PRIu64 " regs_compared=%" PRIu64 " regs_mismatch=%" PRIu64
              " mem_compared=%" PRIu64 " mem_mismatch=%" PRIu64 " layout_mismatch=%" PRIu64 "\n",
              ok ? "SAME" : "DIFFERENT", rep.threads_mismatch, rep.regs_compared, rep.regs_mismatch, rep.mem_compared,
              rep.mem_mismatch, rep.layout_mismatch);
  return ok ? 0 : 1;
}
