// xsave_layout.hpp - where each XSAVE component sits on each side of the
// oracle's xstate comparison (docs/pitfalls.md#xsave-offsets), and the comparison.
//
// The standard (non-compacted) XSAVE format has CPU-specific offsets: on AMD
// Zen 4 with AVX-512 there is no MPX gap, so the opmask sits at 0x340, not
// Intel's 0x440, and everything after it moves too. So:
//   live  PTRACE_GETREGSET NT_X86_XSTATE is in this CPU's standard format:
//         CPUID leaf 0xD (sub-leaf N: EAX size, EBX offset of component N).
//   core  a kernel core with NT_X86_XSAVE_LAYOUT (Linux >= 6.8): the note's
//         offsets, read by the library (map::criu_thread<x86_64>::component);
//         a kernel core without it (older kernels): the dumping CPU's, i.e.
//         this one's (the e2e cores are written here);
//         a gdb core (--gdb-core: gcore writes no NT_X86_XSAVE_LAYOUT): gdb 13
//         writes Intel's fixed standard-format offsets whatever the CPU (the
//         library's defaults, arch::x86_64_abi::xfeat_defaults), gdb >= 14
//         its target's, i.e. the CPU's. Which one a core has is told by the
//         size of its NT_X86_XSTATE note: the end of the last component
//         enabled in XCR0 in that layout. Where both fit (an Intel CPU) they
//         are one layout; where neither does, the core's layout is unknown and
//         that is a mismatch, never a silent pass.
// Each component enabled in the live XCR0 (above x87 and SSE, which the FPU
// comparison covers) is then compared byte for byte, at the core's offset in
// the core and at the live offset in the live state.
#ifndef NECRO_E2E_XSAVE_LAYOUT_HPP
#define NECRO_E2E_XSAVE_LAYOUT_HPP

#include <cpuid.h>

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <necro/arch/x86_64.hpp>
#include <necro/io/byte_view.hpp>
#include <necro/map/x86_64.hpp>

namespace necro_e2e {

/// feature number -> (offset, size) in a standard-format XSAVE image.
using xlayout = std::map<unsigned, std::pair<std::uint32_t, std::uint32_t>>;

/// A core's NT_X86_XSAVE_LAYOUT when given, else the library's standard-format
/// defaults (Intel's offsets), as the library reads them.
inline xlayout library_layout(const std::optional<necro::io::byte_view>& note) {
  xlayout l;
  for (unsigned f = 2; f < 64; ++f)
    if (const auto c = necro::map::criu_thread<necro::arch::x86_64>::component(f, note)) l[f] = *c;
  return l;
}

/// This CPU's standard format (CPUID leaf 0xD): what PTRACE_GETREGSET uses.
/// Supervisor components (ECX bit 0) are not in a user XSAVE image.
inline xlayout cpuid_layout() {
  xlayout l;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(0xd, 0, &a, &b, &c, &d)) return l;
  const std::uint64_t user = a | (std::uint64_t{d} << 32);
  for (unsigned f = 2; f < 64; ++f) {
    if (!((user >> f) & 1)) continue;
    if (!__get_cpuid_count(0xd, f, &a, &b, &c, &d) || a == 0 || (c & 1)) continue;
    l[f] = {b, a};
  }
  return l;
}

/// The size of a standard-format image holding the components of `xcr0`.
inline std::uint64_t layout_size(const xlayout& l, std::uint64_t xcr0) {
  std::uint64_t end = 512 + 64;  // legacy area + XSAVE header
  for (const auto& [f, pos] : l)
    if ((xcr0 >> f) & 1) end = std::max<std::uint64_t>(end, std::uint64_t{pos.first} + pos.second);
  return end;
}

/// The layout of a core's NT_X86_XSTATE notes (see the top of this file).
struct core_layout {
  std::optional<xlayout> layout;  ///< nullopt: unknown
  std::string source;             ///< where it came from, or why it is unknown
};

