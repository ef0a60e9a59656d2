// Donor-less resurrection on the real fixtures: the synthetic donor built from
// a core alone (plan::synthesize_donor), the plan made on it, and the image set
// written from it. Where CRIU's own dump of the same binary on the same machine
// (the fixtures' donors) holds the same fact, the synthesized value must equal it
// relative to the process's own layout.
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>
#include <necro/disk/facts.hpp>

#include "support/fixtures.hpp"

namespace {

using core_t = necro::elf::core_view<necro::arch::x86_64>;
namespace pb = necro::pb;

std::optional<core_t> open_core(std::string_view rel) {
  const auto p = necro::test::fixture(rel);
  if (!p) return std::nullopt;
  auto c = core_t::open(p->string());
  if (!c) FAIL(c.error().message());
  return std::move(*c);
}

std::optional<necro::criu::image_set> open_donor(std::string_view rel) {
  const auto p = necro::test::fixture(rel);
  if (!p) return std::nullopt;
  auto d = necro::criu::image_set::load(*p);
  if (!d) FAIL(d.error().message());
  return std::move(*d);
}

necro::plan::synthetic_donor synthesize(const core_t& core, const necro::plan::donorless_options& opt = {}) {
  auto s = necro::plan::synthesize_donor(core, {}, opt);
  if (!s) FAIL(s.error().message());
  return std::move(*s);
}

/// The single entry of an image held in memory.
template <class Msg>
Msg single(const necro::criu::image_set& s, const std::string& name, std::uint32_t magic) {
  const auto* bytes = s.image_bytes(name);
  REQUIRE(bytes);
  auto one = necro::criu::only_entry(necro::criu::read_entries<Msg>(*bytes, name, magic), name);
  if (!one) FAIL(one.error().message());
  return *one;
}

const pb::reg_file_entry& reg(const necro::criu::image_set& s, std::uint32_t id) {
  const auto* r = s.reg_file(id);
  REQUIRE(r);
  return *r;
}

std::uint64_t fs_base(const pb::core_entry& c) { return c.thread_info().gpregs().fs_base(); }

}  // namespace

TEST_CASE("donor-less pstree: the core's pid and threads, leader first", "[plan][donorless]") {
  const auto core = open_core("x86_64/pool.core");
  NECRO_REQUIRE_FIXTURE(core, "x86_64/pool.core");
  const auto facts = necro::test::facts::load("x86_64/pool.facts.txt");
  REQUIRE(facts);
  const auto s = synthesize(*core);
  const auto& p = s.images.process();
  CHECK(p.pid() == *facts->number("victim_pid"));
  CHECK(p.ppid() == 0);
  const auto ps = core->prpsinfo();
  REQUIRE(ps);
  CHECK(p.pgid() == static_cast<std::uint32_t>(ps->pgrp));
  CHECK(p.sid() == static_cast<std::uint32_t>(ps->sid));
  std::set<std::string> tids;
  for (const auto t : p.threads()) tids.insert(std::to_string(t));
  const auto want = facts->list("victim_tids");
  CHECK(tids == std::set<std::string>(want.begin(), want.end()));
  CHECK(p.threads(0) == *facts->number("victim_leader_tid"));
  CHECK(s.images.cores().size() == want.size());
}

TEST_CASE("donor-less core images: NT_PRSTATUS registers, CRIU's XSAVE sizes, the leader's task core", "[plan][donorless]") {
  const auto core = open_core("x86_64/pool.core");
  NECRO_REQUIRE_FIXTURE(core, "x86_64/pool.core");
  const auto donor = open_donor("x86_64/pool.donor");
  REQUIRE(donor);
  const auto s = synthesize(*core);
  const auto& dx = donor->leader_core().thread_info().fpregs().xsave();
  for (const auto& t : core->threads()) {
    const auto* c = s.images.thread_core(static_cast<std::uint32_t>(t.tid()));
    REQUIRE(c);
    const auto& g = c->thread_info().gpregs();
    CHECK(g.ip() == t.regs().rip);
    CHECK(g.sp() == t.regs().rsp);
    CHECK(g.ax() == t.regs().rax);
    CHECK(g.fs_base() == t.regs().fs_base);
    // Same machine as CRIU's dump: the XSAVE fields have CRIU's element counts.
    const auto& x = c->thread_info().fpregs().xsave();
    CHECK(x.ymmh_space_size() == dx.ymmh_space_size());
    CHECK(x.opmask_reg_size() == dx.opmask_reg_size());
    CHECK(x.zmm_upper_size() == dx.zmm_upper_size());
    CHECK(x.hi16_zmm_size() == dx.hi16_zmm_size());
    CHECK(x.pkru_size() == dx.pkru_size());
    CHECK(c->thread_info().tls_size() == donor->leader_core().thread_info().tls_size());
    CHECK(c->thread_core().blk_sigset() == t.prstatus.sighold);
    CHECK(c->has_tc() == (t.tid() == core->pid()));
  }
  const auto& tc = s.images.leader_core().tc();
  CHECK(tc.task_state() == 1);
  CHECK(tc.comm() == "pool");
  CHECK(tc.sigactions_size() == donor->leader_core().tc().sigactions_size());  // 64 signals less KILL and STOP
  for (const auto& sa : tc.sigactions()) CHECK((sa.sigaction() == 0 && sa.restorer() == 0 && sa.flags() == 0));
  CHECK(tc.flags() == core->prpsinfo()->flag);
}

