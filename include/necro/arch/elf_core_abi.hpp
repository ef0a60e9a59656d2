/// necro::arch::lp64_core_abi: the parts of the Linux core-note ABI that every
/// 64-bit architecture shares (include/linux/elfcore.h with the generic
/// 64-bit types): elf_siginfo, elf_prstatus around an architecture's pr_reg,
/// and elf_prpsinfo; the NT_SIGINFO payload (siginfo_t) and the NT_FILE
/// table's header and entries. Each architecture's header pins its
/// instantiation of elf_prstatus with static_asserts of size and offsets; the
/// layouts that do not depend on the architecture are pinned here.
#ifndef NECRO_ARCH_ELF_CORE_ABI_HPP
#define NECRO_ARCH_ELF_CORE_ABI_HPP
#pragma once

#include <array>
#include <cstddef>
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

/// siginfo_t (include/uapi/asm-generic/siginfo.h), the NT_SIGINFO payload and
/// what CRIU keeps per queued signal: three ints, then the union of per-cause
/// fields, 8-aligned at 16, padding the whole to SI_MAX_SIZE (128). Of the
/// union only its _kill member (si_pid, si_uid) is named: kill_pid and
/// kill_uid, because <signal.h> makes `si_pid` and `si_uid` macros.
struct siginfo {
  std::int32_t si_signo, si_errno, si_code;
  std::array<std::uint8_t, 4> pad0;
  std::int32_t kill_pid;
  std::uint32_t kill_uid;
  std::array<std::uint8_t, 104> sifields_rest;
};
static_assert(sizeof(siginfo) == 128);
static_assert(offsetof(siginfo, si_errno) == 4);
static_assert(offsetof(siginfo, si_code) == 8);
static_assert(offsetof(siginfo, kill_pid) == 16);
static_assert(offsetof(siginfo, kill_uid) == 20);

/// NT_FILE (fs/binfmt_elf.c, fill_files_note): this header, `count` entries,
/// then `count` NUL-terminated paths.
struct nt_file_header {
  std::uint64_t count, page_size;
};
static_assert(sizeof(nt_file_header) == 16);

/// One NT_FILE entry: the VMA [start, end) maps its file from page file_ofs
/// (in units of the header's page_size).
struct nt_file_entry {
  std::uint64_t start, end, file_ofs;
};
static_assert(sizeof(nt_file_entry) == 24);
static_assert(offsetof(nt_file_entry, end) == 8);
static_assert(offsetof(nt_file_entry, file_ofs) == 16);

}  // namespace necro::arch::lp64_core_abi

#endif
