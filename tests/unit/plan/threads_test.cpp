// Per-thread planning on a real multi-threaded core: tests/data/x86_64/pool.core
// (5 threads: main in pthread_join's futex, two counters in clock_nanosleep, a
// reader in read(), a waiter in pthread_cond_wait; killed by SIGQUIT) patched
// into pool.donor, a CRIU 4.2 dump of a run with only 3 threads. Every
// expectation is read from pool.facts.txt, which make-fixtures.sh recorded
// from the core itself (a python walk of its notes) and from gdb.
#include <signal.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>

#include "support/fixtures.hpp"
#include "support/planned.hpp"

namespace fs = std::filesystem;

namespace {

using core_t = necro::elf::core_view<necro::arch::x86_64>;

struct loaded : necro::test::planned {
  necro::test::facts facts;
};

std::optional<loaded> load_pool() {
  auto facts = necro::test::facts::load("x86_64/pool.facts.txt");
  auto p = necro::test::plan_pool();
  if (!p || !facts) return std::nullopt;
  return loaded{std::move(*p), std::move(*facts)};
}

std::int64_t signed_fact(const necro::test::facts& f, const std::string& key) {
  const auto v = f.get(key);
  REQUIRE(v);
  return std::stoll(*v);
}

std::uint32_t tid_of(const std::string& s) { return static_cast<std::uint32_t>(std::stoul(s)); }

const necro::plan::thread_plan* planned(const necro::plan::resurrection& p, std::int32_t tid) {
  for (const auto& t : p.threads)
    if (t.tid == tid) return &t;
  return nullptr;
}

const necro::elf::thread_notes<necro::arch::x86_64>& core_thread(const core_t& core, std::int32_t tid) {
  for (const auto& t : core.threads())
    if (t.tid() == tid) return t;
  FAIL("no NT_PRSTATUS for tid " << tid);
  return core.threads().front();
}

const necro::plan::vma* vma_holding(const necro::plan::resurrection& p, std::uint64_t addr) {
  for (const auto& v : p.vmas)
    if (addr >= v.entry.start() && addr < v.entry.end()) return &v;
  return nullptr;
}

}  // namespace

TEST_CASE("pool: every thread of the core is planned, the leader first, under its own tid", "[plan][threads]") {
  auto f = load_pool();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/pool.core + pool.donor");
  const auto& p = f->plan;
  const auto victim_tids = f->facts.list("victim_tids");
  REQUIRE(victim_tids.size() == *f->facts.number("thread_count"));
  REQUIRE(victim_tids.size() == 5);

  CHECK(static_cast<std::uint64_t>(p.pid) == *f->facts.number("victim_pid"));
  REQUIRE(p.threads.size() == victim_tids.size());
  // Leader first (tid == pid), the others in the core's NT_PRSTATUS order.
  CHECK(p.threads[0].leader);
  CHECK(p.threads[0].tid == p.pid);
  std::vector<std::string> expected;
  expected.push_back(std::to_string(p.pid));
  for (const auto& t : victim_tids)
    if (tid_of(t) != static_cast<std::uint32_t>(p.pid)) expected.push_back(t);
  for (std::size_t i = 0; i < p.threads.size(); ++i) {
    INFO("thread " << i);
    CHECK(std::to_string(p.threads[i].tid) == expected[i]);
    CHECK(p.threads[i].leader == (i == 0));
    CHECK(p.threads[i].core.has_tc() == (i == 0));  // only the leader's image has task state
  }
  // pstree lists the same tids, in the same order.
  REQUIRE(p.pstree.threads_size() == static_cast<int>(expected.size()));
  for (int i = 0; i < p.pstree.threads_size(); ++i) CHECK(std::to_string(p.pstree.threads(i)) == expected[static_cast<std::size_t>(i)]);
  CHECK(p.pstree.pid() == static_cast<std::uint32_t>(p.pid));
}