TEST_CASE("donor-less glibc pointers: clear_child_tid and the robust list where CRIU's dump has them", "[plan][donorless]") {
  const auto core = open_core("x86_64/pool.core");
  NECRO_REQUIRE_FIXTURE(core, "x86_64/pool.core");
  const auto donor = open_donor("x86_64/pool.donor");
  REQUIRE(donor);
  const auto s = synthesize(*core);
  // The donor is CRIU's dump of the same binary with the same glibc: each
  // pointer sits at the same distance from the thread pointer.
  const auto& d = donor->leader_core();
  const auto tid_off = d.thread_info().clear_tid_addr() - fs_base(d);
  const auto rla_off = d.thread_core().futex_rla() - fs_base(d);
  for (const auto& [tid, c] : s.images.cores()) {
    INFO("thread " << tid);
    CHECK(c.thread_info().clear_tid_addr() - fs_base(c) == tid_off);
    CHECK(c.thread_core().futex_rla() - fs_base(c) == rla_off);
    CHECK(c.thread_core().futex_rla_len() == d.thread_core().futex_rla_len());
    CHECK(c.thread_core().sas().ss_flags() == 2);
  }
}

TEST_CASE("donor-less creds come from NT_PRPSINFO, capabilities only for uid 0", "[plan][donorless]") {
  const auto core = open_core("x86_64/counter.core");
  NECRO_REQUIRE_FIXTURE(core, "x86_64/counter.core");
  necro::plan::donorless_options opt;
  opt.cap_eff = {0xfeffffffu, 0x1ffu};
  opt.cap_bnd = {0xffffffffu, 0x1ffu};
  const auto s = synthesize(*core, opt);
  const auto ps = core->prpsinfo();
  REQUIRE(ps);
  const auto& cr = s.images.leader_core().thread_core().creds();
  CHECK(cr.uid() == ps->uid);
  CHECK(cr.euid() == ps->uid);
  CHECK(cr.fsuid() == ps->uid);
  CHECK(cr.gid() == ps->gid);
  CHECK(cr.sgid() == ps->gid);
  REQUIRE(cr.cap_eff_size() == 2);
  CHECK(cr.cap_eff(0) == (ps->uid == 0 ? 0xfeffffffu : 0u));
  CHECK(cr.cap_bnd(1) == 0x1ffu);
  const auto user = necro::plan::detail::synthetic_creds(1000, 1000, opt);
  CHECK(user.uid() == 1000);
  CHECK((user.cap_eff(0) == 0 && user.cap_eff(1) == 0 && user.cap_prm(0) == 0));
  CHECK(user.cap_bnd(0) == 0xffffffffu);
}

