// xsave_selftest.cpp - `necro-e2e-oracle --self-test-xsave`: the oracle's
// XSAVE layout resolution and comparison (xsave_layout.hpp) on synthetic
// images, in AMD Zen 4's and Intel's standard formats, whatever CPU runs it.
// Each check prints PASS: or FAIL:; exit 0 when all pass.
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "xsave_layout.hpp"

namespace {

using necro_e2e::xlayout;
using u64 = std::uint64_t;

// CPUID leaf 0xD offsets and sizes with XCR0 0x2e7 (x87, SSE, AVX, opmask,
// ZMM_Hi256, Hi16_ZMM, PKRU). AMD Zen 4 (EPYC 9004): no MPX, so no gap
// after AVX. Intel (Ice Lake-SP and later: no MPX either, but the gap stays).
const xlayout amd_zen4 = {{2, {576, 256}}, {5, {832, 64}}, {6, {896, 512}}, {7, {1408, 1024}}, {9, {2432, 8}}};
const xlayout intel = {{2, {576, 256}}, {5, {1088, 64}}, {6, {1152, 512}}, {7, {1664, 1024}}, {9, {2688, 8}}};
constexpr u64 xcr0 = 0x2e7;
constexpr std::size_t amd_size = 2440, intel_size = 2696;

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s: xsave: %s\n", ok ? "PASS" : "FAIL", what.c_str());
  if (!ok) ++failures;
}

/// An XSAVE image of `size` bytes (cut short where smaller) in layout `l`: XCR0 at 464, XSTATE_BV at
/// 512, each enabled component's bytes a pattern of its number and `seed`:
/// the same register contents in any layout.
std::vector<unsigned char> image(const xlayout& l, std::size_t size, u64 mask, unsigned seed = 1) {
  std::vector<unsigned char> v(size, 0);
  std::memcpy(v.data() + 464, &mask, sizeof mask);
  std::memcpy(v.data() + 512, &mask, sizeof mask);
  for (const auto& [f, pos] : l)
    if ((mask >> f) & 1)
      for (std::uint32_t i = 0; i < pos.second && pos.first + i < size; ++i)
        v[pos.first + i] = static_cast<unsigned char>(f * 37 + i * 7 + seed);
  return v;
}

/// NT_X86_XSAVE_LAYOUT as the kernel writes it: one struct x86_xfeat_component
/// {type, size, offset, flags} per extended component enabled.
std::vector<std::byte> note_bytes(const xlayout& l) {
  std::vector<std::byte> b;
  for (const auto& [f, pos] : l) {
    const necro::arch::x86_64_abi::xfeat_component c{f, pos.second, pos.first, 0};
    const auto* p = reinterpret_cast<const std::byte*>(&c);
    b.insert(b.end(), p, p + sizeof c);
  }
  return b;
}

std::optional<necro::io::byte_view> view(const std::vector<std::byte>& b) {
  return necro::io::byte_view(std::span<const std::byte>(b), 0, "synthetic NT_X86_XSAVE_LAYOUT");
}

/// Whether `got` places every component of `want` as `want` does.
bool places(const std::optional<xlayout>& got, const xlayout& want) {
  if (!got) return false;
  for (const auto& [f, pos] : want)
    if (!got->count(f) || got->at(f) != pos) return false;
  return true;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : "; ") + x;
  return s.empty() ? "none" : s;
}

/// Resolves the core's layout and compares; checks the number of components
/// compared and the mismatches (each must contain the matching `want`).
void expect(const std::string& what, const std::vector<unsigned char>& core, const necro_e2e::core_layout& cl,
            const std::vector<unsigned char>& live, const xlayout& live_l, bool gdb, unsigned compared,
            const std::vector<std::string>& want) {
  const auto r = necro_e2e::compare_xstate(core, cl, live, live_l, gdb);
  bool ok = r.compared == compared && r.mismatches.size() == want.size();
  for (std::size_t i = 0; ok && i < want.size(); ++i) ok = r.mismatches[i].find(want[i]) != std::string::npos;
  check(ok, what + " (core layout: " + cl.source + "): " + std::to_string(r.compared) +
                " components compared, mismatches: " + joined(r.mismatches));
}

}  // namespace

