// capture.txt on the real fixture (tests/data/src/catchme.c killed under
// necro-catch; tests/data/x86_64/catch.capture/): the reader gives back every
// fd the victim listed itself (catch.facts.txt), with its kind and details;
// to_text writes the file back byte for byte; and broken captures (truncated,
// wrong pid, control bytes, lying counts, huge lists) give one clear error.
#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include <necro/capture/criu_files.hpp>
#include <necro/capture/reader.hpp>
#include <necro/capture/text.hpp>

#include "support/fixtures.hpp"

namespace {

using necro::capture::fd_kind;

struct fixture_capture {
  std::string dir, text;
  necro::test::facts facts;
  std::int32_t pid = 0;
};

std::optional<fixture_capture> load() {
  const auto d = necro::test::fixture("x86_64/catch.capture");
  auto f = necro::test::facts::load("x86_64/catch.facts.txt");
  if (!d || !f) return std::nullopt;
  std::ifstream in(*d / "capture.txt", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return fixture_capture{d->string(), ss.str(), *f, static_cast<std::int32_t>(*f->number("victim_pid"))};
}

const necro::capture::fd_entry& fd_at(const necro::capture::process_capture& c, int fd) {
  for (const auto& f : c.fds)
    if (f.fd == fd) return f;
  FAIL("no fd " << fd);
  throw;
}

/// The error parse_text gives for `good` with its first `from` replaced by `to`
/// (which must make it fail).
std::string refusal(const std::string& good, const std::string& from, const std::string& to) {
  std::string t = good;
  const auto at = t.find(from);
  REQUIRE(at != std::string::npos);
  t.replace(at, from.size(), to);
  const auto c = necro::capture::parse_text(t, "capture.txt");
  REQUIRE(!c);
  return c.error().message();
}

}  // namespace

TEST_CASE("the fixture capture lists exactly the victim's own fds", "[capture]") {
  const auto fx = load();
  REQUIRE(fx);
  const auto c = necro::capture::read(fx->dir, fx->pid);
  REQUIRE(c);
  CHECK(c->complete);
  CHECK(c->pid == fx->pid);
  CHECK(c->cwd == fx->facts.get("cwd"));
  CHECK(c->exe == fx->facts.get("binary"));
  std::string fds;
  for (const auto& f : c->fds) {
    fds += (fds.empty() ? "" : ",") + std::to_string(f.fd);
    CHECK(f.link == fx->facts.get("victim_fd_" + std::to_string(f.fd)));
  }
  CHECK(fds == fx->facts.get("victim_fds"));
}

TEST_CASE("the fixture capture describes each kind of fd", "[capture]") {
  const auto fx = load();
  REQUIRE(fx);
  const auto c = necro::capture::read(fx->dir, fx->pid);
  REQUIRE(c);
  const auto& app = fd_at(*c, 3);  // O_WRONLY|O_APPEND, 17 bytes, lseek 7
  CHECK(app.kind == fd_kind::reg);
  CHECK((app.flags & 03) == 01);
  CHECK((app.flags & 02000) != 0);
  CHECK(app.pos == 7);
  CHECK(app.size == 17);
  CHECK((fd_at(*c, 4).kind == fd_kind::pipe && fd_at(*c, 4).ino == fd_at(*c, 5).ino));
  CHECK(fd_at(*c, 6).eventfd_count == 42u);
  CHECK((fd_at(*c, 6).flags & 02000000) != 0);  // EFD_CLOEXEC
  REQUIRE(fd_at(*c, 7).timer);
  CHECK(fd_at(*c, 7).timer->clockid == 1);
  CHECK(fd_at(*c, 7).timer->interval_sec == 2);
  CHECK(fd_at(*c, 7).timer->interval_nsec == 500000000);
  CHECK(fd_at(*c, 7).timer->value_sec > 900);
  CHECK(fd_at(*c, 8).sigmask == ((1u << (10 - 1)) | (1u << (12 - 1))));  // SIGUSR1, SIGUSR2
}

TEST_CASE("the fixture capture has the listening sockets and the epoll registrations", "[capture]") {
  const auto fx = load();
  REQUIRE(fx);
  const auto c = necro::capture::read(fx->dir, fx->pid);
  REQUIRE(c);
  const auto& tcp = fd_at(*c, 9);
  REQUIRE(tcp.sock);
  CHECK((tcp.kind == fd_kind::inet && tcp.sock->family == 2 && tcp.sock->proto == 6 && tcp.sock->state == 10));
  CHECK(tcp.sock->local_port == fx->facts.number("port_tcp"));
  CHECK((tcp.sock->local_addr[0] == 127 && tcp.sock->local_addr[3] == 1));
  const auto& udp = fd_at(*c, 10);
  REQUIRE(udp.sock);
  CHECK((udp.sock->proto == 17 && udp.sock->local_port == fx->facts.number("port_udp")));
  const auto& usk = fd_at(*c, 11);
  REQUIRE(usk.sock);
  CHECK((usk.kind == fd_kind::unix_sk && usk.sock->unix_name == "sock" && usk.sock->backlog == 1));
  const auto& ep = fd_at(*c, 12);
  REQUIRE(ep.targets.size() == 3);
  std::map<std::uint32_t, std::uint64_t> data;
  for (const auto& t : ep.targets) data[t.tfd] = t.data;
  CHECK(data == std::map<std::uint32_t, std::uint64_t>{{6, 0x1122334455667788ull}, {4, 7}, {9, 9}});
  CHECK(c->signals->blocked == 0xa00);
  CHECK(c->rlimits.size() == 16);
  REQUIRE(c->mapped_files.size() >= 2);
  CHECK(c->mapped_files[0].path == fx->facts.get("binary"));
  CHECK(c->mapped_files[0].build_id.size() == 40);
}

TEST_CASE("to_text writes the fixture capture back byte for byte", "[capture]") {
  const auto fx = load();
  REQUIRE(fx);
  const auto c = necro::capture::parse_text(fx->text, "capture.txt");
  REQUIRE(c);
  CHECK(necro::capture::to_text(*c) == fx->text);
}

TEST_CASE("values with spaces, newlines, control bytes and % survive the text form", "[capture]") {
  necro::capture::process_capture c;
  c.pid = 77;
  c.cwd = "/tmp/a dir/with\nnewline\x1b[31m%41";
  necro::capture::fd_entry f;
  f.fd = 3, f.kind = fd_kind::reg, f.link = std::string("/x\0y\x7f z", 7);
  c.fds.push_back(f);
  const auto text = necro::capture::to_text(c);
  CHECK(text.find('\x1b') == std::string::npos);
  const auto back = necro::capture::parse_text(text, "t");
  REQUIRE(back);
  CHECK(back->cwd == c.cwd);
  CHECK(back->fds.at(0).link == f.link);
}

TEST_CASE("a capture of another pid is refused, naming both", "[capture][malformed]") {
  const auto fx = load();
  REQUIRE(fx);
  const auto c = necro::capture::read(fx->dir, fx->pid + 1);
  REQUIRE(!c);
  CHECK(c.error().code() == necro::errc::mismatch);
  CHECK_THAT(c.error().message(), Catch::Contains("capture.txt") &&
                                      Catch::Contains(fmt::format("capture of pid {}, expected pid {}", fx->pid, fx->pid + 1)));
}

TEST_CASE("every truncation of the fixture capture is an error, never a crash", "[capture][malformed]") {
  const auto fx = load();
  REQUIRE(fx);
  for (std::size_t n = 0; n < fx->text.size(); ++n) {
    const auto c = necro::capture::parse_text(std::string_view(fx->text).substr(0, n), "capture.txt");
    REQUIRE(!c);
    REQUIRE(c.error().code() == necro::errc::truncated);
  }
  const auto whole = fx->text.rfind("end ");
  const auto c = necro::capture::parse_text(std::string_view(fx->text).substr(0, whole), "capture.txt");
  REQUIRE(!c);
  CHECK_THAT(c.error().message(), Catch::Contains("no `end` line: the capture is truncated"));
}

TEST_CASE("broken lines give one error naming file, line and offset", "[capture][malformed]") {
  const auto fx = load();
  REQUIRE(fx);
  const auto bad = [&](const std::string& from, const std::string& to) { return refusal(fx->text, from, to); };
  CHECK_THAT(bad("link=/dev/null", std::string("link=/dev/\x01null")),
             Catch::Matches("capture.txt: offset 0x[0-9a-f]+: line \\d+: control byte 0x01 at column \\d+.*"));
  CHECK_THAT(bad("necro-capture 2", "necro-capture 99"), Catch::Contains("line 1: capture format version 99; this reader knows 1 to 4"));
  CHECK_THAT(bad("shared-vmas 0\n", "shared-vmas 0\nkernel-state missing why=x\n"),
             Catch::Contains("kernel-state: not in a format 2 capture"));
  CHECK_THAT(bad("shared-vmas 0", "shared-vmas 1"), Catch::Contains("shared-vmas says 1, the file has 0 shared lines"));
  CHECK_THAT(bad("shared-vmas 0\n", "shared 0x2000 0x1000\nshared-vmas 0\n"), Catch::Contains("shared: before the shared-vmas line"));
  CHECK_THAT(bad("shared-vmas 0\n", "shared-vmas 1\nshared 0x2000 0x1000\n"), Catch::Contains("START below END"));
  CHECK_THAT(bad("kind=pipe", "kind=wormhole"), Catch::Contains("fd: unknown kind=wormhole"));
  CHECK_THAT(bad("link=/dev/null", "link=/dev/%zz"), Catch::Contains("link= has a bad %-escape"));
  CHECK_THAT(bad("end fds=", "end fds=9"), Catch::Contains("end: says"));
  CHECK_THAT(bad("fd 4 ", "fd 3 "), Catch::Contains("fds must be listed once each, in ascending order"));
  CHECK_THAT(bad("pos=7", "pos=99999999999999999999999"), Catch::Contains("pos=99999999999999999999999 is not a number that fits"));
  CHECK_THAT(bad("tfd 12 ", "tfd 11 "), Catch::Contains("tfd: does not follow the line of its epoll fd"));
  CHECK_THAT(bad("local=7f000001", "local=7f0000"), Catch::Contains("local= must be 8 hex digits"));
  CHECK_THAT(bad(" link=/tmp", " shares=9 link=/tmp"), Catch::Contains("fd: shares=9 is not a lower fd"));
}

TEST_CASE("a version 1 capture (no share modes) still reads, and version 2's shared VMAs round-trip", "[capture]") {
  const auto fx = load();
  REQUIRE(fx);
  std::string v1 = fx->text;
  v1.replace(v1.find("necro-capture 2"), 15, "necro-capture 1");
  v1.erase(v1.find("shared-vmas 0\n"), 14);
  const auto old = necro::capture::parse_text(v1, "capture.txt");
  REQUIRE(old);
  CHECK(old->version == 1);
  CHECK(!old->shared_vmas);
  CHECK(necro::capture::to_text(*old) == v1);
  auto c = necro::capture::parse_text(fx->text, "capture.txt");
  REQUIRE(c);
  REQUIRE(c->shared_vmas);
  c->shared_vmas->push_back({0x7f0000000000, 0x7f0000003000});
  const auto text = necro::capture::to_text(*c);
  CHECK(text.find("shared-vmas 1\nshared 0x7f0000000000 0x7f0000003000\n") != std::string::npos);
  const auto back = necro::capture::parse_text(text, "capture.txt");
  REQUIRE(back);
  REQUIRE(back->shared_vmas->size() == 1);
  CHECK(back->shared_vmas->front().end == 0x7f0000003000);
}

TEST_CASE("huge lists and lines hit the caps", "[capture][malformed]") {
  const auto fx = load();
  REQUIRE(fx);
  std::string groups;
  for (int i = 0; i < 70000; ++i) groups += (i ? "," : "") + std::to_string(i);
  std::string t = fx->text;
  const auto at = t.find("groups=");
  t.replace(at, t.find(' ', at) - at, "groups=" + groups);
  auto c = necro::capture::parse_text(t, "capture.txt");
  REQUIRE(!c);
  CHECK_THAT(c.error().message(), Catch::Contains("more than the cap of 65536"));
  t = fx->text;
  t.insert(t.find("end "), std::string("skipped ") + std::string(100000, 'x') + "\n");
  c = necro::capture::parse_text(t, "capture.txt");
  REQUIRE(!c);
  CHECK(c.error().code() == necro::errc::bad_value);
}

namespace {

/// The fixture as a format 3 capture whose kernel state was read: two
/// threads, a handler on SIGUSR1 with SA_SIGINFO|SA_ONSTACK|SA_RESTORER.
std::string with_kernel_state(const std::string& text) {
  std::string t = text;
  t.replace(t.find("necro-capture 2"), 15, "necro-capture 3");
  std::string k = "kernel-state read actions=2 threads=2\n"
                  "action sig=2 handler=0x1 flags=0x0 restorer=0x0 mask=0x0\n"
                  "action sig=10 handler=0x55550000123a flags=0x1c000004 restorer=0x7f0000001000 mask=0x200\n"
                  "thread tid=100 comm=main sas_sp=0x7f0000200000 sas_size=65536 sas_flags=0x0 clear_child_tid=0x7f0000300a10 "
                  "robust_list=0x7f0000300a20 rseq=0x7f0000300fe0 rseq_len=32 rseq_sig=0x53053053 policy=0 rt_priority=0 "
                  "static_prio=125 normal_prio=125 nice=5 timer_slack=50000\n"
                  "thread tid=101 comm=worker%20one sas_sp=0x0 sas_size=0 sas_flags=0x0 clear_child_tid=0x0 "
                  "robust_list=0x0 rseq=0x0 rseq_len=0 rseq_sig=0x0 policy=3 rt_priority=0 "
                  "static_prio=110 normal_prio=110 nice=-10 timer_slack=50000\n";
  t.insert(t.find("end "), k);
  return t;
}

}  // namespace

TEST_CASE("format 3: the kernel state's action and thread lines round-trip", "[capture]") {
  const auto fx = load();
  REQUIRE(fx);
  const std::string text = with_kernel_state(fx->text);
  const auto c = necro::capture::parse_text(text, "capture.txt");
  REQUIRE(c);
  CHECK(c->version == 3);
  REQUIRE(c->kernel);
  CHECK(c->kernel->read());
  REQUIRE(c->kernel->actions.size() == 2);
  CHECK(c->kernel->actions[1].sig == 10);
  CHECK(c->kernel->actions[1].handler == 0x55550000123aull);
  CHECK(c->kernel->actions[1].flags == 0x1c000004u);
  CHECK(c->kernel->actions[1].mask == 0x200u);
  REQUIRE(c->kernel->threads.size() == 2);
  CHECK(c->kernel->threads[0].sas_size == 65536);
  CHECK(c->kernel->threads[0].nice == 5);
  CHECK(c->kernel->threads[1].comm == "worker one");
  CHECK(c->kernel->threads[1].policy == 3);
  CHECK(c->kernel->threads[1].nice == -10);
  CHECK(necro::capture::to_text(*c) == text);
}

TEST_CASE("format 3: a kernel state that was not read says why, and round-trips", "[capture]") {
  const auto fx = load();
  REQUIRE(fx);
  std::string t = fx->text;
  t.replace(t.find("necro-capture 2"), 15, "necro-capture 3");
  t.insert(t.find("end "), "kernel-state missing why=disabled%20by%20NECRO_CATCH_NO_BPF=1\n");
  const auto c = necro::capture::parse_text(t, "capture.txt");
  REQUIRE(c);
  REQUIRE(c->kernel);
  CHECK(!c->kernel->read());
  CHECK(c->kernel->missing == "disabled by NECRO_CATCH_NO_BPF=1");
  CHECK(necro::capture::to_text(*c) == t);
  // The fixture is format 2: no kernel state at all, and that is not "missing".
  const auto old = necro::capture::parse_text(fx->text, "capture.txt");
  REQUIRE(old);
  CHECK(!old->kernel);
}

TEST_CASE("format 3: broken kernel-state lines give one error naming file and line", "[capture][malformed]") {
  const auto fx = load();
  REQUIRE(fx);
  const std::string good = with_kernel_state(fx->text);
  const auto bad = [&](const std::string& from, const std::string& to) { return refusal(good, from, to); };
  CHECK_THAT(bad("action sig=10", "action sig=65"), Catch::Matches("capture.txt: offset 0x[0-9a-f]+: line \\d+: action: sig=65 is not 1..64"));
  CHECK_THAT(bad("action sig=10", "action sig=0"), Catch::Contains("sig=0 is not 1..64"));
  CHECK_THAT(bad("action sig=10", "action sig=2"), Catch::Contains("one line per signal, in ascending order"));
  CHECK_THAT(bad("handler=0x55550000123a", "handler=0xfffffffffffffffff"), Catch::Contains("is not a number that fits"));
  CHECK_THAT(bad(" mask=0x200", ""), Catch::Contains("action: no mask="));
  CHECK_THAT(bad("actions=2", "actions=3"), Catch::Contains("kernel-state says 3 actions and 2 threads, the file has 2 and 2"));
  CHECK_THAT(bad("threads=2", "threads=1"), Catch::Contains("thread: more than kernel-state's threads="));
  CHECK_THAT(bad("actions=2", "actions=65"), Catch::Contains("at most 64"));
  CHECK_THAT(bad("tid=101", "tid=100"), Catch::Contains("thread: tid=100 a second time"));
  CHECK_THAT(bad("tid=101", "tid=0"), Catch::Contains("thread: tid=0 is not a thread id"));
  CHECK_THAT(bad("comm=main", "comm=sixteen_bytes_xx"), Catch::Contains("comm= is 16 bytes, at most 15"));
  CHECK_THAT(bad("nice=5", "nice=40"), Catch::Contains("nice must be -20..19"));
  CHECK_THAT(bad("nice=5", "nice=4"), Catch::Contains("static_prio 120 + nice"));
  CHECK_THAT(bad("nice=-10", "nice=--10"), Catch::Contains("nice=--10 is not a number that fits"));
  CHECK_THAT(bad("nice=-10", "nice=-21"), Catch::Contains("nice must be -20..19"));
  CHECK_THAT(bad("policy=3", "policy=9"), Catch::Contains("policy=9 is no scheduling policy"));
  CHECK_THAT(bad("sas_flags=0x0 clear_child_tid=0x7f", "sas_flags=0x10 clear_child_tid=0x7f"), Catch::Contains("unknown bits"));
  CHECK_THAT(bad("kernel-state read actions=2 threads=2\n", ""), Catch::Contains("action: not after a `kernel-state read` line"));
  CHECK_THAT(bad("kernel-state read", "kernel-state maybe"), Catch::Contains("kernel-state: maybe is not `read` or `missing`"));
  CHECK_THAT(bad("kernel-state read actions=2 threads=2\n", "kernel-state missing why=-\n"), Catch::Contains("missing without a why="));
  // Every truncation within the kernel lines is an error too.
  const auto from = good.find("kernel-state");
  for (std::size_t n = from; n < good.size(); ++n)
    REQUIRE(!necro::capture::parse_text(std::string_view(good).substr(0, n), "capture.txt"));
}

namespace {

/// The fixture as a format 4 capture: the format 3 kernel state plus the
/// process line and two advised VMAs (values as necro-catch read them from
/// tests/e2e/victims/procstate.c).
std::string with_process_state(const std::string& text) {
  std::string t = with_kernel_state(text);
  t.replace(t.find("necro-capture 3"), 15, "necro-capture 4");
  t.replace(t.find("actions=2 threads=2"), 19, "actions=2 threads=2 vmas=2");
  t.insert(t.find("end "), "process personality=0x40000 securebits=0x10 no_new_privs=1 seccomp=2 seccomp_filters=1 mm_flags=0x810000cd\n"
                           "madvise start=0x7f3653b14000 end=0x7f3653b18000 madv=0x0 locked=1\n"
                           "madvise start=0x7f3653b1a000 end=0x7f3653b1e000 madv=0x4004 locked=0\n");
  return t;
}

}  // namespace

TEST_CASE("format 4: the process and madvise lines round-trip", "[capture]") {
  const auto fx = load();
  REQUIRE(fx);
  const std::string text = with_process_state(fx->text);
  const auto c = necro::capture::parse_text(text, "capture.txt");
  REQUIRE(c);
  CHECK(c->version == 4);
  REQUIRE(c->kernel);
  REQUIRE(c->kernel->process);
  CHECK(c->kernel->process->personality == 0x40000u);
  CHECK(c->kernel->process->securebits == 0x10u);
  CHECK(c->kernel->process->no_new_privs == 1u);
  CHECK(c->kernel->process->seccomp_mode == 2);
  CHECK(c->kernel->process->seccomp_filters == 1);
  CHECK(c->kernel->process->mm_flags == 0x810000cdu);
  REQUIRE(c->kernel->vmas.size() == 2);
  CHECK(c->kernel->vmas[0].locked == 1u);
  CHECK(c->kernel->vmas[1].madv == 0x4004u);
  // Each record knows its line, for the planner's warnings.
  const auto line_of = [&](std::string_view words) {
    return static_cast<std::size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(text.find(words)), '\n')) + 1;
  };
  CHECK(c->kernel->actions[1].line == line_of("action sig=10"));
  CHECK(c->kernel->threads[1].line == line_of("thread tid=101"));
  CHECK(c->kernel->process->line == line_of("process "));
  CHECK(c->kernel->vmas[1].line == line_of("madvise start=0x7f3653b1a000"));
  // The capture's CRIU creds take the kernel's securebits (not in /proc).
  CHECK(necro::capture::to_criu(*c).creds.secbits() == 0x10u);
  CHECK(necro::capture::to_criu(*c).creds.no_new_privs() == 1u);
  CHECK(necro::capture::to_text(*c) == text);
  // A format 3 capture still reads: no process line, no vmas= count.
  const auto v3 = necro::capture::parse_text(with_kernel_state(fx->text), "capture.txt");
  REQUIRE(v3);
  CHECK(!v3->kernel->process);
  CHECK(v3->kernel->vmas.empty());
}

