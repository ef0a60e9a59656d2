/// ELF and note constants shared by every architecture's traits (our own
/// copies of the kernel's values: no host <elf.h> needed).
#ifndef NECRO_ARCH_COMMON_HPP
#define NECRO_ARCH_COMMON_HPP
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace necro::arch {

/// ELF identification and types.
namespace elfc {
inline constexpr std::array<unsigned char, 4> magic = {0x7f, 'E', 'L', 'F'};
inline constexpr unsigned char class64 = 2;
inline constexpr unsigned char data_lsb = 1;
inline constexpr unsigned char data_msb = 2;
inline constexpr std::uint16_t et_exec = 2, et_dyn = 3, et_core = 4;
inline constexpr std::uint32_t pt_load = 1;
inline constexpr std::uint32_t pt_note = 4;
inline constexpr std::uint32_t pf_x = 1, pf_w = 2, pf_r = 4;
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
}  // namespace nt

inline constexpr std::string_view owner_core = "CORE";
inline constexpr std::string_view owner_linux = "LINUX";

/// auxv keys necro reads.
namespace at {
inline constexpr std::uint64_t null = 0, phdr = 3, phent = 4, phnum = 5, pagesz = 6, base = 7,
                               entry = 9, platform = 15, base_platform = 24, random = 25, execfn = 31,
                               sysinfo_ehdr = 33;
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
}

}  // namespace necro::arch

#endif
