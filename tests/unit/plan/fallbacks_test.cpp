// Each planner heuristic that can fail, made to fail on the real counter
// fixture (its core bytes or a copy of its donor images changed in one place):
// the plan goes on with a value CRIU and prctl(PR_SET_MM_MAP) accept, and a
// warning says what was guessed.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>

#include "support/core_builder.hpp"
#include "support/fixtures.hpp"
#include "support/planned.hpp"

namespace {

namespace fs = std::filesystem;
using necro::test::bytes;
using core_t = necro::elf::core_view<necro::arch::x86_64>;

/// The counter core's bytes, to change before parsing.
struct core_copy {
  bytes image;
  core_t original;  ///< the unchanged core, to find offsets in

  static std::optional<core_copy> load() {
    const auto path = necro::test::x86_64_core();
    if (!path) return std::nullopt;
    const auto s = necro::test::slurp(*path);
    auto c = core_t::open(path->string());
    REQUIRE(c);
    bytes b(s.size());
    std::memcpy(b.data(), s.data(), s.size());
    return core_copy{std::move(b), std::move(*c)};
  }
  core_t parse() const {
    auto c = core_t::parse(necro::test::view_of(image, "changed.core"));
    REQUIRE(c);
    return std::move(*c);
  }
  const necro::elf::segment& segment_at(std::uint64_t addr) const {
    const auto* s = original.segment_at(addr);
    REQUIRE(s);
    return *s;
  }
};

/// A copy of the counter donor in a scratch directory, its mm image rewritten by `edit`.
template <class Edit>
fs::path donor_with_mm(const fs::path& donor, const std::string& name, Edit edit) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("necro-fallbacks-{}-{}", name, ::getpid());
  fs::remove_all(dir);
  fs::copy(donor, dir);
  auto set = necro::criu::image_set::load(dir);
  REQUIRE(set);
  auto mm = set->mm();
  edit(mm, *set);
  necro::criu::image_builder b(necro::criu::magic::mm);
  b.add(mm);
  std::ofstream(dir / necro::criu::image_name("mm-", set->pid()), std::ios::binary | std::ios::trunc) << b.bytes();
  return dir;
}

necro::plan::resurrection plan_of(const core_t& core, const fs::path& donor_dir) {
  auto donor = necro::criu::image_set::load(donor_dir);
  REQUIRE(donor);
  auto p = necro::plan::plan_resurrection(core, *donor, {}, {.offline = true});
  if (!p) FAIL(p.error().message());
  return std::move(*p);
}

bool warned(const necro::plan::resurrection& p, std::string_view phrase) {
  for (const auto& w : p.warnings)
    if (w.find(phrase) != std::string::npos) return true;
  return false;
}

/// The mm fields prctl(PR_SET_MM_MAP) checks for order.
void check_prctl_order(const necro::pb::mm_entry& mm) {
  CHECK(mm.mm_start_code() < mm.mm_end_code());
  CHECK(mm.mm_start_data() <= mm.mm_end_data());
  CHECK(mm.mm_start_brk() <= mm.mm_brk());
  CHECK(mm.mm_arg_start() <= mm.mm_arg_end());
  CHECK(mm.mm_env_start() <= mm.mm_env_end());
  for (const auto v : {mm.mm_start_stack(), mm.mm_arg_start(), mm.mm_env_end(), mm.mm_brk()}) {
    CHECK(v >= 0x10000u);          // mmap_min_addr
    CHECK(v < 0x7ffffffff000ull);  // TASK_SIZE on x86-64 (4-level paging)
  }
}

}  // namespace

TEST_CASE("no brk heap: an empty heap at the executable's end, warned", "[plan][fallback]") {
  auto c = core_copy::load();
  NECRO_REQUIRE_FIXTURE(c, "x86_64/counter.core");
  const auto normal = necro::test::plan_counter()->plan;
  const auto& heap = c->segment_at(normal.mm.mm_start_brk());
  // The heap made read-only: no longer an rw candidate.
  necro::test::poke(c->image, heap.header_offset + necro::test::off::p_flags, necro::arch::elfc::pf_r);
  const auto core = c->parse();
  const auto p = plan_of(core, *necro::test::x86_64_donor());
  CHECK(warned(p, "no brk heap found"));
  CHECK(p.mm.mm_start_brk() == p.mm.mm_brk());
  CHECK(p.mm.mm_brk() % 4096 == 0);
  CHECK(p.mm.mm_brk() < heap.vaddr);
  for (const auto& v : p.vmas) CHECK(v.label != "[heap]");
  check_prctl_order(p.mm);
}

