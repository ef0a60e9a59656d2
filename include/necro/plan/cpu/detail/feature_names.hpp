/// The names the CPU check gives feature bits: XSAVE state components (XCR0
/// bits), x86-64 AT_HWCAP (CPUID.1:EDX) and AT_HWCAP2 bits, aarch64 AT_HWCAP
/// and AT_HWCAP2 bits (the words of /proc/cpuinfo's "Features"). A bit
/// without a name is "xfeature bit N", or "bit N" of its HWCAP word.
#ifndef NECRO_PLAN_CPU_DETAIL_FEATURE_NAMES_HPP
#define NECRO_PLAN_CPU_DETAIL_FEATURE_NAMES_HPP
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace necro::plan::detail {

/// One named bit of a feature word.
struct feature_bit {
  unsigned bit;
  std::string_view name;
};

/// XSAVE state components a user process can enable (XCR0); bits 8 and
/// 10-16 are supervisor states, never in XCR0.
inline constexpr std::array<feature_bit, 12> xfeature_names = {{
    {0, "x87"}, {1, "sse"}, {2, "avx"}, {3, "mpx bndregs"}, {4, "mpx bndcsr"}, {5, "avx512 opmask"},
    {6, "zmm_hi256"}, {7, "hi16_zmm"}, {9, "pkru"}, {17, "amx tilecfg"}, {18, "amx tiledata"}, {19, "apx"},
}};

/// x86-64 AT_HWCAP is CPUID.1:EDX. Only its instruction bits are compared (as
/// CRIU's `--cpu-cap=ins` does): the others (ht, acpi, tm, ds, vme, ...)
/// describe the machine, not what a process executes, and differ between a
/// host and its virtual machines.
inline constexpr std::array<feature_bit, 10> x86_64_hwcap_names = {{
    {0, "fpu"}, {4, "tsc"}, {8, "cx8"}, {11, "sep"}, {15, "cmov"},
    {19, "clflush"}, {23, "mmx"}, {24, "fxsr"}, {25, "sse"}, {26, "sse2"},
}};

/// x86-64 AT_HWCAP2 (HWCAP2_RING3MWAIT, HWCAP2_FSGSBASE); every bit is compared.
inline constexpr std::array<feature_bit, 2> x86_64_hwcap2_names = {{{0, "ring3mwait"}, {1, "fsgsbase"}}};

/// aarch64 AT_HWCAP (HWCAP_*); every bit but evtstrm (the kernel's timer
/// event stream, not an instruction) is compared.
inline constexpr std::array<feature_bit, 32> aarch64_hwcap_names = {{
    {0, "fp"},       {1, "asimd"},     {2, "evtstrm"},  {3, "aes"},     {4, "pmull"},    {5, "sha1"},
    {6, "sha2"},     {7, "crc32"},     {8, "atomics"},  {9, "fphp"},    {10, "asimdhp"}, {11, "cpuid"},
    {12, "asimdrdm"}, {13, "jscvt"},   {14, "fcma"},    {15, "lrcpc"},  {16, "dcpop"},   {17, "sha3"},
    {18, "sm3"},     {19, "sm4"},      {20, "asimddp"}, {21, "sha512"}, {22, "sve"},     {23, "asimdfhm"},
    {24, "dit"},     {25, "uscat"},    {26, "ilrcpc"},  {27, "flagm"},  {28, "ssbs"},    {29, "sb"},
    {30, "paca"},    {31, "pacg"},
}};
inline constexpr std::uint64_t aarch64_hwcap_evtstrm = 1ULL << 2;

/// aarch64 AT_HWCAP2 (HWCAP2_*); every bit is compared.
inline constexpr std::array<feature_bit, 32> aarch64_hwcap2_names = {{
    {0, "dcpodp"},      {1, "sve2"},        {2, "sveaes"},      {3, "svepmull"},    {4, "svebitperm"},
    {5, "svesha3"},     {6, "svesm4"},      {7, "flagm2"},      {8, "frint"},       {9, "svei8mm"},
    {10, "svef32mm"},   {11, "svef64mm"},   {12, "svebf16"},    {13, "i8mm"},       {14, "bf16"},
    {15, "dgh"},        {16, "rng"},        {17, "bti"},        {18, "mte"},        {19, "ecv"},
    {20, "afp"},        {21, "rpres"},      {22, "mte3"},       {23, "sme"},        {24, "smei16i64"},
    {25, "smef64f64"},  {26, "smei8i32"},   {27, "smef16f32"},  {28, "smeb16f32"},  {29, "smef32f32"},
    {30, "smefa64"},    {31, "wfxt"},
}};

/// The name of `bit` in `table`, else "`unknown` bit N" ("bit N" when
/// `unknown` is empty).
template <std::size_t N>
std::string feature_name(const std::array<feature_bit, N>& table, unsigned bit, std::string_view unknown) {
  for (const auto& f : table)
    if (f.bit == bit) return std::string(f.name);
  return unknown.empty() ? fmt::format("bit {}", bit) : fmt::format("{} bit {}", unknown, bit);
}

/// The mask of every bit `table` names.
template <std::size_t N>
constexpr std::uint64_t named_mask(const std::array<feature_bit, N>& table) {
  std::uint64_t m = 0;
  for (const auto& f : table) m |= 1ULL << f.bit;
  return m;
}

}  // namespace necro::plan::detail

#endif
