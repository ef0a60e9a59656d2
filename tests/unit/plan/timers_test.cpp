// Interval and POSIX timers in the plan (issue 21): a donor's POSIX timers
// follow the thread mapping (the pool fixture: 5 victim threads made from a
// 3-thread donor), and a format 4 capture's timers replace the donor's or the
// donor-less zeros (the catch fixture, no donor; the pool fixture, donor).
#include <algorithm>
#include <string>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>
#include <necro/plan/threads/detail/capture_timers.hpp>
#include <necro/plan/threads/detail/donor_timers.hpp>

#include "support/fixtures.hpp"
#include "support/planned.hpp"

namespace {

namespace pb = necro::pb;
namespace plan = necro::plan;
namespace cap = necro::capture;
using necro::plan::detail::cpu_clock_of;

bool any_warning(const plan::resurrection& p, const std::string& what) {
  for (const auto& w : p.warnings)
    if (w.find(what) != std::string::npos) return true;
  return false;
}

pb::posix_timer_entry donor_timer(std::uint32_t id, std::int32_t clock, std::uint32_t notify, std::int32_t tid) {
  pb::posix_timer_entry e;
  e.set_it_id(id), e.set_clock_id(static_cast<std::uint32_t>(clock)), e.set_si_signo(34), e.set_it_sigev_notify(notify);
  e.set_sival_ptr(0), e.set_overrun(0), e.set_isec(0), e.set_insec(150000000), e.set_vsec(0), e.set_vnsec(1000);
  if (tid) e.set_notify_thread_id(tid);
  return e;
}

/// The timers a format 4 capture of `pid` with threads `tids` would hold.
cap::timers_state sample_timers(std::int32_t pid, std::int32_t other_tid) {
  cap::timers_state ts;
  ts.itimers = {{0, 12345678, 100000000}, {1, 0, 0}, {2, 2500, 10000000}};
  ts.posix.push_back({0, 1, 34, 4, other_tid, 0x1234, 30000000, 150000000, 0});      // MONOTONIC to a thread
  ts.posix.push_back({1, cpu_clock_of(-2, other_tid), 35, 4, other_tid, 0, 1, 5000000, 3});  // its CPU clock
  ts.posix.push_back({2, 5, 36, 0, pid, 0, 1000, 0, 0});                             // CLOCK_MONOTONIC_RAW: no timer clock
  ts.posix.push_back({3, 1, 37, 4, 999999, 0, 1000, 0, 0});                          // a thread the core has not
  ts.posix.push_back({4, cpu_clock_of(-2, 999998), 38, 0, pid, 0, 1000, 0, 0});      // a CPU clock of no thread of it
  ts.posix.push_back({5, 0, 39, 0, pid, 0, 0, 0, 0});                                // REALTIME, disarmed, SIGEV_SIGNAL
  return ts;
}

}  // namespace

