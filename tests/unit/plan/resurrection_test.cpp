// The resurrection planner on the real fixture: a counter killed by SIGQUIT
// (tests/data/x86_64/counter.core) and a donor run of it dumped by CRIU 4.2.
#include <algorithm>
#include <cstring>
#include <map>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>

#include "support/fixtures.hpp"
#include "support/planned.hpp"

namespace {

using necro::criu::vma_status::vvar;
using necro::criu::vma_status::vdso;
using necro::criu::vma_status::heap;

const necro::plan::vma* vma_with(const necro::plan::resurrection& p, std::uint32_t bit) {
  for (const auto& v : p.vmas)
    if (v.entry.status() & bit) return &v;
  return nullptr;
}

}  // namespace

TEST_CASE("the plan takes the victim's identity", "[plan]") {
  auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  const auto facts = necro::test::facts::load("x86_64/facts.txt");
  REQUIRE(facts);
  const auto& p = f->plan;
  CHECK(static_cast<std::uint64_t>(p.pid) == *facts->number("victim_pid"));
  CHECK(p.donor_pid == *facts->number("donor_pid"));
  REQUIRE(p.threads.size() == 1);
  CHECK(p.threads[0].leader);
  CHECK(p.threads[0].tid == p.pid);
  CHECK(p.pstree.pid() == static_cast<std::uint32_t>(p.pid));
  // The donor was started with setsid: it led its own group and session.
  CHECK(p.pstree.pgid() == static_cast<std::uint32_t>(p.pid));
  CHECK(p.pstree.sid() == static_cast<std::uint32_t>(p.pid));
  REQUIRE(p.pstree.threads_size() == 1);
  CHECK(p.pstree.threads(0) == static_cast<std::uint32_t>(p.pid));
}

TEST_CASE("the address space is the victim's, sorted, with one vvar below the vdso", "[plan]") {
  auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  const auto& p = f->plan;
  const auto& core = f->core;
  REQUIRE(p.vmas.size() == static_cast<std::size_t>(p.mm.vmas_size()));
  for (std::size_t i = 1; i < p.vmas.size(); ++i) CHECK(p.vmas[i - 1].entry.end() <= p.vmas[i].entry.start());

  // Every PT_LOAD is a VMA at the same address, except the kernel's vvar pages.
  const auto* vd = vma_with(p, vdso);
  const auto* vv = vma_with(p, vvar);
  REQUIRE(vd);
  REQUIRE(vv);
  CHECK(vd->entry.start() == *core.auxv(necro::arch::at::sysinfo_ehdr));
  CHECK(vv->entry.end() == vd->entry.start());
  CHECK(std::count_if(p.vmas.begin(), p.vmas.end(), [](const auto& v) { return v.entry.status() & vvar; }) == 1);
  for (const auto& s : core.segments()) {
    if (s.vaddr >= vv->entry.start() && s.end() <= vv->entry.end()) continue;
    const auto it = std::find_if(p.vmas.begin(), p.vmas.end(), [&](const auto& v) { return v.entry.start() == s.vaddr; });
    REQUIRE(it != p.vmas.end());
    CHECK(it->entry.end() == s.end());
  }
  // The vvar size is the donor's (one VMA: docs/pitfalls.md#one-vvar).
  const auto& dv = *std::find_if(f->donor.mm().vmas().begin(), f->donor.mm().vmas().end(),
                                 [](const auto& v) { return v.status() & vvar; });
  CHECK(vv->entry.end() - vv->entry.start() == dv.end() - dv.start());

  // The heap holds the program's malloc'd pattern buffer; the stack holds sp.
  const auto facts = necro::test::facts::load("x86_64/facts.txt");
  const auto* h = vma_with(p, heap);
  REQUIRE(h);
  const auto buf = *facts->number("gdb_pattern_buf_addr");
  CHECK(buf >= h->entry.start());
  CHECK(buf < h->entry.end());
  CHECK(p.mm.mm_start_brk() == h->entry.start());
  const auto sp = core.leader().regs().rsp;
  const auto st = std::find_if(p.vmas.begin(), p.vmas.end(), [](const auto& v) { return v.label == "[stack]"; });
  REQUIRE(st != p.vmas.end());
  CHECK(sp >= st->entry.start());
  CHECK(sp < st->entry.end());
  CHECK(st->entry.flags() & necro::criu::mmap_bits::map_growsdown);
}

