// libFuzzer target: what criu-necromancer runs on a hostile core once it
// parses (necro::read_inputs + necro::plan_session, offline, no capture; a
// core without NT_FILE also with --exe, its executable checked against it),
// against the real fixture donor (tests/data/x86_64/counter.donor) and
// without a donor (the donor synthesized from the same core), then
// --explain's report: the address space, the executable and stack walks, the relocations,
// the thread and XSAVE mapping, the page runs. Any crash, sanitizer report or
// broken invariant (__builtin_trap) is a bug. The seed that reaches deep is a
// trimmed copy of the fixture core (seeds/plan, made by necro_fuzz_seeds).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include <google/protobuf/stubs/logging.h>

#include <optional>
#include <utility>

#include <necro/arch/x86_64.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/map/x86_64.hpp>  // criu_thread<x86_64>: the planner instantiates it
#include <necro/plan/explain.hpp>
#include <necro/resurrect/inputs.hpp>
#include <necro/resurrect/session.hpp>

#ifndef NECRO_FUZZ_DONOR
#error "NECRO_FUZZ_DONOR must name the fixture donor directory (tests/fuzz/CMakeLists.txt)"
#endif
#ifndef NECRO_FUZZ_EXE
#error "NECRO_FUZZ_EXE must name a fixture program (tests/fuzz/CMakeLists.txt)"
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
void check_plan(const necro::plan::resurrection& p, std::size_t size) {
  check(!p.threads.empty() && p.threads.front().leader);
  for (const auto& r : p.runs) {
    check(r.pages > 0);
    check((r.flags & necro::criu::pe::present) != 0);
    check(r.core_offset <= size && r.pages <= (size - r.core_offset) / necro::arch::x86_64::page_size);
  }
  check(p.mm.vmas_size() == static_cast<int>(p.vmas.size()));
  for (std::size_t i = 0; i < p.vmas.size(); ++i) {
    const auto& e = p.vmas[i].entry;
    check(e.start() < e.end());
    if (i > 0) check(p.vmas[i - 1].entry.end() <= e.start());
  }
  const std::string report = necro::plan::explain(p, true);
  check(!report.empty());
}

/// The CLI's planning of `bytes` with `donor` (none: synthesized); a refusal
/// must say why. With `exe`, a core without NT_FILE is planned as with
/// `--exe EXE` (not offline: the program's headers are read from disk and
/// checked against the hostile core, plan/address_space/executable.hpp).
void plan_as_the_cli(const necro::io::byte_view& bytes, std::optional<necro::criu::image_set> donor,
                     const char* exe = nullptr) {
  auto core = necro::elf::core_view<necro::arch::x86_64>::parse(bytes);
  if (!core) return;
  if (exe && core->process().nt_file) return;
  necro::resurrect_options o;
  o.core = "fuzz.core";
  o.capture = necro::capture_choice::none;
  o.offline = exe == nullptr;
  if (exe) o.exe = exe;
  auto in = necro::read_inputs(std::move(*core), std::move(donor), o);
  if (!in) return check(!in.error().message().empty());
  auto s = necro::plan_session(std::move(*in), o);
  if (!s) return check(!s.error().message().empty());
  check(s->synthetic ? s->synthetic->images.in_memory() && !s->synthetic->defaults.empty() : true);
  check_plan(s->plan, bytes.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const google::protobuf::LogSilencer quiet;
  const necro::io::byte_view whole(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size), 0,
                                   "fuzz.core");
  plan_as_the_cli(whole, donor());
  // Without a donor: the synthetic donor is built from the same hostile core.
  plan_as_the_cli(whole, std::nullopt);
  // A core without NT_FILE, its program given: the static fixture program.
  plan_as_the_cli(whole, std::nullopt, NECRO_FUZZ_EXE);
  return 0;
}
