/// This machine's side of the CPU check (plan/cpu/cpu_check.hpp): the
/// architecture (uname), AT_HWCAP, AT_HWCAP2 and AT_PLATFORM of the necro
/// process's own auxv (/proc/self/auxv; the platform string by getauxval),
/// and on x86 the enabled XSAVE components
/// (XCR0, by xgetbv when CPUID.1:ECX.OSXSAVE says the OS enabled XSAVE).
#ifndef NECRO_RESURRECT_DETAIL_CPU_FACTS_HPP
#define NECRO_RESURRECT_DETAIL_CPU_FACTS_HPP
#pragma once

#include <sys/auxv.h>
#include <sys/utsname.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <necro/arch/common.hpp>
#include <necro/plan/cpu/cpu_check.hpp>

namespace necro::detail {

/// XCR0 of this CPU: the XSAVE components the kernel enabled for user
/// space; x87 and SSE (FXSAVE) only when the OS did not enable XSAVE; none on
/// another architecture. The instruction is x86's: the one place necro asks
/// the CPU it runs on.
inline std::optional<std::uint64_t> this_cpu_xfeatures() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return std::nullopt;
  constexpr unsigned osxsave = 1u << 27;
  if (!(ecx & osxsave)) return std::uint64_t{0x3};
  std::uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
#else
  return std::nullopt;
#endif
}

/// An auxv value of the necro process as the kernel gave it, from
/// /proc/self/auxv: glibc's getauxval(AT_HWCAP) on x86 answers its own
/// dl_hwcap (0x6 here: its HWCAP_X86_64 and AVX-512 platform bits), not the
/// kernel's CPUID.1:EDX. None when the key is absent or the file unreadable.
inline std::optional<std::uint64_t> own_auxv(std::uint64_t key) {
  std::ifstream f("/proc/self/auxv", std::ios::binary);
  std::array<unsigned long, 2> pair{};  // the native auxv_t: a_type, a_val
  // A cap on the loop: the kernel's auxv has well under 64 pairs.
  for (int i = 0; i < 256 && f.read(reinterpret_cast<char*>(pair.data()), sizeof pair); ++i) {
    if (pair[0] == key) return pair[1];
    if (pair[0] == arch::at::null) break;
  }
  return std::nullopt;
}

/// This machine's CPU as the check compares it.
inline plan::cpu_facts this_machine_cpu() {
  plan::cpu_facts f;
  struct utsname u {};
  if (::uname(&u) == 0) f.arch = u.machine;
  f.xfeatures = this_cpu_xfeatures();
  f.hwcap = own_auxv(arch::at::hwcap);
  f.hwcap2 = own_auxv(arch::at::hwcap2);
  if (const auto p = ::getauxval(arch::at::platform)) f.platform = reinterpret_cast<const char*>(p);
  return f;
}

}  // namespace necro::detail

#endif
