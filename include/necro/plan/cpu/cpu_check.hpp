/// The CPU check: what the dead process may use — the XSAVE features of the
/// core's NT_X86_XSTATE (XCR0), its AT_HWCAP, AT_HWCAP2 and AT_PLATFORM —
/// against what this machine offers. `core_cpu()` reads a core's side,
/// `check_cpu()` compares (a feature this CPU lacks is a refusal, unless
/// forced), `fit_xsave()` drops from a forced plan the XSAVE components this
/// CPU lacks. Pure: this machine's side is gathered by the caller
/// (resurrect/detail/cpu_facts.hpp). docs/resurrect.md, "The CPU check".
#ifndef NECRO_PLAN_CPU_CPU_CHECK_HPP
#define NECRO_PLAN_CPU_CPU_CHECK_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/arch/x86_64.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/io/printable.hpp>
#include <necro/map/x86_64.hpp>
#include <necro/plan/cpu/detail/feature_names.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan {

/// What a CPU offers a process, as far as the check compares it: a core's
/// (what the dead process could use) or this machine's.
struct cpu_facts {
  std::string arch;  ///< necro's name of the architecture: "x86_64", "aarch64" (this machine: uname's machine)
  /// x86-64: the enabled XSAVE components (XCR0); none when unknown (a core
  /// without NT_X86_XSTATE, another architecture).
  std::optional<std::uint64_t> xfeatures;
  std::uint64_t xfeatures_in_use = 0;  ///< a core's: the union of its threads' XSTATE_BV (in use at death)
  std::optional<std::uint64_t> hwcap, hwcap2;  ///< AT_HWCAP, AT_HWCAP2; none when absent
  std::string platform;  ///< AT_PLATFORM; empty when unknown
};

/// How the check ended (a refusal is an error of check_cpu instead).
enum class cpu_outcome {
  has_all,         ///< this CPU has every feature compared
  forced,          ///< features are missing; --force-cpu goes on
  amx_unused,      ///< only AMX components are missing, and none was in use at death: goes on, with a warning
  not_compared,    ///< --offline: this machine is not looked at
  other_machine,   ///< the core is of another architecture than this machine
  nothing_to_compare,  ///< the core holds neither XSAVE features nor HWCAP nor a platform
};

/// The check's result, for the plan and --explain.
struct cpu_check {
  cpu_outcome outcome = cpu_outcome::nothing_to_compare;
  std::vector<std::string> missing;  ///< what this CPU lacks, by name ("zmm_hi256", "hwcap2 fsgsbase")
  /// Forced with XSAVE components missing: the components this CPU has; the
  /// xsave state written keeps only these (fit_xsave).
  std::optional<std::uint64_t> keep_xfeatures;
  std::string line;                    ///< --explain's "cpu:" line
  std::optional<std::string> warning;  ///< forced: what may go wrong
};

