/// necro::arch::lp64_core_abi: the parts of the Linux core-note ABI that every
/// 64-bit architecture shares (include/linux/elfcore.h with the generic
/// 64-bit types): elf_siginfo, elf_prstatus around an architecture's pr_reg,
/// and elf_prpsinfo. Each architecture's header pins its instantiation with
/// static_asserts of size and offsets.
#ifndef NECRO_ARCH_ELF_CORE_ABI_HPP
#define NECRO_ARCH_ELF_CORE_ABI_HPP
#pragma once

#include <array>
#include <cstdint>

namespace necro::arch::lp64_core_abi {

/// struct elf_siginfo.
struct elf_siginfo {
  std::int32_t si_signo, si_code, si_errno;
};

/// struct __kernel_old_timeval on LP64.
struct timeval64 {
  std::int64_t sec, usec;
};

/// struct elf_prstatus, `Regs` being the architecture's elf_gregset_t.
template <class Regs>
struct elf_prstatus {
  elf_siginfo info;
  std::int16_t cursig;
  std::array<std::uint8_t, 2> pad0;
  std::uint64_t sigpend;
  std::uint64_t sighold;
  std::int32_t pid, ppid, pgrp, sid;
  timeval64 utime, stime, cutime, cstime;
  Regs regs;
  std::int32_t fpvalid;
  std::array<std::uint8_t, 4> pad1;
};

/// struct elf_prpsinfo (uid and gid are 32-bit on x86-64 and aarch64).
struct elf_prpsinfo {
  std::int8_t state, sname, zomb, nice;
  std::array<std::uint8_t, 4> pad0;
  std::uint64_t flag;
  std::uint32_t uid, gid;
  std::int32_t pid, ppid, pgrp, sid;
  std::array<char, 16> fname;
  std::array<char, 80> psargs;
};
static_assert(sizeof(elf_prpsinfo) == 136);

}  // namespace necro::arch::lp64_core_abi

#endif
