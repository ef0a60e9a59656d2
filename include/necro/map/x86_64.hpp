/// Field tables for x86-64: NT_PRSTATUS user_regs_struct -> CRIU
/// user_x86_regs_entry, and NT_PRFPREG (FXSAVE) -> user_x86_fpregs_entry;
/// criu_thread<x86_64>, the bridge the planner uses (XSAVE components too).
#ifndef NECRO_MAP_X86_64_HPP
#define NECRO_MAP_X86_64_HPP
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/hana/tuple.hpp>
#include <fmt/format.h>

#include <necro/arch/x86_64.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/byte_view.hpp>
#include <necro/map/criu_thread.hpp>
#include <necro/map/field.hpp>
#include <necro/pb/core.pb.h>
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


namespace necro::map {

/// x86-64: gpregs/fpregs through the tables above, XSAVE components by offset.
template <>
struct criu_thread<arch::x86_64> {
  using user_regs = arch::x86_64_abi::user_regs;
  using fpregs = arch::x86_64_abi::fpregs;

  static const pb::thread_info_x86& info(const pb::core_entry& c) { return c.thread_info(); }
  static std::uint64_t sp(const pb::core_entry& c) { return c.thread_info().gpregs().sp(); }
  static std::uint64_t pc(const pb::core_entry& c) { return c.thread_info().gpregs().ip(); }
  static std::uint64_t thread_pointer(const pb::core_entry& c) { return c.thread_info().gpregs().fs_base(); }
  static std::uint64_t clear_tid(const pb::core_entry& c) { return c.thread_info().clear_tid_addr(); }
  static void set_clear_tid(pb::core_entry& c, std::uint64_t v) { c.mutable_thread_info()->set_clear_tid_addr(v); }
  static bool has_thread_info(const pb::core_entry& c) { return c.has_thread_info(); }

  /// Where XSAVE component `feature` sits in NT_X86_XSTATE: from the core's
  /// NT_X86_XSAVE_LAYOUT when present (offsets are the CPU's,
  /// docs/pitfalls.md#xsave-offsets).
  static std::optional<std::pair<std::uint32_t, std::uint32_t>> component(
      unsigned feature, const std::optional<io::byte_view>& layout) {
    if (layout) {
      const std::size_t n = layout->size() / sizeof(arch::x86_64_abi::xfeat_component);
      for (std::size_t i = 0; i < n; ++i) {
        auto c = layout->load<arch::x86_64_abi::xfeat_component>(i * sizeof(arch::x86_64_abi::xfeat_component),
                                                                 "NT_X86_XSAVE_LAYOUT entry");
        if (c && c->type == feature) return std::pair{c->offset, c->size};
      }
      return std::nullopt;
    }
    for (const auto& d : arch::x86_64_abi::xfeat_defaults)
      if (d.feature == feature) return std::pair{d.offset, d.size};
    return std::nullopt;
  }

  /// rseq's signature on x86-64 (glibc's RSEQ_SIG, what the kernel checks on abort).
  static constexpr std::uint32_t rseq_signature = 0x53053053;

  /// XSAVE components enabled on the dumping CPU: XCR0, which the kernel
  /// writes into the first word of NT_X86_XSTATE's software-reserved bytes
  /// (offset 464; 0xe7 on an AVX-512 machine); 0 when the core has no xstate.
  static std::uint64_t xfeatures(const std::optional<io::byte_view>& xstate) {
    if (!xstate) return 0;
    const auto v = xstate->load<std::uint64_t>(464, "NT_X86_XSTATE XCR0 (sw_reserved)");
    return v ? *v : 0;
  }

  /// A thread_info for a donor made from the core (plan/donorless.hpp): the
  /// thread's registers, XSAVE fields sized as CRIU sizes them for the
  /// components the dumping CPU had (set_registers keeps these sizes), and
  /// the three empty GDT TLS slots (12-14) CRIU dumps for a 64-bit thread.
  static void synthetic_thread_info(pb::core_entry& c, const elf::thread_notes<arch::x86_64>& t) {
    c.set_mtype(pb::core_entry::X86_64);
    auto* ti = c.mutable_thread_info();
    ti->set_clear_tid_addr(0);
    apply(x86_64::gpregs, t.regs(), *ti->mutable_gpregs());
    ti->mutable_gpregs()->set_mode(pb::NATIVE);
    apply(x86_64::fpregs_table, fpregs{}, *ti->mutable_fpregs());
    if (t.xstate) size_xsave(*ti->mutable_fpregs()->mutable_xsave(), xfeatures(t.xstate));
    for (std::uint32_t slot : {12u, 13u, 14u}) {
      auto* d = ti->add_tls();
      d->set_entry_number(slot);
      d->set_base_addr(0);
      d->set_limit(0);
      d->set_seg_32bit(false);
      d->set_contents_h(false);
      d->set_contents_l(false);
      d->set_read_exec_only(true);
      d->set_limit_in_pages(false);
      d->set_seg_not_present(true);
      d->set_usable(false);
    }
  }

  /// CRIU's element counts of each XSAVE field (criu/arch/x86: the kernel's
  /// component structs in 32- or 64-bit words) for the components in `mask`.
  static void size_xsave(pb::user_x86_xsave_entry& xs, std::uint64_t mask) {
    namespace xf = arch::x86_64_abi::xfeature;
    xs.set_xstate_bv(0);
    const auto has = [mask](unsigned f) { return (mask >> f) & 1; };
    const auto zeros = [](auto* rep, int n) { for (int i = 0; i < n; ++i) rep->Add(0); };
    if (has(xf::ymm)) zeros(xs.mutable_ymmh_space(), 64);
    if (has(xf::bndregs)) zeros(xs.mutable_bndreg_state(), 8);
    if (has(xf::bndcsr)) zeros(xs.mutable_bndcsr_state(), 2);
    if (has(xf::opmask)) zeros(xs.mutable_opmask_reg(), 8);
    if (has(xf::zmm_hi256)) zeros(xs.mutable_zmm_upper(), 64);
    if (has(xf::hi16_zmm)) zeros(xs.mutable_hi16_zmm(), 128);
    if (has(xf::pkru)) zeros(xs.mutable_pkru(), 2);
  }

