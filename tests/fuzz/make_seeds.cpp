// Writes small seed inputs for the fuzz targets into the directories named on
// the command line:
// `make_seeds CORE_DIR IMAGE_DIR [PLAN_DIR FIXTURE_CORE [CAPTURE_DIR FIXTURE_CAPTURE]]`.
// CAPTURE_DIR gets the fixture capture as a format 4 one whose kernel state
// fits FIXTURE_CORE (its threads, handlers in its executable mappings, advice
// on its VMAs, timers signalling its threads), so that capture_fuzz starts from lines the planner applies.
// The real fixtures are seeds too, but they are large; these are a few KiB and
// parse fully. PLAN_DIR gets the fixture core trimmed for plan_fuzz: the same
// notes and nearly the same address space, with the dumped bytes of every
// segment dropped but those the planner reads (the executable's headers, the
// top of the stack, the vDSO).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <necro/arch/x86_64.hpp>
#include <necro/capture/text.hpp>
#include <necro/criu/image.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/pb/core.pb.h>
#include <necro/pb/pagemap.pb.h>
#include <necro/pb/pstree.pb.h>

#include "support/core_builder.hpp"

namespace {

void write(const std::filesystem::path& p, const void* data, std::size_t size) {
  std::ofstream out(p, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
}

/// The fixture core with only the planner's bytes kept (see the top).
int trim_core(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::ifstream in(from, std::ios::binary);
  const std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  necro::test::bytes b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  auto core = necro::elf::core_view<necro::arch::x86_64>::parse(necro::test::view_of(b, "fixture"));
  if (!core) {
    std::fprintf(stderr, "make_seeds: %s\n", core.error().message().c_str());
    return 1;
  }
  std::vector<std::uint64_t> wanted = {core->leader().regs().rsp};
  for (const auto key : {necro::arch::at::phdr, necro::arch::at::sysinfo_ehdr, necro::arch::at::execfn})
    if (auto v = core->auxv(key)) wanted.push_back(*v);
  // Headers and notes stay where they are; kept bytes follow, page aligned.
  std::uint64_t head = 0;
  for (const auto& seg : core->segments()) head = std::max(head, seg.header_offset + sizeof(necro::elf::phdr64));
  for (std::uint64_t i = 0; i < core->header().phnum; ++i) {
    const auto ph = necro::test::peek<necro::elf::phdr64>(b, core->header().phoff + i * sizeof(necro::elf::phdr64));
    if (ph.type == necro::arch::elfc::pt_note) head = std::max(head, ph.offset + ph.filesz);
  }
  necro::test::bytes out(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(head));
  for (const auto& seg : core->segments()) {
    bool keep = false;
    for (const auto a : wanted) keep = keep || (a >= seg.vaddr && a < seg.end());
    auto ph = necro::test::peek<necro::elf::phdr64>(b, seg.header_offset);
    if (keep) {
      // The stack from the page of the stack pointer up: the initial stack is
      // at its top, and the planner searches all of it (fuzzing speed).
      std::uint64_t cut = 0;
      const std::uint64_t sp = core->leader().regs().rsp;
      if (sp >= seg.vaddr && sp < seg.end() && seg.filesz == seg.memsz) cut = (sp - seg.vaddr) / 4096 * 4096;
      ph.vaddr += cut;
      ph.filesz -= cut;
      ph.memsz -= cut;
      necro::test::pad_to(out, 4096);
      ph.offset = out.size();
      out.insert(out.end(), seg.bytes.bytes().begin() + static_cast<std::ptrdiff_t>(cut), seg.bytes.bytes().end());
    } else {
      ph.offset = 0;
      ph.filesz = 0;
    }
    necro::test::poke(out, seg.header_offset, ph);
  }
  write(to, out.data(), out.size());
  return 0;
}

/// The fixture capture, format 4, with a kernel state made of `core_path`'s facts.
int kernel_capture(const std::filesystem::path& core_path, const std::filesystem::path& capture_txt,
                   const std::filesystem::path& to) {
  auto core = necro::elf::core_view<necro::arch::x86_64>::open(core_path.string());
  std::ifstream in(capture_txt, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto c = necro::capture::parse_text(text, capture_txt.string());
  if (!core || !c) {
    std::fprintf(stderr, "make_seeds: %s\n", (!core ? core.error() : c.error()).message().c_str());
    return 1;
  }
  std::uint64_t code = 0, data = 0;
  for (const auto& s : core->segments()) {
    if (!code && s.executable()) code = s.vaddr;
    if (!data && s.writable() && s.complete() && s.memsz >= 0x2000) data = s.vaddr;
  }
  auto& k = c->kernel.emplace();
  for (std::uint32_t sig = 1; sig <= 64; ++sig)
    k.actions.push_back({sig, sig == 10 || sig == 15 ? code + 0x10 * sig : (sig == 13 ? 1u : 0u), sig == 10 ? 0x1c000004u : 0x04000000u,
                         code, sig == 10 ? 0x200u : 0u});
  for (const auto& t : core->threads()) {
    necro::capture::thread_state s;
    s.tid = t.tid();
    s.comm = "seed";
    s.sas_sp = data, s.sas_size = 0x1000;
    s.robust_list = data + 0x100, s.clear_child_tid = data + 0x200;
    s.rseq = data + 0x300, s.rseq_len = 32, s.rseq_sig = 0x53053053;
    s.policy = 3, s.static_prio = s.normal_prio = 125, s.nice = 5, s.timer_slack = 50000;
    k.threads.push_back(s);
  }
  k.process = necro::capture::process_state{0x40000, 0x10, 1, 1, 0, 0x10000cd};
  auto& timers = k.timers.emplace();
  timers.itimers = {{0, 50'000'000, 100'000'000}, {1, 0, 0}, {2, 0, 0}};
  // A SIGEV_THREAD_ID timer on CLOCK_MONOTONIC to the leader, and one on the leader's CPU clock.
  timers.posix.push_back({0, 1, 34, 4, core->leader().tid(), 0x1234, 150'000'000, 150'000'000, 0});
  timers.posix.push_back({1, static_cast<std::int32_t>((~static_cast<std::uint32_t>(core->leader().tid()) << 3) | 6u), 35, 0,
                          core->pid(), 0, 0, 10'000'000, 2});
  std::size_t advised = 0;
  for (const auto& s : core->segments())
    if (advised < 3 && s.writable()) k.vmas.push_back({s.vaddr, s.end(), (1u << 14) | (1u << 10), advised++ == 0});
  c->version = 4;
  std::filesystem::create_directories(to.parent_path());
  const auto out = necro::capture::to_text(*c);
  write(to, out.data(), out.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 5 && argc != 7) {
    std::fprintf(stderr, "usage: %s CORE_DIR IMAGE_DIR [PLAN_DIR FIXTURE_CORE [CAPTURE_DIR FIXTURE_CAPTURE]]\n", argv[0]);
    return 2;
  }
  if (argc == 7)
    if (const int rc = kernel_capture(argv[4], argv[6], std::filesystem::path(argv[5]) / "kernel-state.txt")) return rc;
  if (argc >= 5) {
    std::filesystem::create_directories(argv[3]);
    if (const int rc = trim_core(argv[4], std::filesystem::path(argv[3]) / "counter-trimmed.core")) return rc;
  }
  const std::filesystem::path cores = argv[1], images = argv[2];
  std::filesystem::create_directories(cores);
  std::filesystem::create_directories(images);

  const auto small = necro::test::small_core().build();
  write(cores / "small.core", small.image.data(), small.image.size());
  auto one = necro::test::small_core();
  one.notes().erase(one.notes().begin(), one.notes().begin() + 3);  // one thread
  const auto single = one.build();
  write(cores / "single-thread.core", single.image.data(), single.image.size());

  namespace magic = necro::criu::magic;
  necro::pb::pstree_entry ps;
  ps.set_pid(10);
  ps.set_ppid(1);
  ps.set_pgid(10);
  ps.set_sid(10);
  ps.add_threads(10);
  ps.add_threads(11);
  const auto pstree = necro::criu::image_builder(magic::pstree).add(ps).bytes();
  write(images / "pstree.img", pstree.data(), pstree.size());

  necro::pb::pagemap_head head;
  head.set_pages_id(1);
  necro::pb::pagemap_entry pe;
  pe.set_vaddr(0x400000);
  pe.set_compat_nr_pages(0);
  pe.set_nr_pages(3);
  pe.set_flags(necro::criu::pe::present);
  const auto pagemap = necro::criu::image_builder(magic::pagemap).add(head).add(pe).add(pe).bytes();
  write(images / "pagemap-10.img", pagemap.data(), pagemap.size());
  return 0;
}
