/// Field tables for aarch64: user_pt_regs -> CRIU user_aarch64_regs_entry, and
/// user_fpsimd_state -> user_aarch64_fpsimd_context_entry.
#ifndef NECRO_MAP_AARCH64_HPP
#define NECRO_MAP_AARCH64_HPP
#pragma once

#include <boost/hana/tuple.hpp>

#include <necro/arch/aarch64.hpp>
#include <necro/map/field.hpp>
#include <necro/pb/core_aarch64.pb.h>

namespace necro::map::aarch64 {

using arch::aarch64_abi::fpregs;
using arch::aarch64_abi::user_regs;

inline constexpr auto gpregs = boost::hana::make_tuple(
    NECRO_MAP_REPEATED(user_regs, regs, regs), NECRO_MAP_SCALAR(user_regs, sp, sp),
    NECRO_MAP_SCALAR(user_regs, pc, pc), NECRO_MAP_SCALAR(user_regs, pstate, pstate));
NECRO_MAP_ASSERT_COMPLETE(user_regs, gpregs);

inline constexpr auto fpsimd = boost::hana::make_tuple(
    NECRO_MAP_REPEATED(fpregs, vregs, vregs), NECRO_MAP_SCALAR(fpregs, fpsr, fpsr),
    NECRO_MAP_SCALAR(fpregs, fpcr, fpcr),
    NECRO_MAP_IGNORE(fpregs, reserved, "kernel padding, not state"));
NECRO_MAP_ASSERT_COMPLETE(fpregs, fpsimd);

}  // namespace necro::map::aarch64

#endif