TEST_CASE("format 4: broken process and madvise lines give one error naming file and line", "[capture][malformed]") {
  const auto fx = load();
  REQUIRE(fx);
  const std::string good = with_process_state(fx->text);
  const auto bad = [&](const std::string& from, const std::string& to) { return refusal(good, from, to); };
  CHECK_THAT(bad("seccomp=2", "seccomp=3"), Catch::Matches("capture.txt: offset 0x[0-9a-f]+: line \\d+: process: seccomp=3 is not .*"));
  CHECK_THAT(bad("no_new_privs=1", "no_new_privs=2"), Catch::Contains("no_new_privs=2 is not 0 or 1"));
  CHECK_THAT(bad("seccomp_filters=1", "seccomp_filters=-2"), Catch::Contains("seccomp_filters=-2 is below -1"));
  CHECK_THAT(bad(" mm_flags=0x810000cd", ""), Catch::Contains("process: no mm_flags="));
  CHECK_THAT(bad("madv=0x4004", "madv=0x8"), Catch::Contains("madv=0x8 holds unknown advice bits"));
  CHECK_THAT(bad("end=0x7f3653b18000", "end=0x7f3653b14000"), Catch::Contains("is not a page-aligned range"));
  CHECK_THAT(bad("end=0x7f3653b18000", "end=0x7f3653b18001"), Catch::Contains("is not a page-aligned range"));
  CHECK_THAT(bad("start=0x7f3653b1a000", "start=0x7f3653b16000"), Catch::Contains("ascending and not overlapping"));
  CHECK_THAT(bad("locked=1", "locked=7"), Catch::Contains("locked=7 is not 0 or 1"));
  CHECK_THAT(bad("vmas=2", "vmas=3"), Catch::Contains("kernel-state says 3 vmas, the file has 2 madvise lines"));
  CHECK_THAT(bad("vmas=2", "vmas=1"), Catch::Contains("madvise: more than kernel-state's vmas="));
  CHECK_THAT(bad(" vmas=2", ""), Catch::Contains("kernel-state: no vmas="));
  const auto second = good.find("process ");
  CHECK_THAT(bad("madvise start=0x7f3653b14000", good.substr(second, good.find('\n', second) + 1 - second) + "madvise start=0x7f3653b14000"),
             Catch::Contains("process: a second one"));
  std::string v3 = good;
  v3.replace(v3.find("necro-capture 4"), 15, "necro-capture 3");
  v3.replace(v3.find(" vmas=2"), 7, "");
  CHECK_THAT(necro::capture::parse_text(v3, "capture.txt").error().message(), Catch::Contains("process: not in a format 3 capture"));
  const auto from = good.find("process ");
  for (std::size_t n = from; n < good.size(); ++n)
    REQUIRE(!necro::capture::parse_text(std::string_view(good).substr(0, n), "capture.txt"));
}