  /// Keeps only the XSAVE components in `mask` (the CPU's XCR0): xstate_bv
  /// masked, the other components' fields emptied, as CRIU's dump on a CPU
  /// without them writes them (its restore fills a component only when the
  /// CPU has it and xstate_bv says so).
  static void keep_xfeatures(pb::user_x86_xsave_entry& xs, std::uint64_t mask) {
    namespace xf = arch::x86_64_abi::xfeature;
    xs.set_xstate_bv(xs.xstate_bv() & mask);
    const auto lacks = [mask](unsigned f) { return !((mask >> f) & 1); };
    if (lacks(xf::ymm)) xs.clear_ymmh_space();
    if (lacks(xf::bndregs)) xs.clear_bndreg_state();
    if (lacks(xf::bndcsr)) xs.clear_bndcsr_state();
    if (lacks(xf::opmask)) xs.clear_opmask_reg();
    if (lacks(xf::zmm_hi256)) xs.clear_zmm_upper();
    if (lacks(xf::hi16_zmm)) xs.clear_hi16_zmm();
    if (lacks(xf::pkru)) xs.clear_pkru();
  }

  /// Fills the registers of `c` from a thread's notes (`regs`: its general
  /// registers after the restart rule). xsave fields keep the element counts
  /// of the template's image (CRIU sizes them per CPU).
  static result<void> set_registers(pb::core_entry& c, const elf::thread_notes<arch::x86_64>& t,
                                    const elf::process_notes<arch::x86_64>& p, const user_regs& regs,
                                    std::vector<std::string>& warnings) {
    auto* ti = c.mutable_thread_info();
    apply(x86_64::gpregs, regs, *ti->mutable_gpregs());
    ti->mutable_gpregs()->set_mode(pb::NATIVE);
    std::optional<fpregs> legacy = t.fpregs;
    if (!legacy && t.xstate) {
      NECRO_TRY_ASSIGN(legacy, t.xstate->load<fpregs>(0, "NT_X86_XSTATE legacy area"));
    }
    if (!legacy) return fail(error(errc::missing, "", "no NT_PRFPREG or NT_X86_XSTATE note for the thread"));
    auto* fpe = ti->mutable_fpregs();
    apply(x86_64::fpregs_table, *legacy, *fpe);
    if (!t.xstate) {
      fpe->clear_xsave();
      return {};
    }
    return set_xsave(*fpe, *t.xstate, p.xsave_layout, warnings);
  }

 private:
  /// One XSAVE component into a repeated field, sized as the field already is;
  /// zeros with a warning when the core's XSAVE image lacks it.
  template <class Rep>
  static result<void> fill_component(Rep* rep, unsigned feature, const char* name, const io::byte_view& xstate,
                                     const std::optional<io::byte_view>& layout, std::vector<std::string>& warnings) {
    using elem_t = std::remove_cvref_t<decltype(rep->Get(0))>;
    const int n = rep->size();
    if (n == 0) return {};
    const auto where = component(feature, layout);
    const std::uint64_t need = static_cast<std::uint64_t>(n) * sizeof(elem_t);
    if (!where || !xstate.covers(where->first, need) || where->second < need) {
      warnings.push_back(fmt::format("XSAVE component {} ({}) not in the core: left in its initial state", feature, name));
      for (int i = 0; i < n; ++i) rep->Set(i, 0);
      return {};
    }
    for (int i = 0; i < n; ++i) {
      NECRO_TRY_ASSIGN(const auto v, xstate.load<elem_t>(where->first + static_cast<std::uint64_t>(i) * sizeof(elem_t), name));
      rep->Set(i, v);
    }
    return {};
  }

  /// The XSAVE header's xstate_bv and every component CRIU keeps.
  static result<void> set_xsave(pb::user_x86_fpregs_entry& fpe, const io::byte_view& xstate,
                                const std::optional<io::byte_view>& layout, std::vector<std::string>& warnings) {
    NECRO_TRY_ASSIGN(const auto hdr, xstate.load<arch::x86_64_abi::xsave_header>(
                                         arch::x86_64_abi::xsave_header_offset, "XSAVE header"));
    auto* xs = fpe.mutable_xsave();
    xs->set_xstate_bv(hdr.xstate_bv);
    namespace xf = arch::x86_64_abi::xfeature;
    auto fill = [&](unsigned feature, auto* rep, const char* name) {
      return fill_component(rep, feature, name, xstate, layout, warnings);
    };
    NECRO_TRY(fill(xf::ymm, xs->mutable_ymmh_space(), "ymmh_space"));
    NECRO_TRY(fill(xf::bndregs, xs->mutable_bndreg_state(), "bndreg_state"));
    NECRO_TRY(fill(xf::bndcsr, xs->mutable_bndcsr_state(), "bndcsr_state"));
    NECRO_TRY(fill(xf::opmask, xs->mutable_opmask_reg(), "opmask_reg"));
    NECRO_TRY(fill(xf::zmm_hi256, xs->mutable_zmm_upper(), "zmm_upper"));
    NECRO_TRY(fill(xf::hi16_zmm, xs->mutable_hi16_zmm(), "hi16_zmm"));
    NECRO_TRY(fill(xf::pkru, xs->mutable_pkru(), "pkru"));
    return {};
  }
};

}  // namespace necro::map

#endif