TEST_CASE("a donor's POSIX timers follow its threads to the victim's, a timer of a thread without one is dropped",
          "[plan][timers]") {
  auto fx = necro::test::plan_pool();
  if (!fx) return;
  auto& p = fx->plan;
  REQUIRE(p.threads.size() == 5);
  REQUIRE(p.donor_tids.size() == 3);
  const auto donor_pid = static_cast<std::int32_t>(p.donor_pid);
  const auto w1 = static_cast<std::int32_t>(p.threads[1].template_tid), w2 = static_cast<std::int32_t>(p.threads[2].template_tid);
  REQUIRE(w1 != w2);
  auto* timers = p.threads.front().core.mutable_tc()->mutable_timers();
  *timers->add_posix() = donor_timer(0, cpu_clock_of(-2, w1), 4, w1);       // per-thread CPU clock, to that thread
  *timers->add_posix() = donor_timer(1, 1, 4, w2);                          // MONOTONIC, SIGEV_THREAD_ID
  *timers->add_posix() = donor_timer(2, cpu_clock_of(-6, donor_pid), 0, donor_pid);  // process CPU clock, SIGEV_SIGNAL
  *timers->add_posix() = donor_timer(3, cpu_clock_of(-2, 777777), 0, donor_pid);     // a thread the donor never had
  *timers->add_posix() = donor_timer(4, 1, 4, 777776);
  *timers->add_posix() = donor_timer(5, -2, 0, 0);                          // pid 0: the restoring thread's, stays
  plan::detail::remap_donor_timers(p);
  const auto& t = p.threads.front().core.tc().timers();
  REQUIRE(t.posix_size() == 4);
  CHECK(static_cast<std::int32_t>(t.posix(0).clock_id()) == cpu_clock_of(-2, p.threads[1].tid));
  CHECK(t.posix(0).notify_thread_id() == p.threads[1].tid);
  CHECK(t.posix(1).clock_id() == 1);
  CHECK(t.posix(1).notify_thread_id() == p.threads[2].tid);
  CHECK(static_cast<std::int32_t>(t.posix(2).clock_id()) == cpu_clock_of(-6, p.pid));
  CHECK(t.posix(2).notify_thread_id() == p.pid);
  CHECK(t.posix(3).it_id() == 5);
  CHECK(static_cast<std::int32_t>(t.posix(3).clock_id()) == -2);
  CHECK(any_warning(p, "the donor's POSIX timer 3: its CPU clock"));
  CHECK(any_warning(p, "thread 777777's, which has no counterpart in the victim: dropped"));
  CHECK(any_warning(p, "the donor's POSIX timer 4: it signals donor thread 777776 (SIGEV_THREAD_ID)"));
  // What changed is said (--explain); the timer of pid 0 did not change.
  const auto changed = [&](const std::string& what) {
    return std::any_of(p.changes.begin(), p.changes.end(), [&](const std::string& c) { return c.find(what) != std::string::npos; });
  };
  CHECK(changed("the donor's POSIX timer 0: clock"));
  CHECK(changed("the donor's POSIX timer 1: clock 1, thread " + std::to_string(p.threads[2].tid)));
  CHECK_FALSE(changed("the donor's POSIX timer 5:"));
}

TEST_CASE("a donor's timers naming only its own threads stay as they are, and none is nothing to do", "[plan][timers]") {
  auto fx = necro::test::plan_counter();
  if (!fx) return;
  auto& p = fx->plan;
  const auto warnings = p.warnings.size();
  plan::detail::remap_donor_timers(p);  // the fixture's donor has no POSIX timer
  CHECK(p.warnings.size() == warnings);
  auto* timers = p.threads.front().core.mutable_tc()->mutable_timers();
  *timers->add_posix() = donor_timer(7, 1, 0, 0);
  const auto changes = p.changes.size();
  plan::detail::remap_donor_timers(p);
  REQUIRE(p.threads.front().core.tc().timers().posix_size() == 1);
  CHECK(p.changes.size() == changes);  // nothing to say of an unchanged timer
  CHECK(p.threads.front().core.tc().timers().posix(0).clock_id() == 1);
  CHECK(p.warnings.size() == warnings);
}

