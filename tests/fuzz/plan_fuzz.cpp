// libFuzzer target: plan::plan_resurrection on arbitrary cores against the
// real fixture donor (tests/data/x86_64/counter.donor), and without a donor
// (plan::synthesize_donor + plan_donorless), then --explain's report. This is what criu-necromancer runs on a hostile core once it
// parses: the address space, the executable and stack walks, the relocations,
// the thread and XSAVE mapping, the page runs. Any crash, sanitizer report or
// broken invariant (__builtin_trap) is a bug. The seed that reaches deep is a
// trimmed copy of the fixture core (seeds/plan, made by necro_fuzz_seeds).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include <google/protobuf/stubs/logging.h>

#include <necro/arch/x86_64.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/map/x86_64.hpp>  // criu_thread<x86_64>: the planner instantiates it
#include <necro/plan/donorless.hpp>
#include <necro/plan/explain.hpp>
#include <necro/plan/resurrection.hpp>

#ifndef NECRO_FUZZ_DONOR
#error "NECRO_FUZZ_DONOR must name the fixture donor directory (tests/fuzz/CMakeLists.txt)"
#endif

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

const necro::criu::image_set& donor() {
  static const necro::criu::image_set d = [] {
    auto r = necro::criu::image_set::load(NECRO_FUZZ_DONOR);
    if (!r) {
      std::fprintf(stderr, "plan_fuzz: %s\n", r.error().message().c_str());
      std::abort();
    }
    return std::move(*r);
  }();
  return d;
}

/// What write::commit relies on, for a plan made with or without a donor.
void check_plan(const necro::result<necro::plan::resurrection>& p, std::size_t size) {
  if (!p) {
    check(!p.error().message().empty());
    return;
  }
  check(!p->threads.empty() && p->threads.front().leader);
  for (const auto& r : p->runs) {
    check(r.pages > 0);
    check((r.flags & necro::criu::pe::present) != 0);
    check(r.core_offset <= size && r.pages <= (size - r.core_offset) / necro::arch::x86_64::page_size);
  }
  check(p->mm.vmas_size() == static_cast<int>(p->vmas.size()));
  for (std::size_t i = 0; i < p->vmas.size(); ++i) {
    const auto& e = p->vmas[i].entry;
    check(e.start() < e.end());
    if (i > 0) check(p->vmas[i - 1].entry.end() <= e.start());
  }
  const std::string report = necro::plan::explain(*p, true);
  check(!report.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const google::protobuf::LogSilencer quiet;
  const necro::io::byte_view whole(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size), 0,
                                   "fuzz.core");
  auto core = necro::elf::core_view<necro::arch::x86_64>::parse(whole);
  if (!core) return 0;
  const necro::io::file_facts offline;
  check_plan(necro::plan::plan_resurrection(*core, donor(), offline, {.offline = true}), size);
  // Without a donor: the synthetic donor is built from the same hostile core.
  auto synthetic = necro::plan::synthesize_donor(*core, offline);
  if (!synthetic) {
    check(!synthetic.error().message().empty());
    return 0;
  }
  check(synthetic->images.in_memory() && !synthetic->defaults.empty());
  check_plan(necro::plan::plan_donorless(*core, *synthetic, offline, {.offline = true}), size);
  return 0;
}