TEST_CASE("donor-less fs, files and fdinfo: / and /dev/null by default, --stdio and --cwd otherwise", "[plan][donorless]") {
  const auto core = open_core("x86_64/counter.core");
  NECRO_REQUIRE_FIXTURE(core, "x86_64/counter.core");
  const auto pid = static_cast<std::uint64_t>(core->pid());
  for (const bool chosen : {false, true}) {
    DYNAMIC_SECTION((chosen ? "--stdio and --cwd" : "defaults")) {
      necro::plan::donorless_options opt;
      if (chosen) {
        opt.stdio = {"/tmp/out.log", 0100644, true};
        opt.cwd = {"/srv/app", 040755, true};
      }
      const auto s = synthesize(*core, opt);
      const auto fs = single<pb::fs_entry>(s.images, necro::criu::image_name("fs-", pid), necro::criu::magic::fs);
      CHECK(reg(s.images, fs.cwd_id()).name() == (chosen ? "/srv/app" : "/"));
      CHECK(reg(s.images, fs.cwd_id()).mode() == 040755);
      CHECK(reg(s.images, fs.root_id()).name() == "/");
      CHECK(fs.umask() == 022);
      const auto* bytes = s.images.image_bytes("fdinfo-2.img");
      REQUIRE(bytes);
      auto fds = necro::criu::read_entries<pb::fdinfo_entry>(*bytes, "fdinfo-2.img", necro::criu::magic::fdinfo);
      REQUIRE(fds);
      REQUIRE(fds->size() == 3);
      for (const auto& fd : *fds) {
        const auto& r = reg(s.images, fd.id());
        CHECK(r.name() == (chosen ? "/tmp/out.log" : "/dev/null"));
        CHECK(r.mode() == (chosen ? 0100644u : 020666u));
        CHECK(!r.has_size());  // restore does not compare the size of a file the process appends to
        CHECK((r.flags() & 3) == (fd.fd() == 0 ? 0u : 1u));
        if (fd.fd() > 0) CHECK((r.flags() & 02000) != 0);  // O_APPEND
        // /dev/null is a character device: restore must not seek it (nor a tty).
        CHECK(r.pos() == (chosen ? 0 : necro::criu::no_position));
      }
    }
  }
  // A tty for --stdio: opened by path, never seeked (a seek fails on a tty).
  necro::plan::donorless_options opt;
  opt.stdio = {"/dev/pts/3", 020620, true};
  const auto s = synthesize(*core, opt);
  int ttys = 0;
  for (const auto& f : s.images.files())
    if (f.reg().name() == "/dev/pts/3") {
      CHECK(f.reg().pos() == necro::criu::no_position);
      ++ttys;
    }
  CHECK(ttys == 2);
}

TEST_CASE("donor-less inventory and ids: restore without namespaces sees the root ids", "[plan][donorless]") {
  const auto core = open_core("x86_64/counter.core");
  NECRO_REQUIRE_FIXTURE(core, "x86_64/counter.core");
  const auto donor = open_donor("x86_64/counter.donor");
  REQUIRE(donor);
  const auto s = synthesize(*core);
  const auto pid = static_cast<std::uint64_t>(core->pid());
  const auto inv = single<pb::inventory_entry>(s.images, "inventory.img", necro::criu::magic::inventory);
  const auto ids = single<pb::task_kobj_ids_entry>(s.images, necro::criu::image_name("ids-", pid), necro::criu::magic::ids);
  CHECK(inv.img_version() == donor->inventory().img_version());
  CHECK(inv.fdinfo_per_id());
  CHECK(inv.ns_per_id());
  const auto& root = inv.root_ids();
  CHECK(root.pid_ns_id() == ids.pid_ns_id());
  CHECK(root.net_ns_id() == ids.net_ns_id());
  CHECK(root.mnt_ns_id() == ids.mnt_ns_id());
  CHECK(root.user_ns_id() == ids.user_ns_id());
  CHECK(root.time_ns_id() == ids.time_ns_id());
  CHECK(root.cgroup_ns_id() == ids.cgroup_ns_id());
  CHECK(s.images.has("fdinfo-2.img"));
  CHECK(ids.files_id() == 2);
  CHECK(s.images.in_memory());
}

TEST_CASE("donor-less mm: code and data as the kernel set them, one vvar, the donor's relative layout", "[plan][donorless]") {
  const auto core = open_core("x86_64/counter.core");
  NECRO_REQUIRE_FIXTURE(core, "x86_64/counter.core");
  const auto donor = open_donor("x86_64/counter.donor");
  REQUIRE(donor);
  const auto s = synthesize(*core);
  auto p = necro::plan::plan_donorless(*core, s, {}, {.offline = true});
  REQUIRE(p);
  // The same binary: start/end code and data sit at the same distances from its base.
  const auto base = [](const necro::plan::file_layout& l, const std::string& exe) { return l.at(exe).base(); };
  const auto exe = p->exe_path;
  const auto vb = base(necro::plan::victim_files(core->process()), exe);
  const auto db = base(necro::plan::donor_files(*donor), exe);
  CHECK(p->mm.mm_start_code() - vb == donor->mm().mm_start_code() - db);
  CHECK(p->mm.mm_end_code() - vb == donor->mm().mm_end_code() - db);
  CHECK(p->mm.mm_start_data() - vb == donor->mm().mm_start_data() - db);
  CHECK(p->mm.mm_end_data() - vb == donor->mm().mm_end_data() - db);
  int vvars = 0;
  for (const auto& v : p->vmas)
    if (v.entry.status() & necro::criu::vma_status::vvar) {
      ++vvars;
      for (const auto& dv : donor->mm().vmas())
        if (dv.status() & necro::criu::vma_status::vvar) CHECK(v.entry.end() - v.entry.start() == dv.end() - dv.start());
    }
  CHECK(vvars == 1);
  // Every relocation is a zero delta: the donor's layout is the victim's.
  for (const auto& r : p->relocations) CHECK(r.from == r.to);
  CHECK(!p->not_in_core.empty());
  const auto text = necro::plan::explain(*p);
  CHECK(text.find("not in the core") != std::string::npos);
  CHECK(text.find("signal handlers: SIG_DFL") != std::string::npos);
}