TEST_CASE("an auxv longer than CRIU takes: trailing pairs dropped, the stack still found", "[plan][fallback]") {
  auto c = core_copy::load();
  NECRO_REQUIRE_FIXTURE(c, "x86_64/counter.core");
  const auto normal = necro::test::plan_counter()->plan;
  // NT_AUXV's AT_NULL key made a real one: one pair more than CRIU's 22, and
  // the stack's copy no longer matches NT_AUXV (AT_RANDOM places it instead).
  const auto& auxv = *c->original.process().auxv_bytes;
  necro::test::poke(c->image, auxv.file_offset() + auxv.size() - 16, std::uint64_t{60});
  const auto core = c->parse();
  const auto p = plan_of(core, *necro::test::x86_64_donor());
  CHECK(warned(p, "drops the trailing keys 60"));
  CHECK(p.mm.mm_saved_auxv_size() == necro::arch::x86_64::max_saved_auxv_words);
  CHECK(p.mm.mm_start_stack() == normal.mm.mm_start_stack());
  CHECK(p.mm.mm_arg_start() == normal.mm.mm_arg_start());
  CHECK(p.mm.mm_env_start() == normal.mm.mm_env_start());
  CHECK(p.mm.mm_env_end() == normal.mm.mm_env_end());
  CHECK_FALSE(warned(p, "initial stack:"));
  CHECK(std::any_of(p.changes.begin(), p.changes.end(),
                    [](const auto& s) { return s.find("start_stack from argc below AT_RANDOM") != std::string::npos; }));
}

TEST_CASE("the main thread's sp outside its initial stack: the stack is still AT_EXECFN's", "[plan][fallback]") {
  auto c = core_copy::load();
  NECRO_REQUIRE_FIXTURE(c, "x86_64/counter.core");
  const auto normal = necro::test::plan_counter()->plan;
  // rsp moved into the heap, as on a signal stack or a coroutine's stack.
  const std::uint64_t rsp = c->original.leader().regs().rsp;
  std::uint64_t at = 0;  // NT_PRSTATUS's rsp, among the notes (before the first segment's bytes)
  for (std::uint64_t off = 0; off + 8 <= c->image.size() && off < c->original.segments().front().offset; off += 4)
    if (necro::test::peek<std::uint64_t>(c->image, off) == rsp) {
      at = off;
      break;
    }
  REQUIRE(at != 0);
  necro::test::poke(c->image, at, normal.mm.mm_start_brk() + 64);
  const auto core = c->parse();
  REQUIRE(core.leader().regs().rsp == normal.mm.mm_start_brk() + 64);
  const auto p = plan_of(core, *necro::test::x86_64_donor());
  CHECK(p.mm.mm_start_stack() == normal.mm.mm_start_stack());
  CHECK(p.mm.mm_arg_start() == normal.mm.mm_arg_start());
  CHECK(p.mm.mm_env_end() == normal.mm.mm_env_end());
  const auto stack = std::find_if(p.vmas.begin(), p.vmas.end(), [](const auto& v) { return v.label == "[stack]"; });
  REQUIRE(stack != p.vmas.end());
  CHECK(stack->entry.start() <= p.mm.mm_start_stack());
  CHECK(stack->entry.end() > p.mm.mm_start_stack());
}

TEST_CASE("no initial stack in the core: estimates, ordered, warned", "[plan][fallback]") {
  auto c = core_copy::load();
  NECRO_REQUIRE_FIXTURE(c, "x86_64/counter.core");
  const auto& stack = c->segment_at(*c->original.auxv(necro::arch::at::execfn));
  necro::test::poke(c->image, stack.header_offset + necro::test::off::p_type, std::uint32_t{0});  // PT_NULL
  const auto core = c->parse();
  REQUIRE(core.segments().size() + 1 == c->original.segments().size());
  const auto p = plan_of(core, *necro::test::x86_64_donor());
  CHECK(warned(p, "no segment of the core holds the main thread's initial stack"));
  CHECK(warned(p, "initial stack: start_stack"));
  CHECK(p.mm.mm_env_end() == *core.auxv(necro::arch::at::execfn));  // the kernel's value all the same
  check_prctl_order(p.mm);
}