namespace {

/// The fixture as a format 4 capture: with_process_state and its timers:
/// ITIMER_REAL every 50 ms, a CLOCK_MONOTONIC timer to thread 101 every 70 ms
/// and one on thread 101's CPU clock.
std::string with_timers(const std::string& text) {
  std::string t = with_process_state(text);
  std::string k = "timers read itimers=3 posix=2\n"
                  "itimer which=real value_ns=12000000 interval_ns=50000000\n"
                  "itimer which=virtual value_ns=0 interval_ns=0\n"
                  "itimer which=prof value_ns=0 interval_ns=0\n"
                  "posix-timer id=0 clock=1 signo=34 notify=4 tid=101 sigev_value=0x7f0000001234 value_ns=30000000 "
                  "interval_ns=70000000 overrun=0\n"
                  "posix-timer id=1 clock=-810 signo=35 notify=4 tid=101 sigev_value=0x0 value_ns=5000 "
                  "interval_ns=1000000000 overrun=2\n";
  t.insert(t.find("end "), k);
  return t;
}

}  // namespace

TEST_CASE("format 4: the timer lines round-trip", "[capture]") {
  const auto fx = load();
  REQUIRE(fx);
  const std::string text = with_timers(fx->text);
  const auto c = necro::capture::parse_text(text, "capture.txt");
  REQUIRE(c);
  CHECK(c->version == 4);
  REQUIRE(c->kernel);
  REQUIRE(c->kernel->timers);
  const auto& t = *c->kernel->timers;
  CHECK(t.read());
  REQUIRE(t.itimers.size() == 3);
  CHECK(t.itimers[0].which == 0);
  CHECK(t.itimers[0].value_ns == 12000000);
  CHECK(t.itimers[0].interval_ns == 50000000);
  CHECK(t.itimers[2].which == 2);
  REQUIRE(t.posix.size() == 2);
  CHECK(t.posix[0].clock == 1);
  CHECK(t.posix[0].notify == 4);
  CHECK(t.posix[0].tid == 101);
  CHECK(t.posix[0].sigev_value == 0x7f0000001234u);
  CHECK(t.posix[1].clock == -810);  // (~101 << 3) | 6
  CHECK(t.posix[1].overrun == 2);
  CHECK(necro::capture::to_text(*c) == text);
}

