/// Field tables for x86-64: NT_PRSTATUS user_regs_struct -> CRIU
/// user_x86_regs_entry, and NT_PRFPREG (FXSAVE) -> user_x86_fpregs_entry.
#ifndef NECRO_MAP_X86_64_HPP
#define NECRO_MAP_X86_64_HPP
#pragma once

#include <boost/hana/tuple.hpp>

#include <necro/arch/x86_64.hpp>
#include <necro/map/field.hpp>
#include <necro/pb/core_x86.pb.h>

namespace necro::map::x86_64 {

using arch::x86_64_abi::fpregs;
using arch::x86_64_abi::user_regs;

/// user_regs_struct -> user_x86_regs_entry (the kernel's and CRIU's names differ:
/// rbp/bp, rax/ax, rip/ip, eflags/flags, ...).
inline constexpr auto gpregs = boost::hana::make_tuple(
    NECRO_MAP_SCALAR(user_regs, r15, r15), NECRO_MAP_SCALAR(user_regs, r14, r14),
    NECRO_MAP_SCALAR(user_regs, r13, r13), NECRO_MAP_SCALAR(user_regs, r12, r12),
    NECRO_MAP_SCALAR(user_regs, rbp, bp), NECRO_MAP_SCALAR(user_regs, rbx, bx),
    NECRO_MAP_SCALAR(user_regs, r11, r11), NECRO_MAP_SCALAR(user_regs, r10, r10),
    NECRO_MAP_SCALAR(user_regs, r9, r9), NECRO_MAP_SCALAR(user_regs, r8, r8),
    NECRO_MAP_SCALAR(user_regs, rax, ax), NECRO_MAP_SCALAR(user_regs, rcx, cx),
    NECRO_MAP_SCALAR(user_regs, rdx, dx), NECRO_MAP_SCALAR(user_regs, rsi, si),
    NECRO_MAP_SCALAR(user_regs, rdi, di), NECRO_MAP_SCALAR(user_regs, orig_rax, orig_ax),
    NECRO_MAP_SCALAR(user_regs, rip, ip), NECRO_MAP_SCALAR(user_regs, cs, cs),
    NECRO_MAP_SCALAR(user_regs, eflags, flags), NECRO_MAP_SCALAR(user_regs, rsp, sp),
    NECRO_MAP_SCALAR(user_regs, ss, ss), NECRO_MAP_SCALAR(user_regs, fs_base, fs_base),
    NECRO_MAP_SCALAR(user_regs, gs_base, gs_base), NECRO_MAP_SCALAR(user_regs, ds, ds),
    NECRO_MAP_SCALAR(user_regs, es, es), NECRO_MAP_SCALAR(user_regs, fs, fs),
    NECRO_MAP_SCALAR(user_regs, gs, gs));
NECRO_MAP_ASSERT_COMPLETE(user_regs, gpregs);

/// user_i387_struct (FXSAVE image) -> user_x86_fpregs_entry (without xsave).
inline constexpr auto fpregs_table = boost::hana::make_tuple(
    NECRO_MAP_SCALAR(fpregs, cwd, cwd), NECRO_MAP_SCALAR(fpregs, swd, swd),
    NECRO_MAP_SCALAR(fpregs, twd, twd), NECRO_MAP_SCALAR(fpregs, fop, fop),
    NECRO_MAP_SCALAR(fpregs, rip, rip), NECRO_MAP_SCALAR(fpregs, rdp, rdp),
    NECRO_MAP_SCALAR(fpregs, mxcsr, mxcsr), NECRO_MAP_SCALAR(fpregs, mxcsr_mask, mxcsr_mask),
    NECRO_MAP_REPEATED(fpregs, st_space, st_space), NECRO_MAP_REPEATED(fpregs, xmm_space, xmm_space),
    NECRO_MAP_REPEATED(fpregs, padding, padding));
NECRO_MAP_ASSERT_COMPLETE(fpregs, fpregs_table);

}  // namespace necro::map::x86_64

#endif
