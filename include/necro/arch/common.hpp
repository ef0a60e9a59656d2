/// ELF and note constants shared by every architecture's traits (our own
/// copies of the kernel's values: no host <elf.h> needed).
#ifndef NECRO_ARCH_COMMON_HPP
#define NECRO_ARCH_COMMON_HPP
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace necro::arch {

/// ELF identification and types.
namespace elfc {
inline constexpr std::array<unsigned char, 4> magic = {0x7f, 'E', 'L', 'F'};
/// Indexes into e_ident: EI_CLASS, EI_DATA.
inline constexpr std::size_t ei_class = 4, ei_data = 5;
inline constexpr unsigned char class64 = 2;
inline constexpr unsigned char data_lsb = 1;
inline constexpr unsigned char data_msb = 2;
inline constexpr std::uint16_t et_exec = 2, et_dyn = 3, et_core = 4;
inline constexpr std::uint32_t pt_load = 1, pt_dynamic = 2, pt_phdr = 6;
inline constexpr std::uint32_t pt_note = 4;
inline constexpr std::uint32_t pf_x = 1, pf_w = 2, pf_r = 4;
/// e_phnum's escape (PN_XNUM): the real count is in section header 0's sh_info.
inline constexpr std::uint16_t pn_xnum = 0xffff;
}  // namespace elfc

/// Note types. Owner "CORE" for the process/thread notes, "LINUX" for regsets.
namespace nt {
inline constexpr std::uint32_t prstatus = 1;
inline constexpr std::uint32_t prfpreg = 2;
inline constexpr std::uint32_t prpsinfo = 3;
inline constexpr std::uint32_t auxv = 6;
inline constexpr std::uint32_t siginfo = 0x53494749;  // "SIGI"
inline constexpr std::uint32_t file = 0x46494c45;     // "FILE"
inline constexpr std::uint32_t x86_xstate = 0x202;
inline constexpr std::uint32_t x86_shstk = 0x204;
inline constexpr std::uint32_t x86_xsave_layout = 0x205;
inline constexpr std::uint32_t arm_tls = 0x401;
inline constexpr std::uint32_t arm_pac_mask = 0x406;
inline constexpr std::uint32_t arm_tagged_addr_ctrl = 0x409;
/// LINUX-owned regsets are numbered from here (NT_386_TLS 0x200 on).
inline constexpr std::uint32_t first_linux_regset = 0x200;
}  // namespace nt

inline constexpr std::string_view owner_core = "CORE";
inline constexpr std::string_view owner_linux = "LINUX";

/// auxv keys necro reads.
namespace at {
inline constexpr std::uint64_t null = 0, phdr = 3, phent = 4, phnum = 5, pagesz = 6, base = 7,
                               entry = 9, platform = 15, hwcap = 16, base_platform = 24, random = 25,
                               hwcap2 = 26, execfn = 31, sysinfo_ehdr = 33;
}

/// Kernel error numbers that the syscall-restart rules look at.
namespace kerr {
inline constexpr std::int64_t eintr = 4;
inline constexpr std::int64_t erestartsys = 512;
inline constexpr std::int64_t erestartnointr = 513;
inline constexpr std::int64_t erestartnohand = 514;
inline constexpr std::int64_t erestart_restartblock = 516;
}  // namespace kerr

/// Signal numbers (same on x86-64 and aarch64).
namespace sig {
inline constexpr int sigquit = 3, sigill = 4, sigtrap = 5, sigabrt = 6, sigbus = 7, sigfpe = 8,
                     sigkill = 9, sigsegv = 11, sigstop = 19;
/// _NSIG: signals are numbered 1 to 64.
inline constexpr int count = 64;
/// The dispositions that are not handler addresses: SIG_DFL, SIG_IGN.
inline constexpr std::uint64_t sig_dfl = 0, sig_ign = 1;
}

/// siginfo_t si_code values (asm-generic/siginfo.h) necro writes.
namespace si {
inline constexpr std::int32_t tkill = -6;  ///< SI_TKILL: sent by tkill/tgkill
}

/// stack_t ss_flags (the sigaltstack): SS_ONSTACK, SS_DISABLE.
namespace ss {
inline constexpr std::uint32_t onstack = 1, disable = 2, autodisarm = 1u << 31;
}

/// sa_flags bits (asm-generic/signal.h; the same on x86-64 and arm64).
namespace sa {
inline constexpr std::uint64_t siginfo = 0x4, restorer = 0x04000000, onstack = 0x08000000;
}

}  // namespace necro::arch

#endif