TEST_CASE("with a donor, a format 4 capture's timers replace the donor's, checked against the core's threads",
          "[plan][timers][capture]") {
  auto fx = necro::test::plan_pool();
  if (!fx) return;
  auto& p = fx->plan;
  *p.threads.front().core.mutable_tc()->mutable_timers()->add_posix() = donor_timer(9, 1, 0, 0);  // the donor's
  cap::process_capture c;
  c.version = 4;
  c.pid = p.pid;
  c.complete = true;
  c.kernel.emplace();
  const auto other = p.threads[3].tid;
  c.kernel->timers = sample_timers(p.pid, other);
  plan::capture_facts facts;
  facts.dir = "pool.capture";
  REQUIRE(plan::apply_capture(p, fx->donor, c, facts, plan::capture_scope::regular_files));
  const auto& t = p.threads.front().core.tc().timers();
  CHECK(t.real().isec() == 0);
  CHECK(t.real().iusec() == 100000);
  CHECK(t.real().vsec() == 0);
  CHECK(t.real().vusec() == 12346);  // 12345678 ns, rounded up
  CHECK(t.virt().isec() == 0);
  CHECK(t.virt().vusec() == 0);
  CHECK(t.prof().iusec() == 10000);
  CHECK(t.prof().vusec() == 3);  // 2500 ns: 3 us, never 0 (that would be "due")
  REQUIRE(t.posix_size() == 3);
  CHECK(t.posix(0).it_id() == 0);
  CHECK(t.posix(0).clock_id() == 1);
  CHECK(t.posix(0).notify_thread_id() == other);
  CHECK(t.posix(0).sival_ptr() == 0x1234);
  CHECK(t.posix(0).insec() == 150000000);
  CHECK(t.posix(0).vnsec() == 30000000);
  CHECK(static_cast<std::int32_t>(t.posix(1).clock_id()) == cpu_clock_of(-2, other));
  CHECK(t.posix(1).overrun() == 3);
  CHECK(t.posix(2).it_id() == 5);
  CHECK(!t.posix(2).has_notify_thread_id());
  CHECK(any_warning(p, "pool.capture/capture.txt: posix-timer id=2 clock=5 tid=" + std::to_string(p.pid) +
                           ": clock 5 is no clock timer_create takes: not restored"));
  CHECK(any_warning(p, "posix-timer id=3 clock=1 tid=999999: it signals thread 999999 (SIGEV_THREAD_ID), not a thread of the core"));
  CHECK(any_warning(p, "posix-timer id=4 clock=" + std::to_string(cpu_clock_of(-2, 999998)) + " tid=" + std::to_string(p.pid) +
                           ": its CPU clock is thread 999998's"));
  bool said = false;
  for (const auto& r : p.capture->restored)
    said |= r.find("ITIMER_REAL every 100 ms, next in 12.3457 ms, ITIMER_PROF every 10 ms, next in 2.5 us; 3 POSIX timers (3 dropped") !=
            std::string::npos;
  CHECK(said);
}

TEST_CASE("without a donor, a capture's timers are armed, a missing or older one keeps none and says why",
          "[plan][timers][capture]") {
  const auto core_path = necro::test::fixture("x86_64/catch.core");
  const auto dir = necro::test::fixture("x86_64/catch.capture");
  if (!core_path || !dir) return;
  using core_t = necro::elf::core_view<necro::arch::x86_64>;
  auto core = core_t::open(core_path->string());
  REQUIRE(core);
  auto base = cap::read(dir->string(), core->pid());
  REQUIRE(base);
  auto donor = plan::synthesize_donor(*core, {}, {});
  REQUIRE(donor);
  const auto plan_with = [&](const cap::process_capture& c) {
    auto p = plan::plan_donorless(*core, *donor, {}, {.offline = true});
    REQUIRE(p);
    plan::capture_facts facts;
    facts.dir = "catch.capture";
    REQUIRE(plan::apply_capture(*p, donor->images, c, facts, plan::capture_scope::everything));
    return std::move(*p);
  };
  const auto timer_default = [](const plan::resurrection& p) {
    for (const auto& d : p.not_in_core)
      if (d.what.starts_with("itimers, POSIX timers")) return d.why;
    return std::string("(none)");
  };
  cap::process_capture c = *base;
  c.version = 4;
  c.kernel.emplace();
  c.kernel->timers = sample_timers(c.pid, c.pid);
  c.kernel->timers->posix.resize(2);
  c.kernel->timers->posix[1].clock = cpu_clock_of(-2, c.pid);
  {
    const auto p = plan_with(c);
    const auto& t = p.threads.front().core.tc().timers();
    CHECK(t.real().iusec() == 100000);
    CHECK(t.real().vusec() == 12346);
    REQUIRE(t.posix_size() == 2);
    CHECK(t.posix(0).notify_thread_id() == c.pid);
    CHECK(timer_default(p) == "(none)");
  }
  c.kernel->timers->missing = "this kernel's layout is unknown";
  {
    const auto p = plan_with(c);
    CHECK(any_warning(p, "catch.capture/capture.txt: the timers were not captured (this kernel's layout is unknown): no interval or POSIX timer is armed"));
    CHECK_THAT(timer_default(p), Catch::Contains("the capture's timers are missing: this kernel's layout is unknown"));
    CHECK(p.threads.front().core.tc().timers().real().isec() == 0);
    CHECK(p.threads.front().core.tc().timers().posix_size() == 0);
  }
  c.version = 3;
  c.kernel->timers.reset();
  {
    const auto p = plan_with(c);
    CHECK_THAT(timer_default(p), Catch::Contains("this capture (format 3) predates timers"));
  }
}