namespace detail {

/// The names of the bits of `word` that `table` may name, "unknown bit N" else.
template <std::size_t N>
std::vector<std::string> bit_names(std::uint64_t word, const std::array<feature_bit, N>& table, std::string_view unknown) {
  std::vector<std::string> out;
  for (unsigned b = 0; b < 64; ++b)
    if ((word >> b) & 1) out.push_back(feature_name(table, b, unknown));
  return out;
}

/// The HWCAP bits compared for `arch`: x86-64 only its instruction bits.
inline std::uint64_t compared_hwcap(const std::string& arch) {
  if (arch == "x86_64") return named_mask(x86_64_hwcap_names);
  return ~aarch64_hwcap_evtstrm;
}

/// HWCAP bit names; one without a name is "bit N" (said after "HWCAP" or "hwcap").
inline std::vector<std::string> hwcap_names(const std::string& arch, std::uint64_t word) {
  if (arch == "x86_64") return bit_names(word, x86_64_hwcap_names, "");
  return bit_names(word, aarch64_hwcap_names, "");
}

inline std::vector<std::string> hwcap2_names(const std::string& arch, std::uint64_t word) {
  if (arch == "x86_64") return bit_names(word, x86_64_hwcap2_names, "");
  return bit_names(word, aarch64_hwcap2_names, "");
}

/// "XSAVE features (x87, sse, avx), HWCAP (fpu, ...), HWCAP2 (...), platform x86_64":
/// what of the core is compared.
inline std::string compared_features(const cpu_facts& core) {
  std::vector<std::string> groups;
  if (core.xfeatures)
    groups.push_back(fmt::format("XSAVE features ({})", fmt::join(bit_names(*core.xfeatures, xfeature_names, "xfeature"), ", ")));
  if (core.hwcap)
    groups.push_back(fmt::format("HWCAP ({})", fmt::join(hwcap_names(core.arch, *core.hwcap & compared_hwcap(core.arch)), ", ")));
  if (core.hwcap2 && *core.hwcap2)
    groups.push_back(fmt::format("HWCAP2 ({})", fmt::join(hwcap2_names(core.arch, *core.hwcap2), ", ")));
  if (!core.platform.empty()) groups.push_back("platform " + io::printable(core.platform));
  return fmt::format("{}", fmt::join(groups, ", "));
}

/// XSAVE components a process must ask the kernel for before it uses them
/// (arch_prctl ARCH_REQ_XCOMP_PERM): AMX. XCR0 holds them for every process
/// of a machine that has them, asked or not, and the core does not say
/// whether the dead one asked.
inline constexpr std::uint64_t permission_xfeatures = (1ULL << 17) | (1ULL << 18);

/// A feature the core has and this machine lacks.
struct missing_feature {
  std::string name;       ///< "zmm_hi256 (in use at death)", "hwcap2 fsgsbase"
  bool blocking = true;   ///< false: an AMX component not in use at death
};

/// The XSAVE components of `core` that `here` lacks; one in use at death
/// says so. An AMX component not in use is not blocking.
inline void missing_xfeatures(const cpu_facts& core, const cpu_facts& here, std::vector<missing_feature>& out) {
  if (!core.xfeatures || !here.xfeatures) return;
  const std::uint64_t lack = *core.xfeatures & ~*here.xfeatures;
  for (unsigned b = 0; b < 64; ++b) {
    if (!((lack >> b) & 1)) continue;
    const bool used = (core.xfeatures_in_use >> b) & 1;
    const bool asked_for = (permission_xfeatures >> b) & 1;
    out.push_back({feature_name(xfeature_names, b, "xfeature") + (used ? " (in use at death)" : ""),
                   used || !asked_for});
  }
}

/// The features of `core` that `here` lacks, by name.
inline std::vector<missing_feature> missing_features(const cpu_facts& core, const cpu_facts& here) {
  std::vector<missing_feature> out;
  missing_xfeatures(core, here, out);
  if (core.hwcap && here.hwcap)
    for (auto& n : hwcap_names(core.arch, *core.hwcap & ~*here.hwcap & compared_hwcap(core.arch)))
      out.push_back({"hwcap " + n});
  if (core.hwcap2 && here.hwcap2)
    for (auto& n : hwcap2_names(core.arch, *core.hwcap2 & ~*here.hwcap2)) out.push_back({"hwcap2 " + n});
  if (!core.platform.empty() && !here.platform.empty() && core.platform != here.platform)
    out.push_back({fmt::format("platform {} (this machine {})", io::printable(core.platform), io::printable(here.platform))});
  return out;
}

/// The names of `m`, joined; `blocking_only`: only the blocking ones.
inline std::string names_of(const std::vector<missing_feature>& m, bool blocking_only) {
  std::vector<std::string> n;
  for (const auto& f : m)
    if (f.blocking || !blocking_only) n.push_back(f.name);
  return fmt::format("{}", fmt::join(n, ", "));
}

}  // namespace detail

/// The core's side of the check: XCR0 from the first thread's NT_X86_XSTATE
/// (the kernel writes it into the XSAVE image's software-reserved bytes),
/// XSTATE_BV of every thread, AT_HWCAP, AT_HWCAP2 and the AT_PLATFORM string.
template <class Arch>
cpu_facts core_cpu(const elf::core_view<Arch>& core) {
  cpu_facts f;
  f.arch = std::string(Arch::name);
  f.hwcap = core.auxv(arch::at::hwcap);
  f.hwcap2 = core.auxv(arch::at::hwcap2);
  if (const auto at = core.auxv(arch::at::platform))
    if (const auto s = core.read_string(*at, 64)) f.platform = std::string(*s);
  if constexpr (std::is_same_v<Arch, arch::x86_64>) {
    for (const auto& t : core.threads()) {
      if (!t.xstate) continue;
      if (!f.xfeatures) {
        const auto xcr0 = map::criu_thread<arch::x86_64>::xfeatures(t.xstate);
        if (xcr0) f.xfeatures = xcr0;
      }
      const auto hdr = t.xstate->template load<arch::x86_64_abi::xsave_header>(arch::x86_64_abi::xsave_header_offset,
                                                                                "XSAVE header");
      if (hdr) f.xfeatures_in_use |= hdr->xstate_bv;
    }
  }
  return f;
}