inline core_layout resolve_core_layout(const std::optional<necro::io::byte_view>& note, bool gdb_core,
                                       std::uint64_t xstate_size, std::uint64_t xcr0, const xlayout& cpu) {
  if (note) return {library_layout(note), "the core's NT_X86_XSAVE_LAYOUT"};
  if (!gdb_core) return {cpu, "this CPU's (CPUID leaf 0xD): a kernel core without NT_X86_XSAVE_LAYOUT"};
  const xlayout intel = library_layout(std::nullopt);
  const std::uint64_t intel_size = layout_size(intel, xcr0), cpu_size = layout_size(cpu, xcr0);
  if (xstate_size == intel_size)
    return {intel, "gdb's: Intel's fixed standard format (gdb <= 13), " + std::to_string(xstate_size) + " bytes"};
  if (xstate_size == cpu_size)
    return {cpu, "gdb's: this CPU's (gdb >= 14: CPUID leaf 0xD), " + std::to_string(xstate_size) + " bytes"};
  char why[200];
  std::snprintf(why, sizeof why,
                "a gdb core whose XSAVE image (%" PRIu64 " bytes for XCR0 %#" PRIx64
                ") fits neither Intel's standard format (%" PRIu64 " bytes) nor this CPU's (%" PRIu64 ")",
                xstate_size, xcr0, intel_size, cpu_size);
  return {std::nullopt, why};
}

/// XCR0 as the kernel (or gdb) wrote it into the software-reserved bytes of
/// the legacy area (offset 464); 0 when the image is too short.
inline std::uint64_t xcr0_of(std::span<const unsigned char> x) {
  std::uint64_t v = 0;
  if (x.size() >= 472) std::memcpy(&v, x.data() + 464, sizeof v);
  return v;
}

struct xstate_result {
  unsigned compared = 0;
  std::vector<std::string> mismatches;  ///< "xstate component 6 (...)": one per differing component
  std::vector<std::string> notes;       ///< what was not compared, and why
};

/// Every component above SSE enabled in the live XCR0: the core's bytes at
/// the core layout's offset against the live bytes at the live layout's.
/// With a kernel core both XCR0 must be equal; a gdb core's XCR0 is gdb's.
inline xstate_result compare_xstate(std::span<const unsigned char> core, const core_layout& core_l,
                                    std::span<const unsigned char> live, const xlayout& live_l, bool gdb_core) {
  xstate_result r;
  const std::uint64_t live_xcr0 = xcr0_of(live), core_xcr0 = xcr0_of(core);
  char b[240];
  if (!core_l.layout) {
    r.mismatches.push_back("xstate layout of the core unknown: " + core_l.source);
    return r;
  }
  if (!gdb_core && core_xcr0 != live_xcr0) {
    std::snprintf(b, sizeof b, "xstate XCR0: core %#" PRIx64 ", live %#" PRIx64, core_xcr0, live_xcr0);
    r.mismatches.push_back(b);
  }
  for (unsigned f = 2; f < 64; ++f) {
    if (!((live_xcr0 >> f) & 1)) continue;
    const auto lp = live_l.find(f);
    const auto cp = core_l.layout->find(f);
    if (lp == live_l.end()) {
      std::snprintf(b, sizeof b, "xstate component %u: enabled live, but CPUID gives no offset", f);
      r.mismatches.push_back(b);
      continue;
    }
    if (cp == core_l.layout->end()) {
      std::snprintf(b, sizeof b, "xstate component %u: not in the core's layout (%s)", f, core_l.source.c_str());
      if (gdb_core)
        r.notes.push_back(std::string(b) + ": gdb does not write it, not compared");
      else
        r.mismatches.push_back(b);
      continue;
    }
    const auto [coff, csize] = cp->second;
    const auto [loff, lsize] = lp->second;
    if (csize != lsize || std::uint64_t{coff} + csize > core.size() || std::uint64_t{loff} + lsize > live.size()) {
      std::snprintf(b, sizeof b,
                    "xstate component %u: %u bytes at %u in the core (of %zu), %u bytes at %u live (of %zu)", f,
                    csize, coff, core.size(), lsize, loff, live.size());
      r.mismatches.push_back(b);
      continue;
    }
    ++r.compared;
    if (std::memcmp(core.data() + coff, live.data() + loff, csize) != 0) {
      if (coff == loff)
        std::snprintf(b, sizeof b, "xstate component %u (%u bytes at %u)", f, csize, coff);
      else
        std::snprintf(b, sizeof b, "xstate component %u (%u bytes at %u in the core, at %u live)", f, csize, coff,
                      loff);
      r.mismatches.push_back(b);
    }
  }
  return r;
}

}  // namespace necro_e2e

#endif