TEST_CASE("pool: the donor has fewer threads, its last one serves as template for the rest", "[plan][threads]") {
  auto f = load_pool();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/pool.core + pool.donor");
  const auto& p = f->plan;
  const auto donor_tids = f->facts.list("donor_tids");
  REQUIRE(donor_tids.size() == 3);
  REQUIRE(p.threads.size() == 5);
  REQUIRE(f->donor.process().threads_size() == 3);
  CHECK(p.donor_pid == tid_of(donor_tids[0]));
  // Leader <- donor leader; then donor threads in order; the last one reused.
  CHECK(p.threads[0].template_tid == tid_of(donor_tids[0]));
  CHECK(p.threads[1].template_tid == tid_of(donor_tids[1]));
  CHECK(p.threads[2].template_tid == tid_of(donor_tids[2]));
  CHECK(p.threads[3].template_tid == tid_of(donor_tids[2]));
  CHECK(p.threads[4].template_tid == tid_of(donor_tids[2]));

  // Per-thread fields that come from the template (not from the core) are the
  // template's: scheduling policy and the donor-side creds layout.
  for (const auto& t : p.threads) {
    INFO("tid " << t.tid << " <- " << t.template_tid);
    const auto& tmpl = f->donor.cores().at(t.template_tid);
    CHECK(t.core.thread_core().sched_policy() == tmpl.thread_core().sched_policy());
    CHECK(t.core.thread_core().sched_prio() == tmpl.thread_core().sched_prio());
    CHECK(t.core.mtype() == tmpl.mtype());
  }

  // --explain says which donor thread served which victim thread.
  const auto text = necro::plan::explain(p);
  for (const auto& t : p.threads)
    CHECK_THAT(text, Catch::Matchers::Contains(fmt::format("tid {}{} <- donor thread {}", t.tid,
                                                           t.leader ? " (leader)" : "", t.template_tid)));
  CHECK_THAT(text, Catch::Matchers::Contains("reused"));
}

TEST_CASE("pool: each thread gets its own registers, rewound by its own system call", "[plan][threads]") {
  auto f = load_pool();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/pool.core + pool.donor");
  const auto& p = f->plan;
  std::set<std::string> rewinds_seen;
  for (std::size_t k = 0; k < 5; ++k) {
    const std::string key = fmt::format("victim_thread{}_", k);
    const auto tid = static_cast<std::int32_t>(*f->facts.number(key + "tid"));
    const auto nr = signed_fact(f->facts, key + "syscall_nr");
    const auto rax = signed_fact(f->facts, key + "rax");
    const auto rip = *f->facts.number(key + "rip");
    const auto rsp = *f->facts.number(key + "rsp");
    INFO("thread " << k << " tid " << tid << " in " << *f->facts.get(key + "syscall") << " rax " << rax);
    const auto* t = planned(p, tid);
    REQUIRE(t);
    const auto& ct = core_thread(f->core, tid);
    REQUIRE(ct.regs().rip == rip);  // the core is the one the facts describe
    const auto& g = t->core.thread_info().gpregs();
    CHECK(g.sp() == rsp);
    CHECK(g.orig_ax() == static_cast<std::uint64_t>(nr));
    CHECK(g.fs_base() == ct.regs().fs_base);
    CHECK(g.flags() == ct.regs().eflags);
    CHECK(g.bx() == ct.regs().rbx);
    CHECK(g.r12() == ct.regs().r12);
    if (rax == -512) {
      // -ERESTARTSYS (futex, read): the syscall is issued again on restore.
      CHECK(g.ax() == static_cast<std::uint64_t>(nr));
      CHECK(g.ip() == rip - 2);
      CHECK_THAT(t->rewind, Catch::Matchers::Contains("restarted"));
    } else {
      // -ERESTART_RESTARTBLOCK (clock_nanosleep): returns -EINTR, as CRIU's dump would.
      REQUIRE(rax == -516);
      CHECK(static_cast<std::int64_t>(g.ax()) == -4);
      CHECK(g.ip() == rip);
      CHECK_THAT(t->rewind, Catch::Matchers::Contains("EINTR"));
    }
    rewinds_seen.insert(t->rewind);
  }
  CHECK(rewinds_seen.size() == 2);  // both restart rules occur in this one process

  // Registers are the victim's, not the template's: no two threads share rsp.
  std::set<std::uint64_t> sps;
  for (const auto& t : p.threads) sps.insert(t.core.thread_info().gpregs().sp());
  CHECK(sps.size() == p.threads.size());
}

