/// Field tables for aarch64: user_pt_regs -> CRIU user_aarch64_regs_entry,
/// user_fpsimd_state -> user_aarch64_fpsimd_context_entry, NT_ARM_TLS ->
/// thread_info_aarch64.tls; and criu_thread<aarch64>, the bridge the planner uses.
#ifndef NECRO_MAP_AARCH64_HPP
#define NECRO_MAP_AARCH64_HPP
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/hana/tuple.hpp>
#include <fmt/format.h>

#include <necro/arch/aarch64.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/map/criu_thread.hpp>
#include <necro/map/field.hpp>
#include <necro/pb/core.pb.h>
#include <necro/pb/core_aarch64.pb.h>

namespace necro::map::aarch64 {

using arch::aarch64_abi::arm_tls;
using arch::aarch64_abi::fpregs;
using arch::aarch64_abi::user_regs;

/// user_pt_regs -> user_aarch64_regs_entry: x0-x30, sp, pc, pstate.
inline constexpr auto gpregs = boost::hana::make_tuple(
    NECRO_MAP_REPEATED(user_regs, regs, regs), NECRO_MAP_SCALAR(user_regs, sp, sp),
    NECRO_MAP_SCALAR(user_regs, pc, pc), NECRO_MAP_SCALAR(user_regs, pstate, pstate));
NECRO_MAP_ASSERT_COMPLETE(user_regs, gpregs);

/// user_fpsimd_state -> user_aarch64_fpsimd_context_entry: v0-v31 as 64
/// words (low half first, as the kernel stores each __uint128_t), fpsr, fpcr.
inline constexpr auto fpsimd = boost::hana::make_tuple(
    NECRO_MAP_REPEATED(fpregs, vregs, vregs), NECRO_MAP_SCALAR(fpregs, fpsr, fpsr),
    NECRO_MAP_SCALAR(fpregs, fpcr, fpcr),
    NECRO_MAP_IGNORE(fpregs, reserved, "kernel padding, not state"));
NECRO_MAP_ASSERT_COMPLETE(fpregs, fpsimd);

/// NT_ARM_TLS -> thread_info_aarch64.tls (TPIDR_EL0).
inline constexpr auto tls = boost::hana::make_tuple(NECRO_MAP_SCALAR(arm_tls, tpidr, tls));
NECRO_MAP_ASSERT_COMPLETE(arm_tls, tls);

}  // namespace necro::map::aarch64

namespace necro::map {

/// aarch64: gpregs, fpsimd and tls through the tables above.
template <>
struct criu_thread<arch::aarch64> {
  using user_regs = arch::aarch64_abi::user_regs;

  static const pb::thread_info_aarch64& info(const pb::core_entry& c) { return c.ti_aarch64(); }
  static std::uint64_t sp(const pb::core_entry& c) { return c.ti_aarch64().gpregs().sp(); }
  static std::uint64_t pc(const pb::core_entry& c) { return c.ti_aarch64().gpregs().pc(); }
  static std::uint64_t thread_pointer(const pb::core_entry& c) { return c.ti_aarch64().tls(); }
  static std::uint64_t clear_tid(const pb::core_entry& c) { return c.ti_aarch64().clear_tid_addr(); }
  static void set_clear_tid(pb::core_entry& c, std::uint64_t v) { c.mutable_ti_aarch64()->set_clear_tid_addr(v); }
  static bool has_thread_info(const pb::core_entry& c) { return c.has_ti_aarch64(); }

  /// rseq's signature on little-endian aarch64 (glibc's RSEQ_SIG: BRK #0x45E0).
  static constexpr std::uint32_t rseq_signature = 0xd428bc00;

  /// A thread_info for a donor made from the core (plan/donorless.hpp):
  /// general registers, zero FP/SIMD and tls (set_registers fills them from
  /// the notes), clear_tid 0, and no pointer-authentication keys (the core
  /// has none; CRIU leaves them as the kernel sets them).
  static void synthetic_thread_info(pb::core_entry& c, const elf::thread_notes<arch::aarch64>& t) {
    c.set_mtype(pb::core_entry::AARCH64);
    auto* ti = c.mutable_ti_aarch64();
    ti->set_clear_tid_addr(0);
    apply(aarch64::gpregs, t.regs(), *ti->mutable_gpregs());
    apply(aarch64::fpsimd, arch::aarch64_abi::fpregs{}, *ti->mutable_fpsimd());
    apply(aarch64::tls, arch::aarch64_abi::arm_tls{}, *ti);
  }

  /// Fills ti_aarch64 from a thread's notes (`regs`: its general registers
  /// after the restart rule). A core without NT_PRFPREG or NT_ARM_TLS (qemu-user
  /// writes neither) gets zeros there, with a warning each.
  static result<void> set_registers(pb::core_entry& c, const elf::thread_notes<arch::aarch64>& t,
                                    const elf::process_notes<arch::aarch64>&, const user_regs& regs,
                                    std::vector<std::string>& warnings) {
    auto* ti = c.mutable_ti_aarch64();
    apply(aarch64::gpregs, regs, *ti->mutable_gpregs());
    if (!t.fpregs)
      warnings.push_back(fmt::format("thread {}: no NT_PRFPREG in the core: FP/SIMD registers v0-v31, fpsr and "
                                     "fpcr restored as zeros",
                                     t.tid()));
    apply(aarch64::fpsimd, t.fpregs.value_or(arch::aarch64_abi::fpregs{}), *ti->mutable_fpsimd());
    if (!t.tls)
      warnings.push_back(fmt::format("thread {}: no NT_ARM_TLS in the core: tpidr_el0 (the TLS pointer) restored "
                                     "as 0; thread-local storage and errno are lost",
                                     t.tid()));
    apply(aarch64::tls, t.tls.value_or(arch::aarch64_abi::arm_tls{}), *ti);
    return {};
  }
};

}  // namespace necro::map

#endif
