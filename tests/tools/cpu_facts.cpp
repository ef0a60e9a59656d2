// Prints this machine's side of the CPU check as necro reads it
// (resurrect/detail/cpu_facts.hpp), for tests/cli/cpu_test.sh to choose a
// feature this CPU lacks: `arch=x86_64 xcr0=0xe7 hwcap=0x... hwcap2=0x2`.
#include <cstdio>

#include <necro/resurrect/detail/cpu_facts.hpp>

int main() {
  const auto f = necro::detail::this_machine_cpu();
  std::printf("arch=%s xcr0=%#llx hwcap=%#llx hwcap2=%#llx\n", f.arch.c_str(),
              static_cast<unsigned long long>(f.xfeatures.value_or(0)),
              static_cast<unsigned long long>(f.hwcap.value_or(0)),
              static_cast<unsigned long long>(f.hwcap2.value_or(0)));
  return 0;
}