TEST_CASE("donor-less rseq: glibc's __rseq_offset read from the core, where CRIU's dump has the area", "[plan][donorless]") {
  const auto core = open_core("x86_64/counter.core");
  NECRO_REQUIRE_FIXTURE(core, "x86_64/counter.core");
  const auto donor = open_donor("x86_64/counter.donor");
  REQUIRE(donor);
  const std::string ld = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";
  // The symbols come from this machine's ld.so: only when it is the one the victim ran.
  const auto disk = necro::disk::gather_file_facts(std::set<std::string>{ld});
  std::vector<std::string> warnings;
  const auto ran = necro::plan::victim_build_id_hex(*core, ld, warnings);
  const auto& fact = disk.at(ld);
  if (!fact || !fact->content || !ran || fact->build_id != *ran) {
    WARN("this machine's " << ld << " is not the one the fixture ran: rseq not checked");
    return;
  }
  const auto off = necro::elf::dynamic_symbol(fact->content->view(), "__rseq_offset");
  const auto size = necro::elf::dynamic_symbol(fact->content->view(), "__rseq_size");
  REQUIRE(off);
  REQUIRE(*off);
  REQUIRE(size);
  REQUIRE(*size);
  necro::plan::donorless_options opt;
  opt.rseq = necro::plan::rseq_symbols{ld, **off, **size};
  const auto s = synthesize(*core, opt);
  const auto& r = s.images.leader_core().thread_core().rseq_entry();
  const auto& d = donor->leader_core();
  CHECK(r.rseq_abi_pointer() - fs_base(s.images.leader_core()) == d.thread_core().rseq_entry().rseq_abi_pointer() - fs_base(d));
  CHECK(r.rseq_abi_size() == d.thread_core().rseq_entry().rseq_abi_size());
  CHECK(r.signature() == d.thread_core().rseq_entry().signature());
  // Without the symbols: no rseq, said so.
  const auto none = synthesize(*core);
  CHECK(!none.images.leader_core().thread_core().has_rseq_entry());
  bool said = false;
  for (const auto& w : none.warnings) said = said || w.starts_with("rseq is not registered");
  CHECK(said);
}

TEST_CASE("a donor-less set is written whole and reads back as a CRIU image set", "[plan][donorless][write]") {
  const auto core = open_core("x86_64/counter.core");
  NECRO_REQUIRE_FIXTURE(core, "x86_64/counter.core");
  const auto s = synthesize(*core);
  auto p = necro::plan::plan_donorless(*core, s, {}, {.offline = true});
  REQUIRE(p);
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("necro-donorless-test-{}", ::getpid());
  std::filesystem::remove_all(dir);
  auto rep = necro::write::commit(*p, *core, s.images, dir, {.durable = false});
  REQUIRE(rep);
  auto back = necro::criu::image_set::load(dir);
  if (!back) FAIL(back.error().message());
  CHECK(back->pid() == static_cast<std::uint32_t>(core->pid()));
  for (const auto* name : {"inventory.img", "pstree.img", "files.img", "fdinfo-2.img"}) CHECK(back->has(name));
  CHECK(back->mm().vmas_size() == static_cast<int>(p->vmas.size()));
  std::filesystem::remove_all(dir);
}

TEST_CASE("donor-less brk heap: glued to an executable that ran without ASLR", "[plan][donorless]") {
  const auto core = open_core("x86_64/norandom.core");
  NECRO_REQUIRE_FIXTURE(core, "x86_64/norandom.core");
  const auto facts = necro::test::facts::load("x86_64/norandom.facts.txt");
  REQUIRE(facts);
  const auto s = synthesize(*core);
  auto p = necro::plan::plan_donorless(*core, s, {}, {.offline = true});
  REQUIRE(p);
  const auto heap = facts->list("victim_heap", '-');
  REQUIRE(heap.size() == 2);
  CHECK(fmt::format("{:x}", p->mm.mm_start_brk()) == heap[0]);
  CHECK(fmt::format("{:x}", p->mm.mm_brk()) == heap[1]);
  CHECK(p->mm.mm_start_brk() == *facts->number("victim_start_brk"));
  // With ASLR the counter's heap is not glued: no HEAP VMA is invented there.
  const auto aslr = open_core("x86_64/counter.core");
  REQUIRE(aslr);
  const auto randomized = synthesize(*aslr);
  for (const auto& v : randomized.images.mm().vmas()) CHECK(!(v.status() & necro::criu::vma_status::heap));
}
