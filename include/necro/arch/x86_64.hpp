/// necro::arch::x86_64: traits and fixed-width mirrors of the x86-64 Linux core
/// ABI (elf_prstatus, user_regs_struct, user_i387_struct, elf_prpsinfo, siginfo,
/// XSAVE header and layout), pinned to the kernel's layout by static_asserts.
#ifndef NECRO_ARCH_X86_64_HPP
#define NECRO_ARCH_X86_64_HPP
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include <necro/arch/common.hpp>
#include <necro/arch/elf_core_abi.hpp>
#include <necro/io/byte_view.hpp>
#include <necro/io/error.hpp>

namespace necro::arch {

namespace x86_64_abi {

/// struct user_regs_struct (arch/x86/include/asm/user_64.h), the NT_PRSTATUS pr_reg.
struct user_regs {
  std::uint64_t r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
  std::uint64_t rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs, eflags, rsp, ss;
  std::uint64_t fs_base, gs_base, ds, es, fs, gs;
};
static_assert(sizeof(user_regs) == 27 * 8);
static_assert(offsetof(user_regs, orig_rax) == 15 * 8);
static_assert(offsetof(user_regs, fs_base) == 21 * 8);

/// struct elf_prstatus (include/linux/elfcore.h) for x86-64.
using prstatus = lp64_core_abi::elf_prstatus<user_regs>;
static_assert(sizeof(prstatus) == 336);
static_assert(offsetof(prstatus, cursig) == 12);
static_assert(offsetof(prstatus, sigpend) == 16);
static_assert(offsetof(prstatus, pid) == 32);
static_assert(offsetof(prstatus, regs) == 112);
static_assert(offsetof(prstatus, fpvalid) == 328);

/// struct user_i387_struct: the 512-byte FXSAVE image (NT_PRFPREG).
struct fpregs {
  std::uint16_t cwd, swd, twd, fop;
  std::uint64_t rip, rdp;
  std::uint32_t mxcsr, mxcsr_mask;
  std::array<std::uint32_t, 32> st_space;
  std::array<std::uint32_t, 64> xmm_space;
  std::array<std::uint32_t, 24> padding;
};
static_assert(sizeof(fpregs) == 512);
static_assert(offsetof(fpregs, mxcsr) == 24);
static_assert(offsetof(fpregs, st_space) == 32);
static_assert(offsetof(fpregs, xmm_space) == 160);

/// struct elf_prpsinfo for x86-64.
using prpsinfo = lp64_core_abi::elf_prpsinfo;
static_assert(sizeof(prpsinfo) == 136);
static_assert(offsetof(prpsinfo, uid) == 16);
static_assert(offsetof(prpsinfo, pid) == 24);
static_assert(offsetof(prpsinfo, fname) == 40);
static_assert(offsetof(prpsinfo, psargs) == 56);

/// The XSAVE header that follows the legacy area at offset 512.
struct xsave_header {
  std::uint64_t xstate_bv, xcomp_bv;
  std::array<std::uint64_t, 6> reserved;
};
static_assert(sizeof(xsave_header) == 64);
inline constexpr std::size_t xsave_header_offset = 512;

/// struct x86_xfeat_component, one per entry of NT_X86_XSAVE_LAYOUT.
struct xfeat_component {
  std::uint32_t type, size, offset, flags;
};
static_assert(sizeof(xfeat_component) == 16);

/// XSAVE state components necro carries into CRIU's user_x86_xsave_entry.
namespace xfeature {
inline constexpr unsigned fp = 0, sse = 1, ymm = 2, bndregs = 3, bndcsr = 4, opmask = 5,
                          zmm_hi256 = 6, hi16_zmm = 7, pkru = 9;
}

/// The architectural (non-compacted) offsets and sizes used when a core has no
/// NT_X86_XSAVE_LAYOUT note. Only AVX's is universal; the rest are CPU-specific.
struct xfeat_default {
  unsigned feature;
  std::uint32_t offset, size;
};
inline constexpr std::array<xfeat_default, 7> xfeat_defaults = {{
    {xfeature::ymm, 576, 256},
    {xfeature::bndregs, 960, 64},
    {xfeature::bndcsr, 1024, 64},
    {xfeature::opmask, 1088, 64},
    {xfeature::zmm_hi256, 1152, 512},
    {xfeature::hi16_zmm, 1664, 1024},
    {xfeature::pkru, 2688, 8},
}};

/// The x86-specific notes of one thread, beside NT_PRSTATUS and NT_PRFPREG.
struct thread_regsets {
  std::optional<io::byte_view> xstate;  ///< NT_X86_XSTATE: the XSAVE image
};

/// The x86-specific notes of the process.
struct process_regsets {
  std::optional<io::byte_view> xsave_layout;  ///< NT_X86_XSAVE_LAYOUT (docs/pitfalls.md#xsave-offsets)
};

}  // namespace x86_64_abi

/// Traits of x86-64 Linux cores.
struct x86_64 {
  static constexpr std::string_view name = "x86_64";
  static constexpr std::uint16_t e_machine = 62;  // EM_X86_64
  static constexpr unsigned char elf_class = elfc::class64;
  static constexpr std::endian endian = std::endian::little;
  static constexpr std::uint64_t page_size = 4096;
  static constexpr std::uint64_t vsyscall_start = 0xffffffffff600000ULL;
  /// Where the kernel loads a PIE executable without ASLR (ELF_ET_DYN_BASE):
  /// an executable there ran unrandomized, its brk heap glued to it.
  static constexpr std::uint64_t et_dyn_base = 0x555555554000ULL;
  /// CRIU's core_entry.mtype for this architecture.
  static constexpr int criu_march = 1;