/// Compares the core's CPU features with this machine's (`here`; none with
/// --offline). A feature the dead process may use and this CPU lacks is a
/// refusal naming it, unless `force`: then a warning, and the XSAVE
/// components to keep. An AMX component (detail::permission_xfeatures) that
/// held no state at death is a warning only: every process of an AMX machine
/// has it in XCR0, and one must ask the kernel before using it. More features here than in the core is fine. A core
/// of another architecture is not compared (its set restores elsewhere).
inline result<cpu_check> check_cpu(const cpu_facts& core, const std::optional<cpu_facts>& here, bool force) {
  cpu_check c;
  const std::string compared = detail::compared_features(core);
  if (compared.empty()) {
    c.outcome = cpu_outcome::nothing_to_compare;
    c.line = "not checked (the core has no NT_X86_XSTATE, AT_HWCAP, AT_HWCAP2 or AT_PLATFORM)";
    return c;
  }
  if (!here) {
    c.outcome = cpu_outcome::not_compared;
    c.line = fmt::format("not compared with this machine's (--offline); the core's {}", compared);
    return c;
  }
  if (here->arch != core.arch) {
    c.outcome = cpu_outcome::other_machine;
    c.line = fmt::format("not checked (the core is {}, this machine {})", core.arch, io::printable(here->arch));
    return c;
  }
  const auto missing = detail::missing_features(core, *here);
  for (const auto& m : missing) c.missing.push_back(m.name);
  if (missing.empty()) {
    c.outcome = cpu_outcome::has_all;
    c.line = fmt::format("the core's {} compared with this machine's: this CPU has all of them", compared);
    return c;
  }
  const bool blocking = std::any_of(missing.begin(), missing.end(), [](const auto& m) { return m.blocking; });
  if (blocking && !force)
    return fail(error(errc::mismatch, "",
                      fmt::format("the dead process may use CPU features this CPU lacks: {}; here it can die of "
                                  "SIGILL or lose register state. Restore it on a CPU that has them, or pass "
                                  "--force-cpu to go on",
                                  detail::names_of(missing, true))));
  c.outcome = blocking ? cpu_outcome::forced : cpu_outcome::amx_unused;
  const std::string lacks = detail::names_of(missing, false);
  const bool xsave_lacking = core.xfeatures && here->xfeatures && (*core.xfeatures & ~*here->xfeatures);
  if (xsave_lacking) c.keep_xfeatures = *here->xfeatures;
  const std::string dropped = xsave_lacking ? "; the XSAVE state of the components this CPU lacks is dropped" : "";
  if (blocking) {
    c.line = fmt::format("the core's {} compared with this machine's: this CPU lacks {}; --force-cpu: going on",
                         compared, lacks);
    c.warning = fmt::format("--force-cpu: the dead process may use CPU features this CPU lacks ({}): it can die of "
                            "SIGILL{}", lacks, dropped);
  } else {
    c.line = fmt::format("the core's {} compared with this machine's: this CPU lacks {}, which a process asks the "
                         "kernel for before using and the dead one was not using at death: going on",
                         compared, lacks);
    c.warning = fmt::format("this CPU lacks {}, which the dead process may have asked the kernel for "
                            "(arch_prctl ARCH_REQ_XCOMP_PERM); it held no such state at death: going on, but a "
                            "process that uses AMX dies of SIGILL here{}", lacks, dropped);
  }
  return c;
}

/// A forced plan's xsave state cut to the XSAVE components this CPU has
/// (check.keep_xfeatures): xstate_bv masked and the other components' fields
/// left out, as CRIU's own dump on this CPU would write them.
inline void fit_xsave(resurrection& plan, const cpu_check& check) {
  if (!check.keep_xfeatures) return;
  for (auto& t : plan.threads) {
    if (!t.core.has_thread_info() || !t.core.thread_info().fpregs().has_xsave()) continue;
    map::criu_thread<arch::x86_64>::keep_xfeatures(*t.core.mutable_thread_info()->mutable_fpregs()->mutable_xsave(),
                                                   *check.keep_xfeatures);
  }
}

}  // namespace necro::plan

#endif
