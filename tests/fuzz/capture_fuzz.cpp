// libFuzzer target: capture::parse_text over arbitrary bytes. Whatever parses
// must write back (to_text) to text that parses to the same text again,
// convert to CRIU messages (to_criu) without a crash, and apply to a planned
// resurrection of the fixture counter core (plan::apply_capture), with its
// CRIU donor and without one: every fd it puts in the fd table must name a
// files.img entry, and the table must be a carried image.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string_view>

#include <necro/arch/x86_64.hpp>
#include <necro/capture/criu_files.hpp>
#include <necro/capture/text.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/map/x86_64.hpp>  // criu_thread<x86_64>: the planner instantiates it
#include <necro/plan/capture.hpp>
#include <necro/plan/donorless.hpp>
#include <necro/plan/resurrection.hpp>

#if !defined(NECRO_FUZZ_CORE) || !defined(NECRO_FUZZ_DONOR)
#error "NECRO_FUZZ_CORE and NECRO_FUZZ_DONOR must name the fixture core and donor (tests/fuzz/CMakeLists.txt)"
#endif

namespace {

using core_t = necro::elf::core_view<necro::arch::x86_64>;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

template <class T>
T must(necro::result<T> r) {
  if (!r) {
    std::fprintf(stderr, "capture_fuzz: %s\n", r.error().message().c_str());
    std::abort();
  }
  return std::move(*r);
}

/// The fixture's donor-less and donor plans, made once.
struct fixture {
  core_t core = must(core_t::open(NECRO_FUZZ_CORE));
  necro::criu::image_set donor = must(necro::criu::image_set::load(NECRO_FUZZ_DONOR));
  necro::plan::synthetic_donor synthetic = must(necro::plan::synthesize_donor(core, {}, {}));
  necro::plan::resurrection with_donor = must(necro::plan::plan_resurrection(core, donor, {}, {.offline = true}));
  necro::plan::resurrection without = must(necro::plan::plan_donorless(core, synthetic, {}, {.offline = true}));
};

const fixture& fx() {
  static const fixture f;
  return f;
}

void check_applied(const necro::plan::resurrection& p, const necro::criu::image_set& donor) {
  std::set<std::uint32_t> ids;
  for (const auto& f : p.files) ids.insert(f.id());
  bool carried = false;
  for (const auto& c : p.carried) {
    if (c.to != donor.fdinfo_name()) continue;
    carried = c.bytes.has_value();
    check(carried);
    const auto all = necro::criu::read_entries<necro::pb::fdinfo_entry>(*c.bytes, c.to, necro::criu::magic::fdinfo);
    check(all.has_value());
    for (const auto& e : *all) check(ids.contains(e.id()));
  }
  check(carried);
}

void apply(const necro::capture::process_capture& c, const necro::plan::resurrection& planned,
           const necro::criu::image_set& donor, necro::plan::capture_scope scope) {
  necro::plan::capture_facts facts;
  facts.dir = "fuzz";
  for (const auto& f : c.fds) facts.present.emplace(f.link, f.mode);
  facts.present.emplace(c.cwd, 040755);
  auto p = planned;
  const auto r = necro::plan::apply_capture(p, donor, c, facts, scope);
  if (!r) return check(!r.error().message().empty());
  check_applied(p, donor);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = necro::capture::parse_text(text, "fuzz");
  if (!c) return 0;
  const auto once = necro::capture::to_text(*c);
  const auto again = necro::capture::parse_text(once, "fuzz");
  if (!again || necro::capture::to_text(*again) != once) std::abort();
  (void)necro::capture::criu_images(*c);
  c->pid = fx().core.pid();
  apply(*c, fx().without, fx().synthetic.images, necro::plan::capture_scope::everything);
  apply(*c, fx().with_donor, fx().donor, necro::plan::capture_scope::regular_files);
  return 0;
}
