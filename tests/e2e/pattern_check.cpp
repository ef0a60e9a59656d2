// necro-e2e-pattern-check: does a core of victims/pattern.c hold exactly the
// pattern that victim wrote? (tests/catch-load.sh, bench/catch-load.sh)
//
//   necro-e2e-pattern-check CORE PID ADDR BYTES    exit 0 yes, 1 no, 2 error
//
// The core (read with necro's core_view) must be of PID, its PT_LOADs must
// cover [ADDR, ADDR+BYTES) with every byte dumped (p_filesz = p_memsz), and
// every 4 KiB page of that range must hold pattern_word(PID, a) at each 8-byte
// address a (the same function as victims/pattern.c). Pages are checked one by
// one; the first mismatches are printed with their address.
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <necro/arch/x86_64.hpp>
#include <necro/elf/core_view.hpp>

namespace {

using u64 = std::uint64_t;
constexpr u64 page = 4096;

/// victims/pattern.c's pattern_word: splitmix64's finalizer of (pid << 40) ^ address.
u64 pattern_word(u64 pid, u64 addr) {
  u64 z = (pid << 40) ^ addr;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return z | 1;
}

struct tally {
  u64 good = 0, bad = 0, missing = 0;
  int printed = 0;
  void report(const char* what, u64 addr) {
    if (printed++ < 10) std::printf("pattern-check: %s at page 0x%" PRIx64 "\n", what, addr);
  }
};

/// The page at `addr` in `core`, or null when no PT_LOAD has all its bytes.
const std::byte* page_in(const necro::elf::core_view<necro::arch::x86_64>& core, u64 addr) {
  for (const auto& s : core.segments()) {
    if (addr < s.vaddr || addr + page > s.end()) continue;
    const u64 off = addr - s.vaddr;
    return s.bytes.covers(off, page) ? s.bytes.data() + off : nullptr;
  }
  return nullptr;
}

bool page_holds_pattern(const std::byte* p, u64 pid, u64 addr) {
  for (u64 i = 0; i < page / 8; ++i) {
    u64 w;
    std::memcpy(&w, p + i * 8, 8);
    if (w != pattern_word(pid, addr + i * 8)) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: necro-e2e-pattern-check CORE PID ADDR BYTES\n");
    return 2;
  }
  const u64 pid = std::strtoull(argv[2], nullptr, 10);
  const u64 addr = std::strtoull(argv[3], nullptr, 0), bytes = std::strtoull(argv[4], nullptr, 0);
  if (pid == 0 || addr % page || bytes == 0 || bytes % page) {
    std::fprintf(stderr, "pattern-check: PID must be > 0, ADDR and BYTES page-aligned and BYTES > 0\n");
    return 2;
  }
  auto core = necro::elf::core_view<necro::arch::x86_64>::open(argv[1]);
  if (!core) {
    std::printf("pattern-check: %s\n", core.error().message().c_str());
    return 2;
  }
  if (static_cast<u64>(core->pid()) != pid) {
    std::printf("pattern-check: %s is the core of pid %d, not %" PRIu64 "\n", argv[1], core->pid(), pid);
    return 1;
  }
  tally t;
  for (u64 a = addr; a < addr + bytes; a += page) {
    const std::byte* p = page_in(*core, a);
    if (!p) ++t.missing, t.report("not dumped (no PT_LOAD bytes)", a);
    else if (!page_holds_pattern(p, pid, a)) ++t.bad, t.report("wrong bytes", a);
    else ++t.good;
  }
  std::printf("pattern-check: %s pid %" PRIu64 ": %" PRIu64 " pages hold the pattern, %" PRIu64 " wrong, %" PRIu64
              " not dumped\n",
              argv[1], pid, t.good, t.bad, t.missing);
  return t.bad == 0 && t.missing == 0 ? 0 : 1;
}