  using user_regs = x86_64_abi::user_regs;
  using prstatus = x86_64_abi::prstatus;
  using fpregs = x86_64_abi::fpregs;
  using prpsinfo = x86_64_abi::prpsinfo;
  using siginfo = lp64_core_abi::siginfo;

  using thread_regsets = x86_64_abi::thread_regsets;
  using process_regsets = x86_64_abi::process_regsets;

  static constexpr std::uint32_t nt_fpregs = nt::prfpreg;
  /// CRIU keeps at most this many words of the saved auxv (AT_VECTOR_SIZE,
  /// docs/pitfalls.md#auxv-too-long).
  static constexpr int max_saved_auxv_words = 44;
  /// The register that holds the thread pointer, for messages.
  static constexpr std::string_view thread_pointer_name = "fs_base";
  /// Bytes of the `syscall` instruction (0f 05), which a restart re-executes.
  static constexpr std::uint64_t syscall_insn_size = 2;

  static std::uint64_t pc(const user_regs& r) noexcept { return r.rip; }
  static std::uint64_t sp(const user_regs& r) noexcept { return r.rsp; }
  /// The thread pointer (TLS base) that TLS addresses are relative to.
  static std::uint64_t thread_pointer(const user_regs& r, const thread_regsets&) noexcept { return r.fs_base; }

  /// Keeps a LINUX-owned regset note of the current thread when it is one
  /// x86-64 reads (NT_X86_XSTATE); false when it is not.
  static result<bool> take_thread_regset(thread_regsets& t, std::uint32_t type, const io::byte_view& desc) {
    if (type != nt::x86_xstate) return false;
    t.xstate = desc;
    return true;
  }
  /// Keeps a LINUX-owned process-wide note (NT_X86_XSAVE_LAYOUT); false when it is not one.
  static bool take_process_note(process_regsets& p, std::uint32_t type, const io::byte_view& desc) {
    if (type != nt::x86_xsave_layout) return false;
    p.xsave_layout = desc;
    return true;
  }
  /// The regsets a thread has beyond NT_PRFPREG, for --inspect.
  static std::string_view regset_names(const thread_regsets& t) noexcept { return t.xstate ? "+xstate" : ""; }

  /// What rewind_syscall did, for --explain.
  enum class rewind { none, restart, eintr };
  static std::string_view describe(rewind r) noexcept {
    switch (r) {
      case rewind::restart: return "interrupted syscall restarted (ax = orig_ax, ip -= 2)";
      case rewind::eintr: return "interrupted syscall returns -EINTR";
      case rewind::none: break;
    }
    return {};
  }

  /// CRIU's dump-time rule for a task stopped inside an interrupted syscall:
  /// -ERESTARTSYS/-ERESTARTNOINTR/-ERESTARTNOHAND re-execute the syscall
  /// (ax = orig_ax, ip -= 2 for the `syscall` instruction), and
  /// -ERESTART_RESTARTBLOCK becomes -EINTR.
  static rewind rewind_syscall(user_regs& r) noexcept {
    if (static_cast<std::int32_t>(r.orig_rax) < 0) return rewind::none;
    const auto ax = static_cast<std::int64_t>(static_cast<std::int32_t>(r.rax));
    if (ax == -kerr::erestartnohand || ax == -kerr::erestartsys || ax == -kerr::erestartnointr) {
      r.rax = r.orig_rax;
      r.rip -= syscall_insn_size;
      return rewind::restart;
    }
    if (ax == -kerr::erestart_restartblock) {
      r.rax = static_cast<std::uint64_t>(-kerr::eintr);
      return rewind::eintr;
    }
    return rewind::none;
  }
};

}  // namespace necro::arch

#endif