TEST_CASE("each VMA's kind is what its status bits, its file and the stack pointer say", "[plan]") {
  auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  const auto& p = f->plan;
  using necro::plan::vma_kind;
  namespace st = necro::criu::vma_status;
  const auto sp = f->core.leader().regs().rsp;
  std::map<vma_kind, int> seen;
  for (const auto& v : p.vmas) {
    INFO(v.label << " at " << std::hex << v.entry.start() << ": " << necro::plan::describe(v.kind));
    ++seen[v.kind];
    const auto s = v.entry.status();
    if (s & vdso) CHECK(v.kind == vma_kind::vdso);
    else if (s & vvar) CHECK(v.kind == vma_kind::vvar);
    else if (s & st::vsyscall) CHECK(v.kind == vma_kind::vsyscall);
    else if (s & heap) CHECK(v.kind == vma_kind::heap);
    else if (s & (st::file_private | st::file_shared))
      CHECK(v.kind == (v.label == p.exe_path ? vma_kind::exe : vma_kind::file));
    else if (sp >= v.entry.start() && sp < v.entry.end()) CHECK(v.kind == vma_kind::stack);
    else CHECK(v.kind == vma_kind::anon);
  }
  // The counter maps its executable, libc and ld.so, and has one heap, stack, vDSO and vvar.
  CHECK(seen[vma_kind::exe] > 0);
  CHECK(seen[vma_kind::file] > 0);
  for (const auto k : {vma_kind::heap, vma_kind::stack, vma_kind::vdso, vma_kind::vvar}) CHECK(seen[k] == 1);
}

TEST_CASE("file VMAs point at the donor's regular-file entries of the same path", "[plan]") {
  auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  const auto& p = f->plan;
  int file_vmas = 0;
  for (const auto& v : p.vmas) {
    if (!(v.entry.status() & necro::criu::vma_status::file_private)) continue;
    ++file_vmas;
    const auto it = std::find_if(p.files.begin(), p.files.end(), [&](const auto& fe) { return fe.id() == v.entry.shmid(); });
    REQUIRE(it != p.files.end());
    CHECK(it->reg().name() == v.label);
  }
  CHECK(file_vmas == 15);  // NT_FILE entries of the fixture
  CHECK(p.files.size() == f->donor.files().size());  // the donor mapped the same files
}

TEST_CASE("registers come from NT_PRSTATUS, rewound out of the interrupted nanosleep", "[plan]") {
  auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  const auto& t = f->plan.threads[0];
  const auto& g = t.core.thread_info().gpregs();
  const auto& r = f->core.leader().regs();
  // The counter sleeps in clock_nanosleep: the core holds -ERESTART_RESTARTBLOCK.
  REQUIRE(static_cast<std::int64_t>(r.rax) == -516);
  CHECK(static_cast<std::int64_t>(g.ax()) == -4);  // -EINTR, as CRIU's dump would
  CHECK_FALSE(t.rewind.empty());
  CHECK(g.ip() == r.rip);
  CHECK(g.sp() == r.rsp);
  CHECK(g.fs_base() == r.fs_base);
  CHECK(g.orig_ax() == r.orig_rax);
  CHECK(g.flags() == r.eflags);
  const auto& fp = t.core.thread_info().fpregs();
  REQUIRE(f->core.leader().fpregs);
  CHECK(fp.mxcsr() == f->core.leader().fpregs->mxcsr);
  CHECK(fp.xmm_space(0) == f->core.leader().fpregs->xmm_space[0]);
  // xsave keeps the donor's field sizes; xstate_bv is the victim's.
  const auto& dx = f->donor.leader_core().thread_info().fpregs().xsave();
  REQUIRE(fp.has_xsave());
  CHECK(fp.xsave().ymmh_space_size() == dx.ymmh_space_size());
  CHECK(fp.xsave().zmm_upper_size() == dx.zmm_upper_size());
  necro::arch::x86_64_abi::xsave_header hdr{};
  REQUIRE(f->core.leader().xstate);
  std::memcpy(&hdr, f->core.leader().xstate->data() + 512, sizeof hdr);
  CHECK(fp.xsave().xstate_bv() == hdr.xstate_bv);
}