TEST_CASE("private pages the core lacks are warned about", "[plan][fallback]") {
  auto c = core_copy::load();
  NECRO_REQUIRE_FIXTURE(c, "x86_64/counter.core");
  const auto normal = necro::test::plan_counter()->plan;
  CHECK_FALSE(warned(normal, "not in the core"));
  const auto& heap = c->segment_at(normal.mm.mm_start_brk());
  necro::test::poke(c->image, heap.header_offset + necro::test::off::p_filesz, std::uint64_t{0});
  const auto core = c->parse();
  const auto p = plan_of(core, *necro::test::x86_64_donor());
  CHECK(warned(p, fmt::format("{} pages of private memory are not in the core", heap.memsz / 4096)));
  CHECK(warned(p, fmt::format("{} anonymous ones come back as zeros", heap.memsz / 4096)));
}

TEST_CASE("a donor vvar that would cover the vDSO is left out, warned", "[plan][fallback]") {
  const auto core_path = necro::test::x86_64_core();
  const auto donor = necro::test::x86_64_donor();
  NECRO_REQUIRE_FIXTURE(core_path && donor, "x86_64/counter.core + counter.donor");
  const auto dir = donor_with_mm(*donor, "vvar", [](necro::pb::mm_entry& mm, const auto&) {
    std::uint64_t vdso = 0;
    for (const auto& v : mm.vmas())
      if (v.status() & necro::criu::vma_status::vdso) vdso = v.start();
    for (auto& v : *mm.mutable_vmas())
      if (v.status() & necro::criu::vma_status::vvar) {
        const auto size = v.end() - v.start();
        v.set_start(vdso);  // (the image is not restored; only its offsets matter here)
        v.set_end(vdso + size);
      }
  });
  auto core = core_t::open(core_path->string());
  REQUIRE(core);
  const auto p = plan_of(*core, dir);
  fs::remove_all(dir);
  CHECK(warned(p, "vvar not recreated"));
  CHECK(std::none_of(p.vmas.begin(), p.vmas.end(), [](const auto& v) { return v.label == "[vvar]"; }));
  CHECK(std::any_of(p.vmas.begin(), p.vmas.end(), [](const auto& v) { return v.label == "[vdso]"; }));
}

TEST_CASE("an executable the donor's layout lacks: code and data bounds from the victim's mappings", "[plan][fallback]") {
  const auto core_path = necro::test::x86_64_core();
  const auto donor = necro::test::x86_64_donor();
  NECRO_REQUIRE_FIXTURE(core_path && donor, "x86_64/counter.core + counter.donor");
  const auto dir = donor_with_mm(*donor, "exe", [](necro::pb::mm_entry& mm, const auto& set) {
    const auto exe = set.reg_file(mm.exe_file_id())->name();
    for (auto& v : *mm.mutable_vmas())
      if (const auto* reg = set.reg_file(v.shmid()); reg && reg->name() == exe) v.set_shmid(0xfffff);
  });
  auto core = core_t::open(core_path->string());
  REQUIRE(core);
  const auto p = plan_of(*core, dir);
  fs::remove_all(dir);
  const auto normal = necro::test::plan_counter()->plan;
  CHECK(warned(p, "is not mapped in both processes"));
  // The real bounds lie inside the estimated ones.
  CHECK(p.mm.mm_start_code() <= normal.mm.mm_start_code());
  CHECK(p.mm.mm_end_code() >= normal.mm.mm_end_code());
  CHECK(p.mm.mm_start_data() <= normal.mm.mm_start_data());
  CHECK(p.mm.mm_end_data() >= normal.mm.mm_end_data());
  check_prctl_order(p.mm);
}