TEST_CASE("format 4: timers that were not read say why and round-trip, older formats have none", "[capture]") {
  const auto fx = load();
  REQUIRE(fx);
  std::string t = with_process_state(fx->text);
  t.insert(t.find("end "), "timers missing why=layout%20unknown\n");
  const auto c = necro::capture::parse_text(t, "capture.txt");
  REQUIRE(c);
  REQUIRE(c->kernel->timers);
  CHECK(c->kernel->timers->missing == "layout unknown");
  CHECK(necro::capture::to_text(*c) == t);
  // Format 3 (kernel state, no timers) and 2 (neither) still read.
  const auto v3 = necro::capture::parse_text(with_kernel_state(fx->text), "capture.txt");
  REQUIRE(v3);
  CHECK(v3->version == 3);
  CHECK(!v3->kernel->timers);
  const auto v2 = necro::capture::parse_text(fx->text, "capture.txt");
  REQUIRE(v2);
  CHECK(!v2->kernel);
  // A format 3 capture cannot hold timer lines.
  std::string v3_timers = with_kernel_state(fx->text);
  v3_timers.insert(v3_timers.find("end "), "timers missing why=x\n");
  const auto bad3 = necro::capture::parse_text(v3_timers, "capture.txt");
  REQUIRE(!bad3);
  CHECK_THAT(bad3.error().message(), Catch::Contains("timers: not in a format 3 capture"));
  // A format 4 capture written before the timers were read (t21's first
  // format 4) has no timers line: it reads, without timers.
  const auto v4_none = necro::capture::parse_text(with_process_state(fx->text), "capture.txt");
  REQUIRE(v4_none);
  CHECK(!v4_none->kernel->timers);
}

