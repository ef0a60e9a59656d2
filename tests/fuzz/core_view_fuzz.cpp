// libFuzzer target: core_view<x86_64>::parse over arbitrary bytes, then every
// accessor on whatever parsed, the build-id readers (of the bytes as an ELF
// file on disk, and of each mapped file's headers in the core's memory), the
// ELF file layout reader, and the link_map walk a core without NT_FILE needs.
// Any crash, sanitizer report or broken invariant (__builtin_trap) is a bug.
#include <cstddef>
#include <cstdint>
#include <span>

#include <necro/arch/x86_64.hpp>
#include <necro/elf/build_id.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/elf/file_layout.hpp>
#include <necro/elf/link_map.hpp>
#include <necro/map/x86_64.hpp>

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const necro::io::byte_view whole(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size), 0,
                                   "fuzz.core");
  // The same bytes as a file on disk whose build-id is gathered.
  if (auto id = necro::elf::read_build_id(whole); id && *id) {
    check((*id)->size() >= 1 && (*id)->size() <= necro::elf::max_build_id_bytes);
  } else if (!id) {
    check(id.error().path() == "fuzz.core");
  }
  // The same bytes as a program or library whose PT_LOADs are read.
  if (auto l = necro::elf::read_file_layout(whole)) {
    check(!l->loads.empty());
  } else {
    check(l.error().path() == "fuzz.core");
  }
  auto r = necro::elf::core_view<necro::arch::x86_64>::parse(whole);
  if (!r) {
    const auto& e = r.error();
    check(e.path() == "fuzz.core");
    check(!e.what().empty());
    check(!e.message().empty());
    return 0;
  }
  const auto& c = *r;
  check(!c.threads().empty());
  volatile std::uint64_t sink = 0;
  sink = sink + static_cast<std::uint64_t>(c.pid());
  sink = sink + static_cast<std::uint64_t>(c.leader().tid());
  if (auto ps = c.prpsinfo()) sink = sink + ps->fname[0];
  for (const auto& t : c.threads()) {
    necro::pb::user_x86_regs_entry m;
    necro::map::apply(necro::map::x86_64::gpregs, t.regs(), m);
    check(m.ip() == t.regs().rip);
    if (t.fpregs) {
      necro::pb::user_x86_fpregs_entry f;
      necro::map::apply(necro::map::x86_64::fpregs_table, *t.fpregs, f);
      check(f.xmm_space_size() == 64);
    }
    if (t.xstate) sink = sink + t.xstate->size();
    for (const auto& n : t.others) sink = sink + n.desc.size();
    if (const auto* s = c.segment_at(t.regs().rip)) check(s->vaddr <= t.regs().rip && t.regs().rip < s->end());
    (void)c.read_memory<std::uint64_t>(t.regs().rsp);
  }
  for (const auto& s : c.segments()) {
    check(s.bytes.size() == s.filesz);
    check(s.filesz <= s.memsz);
    if (s.memsz > 0) check(c.segment_at(s.vaddr) != nullptr);
    if (s.filesz > 0) check(c.read_memory<std::uint8_t>(s.vaddr).has_value());
    (void)c.read_string(s.vaddr);
    // memory(): the dumped bytes from an address on, never past its PT_LOAD's.
    if (const auto m = c.memory(s.vaddr)) check(m->size() == s.filesz && m->file_offset() == s.offset);
    check(!c.memory(s.vaddr, s.filesz + 1));
  }
  if (const auto si = c.siginfo(); si && *si) sink = sink + static_cast<std::uint32_t>((*si)->si_signo);
  for (const auto& a : c.process().auxv) {
    (void)c.read_string(a.value);
    (void)c.read_memory<std::uint32_t>(a.value);
  }
  // The dynamic linker's list: capped, cycles refused, every name in the core.
  if (auto lo = necro::elf::read_loaded_objects(c)) {
    check(lo->objects.size() <= necro::elf::max_loaded_objects);
    for (const auto& o : lo->objects) {
      check(o.name.size() < necro::elf::max_object_name);
      sink = sink + o.bias + o.name.size();
    }
  } else {
    check(lo.error().path() == "fuzz.core");
  }
  for (const auto& f : c.process().files) {
    check(f.start <= f.end);
    sink = sink + f.path.size();
    if (auto id = necro::elf::victim_build_id(c, f.path); id && *id) {
      check((*id)->size() >= 1 && (*id)->size() <= necro::elf::max_build_id_bytes);
      sink = sink + necro::elf::to_hex((*id)->bytes()).size();
    }
  }
  return 0;
}
