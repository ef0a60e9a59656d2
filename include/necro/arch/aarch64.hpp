/// necro::arch::aarch64: traits and fixed-width mirrors of the aarch64 Linux
/// core ABI (elf_prstatus with user_pt_regs, user_fpsimd_state, NT_ARM_TLS,
/// elf_prpsinfo, siginfo),
/// pinned by static_asserts. Any host can read an aarch64 core with these.
#ifndef NECRO_ARCH_AARCH64_HPP
#define NECRO_ARCH_AARCH64_HPP
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/arch/elf_core_abi.hpp>
#include <necro/io/byte_view.hpp>
#include <necro/io/error.hpp>

namespace necro::arch {

namespace aarch64_abi {

/// struct user_pt_regs (arch/arm64/include/uapi/asm/ptrace.h).
struct user_regs {
  std::array<std::uint64_t, 31> regs;
  std::uint64_t sp, pc, pstate;
};
static_assert(sizeof(user_regs) == 34 * 8);
static_assert(offsetof(user_regs, pc) == 32 * 8);

/// struct elf_prstatus for aarch64.
using prstatus = lp64_core_abi::elf_prstatus<user_regs>;
static_assert(sizeof(prstatus) == 392);
static_assert(offsetof(prstatus, pid) == 32);
static_assert(offsetof(prstatus, regs) == 112);
static_assert(offsetof(prstatus, fpvalid) == 384);

/// struct user_fpsimd_state (NT_PRFPREG): 32 128-bit V registers as 64 halves.
struct fpregs {
  std::array<std::uint64_t, 64> vregs;
  std::uint32_t fpsr, fpcr;
  std::array<std::uint32_t, 2> reserved;
};
static_assert(sizeof(fpregs) == 528);
static_assert(offsetof(fpregs, fpsr) == 512);

/// struct elf_prpsinfo for aarch64 (the same as x86-64's).
using prpsinfo = lp64_core_abi::elf_prpsinfo;
static_assert(sizeof(prpsinfo) == 136);
static_assert(offsetof(prpsinfo, fname) == 40);

/// NT_ARM_TLS: TPIDR_EL0, the thread pointer (kernels with SME append
/// TPIDR2_EL0: only the first word is read).
struct arm_tls {
  std::uint64_t tpidr;
};
static_assert(sizeof(arm_tls) == 8);

/// The aarch64-specific notes of one thread, beside NT_PRSTATUS and NT_PRFPREG.
struct thread_regsets {
  std::optional<arm_tls> tls;  ///< NT_ARM_TLS
};

/// aarch64 has no process-wide notes of its own.
struct process_regsets {};

}  // namespace aarch64_abi

/// Traits of aarch64 Linux cores.
struct aarch64 {
  static constexpr std::string_view name = "aarch64";
  static constexpr std::uint16_t e_machine = 183;  // EM_AARCH64
  static constexpr unsigned char elf_class = elfc::class64;
  static constexpr std::endian endian = std::endian::little;
  static constexpr std::uint64_t page_size = 4096;
  static constexpr std::uint64_t vsyscall_start = 0;  // none on arm64
  static constexpr int criu_march = 3;

  using user_regs = aarch64_abi::user_regs;
  using prstatus = aarch64_abi::prstatus;
  using fpregs = aarch64_abi::fpregs;
  using prpsinfo = aarch64_abi::prpsinfo;
  using siginfo = lp64_core_abi::siginfo;

  using thread_regsets = aarch64_abi::thread_regsets;
  using process_regsets = aarch64_abi::process_regsets;

  static constexpr std::uint32_t nt_fpregs = nt::prfpreg;
  /// CRIU keeps at most this many words of the saved auxv (its AT_VECTOR_SIZE on arm64).
  static constexpr int max_saved_auxv_words = 40;
  /// The register that holds the thread pointer, for messages.
  static constexpr std::string_view thread_pointer_name = "tpidr_el0";

  static std::uint64_t pc(const user_regs& r) noexcept { return r.pc; }
  static std::uint64_t sp(const user_regs& r) noexcept { return r.sp; }
  /// TPIDR_EL0 is not in user_pt_regs: it comes from NT_ARM_TLS (0 without it).
  static std::uint64_t thread_pointer(const user_regs&, const thread_regsets& t) noexcept {
    return t.tls ? t.tls->tpidr : 0;
  }

  /// Keeps a LINUX-owned regset note of the current thread when it is one
  /// aarch64 reads (NT_ARM_TLS); false when it is not.
  static result<bool> take_thread_regset(thread_regsets& t, std::uint32_t type, const io::byte_view& desc) {
    if (type != nt::arm_tls) return false;
    if (desc.size() < sizeof(aarch64_abi::arm_tls))
      return fail(desc.error_at(0, errc::bad_value, fmt::format("NT_ARM_TLS has {} bytes, expected at least {}",
                                                                desc.size(), sizeof(aarch64_abi::arm_tls))));
    NECRO_TRY_ASSIGN(t.tls, desc.load<aarch64_abi::arm_tls>(0, "NT_ARM_TLS"));
    return true;
  }
  static bool take_process_note(process_regsets&, std::uint32_t, const io::byte_view&) noexcept { return false; }
  /// The regsets a thread has beyond NT_PRFPREG, for --inspect.
  static std::string_view regset_names(const thread_regsets& t) noexcept { return t.tls ? "+tls" : ""; }

  enum class rewind { none, restart, eintr };

  /// An arm64 core does not record the syscall number or the original x0, so a
  /// restart cannot be rebuilt from NT_PRSTATUS alone: left as dumped.
  static rewind rewind_syscall(user_regs&) noexcept { return rewind::none; }
  static std::string_view describe(rewind) noexcept { return {}; }
};

}  // namespace necro::arch

#endif