TEST_CASE("format 4: broken timer lines give one error naming file and line", "[capture][malformed]") {
  const auto fx = load();
  REQUIRE(fx);
  const std::string good = with_timers(fx->text);
  const auto bad = [&](const std::string& from, const std::string& to) { return refusal(good, from, to); };
  CHECK_THAT(bad("which=virtual", "which=wall"), Catch::Matches("capture.txt: offset 0x[0-9a-f]+: line \\d+: itimer: which=wall is not real, virtual or prof"));
  CHECK_THAT(bad("which=virtual", "which=prof"), Catch::Contains("real, virtual, prof once each, in that order"));
  CHECK_THAT(bad("value_ns=12000000", "value_ns=9223372036854775808"), Catch::Contains("above 2^63"));
  CHECK_THAT(bad("value_ns=12000000", "value_ns=-1"), Catch::Contains("is not a number that fits"));
  CHECK_THAT(bad("itimers=3", "itimers=2"), Catch::Contains("itimers must be 3"));
  CHECK_THAT(bad("posix=2", "posix=3"), Catch::Contains("timers says 3 itimers and 3 POSIX timers, the file has 3 and 2"));
  CHECK_THAT(bad("posix=2", "posix=1"), Catch::Contains("posix-timer: more than timers' posix="));
  CHECK_THAT(bad("posix-timer id=1", "posix-timer id=0"), Catch::Contains("ids ascending"));
  CHECK_THAT(bad("posix-timer id=1", "posix-timer id=-1"), Catch::Contains("id=-1 is negative"));
  CHECK_THAT(bad("signo=34 notify=4", "signo=65 notify=4"), Catch::Contains("signo=65 is not 1..64"));
  CHECK_THAT(bad("signo=34 notify=4", "signo=0 notify=4"), Catch::Contains("signo=0 is not 1..64"));
  CHECK_THAT(bad("signo=34 notify=4", "signo=34 notify=3"), Catch::Contains("notify=3 is not SIGEV_SIGNAL"));
  CHECK_THAT(bad("overrun=2", "overrun=2147483648"), Catch::Contains("above INT_MAX"));
  CHECK_THAT(bad(" interval_ns=70000000", ""), Catch::Contains("posix-timer: no interval_ns="));
  CHECK_THAT(bad("clock=-810", "clock=x"), Catch::Contains("clock=x is not a number that fits"));
  CHECK_THAT(bad("timers read itimers=3 posix=2\n", ""), Catch::Contains("itimer: not after a `timers read` line"));
  CHECK_THAT(bad("timers read", "timers maybe"), Catch::Contains("timers: maybe is not `read` or `missing`"));
  CHECK_THAT(bad("kernel-state read actions=2 threads=2 vmas=2\n", "kernel-state missing why=x\n"), Catch::Contains("action: not after"));
  // Every truncation within the timer lines is an error too.
  const auto from = good.find("timers read");
  for (std::size_t n = from; n < good.size(); ++n)
    REQUIRE(!necro::capture::parse_text(std::string_view(good).substr(0, n), "capture.txt"));
}
