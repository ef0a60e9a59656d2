// plan::apply_capture on the real fixtures: catchme killed under necro-catch
// (tests/data/x86_64/catch.core.zst and catch.capture/, one fd of every kind)
// resurrected without a donor, and the counter core with its CRIU donor. The
// paths the capture would reopen are given as facts (their captured modes), so
// the test does not depend on this machine's files.
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>

#include "support/fixtures.hpp"

namespace {

using core_t = necro::elf::core_view<necro::arch::x86_64>;
namespace pb = necro::pb;
namespace plan = necro::plan;
using necro::capture::fd_kind;

struct victim {
  core_t core;
  necro::capture::process_capture capture;
  plan::synthetic_donor donor;
  plan::resurrection planned;
};

std::optional<victim> load_victim() {
  const auto core_path = necro::test::fixture("x86_64/catch.core");
  const auto dir = necro::test::fixture("x86_64/catch.capture");
  if (!core_path || !dir) return std::nullopt;
  auto core = core_t::open(core_path->string());
  if (!core) FAIL(core.error().message());
  auto cap = necro::capture::read(dir->string(), core->pid());
  if (!cap) FAIL(cap.error().message());
  auto donor = plan::synthesize_donor(*core, {}, {});
  if (!donor) FAIL(donor.error().message());
  auto p = plan::plan_donorless(*core, *donor, {}, {.offline = true});
  if (!p) FAIL(p.error().message());
  return victim{std::move(*core), std::move(*cap), std::move(*donor), std::move(*p)};
}

/// Every captured path there now, with the mode it had.
plan::capture_facts all_present(const necro::capture::process_capture& c) {
  plan::capture_facts f;
  f.dir = "catch.capture";
  for (const auto& fd : c.fds)
    if (fd.kind == fd_kind::reg) f.present.emplace(fd.link, fd.mode);
  f.present.emplace(c.cwd, 040755);
  f.present.emplace(c.root, 040755);
  return f;
}

template <class Msg>
std::vector<Msg> entries(const plan::resurrection& p, const std::string& name, std::uint32_t magic) {
  for (const auto& c : p.carried) {
    if (c.to != name) continue;
    REQUIRE(c.bytes);
    auto all = necro::criu::read_entries<Msg>(*c.bytes, name, magic);
    if (!all) FAIL(all.error().message());
    return *all;
  }
  FAIL("no carried image " << name);
  return {};
}

const pb::file_entry& file(const plan::resurrection& p, std::uint32_t id) {
  for (const auto& f : p.files)
    if (f.id() == id) return f;
  FAIL("no files.img entry " << id);
  throw;
}

std::map<int, pb::fdinfo_entry> fd_table(const plan::resurrection& p, const std::string& name) {
  std::map<int, pb::fdinfo_entry> t;
  for (auto& e : entries<pb::fdinfo_entry>(p, name, necro::criu::magic::fdinfo)) t.emplace(static_cast<int>(e.fd()), e);
  return t;
}

bool mentions(const std::vector<std::string>& lines, std::string_view start, std::string_view part) {
  for (const auto& l : lines)
    if (l.starts_with(start) && l.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("without a donor, every captured fd comes back as the victim's own", "[plan][capture]") {
  auto v = load_victim();
  REQUIRE(v);
  REQUIRE(plan::apply_capture(v->planned, v->donor.images, v->capture, all_present(v->capture),
                              plan::capture_scope::everything));
  const auto t = fd_table(v->planned, v->donor.images.fdinfo_name());
  REQUIRE(t.size() == v->capture.fds.size());
  std::map<int, const necro::capture::fd_entry*> by_fd;
  for (const auto& f : v->capture.fds) by_fd[f.fd] = &f;
  std::set<std::uint32_t> pipe_ids;
  for (const auto& [fd, fi] : t) {
    INFO("fd " << fd);
    const auto& cap = *by_fd.at(fd);
    const auto& e = file(v->planned, fi.id());
    CHECK(fi.flags() == ((cap.flags & 02000000) ? 1u : 0u));
    switch (cap.kind) {
      case fd_kind::reg:
        REQUIRE(e.has_reg());
        CHECK(e.reg().name() == cap.link);
        CHECK(e.reg().flags() == (cap.flags & ~02000000u));
        CHECK(!e.reg().has_size());
        CHECK(!e.reg().has_mnt_id());
        CHECK(e.reg().pos() == ((cap.mode & 0170000) == 0020000 ? ~0ull : cap.pos));
        break;
      case fd_kind::pipe: {
        CHECK(e.type() == pb::PIPE);
        pb::pipe_entry p;
        REQUIRE(p.ParseFromString(e.pipe()));
        pipe_ids.insert(p.pipe_id());
        break;
      }
      case fd_kind::inet: {
        pb::inet_sk_entry s;
        REQUIRE(s.ParseFromString(e.isk()));
        CHECK(s.src_port() == cap.sock->local_port);
        CHECK(s.state() == cap.sock->state);
        CHECK(s.opts().so_sndbuf() > 0);
        if (s.state() == 10) CHECK(s.backlog() > 0);
        break;
      }
      case fd_kind::unix_sk: {
        pb::unix_sk_entry s;
        REQUIRE(s.ParseFromString(e.usk()));
        CHECK(s.state() == 10);  // TCP_LISTEN as CRIU records it, not /proc's SS_UNCONNECTED
        CHECK(s.name() == cap.sock->unix_name + '\0');
        CHECK(s.name_dir() == v->capture.cwd);  // "sock" is relative
        break;
      }
      case fd_kind::epoll:
        REQUIRE(e.has_epfd());
        CHECK(static_cast<std::size_t>(e.epfd().tfd_size()) == cap.targets.size());
        break;
      case fd_kind::eventfd: {
        pb::eventfd_file_entry x;
        REQUIRE(x.ParseFromString(e.efd()));
        CHECK(x.counter() == 42);
        break;
      }
      default: CHECK(e.type() != pb::REG);
    }
  }
  CHECK(pipe_ids.size() == 1);  // both ends: one pipe again
  // catchme's stdout and stderr are one open file (>/dev/null 2>&1): one entry again.
  REQUIRE(by_fd.at(2)->shares == 1);
  CHECK(t.at(2).id() == t.at(1).id());
  CHECK(t.at(0).id() != t.at(1).id());
  CHECK(v->planned.capture->closed.empty());
}

TEST_CASE("without a donor, cwd, umask, rlimits and creds are the victim's, and the defaults they replace go", "[plan][capture]") {
  auto v = load_victim();
  REQUIRE(v);
  REQUIRE(plan::apply_capture(v->planned, v->donor.images, v->capture, all_present(v->capture),
                              plan::capture_scope::everything));
  const auto fs = entries<pb::fs_entry>(v->planned, necro::criu::image_name("fs-", v->planned.pid), necro::criu::magic::fs);
  REQUIRE(fs.size() == 1);
  CHECK(file(v->planned, fs[0].cwd_id()).reg().name() == v->capture.cwd);
  CHECK(fs[0].umask() == *v->capture.umask);
  const auto& tc = v->planned.threads.front().core.tc();
  CHECK(tc.rlimits().rlimits(7).cur() == 20000);  // RLIMIT_NOFILE as captured, not the test's own
  CHECK(v->planned.threads.front().core.thread_core().creds().cap_eff(0) ==
        static_cast<std::uint32_t>(v->capture.creds->cap_eff));
  for (const auto& d : v->planned.not_in_core) {
    CHECK(d.what != "open files");
    CHECK(d.what != "cwd and root");
    CHECK(d.what != "rlimits");
  }
  // No entry left that nothing refers to: the synthetic stdio and cwd went.
  std::set<std::uint32_t> used{fs[0].cwd_id(), fs[0].root_id(), static_cast<std::uint32_t>(v->planned.mm.exe_file_id())};
  for (const auto& [fd, fi] : fd_table(v->planned, v->donor.images.fdinfo_name())) used.insert(fi.id());
  for (const auto& m : v->planned.mm.vmas()) used.insert(static_cast<std::uint32_t>(m.shmid()));
  for (const auto& f : v->planned.files) CHECK(used.contains(f.id()));
  CHECK(necro::plan::explain(v->planned).find("\nfrom the capture catch.capture:\n  fd 0: /dev/null") != std::string::npos);
}

TEST_CASE("what cannot come back is listed: closed, a stand-in where the peer is gone, fds 0-2 the default",
          "[plan][capture]") {
  auto v = load_victim();
  REQUIRE(v);
  auto facts = all_present(v->capture);
  facts.present.erase("/dev/null");                        // stdio cannot be reopened
  facts.present.erase(v->capture.fds.at(3).link);          // appended.txt is gone
  v->capture.fds.at(9).sock->state = 1;                    // the TCP socket was a connection
  std::erase_if(v->capture.fds, [](const auto& f) { return f.fd == 5; });  // the pipe's write end was elsewhere
  REQUIRE(plan::apply_capture(v->planned, v->donor.images, v->capture, facts, plan::capture_scope::everything));
  const auto& use = *v->planned.capture;
  CHECK(mentions(use.closed, "fd 0: /dev/null", "the default file is open there instead"));
  CHECK(mentions(use.closed, "fd 3: ", "gone from this machine"));
  CHECK(mentions(use.closed, "fd 4: pipe", "a pipe whose write end is closed holds the fd"));
  CHECK(mentions(use.closed, "fd 9: tcp", "an unconnected socket of the same kind holds the fd"));
  const auto t = fd_table(v->planned, v->donor.images.fdinfo_name());
  CHECK(t.contains(0));  // the default stdio
  CHECK(!t.contains(3));
  CHECK(file(v->planned, t.at(4).id()).type() == pb::PIPE);
  pb::inet_sk_entry sk;
  REQUIRE(sk.ParseFromString(file(v->planned, t.at(9).id()).isk()));
  CHECK(sk.state() == 7);  // TCP_CLOSE, unbound: the connection is gone
  CHECK(sk.src_port() == 0);
  CHECK(sk.dst_port() == 0);
  // The event loop's registrations of the stand-ins stay: it sees them hang up.
  CHECK(file(v->planned, t.at(12).id()).epfd().tfd_size() == 3);
  CHECK(use.lost.size() == 0);
}

TEST_CASE("a chosen cwd stays, and unix socket names are still resolved in the captured one", "[plan][capture]") {
  auto v = load_victim();
  REQUIRE(v);
  auto facts = all_present(v->capture);
  facts.cwd_chosen = true;
  const auto before = v->donor.images.fs().cwd_id();
  REQUIRE(plan::apply_capture(v->planned, v->donor.images, v->capture, facts, plan::capture_scope::everything));
  const auto fs = entries<pb::fs_entry>(v->planned, necro::criu::image_name("fs-", v->planned.pid), necro::criu::magic::fs);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].cwd_id() == before);
  CHECK(file(v->planned, fs[0].cwd_id()).reg().name() == "/");
  CHECK(!mentions(v->planned.capture->restored, "cwd ", ""));
  const auto t = fd_table(v->planned, v->donor.images.fdinfo_name());
  pb::unix_sk_entry u;
  REQUIRE(u.ParseFromString(file(v->planned, t.at(11).id()).usk()));
  CHECK(u.name_dir() == v->capture.cwd);
}

TEST_CASE("a capture of another pid is refused", "[plan][capture]") {
  auto v = load_victim();
  REQUIRE(v);
  v->capture.pid += 1;
  const auto r = plan::apply_capture(v->planned, v->donor.images, v->capture, all_present(v->capture),
                                     plan::capture_scope::everything);
  REQUIRE(!r);
  CHECK(r.error().message().find("the capture is of pid") != std::string::npos);
}

TEST_CASE("with a donor, the victim's regular files replace the donor's at the same fds", "[plan][capture]") {
  const auto core_path = necro::test::x86_64_core();
  const auto donor_path = necro::test::x86_64_donor();
  const auto cap_dir = necro::test::fixture("x86_64/catch.capture");
  REQUIRE((core_path && donor_path && cap_dir));
  auto core = core_t::open(core_path->string());
  REQUIRE(core);
  auto donor = necro::criu::image_set::load(*donor_path);
  REQUIRE(donor);
  REQUIRE(!donor->fdinfo().empty());
  auto p = plan::plan_resurrection(*core, *donor, {}, {.offline = true});
  REQUIRE(p);
  auto cap = necro::capture::read(cap_dir->string());
  REQUIRE(cap);
  cap->pid = core->pid();  // the catchme capture stands in for the counter's
  const auto donor_fds = [&] {
    std::map<int, std::uint32_t> m;
    for (const auto& fi : donor->fdinfo()) m.emplace(static_cast<int>(fi.fd()), fi.id());
    return m;
  }();
  auto facts = all_present(*cap);
  facts.present.erase("/dev/null");  // the victim's stdio cannot be reopened: the donor's stays
  REQUIRE(plan::apply_capture(*p, *donor, *cap, facts, plan::capture_scope::regular_files));
  const auto t = fd_table(*p, donor->fdinfo_name());
  const auto& appended = file(*p, t.at(3).id());
  CHECK(appended.reg().name() == cap->fds.at(3).link);
  CHECK(appended.reg().pos() == 7);
  for (const auto& [fd, id] : donor_fds) {
    INFO("fd " << fd);
    CHECK(t.at(fd).id() == id);
    CHECK(mentions(p->capture->closed, fmt::format("fd {}: /dev/null", fd), "the donor's file is open there instead"));
  }
  CHECK(!t.contains(9));  // sockets, pipes and event fds are not taken with a donor
  CHECK(!t.contains(12));
  CHECK(t.size() == donor_fds.size() + 1);
  // Task settings stay the donor's.
  CHECK(p->threads.front().core.tc().rlimits().rlimits(7).cur() == donor->leader_core().tc().rlimits().rlimits(7).cur());
}

namespace {

/// The share modes the shmem victim's own /proc/PID/maps showed (shmem.facts.txt).
plan::share_modes shmem_shares(const necro::test::facts& f) {
  plan::share_modes s{.known = true, .shared = {}};
  for (int k = 0; k < 5; ++k) {
    const auto line = f.get(fmt::format("victim_map_{}", k));
    REQUIRE(line);
    const auto dash = line->find('-'), space = line->find(' ');
    if (line->at(space + 4) != 's') continue;
    s.shared.emplace_back(std::stoull(line->substr(0, dash), nullptr, 16),
                          std::stoull(line->substr(dash + 1, space - dash - 1), nullptr, 16));
  }
  return s;
}

}  // namespace

TEST_CASE("without a donor, the captured share mode decides memfd and deleted-file mappings", "[plan][capture]") {
  const auto path = necro::test::fixture("x86_64/shmem.core");
  const auto facts = necro::test::facts::load("x86_64/shmem.facts.txt");
  REQUIRE((path && facts));
  auto core = core_t::open(path->string());
  REQUIRE(core);
  const auto shares = shmem_shares(*facts);
  REQUIRE(shares.shared.size() == 3);  // /dev/zero, the memfd and the deleted file, each mapped shared once
  plan::donorless_options opt;
  opt.shares = shares;
  auto donor = plan::synthesize_donor(*core, {}, opt);
  REQUIRE(donor);
  auto p = plan::plan_donorless(*core, *donor, {}, {.offline = true, .shares = shares});
  REQUIRE(p);
  std::size_t shared = 0, private_copies = 0;
  for (const auto& v : p->vmas) {
    if (!plan::is_shared_memory(v.kind)) continue;
    INFO(v.label << " at " << std::hex << v.entry.start());
    const bool want = shares.is_shared(v.entry.start(), v.entry.end());
    CHECK(((v.entry.flags() & necro::criu::mmap_bits::map_shared) != 0) == want);
    CHECK(v.carries_pages == !want);  // a private copy keeps its own bytes in pages-*.img
    (want ? shared : private_copies)++;
  }
  CHECK(shared == 3);
  CHECK(private_copies == 2);
  for (const auto& w : p->warnings) CHECK(w.find("taken as MAP_SHARED") == std::string::npos);
  // Each object's content is its shared mapping's bytes, not the private copy's.
  for (const auto& o : p->shared.objects) {
    INFO(o.name);
    REQUIRE(!o.runs.empty());
    bool from_shared = false;
    for (const auto& [s, e] : shares.shared)
      if (const auto* sg = core->segment_at(s); sg && sg->offset <= o.runs.front().core_offset &&
                                                o.runs.front().core_offset < sg->offset + sg->filesz)
        from_shared = true;
    CHECK(from_shared);
  }
  // Without the capture's share modes the planner guesses, and says so.
  auto guessed = plan::synthesize_donor(*core, {}, {});
  REQUIRE(guessed);
  auto g = plan::plan_donorless(*core, *guessed, {}, {.offline = true});
  REQUIRE(g);
  CHECK(mentions(g->warnings, "", "taken as MAP_SHARED"));
}

TEST_CASE("on another machine: a missing regular file's fd is held by /dev/null, one under the sysroot is opened "
          "there, and a socket whose address cannot be bound is a stand-in",
          "[plan][capture][locate]") {
  auto v = load_victim();
  REQUIRE(v);
  auto facts = all_present(v->capture);
  const std::string appended = v->capture.fds.at(3).link;
  facts.present.erase(appended);  // gone: /dev/null holds fd 3
  facts.missing_stand_in = "/dev/null";
  facts.missing_stand_in_mode = 020666;
  REQUIRE(v->capture.fds.at(9).kind == fd_kind::inet);
  facts.unbindable.emplace(9, "bind: Cannot assign requested address");
  REQUIRE(plan::apply_capture(v->planned, v->donor.images, v->capture, facts, plan::capture_scope::everything));
  const auto& use = *v->planned.capture;
  CHECK(mentions(use.closed, "fd 3: ", "gone from this machine; /dev/null holds the fd"));
  CHECK(mentions(v->planned.warnings, "fd 3: " + appended, "is missing on this machine: /dev/null holds the fd instead"));
  CHECK(mentions(use.closed, "fd 9: tcp", "its address cannot be bound on this machine (bind: Cannot assign"));
  const auto t = fd_table(v->planned, v->donor.images.fdinfo_name());
  REQUIRE(t.contains(3));
  const auto& null = file(v->planned, t.at(3).id());
  CHECK(null.reg().name() == "/dev/null");
  CHECK(null.reg().mode() == 020666);
  CHECK(null.reg().pos() == necro::criu::no_position);  // a device: no seek
  pb::inet_sk_entry sk;
  REQUIRE(sk.ParseFromString(file(v->planned, t.at(9).id()).isk()));
  CHECK(sk.src_port() == 0);  // unbound

  // Under the sysroot instead: the file there, at the captured offset.
  auto w = load_victim();
  REQUIRE(w);
  auto under = all_present(w->capture);
  under.relocated.emplace(appended, "/sysroot" + appended);
  REQUIRE(plan::apply_capture(w->planned, w->donor.images, w->capture, under, plan::capture_scope::everything));
  const auto u = fd_table(w->planned, w->donor.images.fdinfo_name());
  REQUIRE(u.contains(3));
  CHECK(file(w->planned, u.at(3).id()).reg().name() == "/sysroot" + appended);
  CHECK(file(w->planned, u.at(3).id()).reg().pos() == w->capture.fds.at(3).pos);
}

namespace {

/// A mapping of the planned victim with (or without) PROT_EXEC.
std::uint64_t some_address(const plan::resurrection& p, bool exec) {
  for (const auto& v : p.vmas)
    if (v.kind != plan::vma_kind::vsyscall && v.kind != plan::vma_kind::vvar &&
        bool(v.entry.prot() & necro::criu::mmap_bits::prot_exec) == exec && (v.entry.prot() & 2) != exec * 2)
      return v.entry.start() + 0x10;
  FAIL("no such mapping");
  return 0;
}

bool any_warning(const plan::resurrection& p, const std::string& part) {
  for (const auto& w : p.warnings)
    if (w.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("without a donor, the kernel state of a format 3 capture gives sigactions and per-thread state, "
          "addresses in no mapping and unknown threads are warnings",
          "[plan][capture]") {
  auto v = load_victim();
  if (!v) return;
  auto& p = v->planned;
  const std::uint64_t code = some_address(p, true), data = some_address(p, false);
  necro::capture::kernel_state k;
  k.actions.push_back({2, 1, 0, 0, 0});                                // SIGINT ignored
  k.actions.push_back({10, code, 0x1c000004, code + 8, 0x800});        // SIGUSR1: a handler
  k.actions.push_back({12, 0x10, 0x04000004, code, 0});                // SIGUSR2: in no mapping
  k.actions.push_back({14, code, 0x04000000, data, 0});                // SIGALRM: restorer not executable
  necro::capture::thread_state leader;
  leader.tid = p.threads.front().tid;
  leader.comm = "lead er";
  leader.sas_sp = data, leader.sas_size = 0x100;
  leader.policy = 3, leader.static_prio = 125, leader.normal_prio = 125, leader.nice = 5;
  leader.robust_list = data + 0x40, leader.clear_child_tid = data + 0x30;
  leader.rseq = data + 0x80, leader.rseq_len = 32, leader.rseq_sig = 0x53053053;
  leader.timer_slack = 50000;
  necro::capture::thread_state stranger = leader;
  stranger.tid = 999999;
  k.threads = {leader, stranger};
  v->capture.version = 3;
  v->capture.kernel = k;
  REQUIRE(plan::apply_capture(p, v->donor.images, v->capture, all_present(v->capture), plan::capture_scope::everything));
  const auto& tc = p.threads.front().core.tc();
  CHECK(tc.sigactions(1).sigaction() == 1);
  CHECK(tc.sigactions(8).sigaction() == code);  // SIGUSR1 (index 8: after SIGKILL's gap)
  CHECK(tc.sigactions(8).flags() == 0x1c000004);
  CHECK(tc.sigactions(8).restorer() == code + 8);
  CHECK(tc.sigactions(8).mask() == 0x800);
  CHECK(tc.sigactions(10).sigaction() == 0);  // SIGUSR2
  CHECK(tc.sigactions(12).sigaction() == 0);  // SIGALRM
  CHECK(any_warning(p, "catch.capture/capture.txt: action sig=12: handler 0x10 lies in no mapping of the core"));
  CHECK(any_warning(p, "action sig=14: restorer"));
  CHECK(any_warning(p, "not executable"));
  CHECK(any_warning(p, "catch.capture/capture.txt: thread tid=999999 is not a thread of the core"));
  const auto& th = p.threads.front().core.thread_core();
  CHECK(th.sas().ss_sp() == data);
  CHECK(th.sas().ss_size() == 0x100);
  CHECK(th.sas().ss_flags() == 0);
  CHECK(th.comm() == "lead er");
  CHECK(tc.comm() == "lead er");
  CHECK(th.sched_policy() == 3);
  CHECK(th.sched_nice() == 5);
  CHECK(th.futex_rla() == data + 0x40);
  CHECK(th.futex_rla_len() == 24);
  CHECK(p.threads.front().core.thread_info().clear_tid_addr() == data + 0x30);
  CHECK(th.rseq_entry().rseq_abi_pointer() == data + 0x80);
  CHECK(th.rseq_entry().signature() == 0x53053053);
  for (const auto& d : p.not_in_core) {
    CHECK(d.what != "thread names");
    if (d.what == "signal handlers") CHECK_THAT(d.value, Catch::Contains("the victim's own"));
  }
  bool said = false;
  for (const auto& r : p.capture->restored) said |= r.find("1 handlers: SIGUSR1") != std::string::npos;
  CHECK(said);
}

TEST_CASE("without a donor, a capture whose kernel state is missing says why, and the handlers are listed as lost", "[plan][capture]") {
  auto v = load_victim();
  if (!v) return;
  auto& p = v->planned;
  v->capture.version = 3;
  v->capture.kernel.emplace().missing = "disabled by --no-bpf";
  REQUIRE(v->capture.signals);
  v->capture.signals->caught |= std::uint64_t{1} << 9;  // SIGUSR1 had a handler
  REQUIRE(plan::apply_capture(p, v->donor.images, v->capture, all_present(v->capture), plan::capture_scope::everything));
  CHECK(any_warning(p, "the kernel's state of the task was not captured (disabled by --no-bpf)"));
  bool handlers = false;
  for (const auto& d : p.not_in_core)
    if (d.what == "signal handlers") handlers = d.why.find("disabled by --no-bpf") != std::string::npos;
  CHECK(handlers);
  bool lost = false;
  for (const auto& l : p.capture->lost) lost |= l.starts_with("the handlers of ");
  CHECK(lost);
}

TEST_CASE("without a donor, a format 4 capture gives personality, securebits, no_new_privs, mm flags and each VMA's "
          "advice, and seccomp filters are listed as lost",
          "[plan][capture]") {
  auto v = load_victim();
  if (!v) return;
  auto& p = v->planned;
  REQUIRE(p.vmas.size() >= 3);
  const auto& first = p.vmas[0].entry;
  const auto& second = p.vmas[1].entry;
  necro::capture::kernel_state k;
  necro::capture::thread_state leader;
  leader.tid = p.threads.front().tid;
  leader.comm = "lead";
  k.threads = {leader};
  k.process = necro::capture::process_state{0x40000, 0x10, 1, 2, 1, 0x810000cd};
  k.vmas.push_back({first.start(), first.end(), (1u << 14) | (1u << 10), 0});  // hugepage, dontfork
  k.vmas.push_back({second.start(), second.end(), 0, 1});                    // mlock'ed
  const std::uint64_t hole = p.vmas.back().entry.end() + 0x100000;
  k.vmas.push_back({hole, hole + 0x2000, 1u << 2, 0});                        // a range the core does not have
  v->capture.version = 4;
  v->capture.kernel = k;
  REQUIRE(plan::apply_capture(p, v->donor.images, v->capture, all_present(v->capture), plan::capture_scope::everything));
  CHECK(p.threads.front().core.tc().personality() == 0x40000u);
  for (const auto& t : p.threads) {
    CHECK(t.core.thread_core().creds().secbits() == 0x10u);
    CHECK(t.core.thread_core().creds().no_new_privs() == 1u);
  }
  CHECK(p.mm.thp_disabled());
  CHECK(p.mm.dumpable() == 1);
  CHECK(p.vmas[0].entry.madv() == ((1u << 14) | (1u << 10)));
  CHECK(p.mm.vmas(0).madv() == ((1u << 14) | (1u << 10)));
  CHECK((p.vmas[1].entry.flags() & 0x2000u) != 0);
  CHECK((p.mm.vmas(1).flags() & 0x2000u) != 0);
  for (std::size_t i = 2; i < p.vmas.size(); ++i) {
    CHECK(!p.vmas[i].entry.has_madv());
    CHECK((p.vmas[i].entry.flags() & 0x2000u) == 0);
  }
  CHECK(any_warning(p, fmt::format("catch.capture/capture.txt: madvise start={:#x} end={:#x} (sequential): 0 of its 8192 bytes", hole, hole + 0x2000)));
  CHECK(any_warning(p, "process seccomp=2: the victim ran under 1 seccomp filter(s)"));
  CHECK(mentions(p.capture->lost, "the seccomp filters", "unfiltered"));
  CHECK(mentions(p.capture->restored, "process settings from the kernel at death", "securebits 0x10"));
  CHECK(mentions(p.capture->restored, "mm flags from the kernel at death", "THP disabled"));
  CHECK(mentions(p.capture->restored, "madvise and mlock bits", "on 2 VMAs"));
  for (const auto& d : p.not_in_core) CHECK(d.what != "THP and madvise bits");
}

TEST_CASE("a format 4 capture in strict seccomp mode restores it, and a dumpable of 2 keeps the default", "[plan][capture]") {
  auto v = load_victim();
  if (!v) return;
  auto& p = v->planned;
  necro::capture::kernel_state k;
  k.process = necro::capture::process_state{0, 0, 0, 1, 0, 0x2};
  v->capture.version = 4;
  v->capture.kernel = k;
  REQUIRE(plan::apply_capture(p, v->donor.images, v->capture, all_present(v->capture), plan::capture_scope::everything));
  for (const auto& t : p.threads) CHECK(t.core.thread_core().seccomp_mode() == pb::seccomp_mode::strict);
  CHECK(!p.mm.thp_disabled());
  CHECK(p.mm.dumpable() == 1);
  CHECK(mentions(p.capture->lost, "dumpable mode 2", "takes only 0 or 1"));
}