int xsave_self_test() {
  const auto amd_note = note_bytes(amd_zen4), intel_note = note_bytes(intel);

  // The library reads the note's offsets, and without a note gives Intel's.
  check(necro_e2e::library_layout(view(amd_note)) == amd_zen4,
        "the library reads an AMD Zen 4 NT_X86_XSAVE_LAYOUT as written (opmask at 832, ZMM_Hi256 at 896)");
  check(places(necro_e2e::library_layout(std::nullopt), intel),
        "without a note the library's offsets are Intel's standard format (opmask at 1088, ZMM_Hi256 at 1152)");
  check(necro_e2e::layout_size(amd_zen4, xcr0) == amd_size && necro_e2e::layout_size(intel, xcr0) == intel_size,
        "XCR0 0x2e7 needs 2440 bytes in AMD's standard format, 2696 in Intel's");

  // AMD, a kernel core with its note: both sides at AMD's offsets.
  const auto amd_img = image(amd_zen4, amd_size, xcr0);
  const auto amd_kernel = necro_e2e::resolve_core_layout(view(amd_note), false, amd_size, xcr0, amd_zen4);
  expect("AMD, kernel core with NT_X86_XSAVE_LAYOUT, live state equal", amd_img, amd_kernel, amd_img, amd_zen4, false, 5,
         {});
  {
    auto live = amd_img;
    live[896 + 100] ^= 0x10;  // one byte of ZMM_Hi256
    expect("AMD, kernel core, one live ZMM_Hi256 byte changed", amd_img, amd_kernel, live, amd_zen4, false, 5,
           {"xstate component 6 (512 bytes at 896)"});
  }

  // AMD, gdb 13's gcore: Intel's offsets in the core, AMD's live.
  const auto gdb13 = image(intel, intel_size, xcr0);
  const auto gdb13_l = necro_e2e::resolve_core_layout(std::nullopt, true, intel_size, xcr0, amd_zen4);
  check(places(gdb13_l.layout, intel), "AMD, a 2696-byte gdb core is read in Intel's layout: " + gdb13_l.source);
  expect("AMD, gdb 13 gcore vs the live AMD state", gdb13, gdb13_l, amd_img, amd_zen4, true, 5, {});
  // What the oracle did before: one layout (Intel's) for both sides.
  expect("AMD, gdb 13 gcore compared at Intel's offsets on both sides (the old oracle)", gdb13,
         {intel, "Intel's on both sides"}, amd_img, intel, true, 3,
         {"xstate component 5", "xstate component 6 (512 bytes at 1152)", "xstate component 7", "xstate component 9"});
  {
    auto core = gdb13;
    core[1664 + 5] ^= 0x01;  // one byte of Hi16_ZMM, at Intel's offset
    expect("AMD, gdb 13 gcore with one Hi16_ZMM byte changed", core, gdb13_l, amd_img, amd_zen4, true, 5,
           {"xstate component 7 (1024 bytes at 1664 in the core, at 1408 live)"});
  }

  // AMD, gdb >= 14 (writes its target's layout) and a kernel core without the note.
  const auto gdb14_l = necro_e2e::resolve_core_layout(std::nullopt, true, amd_size, xcr0, amd_zen4);
  check(places(gdb14_l.layout, amd_zen4), "AMD, a 2440-byte gdb core is read in the CPU's layout: " + gdb14_l.source);
  expect("AMD, gdb >= 14 gcore vs the live AMD state", amd_img, gdb14_l, amd_img, amd_zen4, true, 5, {});
  expect("AMD, kernel core without NT_X86_XSAVE_LAYOUT", amd_img,
         necro_e2e::resolve_core_layout(std::nullopt, false, amd_size, xcr0, amd_zen4), amd_img, amd_zen4, false, 5, {});

  // Intel: with the note, and gdb's core (both layouts fit: they are one).
  const auto intel_img = image(intel, intel_size, xcr0);
  expect("Intel, kernel core with NT_X86_XSAVE_LAYOUT", intel_img,
         necro_e2e::resolve_core_layout(view(intel_note), false, intel_size, xcr0, intel), intel_img, intel, false, 5,
         {});
  expect("Intel, gdb gcore", intel_img, necro_e2e::resolve_core_layout(std::nullopt, true, intel_size, xcr0, intel),
         intel_img, intel, true, 5, {});

  // What must fail.
  expect("a gdb core fitting neither layout", image(intel, 2500, xcr0),
         necro_e2e::resolve_core_layout(std::nullopt, true, 2500, xcr0, amd_zen4), amd_img, amd_zen4, true, 0,
         {"xstate layout of the core unknown"});
  expect("a kernel core whose XCR0 differs from the live one (no PKRU)", image(amd_zen4, amd_size, 0xe7), amd_kernel,
         amd_img, amd_zen4, false, 5, {"xstate XCR0: core 0xe7, live 0x2e7", "xstate component 9"});
  {
    xlayout no_pkru = amd_zen4;
    no_pkru.erase(9);
    const auto n = note_bytes(no_pkru);
    expect("a kernel core whose NT_X86_XSAVE_LAYOUT lacks an enabled component", amd_img,
           necro_e2e::resolve_core_layout(view(n), false, amd_size, xcr0, amd_zen4), amd_img, amd_zen4, false, 4,
           {"xstate component 9: not in the core's layout"});
  }
  expect("a kernel core's XSAVE image too short for its layout", image(amd_zen4, 1408, xcr0), amd_kernel, amd_img,
         amd_zen4, false, 3, {"xstate component 7", "xstate component 9"});

  // This machine's CPU, for the record (what the live side uses here).
  {
    const auto cpu = necro_e2e::cpuid_layout();
    std::string s;
    for (const auto& [f, pos] : cpu) s += " " + std::to_string(f) + "@" + std::to_string(pos.first) + "+" + std::to_string(pos.second);
    check(cpu.count(2) && cpu.at(2) == std::pair<std::uint32_t, std::uint32_t>{576, 256},
          "this CPU's CPUID leaf 0xD layout (component@offset+size):" + s);
  }
  std::printf("RESULT xsave self-test: %s (%d failed)\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