TEST_CASE("TLS pointers move by the thread-pointer delta", "[plan]") {
  auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  const auto& d = f->donor.leader_core();
  const auto& v = f->plan.threads[0].core;
  const auto dtp = d.thread_info().gpregs().fs_base();
  const auto vtp = v.thread_info().gpregs().fs_base();
  CHECK(v.thread_info().clear_tid_addr() - vtp == d.thread_info().clear_tid_addr() - dtp);
  CHECK(v.thread_core().futex_rla() - vtp == d.thread_core().futex_rla() - dtp);
  REQUIRE(v.thread_core().has_rseq_entry());
  CHECK(v.thread_core().rseq_entry().rseq_abi_pointer() - vtp == d.thread_core().rseq_entry().rseq_abi_pointer() - dtp);
  CHECK_FALSE(v.thread_core().rseq_entry().has_rseq_cs_pointer());
}

TEST_CASE("signal state: masks from the core, nothing re-queued, handlers relocated", "[plan]") {
  auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  const auto& c = f->plan.threads[0].core;
  const auto& ps = f->core.leader().prstatus;
  CHECK(c.tc().blk_sigset() == ps.sighold);
  CHECK(c.thread_core().blk_sigset() == ps.sighold);
  CHECK(c.tc().signals_s().signals_size() == 0);
  CHECK(c.thread_core().signals_p().signals_size() == 0);
  CHECK(ps.info.si_signo == 3);
  // Every handler or restorer that is an address lies in a file the victim maps.
  const auto& files = f->core.process().files;
  for (const auto& sa : c.tc().sigactions())
    for (auto a : {sa.sigaction(), sa.restorer()}) {
      if (a <= 1) continue;
      CHECK(std::any_of(files.begin(), files.end(), [&](const auto& m) { return a >= m.start && a < m.end; }));
    }
}

TEST_CASE("mm: auxv without AT_NULL, arg/env from the initial stack, code moved with the executable", "[plan]") {
  auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  const auto& mm = f->plan.mm;
  const auto& core = f->core;
  CHECK(mm.mm_saved_auxv_size() <= 44);
  CHECK(mm.mm_saved_auxv_size() % 2 == 0);
  for (int i = 0; i < mm.mm_saved_auxv_size(); i += 2) CHECK(mm.mm_saved_auxv(i) != 0);
  CHECK(mm.mm_saved_auxv_size() == static_cast<int>(core.process().auxv.size() - 1) * 2);
  const auto argv0 = core.read_string(mm.mm_arg_start());
  REQUIRE(argv0);
  CHECK(*argv0 == "/tmp/necro-fixture/counter");
  CHECK(mm.mm_arg_end() == mm.mm_arg_start() + argv0->size() + 1);
  CHECK(mm.mm_env_start() == mm.mm_arg_end());
  CHECK(mm.mm_env_end() == *core.auxv(necro::arch::at::execfn));
  CHECK(core.read_memory<std::uint64_t>(mm.mm_start_stack()) == 1u);  // argc
  // start_code lies in the victim's executable text mapping.
  const auto entry = *core.auxv(necro::arch::at::entry);
  CHECK(mm.mm_start_code() <= entry);
  CHECK(entry < mm.mm_end_code());
  CHECK(mm.exe_file_id() == f->donor.mm().exe_file_id());
}

TEST_CASE("pages: candidate runs lie in private VMAs and carry the core's bytes", "[plan]") {
  auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  const auto& p = f->plan;
  std::uint64_t pages = 0;
  for (std::size_t i = 0; i < p.runs.size(); ++i) {
    const auto& r = p.runs[i];
    CHECK(r.pages > 0);
    CHECK(r.flags & necro::criu::pe::present);
    if (i > 0) CHECK(p.runs[i - 1].vaddr + p.runs[i - 1].pages * 4096 <= r.vaddr);
    const auto v = std::find_if(p.vmas.begin(), p.vmas.end(), [&](const auto& m) {
      return r.vaddr >= m.entry.start() && r.vaddr + r.pages * 4096 <= m.entry.end();
    });
    REQUIRE(v != p.vmas.end());
    CHECK(v->carries_pages);
    CHECK_FALSE(v->entry.status() & (vvar | necro::criu::vma_status::vsyscall));
    const auto* bytes = f->core.bytes().data() + r.core_offset;
    for (std::uint64_t k = 0; k < r.pages; ++k) {
      // The run's bytes are the core's bytes of those addresses.
      CHECK(f->core.read_memory<std::uint64_t>(r.vaddr + k * 4096) ==
            std::optional<std::uint64_t>([&] { std::uint64_t w; std::memcpy(&w, bytes + k * 4096, 8); return w; }()));
      // Zero pages are still candidates here: write::write_pages elides them
      // while streaming (tests/unit/plan/pages_test.cpp checks the rules).
    }
    pages += r.pages;
  }
  CHECK(pages == p.stats.candidate_pages);  // what is elided is the page engine's to count
}