TEST_CASE("donor pointers in no file and no TLS are cleared or reset, warned", "[plan][fallback]") {
  auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  const auto& donor = f->donor;
  const auto& core = f->core;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> anon;
  const necro::plan::relocator reloc(necro::plan::donor_files(donor), necro::plan::victim_files(core.process()), anon);
  auto tmpl = donor.leader_core();
  const std::uint64_t nowhere = 0x10000;  // below every mapping, far from the thread pointer
  necro::map::criu_thread<necro::arch::x86_64>::set_clear_tid(tmpl, nowhere);
  tmpl.mutable_thread_core()->set_futex_rla(nowhere);
  tmpl.mutable_thread_core()->mutable_rseq_entry()->set_rseq_abi_pointer(nowhere);
  auto* task = tmpl.mutable_tc();
  REQUIRE(task->sigactions_size() >= 10);
  const auto restorer = task->sigactions(2).restorer();  // SIGQUIT's, in libc
  REQUIRE(restorer > 1);
  task->mutable_sigactions(9)->set_sigaction(nowhere);  // SIGUSR1: a handler in no file
  task->mutable_sigactions(9)->set_restorer(restorer);
  task->mutable_sigactions(11)->set_sigaction(restorer);  // SIGUSR2: a handler in libc
  task->mutable_sigactions(11)->set_restorer(restorer);

  necro::plan::resurrection out;
  auto tp = necro::plan::plan_thread(core, core.leader(), donor.pid(), tmpl, true, reloc, out);
  REQUIRE(tp);
  const auto& c = tp->core;
  CHECK(c.thread_info().clear_tid_addr() == 0);
  CHECK(c.thread_core().futex_rla() == 0);
  CHECK(c.thread_core().rseq_entry().rseq_abi_pointer() == 0);  // CRIU registers none
  CHECK(c.tc().sigactions(9).sigaction() == 0);                  // SIG_DFL
  CHECK(c.tc().sigactions(11).sigaction() != restorer);          // relocated like any libc address
  CHECK(c.tc().sigactions(11).sigaction() == c.tc().sigactions(2).restorer());
  CHECK(warned(out, "clear_child_tid 0x10000 is not in the donor's TLS or a mapped file: cleared"));
  CHECK(warned(out, "robust futex list 0x10000"));
  CHECK(warned(out, "rseq area 0x10000"));
  CHECK(warned(out, "signal 10 handler 0x10000"));
  CHECK_FALSE(warned(out, "signal 12"));
}

TEST_CASE("without ASLR the brk heap is glued to the executable, like the donor's", "[plan][fallback]") {
  // bin/counter run under setarch -R, victim and donor (tests/data/make-fixtures.sh norandom).
  const auto core_path = necro::test::fixture("x86_64/norandom.core");
  const auto donor = necro::test::fixture("x86_64/norandom.donor");
  const auto facts = necro::test::facts::load("x86_64/norandom.facts.txt");
  NECRO_REQUIRE_FIXTURE(core_path && donor && facts, "x86_64/norandom.core + norandom.donor");
  auto core = core_t::open(core_path->string());
  REQUIRE(core);
  const auto heap = facts->list("victim_heap", '-');
  REQUIRE(heap.size() == 2);
  const auto heap_start = std::stoull(heap[0], nullptr, 16), heap_end = std::stoull(heap[1], nullptr, 16);

  const auto p = plan_of(*core, *donor);
  CHECK_FALSE(warned(p, "no brk heap"));
  const auto it = std::find_if(p.vmas.begin(), p.vmas.end(), [](const auto& v) { return v.label == "[heap]"; });
  REQUIRE(it != p.vmas.end());
  CHECK(it->entry.start() == heap_start);
  CHECK(it->entry.end() == heap_end);
  CHECK(p.mm.mm_start_brk() == facts->number("victim_start_brk"));
  CHECK(p.mm.mm_brk() == heap_end);

  // A donor run with ASLR (heap not glued) does not vouch for it: no heap, warned.
  const auto q = plan_of(*core, *necro::test::x86_64_donor());
  CHECK(warned(q, "no brk heap found"));
  check_prctl_order(q.mm);
}

TEST_CASE("without AT_EXECFN, env_end is the start of the last string below the stack's top", "[plan][fallback]") {
  auto c = core_copy::load();
  NECRO_REQUIRE_FIXTURE(c, "x86_64/counter.core");
  const auto normal = necro::test::plan_counter()->plan;
  const auto& auxv = *c->original.process().auxv_bytes;
  bool renamed = false;
  for (std::uint64_t o = 0; o + 16 <= auxv.size(); o += 16)
    if (necro::test::peek<std::uint64_t>(c->image, auxv.file_offset() + o) == necro::arch::at::execfn) {
      necro::test::poke(c->image, auxv.file_offset() + o, std::uint64_t{0x7f});  // no longer AT_EXECFN
      renamed = true;
    }
  REQUIRE(renamed);
  const auto core = c->parse();
  REQUIRE_FALSE(core.auxv(necro::arch::at::execfn));
  const auto p = plan_of(core, *necro::test::x86_64_donor());
  CHECK(warned(p, "NT_AUXV has no AT_EXECFN in the stack"));
  // The kernel's layout makes the estimate exact: the name ends 8 bytes below the top.
  CHECK(p.mm.mm_env_end() == normal.mm.mm_env_end());
  CHECK(p.mm.mm_env_start() == normal.mm.mm_env_start());
  CHECK(p.mm.mm_arg_start() == normal.mm.mm_arg_start());
  CHECK(p.mm.mm_start_stack() == normal.mm.mm_start_stack());
}