TEST_CASE("pool: FPU state, signal masks and TLS pointers are per thread", "[plan][threads]") {
  auto f = load_pool();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/pool.core + pool.donor");
  const auto& p = f->plan;
  std::set<std::uint64_t> fs_bases;
  for (const auto& t : p.threads) {
    INFO("tid " << t.tid << " <- " << t.template_tid);
    const auto& ct = core_thread(f->core, t.tid);
    const auto& tmpl = f->donor.cores().at(t.template_tid);
    const auto& ti = t.core.thread_info();

    REQUIRE(ct.fpregs);
    CHECK(ti.fpregs().mxcsr() == ct.fpregs->mxcsr);
    CHECK(ti.fpregs().cwd() == ct.fpregs->cwd);
    for (int i = 0; i < 8; ++i) CHECK(ti.fpregs().xmm_space(i) == ct.fpregs->xmm_space[i]);
    REQUIRE(ct.xstate);
    necro::arch::x86_64_abi::xsave_header hdr{};
    std::memcpy(&hdr, ct.xstate->data() + 512, sizeof hdr);
    REQUIRE(ti.fpregs().has_xsave());
    CHECK(ti.fpregs().xsave().xstate_bv() == hdr.xstate_bv);

    CHECK(t.core.thread_core().blk_sigset() == ct.prstatus.sighold);

    // TLS: clear_tid, the robust list and rseq keep their offset from the
    // thread pointer (each thread's own fs_base) that the template had.
    const auto vtp = ti.gpregs().fs_base();
    const auto dtp = tmpl.thread_info().gpregs().fs_base();
    fs_bases.insert(vtp);
    CHECK(ti.clear_tid_addr() - vtp == tmpl.thread_info().clear_tid_addr() - dtp);
    CHECK(t.core.thread_core().futex_rla() - vtp == tmpl.thread_core().futex_rla() - dtp);
    if (tmpl.thread_core().has_rseq_entry()) {
      REQUIRE(t.core.thread_core().has_rseq_entry());
      CHECK(t.core.thread_core().rseq_entry().rseq_abi_pointer() - vtp ==
            tmpl.thread_core().rseq_entry().rseq_abi_pointer() - dtp);
    }
    // The relocated pointers land in memory the victim has.
    CHECK(vma_holding(p, ti.clear_tid_addr()));
    CHECK(vma_holding(p, t.core.thread_core().futex_rla()));
  }
  CHECK(fs_bases.size() == p.threads.size());
  // The process-wide mask and actions are the leader's, from the core's leader.
  CHECK(p.threads[0].core.tc().blk_sigset() == f->core.leader().prstatus.sighold);
}

TEST_CASE("pool: every thread's stack is a VMA, with its guard page below and no pages for it", "[plan][threads]") {
  auto f = load_pool();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/pool.core + pool.donor");
  const auto& p = f->plan;
  for (const auto& t : p.threads) {
    INFO("tid " << t.tid);
    const auto sp = t.core.thread_info().gpregs().sp();
    const auto* v = vma_holding(p, sp);
    REQUIRE(v);
    if (t.leader) {
      CHECK(v->label == "[stack]");
      CHECK(v->kind == necro::plan::vma_kind::stack);
      // CRIU records the main stack by its MAP_GROWSDOWN flag, as the donor's.
      CHECK(v->entry.flags() & necro::criu::mmap_bits::map_growsdown);
      continue;
    }
    CHECK(v->label == fmt::format("[stack:{}]", t.tid));
    CHECK(v->kind == necro::plan::vma_kind::thread_stack);
    CHECK(v->entry.prot() == (necro::criu::mmap_bits::prot_read | necro::criu::mmap_bits::prot_write));
    CHECK(v->entry.status() & necro::criu::vma_status::anon_private);
    CHECK_FALSE(v->entry.flags() & necro::criu::mmap_bits::map_growsdown);  // only the main stack grows down
    // glibc's 8 MiB thread stack: the guard page is the VMA right below.
    const auto* g = vma_holding(p, v->entry.start() - 1);
    REQUIRE(g);
    CHECK(g->label == fmt::format("[guard:{}]", t.tid));
    CHECK(g->kind == necro::plan::vma_kind::stack_guard);
    CHECK(g->entry.end() == v->entry.start());
    CHECK(g->entry.prot() == 0);
    CHECK_FALSE(g->carries_pages);
    for (const auto& r : p.runs) CHECK_FALSE((r.vaddr >= g->entry.start() && r.vaddr < g->entry.end()));
    // The page under sp is dumped and carried.
    const auto page = sp & ~std::uint64_t{4095};
    CHECK(std::any_of(p.runs.begin(), p.runs.end(),
                      [&](const auto& r) { return page >= r.vaddr && page < r.vaddr + r.pages * 4096; }));
  }
}

