// This machine's side of the CPU check (resurrect/detail/cpu_facts.hpp),
// held against what the kernel says of the CPU in /proc/cpuinfo: on x86 an
// "avx512f" flag means XCR0's AVX-512 bits, "avx" its AVX bit, "sse2"
// HWCAP's bit 26 (the kernel clears a flag whose XSAVE state it did not
// enable), and the AT_HWCAP read is the kernel's, not glibc's.
#include <sys/utsname.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include <necro/resurrect/detail/cpu_facts.hpp>

namespace {

/// The words of the first "flags" line of /proc/cpuinfo (x86); empty elsewhere.
std::set<std::string> cpuinfo_flags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("flags")) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::set<std::string> out;
    for (std::string w; words >> w;) out.insert(w);
    return out;
  }
  return {};
}

}  // namespace

TEST_CASE("cpu facts: this machine's architecture, HWCAP and XCR0 agree with the kernel's", "[resurrect][cpu]") {
  const auto f = necro::detail::this_machine_cpu();
  struct utsname u {};
  REQUIRE(::uname(&u) == 0);
  CHECK(f.arch == u.machine);
  CHECK(f.hwcap);
  CHECK_FALSE(f.platform.empty());
  if (f.arch != "x86_64") {
    CHECK_FALSE(f.xfeatures);
    return;
  }
  const auto flags = cpuinfo_flags();
  REQUIRE(flags.count("sse2"));
  REQUIRE(f.xfeatures);
  const std::uint64_t x = *f.xfeatures;
  CHECK((x & 0x3) == 0x3);  // x87 and SSE
  CHECK(((x >> 2) & 1) == flags.count("avx"));
  CHECK(((x & 0xe0) == 0xe0) == (flags.count("avx512f") == 1));
  CHECK(((x >> 9) & 1) == flags.count("ospke"));
  CHECK(((x >> 18) & 1) == flags.count("amx_tile"));
  // The kernel's CPUID.1:EDX, not glibc's dl_hwcap (getauxval answers 0x6 on x86).
  CHECK(((*f.hwcap >> 26) & 1) == 1);  // sse2
  CHECK(((*f.hwcap >> 25) & 1) == 1);  // sse
  REQUIRE(f.hwcap2);
  CHECK(((*f.hwcap2 >> 1) & 1) == flags.count("fsgsbase"));
  CHECK(f.platform == "x86_64");
}