TEST_CASE("per-pid images are renamed, the donor's pages and cores are not carried", "[plan]") {
  auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  const auto& p = f->plan;
  auto carried_to = [&](std::string_view name) {
    return std::any_of(p.carried.begin(), p.carried.end(), [&](const auto& c) { return c.to == name; });
  };
  auto carried_from = [&](std::string_view name) {
    return std::any_of(p.carried.begin(), p.carried.end(), [&](const auto& c) { return c.from == name; });
  };
  CHECK(carried_to(necro::criu::image_name("fs-", static_cast<std::uint64_t>(p.pid))));
  CHECK(carried_to(necro::criu::image_name("ids-", static_cast<std::uint64_t>(p.pid))));
  CHECK(carried_to("inventory.img"));
  CHECK_FALSE(carried_from("pages-1.img"));
  CHECK_FALSE(carried_from(necro::criu::image_name("core-", p.donor_pid)));
  CHECK_FALSE(carried_from(necro::criu::image_name("mm-", p.donor_pid)));
  CHECK_FALSE(carried_from(necro::criu::image_name("pagemap-", p.donor_pid)));
}

TEST_CASE("planning is a pure function of its inputs", "[plan]") {
  auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  auto again = necro::plan::plan_resurrection(f->core, f->donor, {}, {.offline = true});
  REQUIRE(again);
  CHECK(again->mm.SerializeAsString() == f->plan.mm.SerializeAsString());
  CHECK(again->threads[0].core.SerializeAsString() == f->plan.threads[0].core.SerializeAsString());
  CHECK(necro::plan::explain(*again) == necro::plan::explain(f->plan));
}

TEST_CASE("online planning refuses files missing from disk", "[plan]") {
  auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  necro::io::file_facts disk;
  for (const auto& m : f->core.process().files) disk.emplace(std::string(m.path), std::nullopt);
  // The donor knows every file, so a missing file is only refused when it is new;
  // a file whose size changed since the dump is refused by name.
  for (auto& [path, fact] : disk) fact = necro::io::file_fact{1, 0100644};
  auto r = necro::plan::plan_resurrection(f->core, f->donor, disk, {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == necro::errc::mismatch);
  CHECK_THAT(r.error().message(), Catch::Matchers::Contains("the file changed"));
}

TEST_CASE("pending signals come back, less the death and SIGKILL", "[plan]") {
  const std::uint64_t mask = (1ULL << (3 - 1)) | (1ULL << (9 - 1)) | (1ULL << (12 - 1)) | (1ULL << (34 - 1));
  CHECK(necro::plan::pending_signals(mask, 3) == std::vector<int>{12, 34});
  CHECK(necro::plan::pending_signals(0, 11).empty());
  const auto raw = necro::plan::make_siginfo(12, 4711, 1000);
  REQUIRE(raw.size() == 128);
  std::int32_t signo = 0, code = 0, pid = 0;
  std::memcpy(&signo, raw.data(), 4);
  std::memcpy(&code, raw.data() + 8, 4);
  std::memcpy(&pid, raw.data() + 16, 4);
  CHECK(signo == 12);
  CHECK(code == -6);
  CHECK(pid == 4711);
  // The fixture died of SIGQUIT with nothing else pending: the queue stays empty.
  auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  CHECK(f->plan.threads[0].core.thread_core().signals_p().signals_size() ==
        static_cast<int>(necro::plan::pending_signals(f->core.leader().prstatus.sigpend, 3).size()));
}