TEST_CASE("pool: the counters' last values travel in the page runs", "[plan][threads]") {
  auto f = load_pool();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/pool.core + pool.donor");
  const auto& p = f->plan;
  const auto counts = *f->facts.number("gdb_counts_addr");
  const auto tids = *f->facts.number("gdb_tids_addr");
  // The bytes a restore puts at `addr`: from the run that covers it.
  auto restored = [&](std::uint64_t addr) -> std::optional<std::uint64_t> {
    for (const auto& r : p.runs)
      if (addr >= r.vaddr && addr + 8 <= r.vaddr + r.pages * 4096) {
        std::uint64_t v = 0;
        std::memcpy(&v, f->core.bytes().data() + r.core_offset + (addr - r.vaddr), 8);
        return v;
      }
    return std::nullopt;
  };
  for (int i = 0; i < 4; ++i) {
    INFO("worker " << i);
    CHECK(restored(counts + 8 * i) == f->facts.number(fmt::format("gdb_counts_{}", i)));
    // tids[] is pid_t[]: two per word.
    const auto w = restored(tids + 4 * static_cast<std::uint64_t>(i & ~1));
    REQUIRE(w);
    const auto tid = static_cast<std::uint32_t>(*w >> (32 * (i & 1)));
    CHECK(tid == f->facts.number(fmt::format("gdb_tids_{}", i)));
    CHECK(planned(p, static_cast<std::int32_t>(tid)));  // each worker's tid is a planned thread
  }
}

TEST_CASE("pool: the committed set has one core image per victim thread and none of the donor's", "[plan][threads][write]") {
  auto f = load_pool();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/pool.core + pool.donor");
  char tmpl[] = "/tmp/necro-threads-test.XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  const fs::path dir = tmpl;
  struct cleanup {
    fs::path d;
    ~cleanup() {
      std::error_code ec;
      fs::remove_all(d, ec);
    }
  } c{dir};
  auto rep = necro::write::commit(f->plan, f->core, f->donor, dir / "out", {.durable = false});
  REQUIRE(rep);
  auto back = necro::criu::image_set::load(dir / "out");
  if (!back) FAIL(back.error().message());
  REQUIRE(back->process().threads_size() == 5);
  REQUIRE(back->cores().size() == 5);
  for (const auto& t : f->plan.threads) {
    INFO("tid " << t.tid);
    REQUIRE(back->cores().count(static_cast<std::uint32_t>(t.tid)) == 1);
    CHECK(back->cores().at(static_cast<std::uint32_t>(t.tid)).SerializeAsString() == t.core.SerializeAsString());
  }
  for (const auto& d : f->facts.list("donor_tids"))
    if (std::find_if(f->plan.threads.begin(), f->plan.threads.end(),
                     [&](const auto& t) { return std::to_string(t.tid) == d; }) == f->plan.threads.end())
      CHECK_FALSE(fs::exists(dir / "out" / necro::criu::image_name("core-", tid_of(d))));
}

TEST_CASE("pool: --explain names the donor threads a smaller victim leaves out", "[plan][threads]") {
  auto f = load_pool();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/pool.core + pool.donor");
  // The same plan cut to the victim's first two threads: the donor's third
  // thread serves nobody.
  auto p = f->plan;
  p.threads.resize(2);
  const auto donor_tids = f->facts.list("donor_tids");
  const auto text = necro::plan::explain(p);
  CHECK_THAT(text, Catch::Matchers::Contains("threads (2; the donor has 3)"));
  CHECK_THAT(text, Catch::Matchers::Contains("donor threads left out (the victim has fewer): " + donor_tids[2]));
  CHECK_THAT(text, !Catch::Matchers::Contains("reused"));
}

TEST_CASE("make_siginfo: a kernel siginfo_t of SI_TKILL from the process itself", "[plan][threads]") {
  const auto raw = necro::plan::make_siginfo(necro::arch::sig::sigquit, 4711, 1000);
  necro::arch::lp64_core_abi::siginfo si{};
  REQUIRE(raw.size() == sizeof(si));
  std::memcpy(&si, raw.data(), sizeof(si));
  CHECK(si.si_signo == necro::arch::sig::sigquit);
  CHECK(si.si_errno == 0);
  CHECK(si.si_code == -6);  // SI_TKILL in asm-generic/siginfo.h
  CHECK(si.kill_pid == 4711);
  CHECK(si.kill_uid == 1000u);
  CHECK(std::all_of(si.sifields_rest.begin(), si.sifields_rest.end(), [](auto b) { return b == 0; }));
  // The named constants are the kernel's (<signal.h> agrees for SS_DISABLE).
  CHECK(necro::arch::ss::disable == static_cast<std::uint32_t>(SS_DISABLE));
  CHECK(necro::arch::si::tkill == SI_TKILL);
}
