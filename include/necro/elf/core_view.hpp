/// necro::elf::core_view<Arch>: a read-only, zero-copy view of a Linux ELF core:
/// header checks against the architecture traits, PT_LOAD segments, and the
/// notes grouped per thread (NT_PRSTATUS opens a group) and process-wide.
#ifndef NECRO_ELF_CORE_VIEW_HPP
#define NECRO_ELF_CORE_VIEW_HPP
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/arch/elf_core_abi.hpp>
#include <necro/elf/identity.hpp>
#include <necro/elf/notes.hpp>
#include <necro/elf/types.hpp>
#include <necro/io/byte_view.hpp>
#include <necro/io/error.hpp>
#include <necro/io/mapped_file.hpp>

namespace necro::elf {

/// Caps on counts read from a core.
inline constexpr std::uint32_t max_segments = 1u << 20;
/// Linux writes one PT_NOTE. Each is walked in full, and many program headers
/// may name the same notes: without a cap the walk is quadratic.
inline constexpr std::uint32_t max_note_segments = 16;
inline constexpr std::uint64_t max_threads = 1u << 16;
inline constexpr std::uint64_t max_file_entries = 1u << 20;
inline constexpr std::uint64_t max_auxv_words = 1024;

/// One PT_LOAD: a VMA of the dead process.
struct segment {
  std::uint64_t vaddr = 0, memsz = 0, filesz = 0, offset = 0;
  std::uint32_t flags = 0;
  io::byte_view bytes;  ///< the dumped bytes (filesz of them), in the mapping
  std::uint64_t header_offset = 0;  ///< file offset of its program header
  std::uint64_t end() const noexcept { return vaddr + memsz; }
  bool readable() const noexcept { return flags & arch::elfc::pf_r; }
  bool writable() const noexcept { return flags & arch::elfc::pf_w; }
  bool executable() const noexcept { return flags & arch::elfc::pf_x; }
  /// Whether the dump holds every byte of the VMA (coredump_filter may omit some).
  bool complete() const noexcept { return filesz == memsz; }
};

/// One NT_FILE entry: [start, end) maps `path` from byte `offset`.
struct file_mapping {
  std::uint64_t start = 0, end = 0, offset = 0;
  std::string_view path;
};

/// A file mapping that owns its path: one rebuilt for a core without NT_FILE
/// (plan::rebuild_file_mappings), to be adopted by core_view::adopt_file_mappings.
struct owned_file_mapping {
  std::uint64_t start = 0, end = 0, offset = 0;
  std::string path;
};

/// One auxv pair (Elf64_auxv_t: a_type, a_un.a_val).
struct auxv_entry {
  std::uint64_t key = 0, value = 0;
};
static_assert(sizeof(auxv_entry) == 16);
static_assert(offsetof(auxv_entry, value) == 8);

/// The notes of one thread: NT_PRSTATUS and the regsets that follow it. The
/// architecture's own regsets (x86-64: xstate; aarch64: tls) are members of
/// its Arch::thread_regsets base.
template <class Arch>
struct thread_notes : Arch::thread_regsets {
  typename Arch::prstatus prstatus{};
  std::optional<typename Arch::fpregs> fpregs;
  std::vector<note> others;  ///< further regsets, unparsed
  std::int32_t tid() const noexcept { return prstatus.pid; }
  const typename Arch::user_regs& regs() const noexcept { return prstatus.regs; }
  const typename Arch::thread_regsets& regsets() const noexcept { return *this; }
  /// The thread pointer (TLS base): Arch::thread_pointer of these notes.
  std::uint64_t thread_pointer() const noexcept { return Arch::thread_pointer(regs(), regsets()); }
};

/// Process-wide notes; the architecture's own (x86-64: xsave_layout) are
/// members of its Arch::process_regsets base.
template <class Arch>
struct process_notes : Arch::process_regsets {
  std::optional<io::byte_view> prpsinfo;
  std::optional<io::byte_view> siginfo;
  std::vector<auxv_entry> auxv;
  std::optional<io::byte_view> auxv_bytes;
  std::vector<file_mapping> files;
  std::uint64_t file_page_size = 0;
  bool nt_file = false;       ///< the core has an NT_FILE note
  bool files_rebuilt = false; ///< `files` came from adopt_file_mappings, not NT_FILE
  std::uint64_t unknown_notes = 0;            ///< skipped quietly, counted
};

/// A parsed core. Owns the mapping when made by open(); every view it hands out
/// lives as long as the core_view (moves keep them valid).
template <class Arch>
class core_view {
 public:
  using arch_type = Arch;

  /// Maps and parses the core at `path`.
  static result<core_view> open(std::string path) {
    NECRO_TRY_ASSIGN(io::mapped_file f, io::mapped_file::open(std::move(path)));
    return open(std::move(f));
  }

  /// Parses the core in `f`, taking the mapping over (io::open_decompressed
  /// gives one for a .zst core; the CLI reads the ELF identity from it first
  /// to choose Arch).
  static result<core_view> open(io::mapped_file f) {
    auto file = std::make_unique<io::mapped_file>(std::move(f));
    const io::byte_view whole = file->view();
    NECRO_TRY_ASSIGN(core_view v, parse(whole));
    v.file_ = std::move(file);
    return v;
  }

  /// Parses a core already in memory (tests, fuzzing). `whole` must outlive the view.
  static result<core_view> parse(const io::byte_view& whole) {
    core_view v;
    v.whole_ = whole;
    NECRO_TRY(v.parse_header());
    NECRO_TRY(v.parse_program_headers());
    return v;
  }

  const ehdr64& header() const noexcept { return ehdr_; }
  /// The whole file.
  const io::byte_view& bytes() const noexcept { return whole_; }
  std::string_view path() const noexcept { return whole_.origin(); }
  /// The open core file, when made by open() (for in-kernel copies).
  const io::mapped_file* file() const noexcept { return file_.get(); }

  /// PT_LOAD segments in file order.
  const std::vector<segment>& segments() const noexcept { return segments_; }
  /// Threads in the core's order: the first took the fatal signal.
  const std::vector<thread_notes<Arch>>& threads() const noexcept { return threads_; }
  const process_notes<Arch>& process() const noexcept { return process_; }

  /// NT_PRPSINFO, loaded.
  std::optional<typename Arch::prpsinfo> prpsinfo() const {
    if (!process_.prpsinfo) return std::nullopt;
    auto r = process_.prpsinfo->template load<typename Arch::prpsinfo>(0, "NT_PRPSINFO");
    if (!r) return std::nullopt;
    return *r;
  }

  /// NT_SIGINFO, loaded: the siginfo_t of the signal that killed the process.
  /// nullopt when the core has no NT_SIGINFO; an error naming the core and the
  /// note's offset when it is shorter than a siginfo_t.
  result<std::optional<typename Arch::siginfo>> siginfo() const {
    using opt = std::optional<typename Arch::siginfo>;
    if (!process_.siginfo) return opt{};
    NECRO_TRY_ASSIGN(const auto si, process_.siginfo->template load<typename Arch::siginfo>(0, "NT_SIGINFO"));
    return opt(si);
  }

  /// The process id: NT_PRPSINFO's pr_pid, else the first thread's.
  std::int32_t pid() const noexcept {
    if (auto ps = prpsinfo()) return ps->pid;
    return threads_.empty() ? 0 : threads_.front().tid();
  }

  /// The main thread (tid == pid); the first thread if none matches.
  const thread_notes<Arch>& leader() const noexcept {
    const auto p = pid();
    for (const auto& t : threads_)
      if (t.tid() == p) return t;
    return threads_.front();
  }

  /// Takes file mappings rebuilt for a core without NT_FILE
  /// (plan::rebuild_file_mappings) as if NT_FILE had listed them, so that the
  /// planners read them as usual. Paths are owned here (moves keep them valid).
  void adopt_file_mappings(std::vector<owned_file_mapping> entries) {
    rebuilt_ = std::make_unique<std::vector<owned_file_mapping>>(std::move(entries));
    process_.files.clear();
    process_.files.reserve(rebuilt_->size());
    for (const auto& e : *rebuilt_) process_.files.push_back({e.start, e.end, e.offset, e.path});
    process_.file_page_size = Arch::page_size;
    process_.files_rebuilt = true;
  }

  /// Stops reading the mappings of `paths` as file mappings: their ranges
  /// are then anonymous memory to the planners (a file found nowhere whose
  /// pages are all in the core, plan::judge_unfound_files).
  template <class Paths>
  void forget_file_mappings(const Paths& paths) {
    std::erase_if(process_.files, [&](const file_mapping& f) { return paths.contains(f.path); });
  }

  /// The value of an auxv key, if present.
  std::optional<std::uint64_t> auxv(std::uint64_t key) const noexcept {
    for (const auto& a : process_.auxv)
      if (a.key == key) return a.value;
    return std::nullopt;
  }

  /// The segment containing `addr`, if any.
  const segment* segment_at(std::uint64_t addr) const noexcept {
    auto it = std::upper_bound(sorted_.begin(), sorted_.end(), addr,
                               [](std::uint64_t a, const segment* s) { return a < s->vaddr; });
    if (it == sorted_.begin()) return nullptr;
    const segment* s = *(it - 1);
    return addr < s->end() ? s : nullptr;
  }

  /// The dead process's memory from `addr` on, as a view into the core: the
  /// dumped bytes of the PT_LOAD that holds `addr`, from there to their end
  /// (empty when `addr` is right past them). nullopt when no PT_LOAD holds
  /// `addr` or its bytes there are not dumped. Lives as long as the core_view.
  std::optional<io::byte_view> memory(std::uint64_t addr) const noexcept {
    const segment* s = segment_at(addr);
    if (!s) return std::nullopt;
    const std::uint64_t off = addr - s->vaddr;
    if (off > s->bytes.size()) return std::nullopt;
    return *s->bytes.from(off, "memory");  // cannot fail: off is inside
  }

  /// `len` bytes of the dead process's memory at `addr`, as a view into the
  /// core, when they are dumped and lie in one PT_LOAD; nullopt otherwise.
  std::optional<io::byte_view> memory(std::uint64_t addr, std::uint64_t len) const noexcept {
    const auto m = memory(addr);
    if (!m || !m->covers(0, len)) return std::nullopt;
    return *m->sub(0, len, "memory");  // cannot fail: covered
  }

  /// A T copied from the dead process's memory at `addr`, if dumped.
  template <class T>
  std::optional<T> read_memory(std::uint64_t addr) const noexcept {
    const auto m = memory(addr, sizeof(T));
    if (!m) return std::nullopt;
    return *m->template load<T>(0, "memory");  // cannot fail: memory() covered it
  }

  /// A NUL-terminated string in the dead process's memory (at most `max` bytes).
  std::optional<std::string_view> read_string(std::uint64_t addr, std::size_t max = 4096) const noexcept {
    const auto m = memory(addr);
    if (!m) return std::nullopt;
    const auto* p = reinterpret_cast<const char*>(m->data());
    const std::size_t avail = std::min<std::uint64_t>(m->size(), max);
    const void* nul = std::memchr(p, 0, avail);
    if (!nul) return std::nullopt;
    return std::string_view(p, static_cast<std::size_t>(static_cast<const char*>(nul) - p));
  }

 private:
  result<void> parse_header() {
    NECRO_TRY_ASSIGN(ehdr_, read_elf_header(whole_));
    const identity id = identity_of(ehdr_);
    if (id.elf_class != Arch::elf_class)
      return fail(whole_.error_at(arch::elfc::ei_class, errc::unsupported,
                                  fmt::format("ELF class {} is not {}'s ELFCLASS{}", id.elf_class, Arch::name,
                                              Arch::elf_class == arch::elfc::class64 ? 64 : 32)));
    const unsigned char want_data =
        Arch::endian == std::endian::little ? arch::elfc::data_lsb : arch::elfc::data_msb;
    if (id.data != want_data)
      return fail(whole_.error_at(arch::elfc::ei_data, errc::unsupported,
                                  fmt::format("ELF data encoding {} is not {}'s", id.data, Arch::name)));
    if (id.type != arch::elfc::et_core)
      return fail(whole_.error_at(offsetof(ehdr64, type), errc::bad_value,
                                  fmt::format("ELF type {} is not ET_CORE (4): not a core dump", id.type)));
    if (id.machine != Arch::e_machine)
      return fail(whole_.error_at(offsetof(ehdr64, machine), errc::mismatch,
                                  fmt::format("ELF machine {} is not {} ({})", id.machine, Arch::name,
                                              Arch::e_machine)));
    if (ehdr_.phnum > 0 && ehdr_.phentsize != sizeof(phdr64))
      return fail(whole_.error_at(offsetof(ehdr64, phentsize), errc::bad_value,
                                  fmt::format("e_phentsize {} is not {}", ehdr_.phentsize, sizeof(phdr64))));
    return {};
  }

  /// Walks the program headers: PT_LOADs become segments, PT_NOTEs are parsed.
  result<void> parse_program_headers() {
    NECRO_TRY_ASSIGN(const std::uint64_t phnum, program_header_count());
    NECRO_TRY_ASSIGN(const io::byte_view table,
                     whole_.sub(ehdr_.phoff, phnum * sizeof(phdr64), "program header table"));
    segments_.reserve(static_cast<std::size_t>(phnum));
    std::uint32_t note_segments = 0;
    for (std::uint64_t i = 0; i < phnum; ++i) {
      NECRO_TRY_ASSIGN(const phdr64 ph, table.load<phdr64>(i * sizeof(phdr64), "program header"));
      const std::uint64_t at = ehdr_.phoff + i * sizeof(phdr64);
      if (ph.type == arch::elfc::pt_load) NECRO_TRY(take_load(ph, i, at));
      if (ph.type == arch::elfc::pt_note) NECRO_TRY(take_note_segment(ph, at, note_segments));
    }
    NECRO_TRY(index_segments());
    if (threads_.empty())
      return fail(error(errc::missing, std::string(path()), "no NT_PRSTATUS note: the core has no threads"));
    return {};
  }

  /// e_phnum, or with PN_XNUM the real count from section 0's sh_info; capped.
  result<std::uint64_t> program_header_count() const {
    std::uint64_t phnum = ehdr_.phnum;
    if (phnum == arch::elfc::pn_xnum) {
      // Take the whole Elf64_Shdr first: shoff + 44 could wrap around.
      NECRO_TRY_ASSIGN(const io::byte_view sh0,
                       whole_.sub(ehdr_.shoff, sizeof(shdr64), "section header 0 (PN_XNUM)"));
      NECRO_TRY_ASSIGN(const std::uint32_t real,
                       sh0.load<std::uint32_t>(offsetof(shdr64, info), "section 0 sh_info (PN_XNUM)"));
      phnum = real;
    }
    if (phnum > max_segments)
      return fail(whole_.error_at(offsetof(ehdr64, phnum), errc::limit,
                                  fmt::format("{} program headers exceed the cap of {}", phnum, max_segments)));
    return phnum;
  }

  /// A PT_LOAD (program header `i`, at file offset `at`) checked to be a VMA
  /// CRIU can restore, kept as a segment.
  result<void> take_load(const phdr64& ph, std::uint64_t i, std::uint64_t at) {
    const auto bad = [&](std::string what) {
      return fail(whole_.error_at(at, errc::bad_value, fmt::format("PT_LOAD (program header {}) {}", i, what)));
    };
    if (ph.filesz > ph.memsz) return bad(fmt::format("has p_filesz {:#x} > p_memsz {:#x}", ph.filesz, ph.memsz));
    // A VMA is never empty; CRIU cannot restore one.
    if (ph.memsz == 0) return bad(fmt::format("at {:#x} has p_memsz 0", ph.vaddr));
    if (ph.vaddr + ph.memsz < ph.vaddr) return bad(fmt::format("at {:#x} wraps the address space", ph.vaddr));
    // A VMA is whole pages; an unaligned one would reach CRIU as is.
    if (ph.vaddr % Arch::page_size != 0) return bad(fmt::format("at {:#x} is not page aligned", ph.vaddr));
    if (ph.memsz % Arch::page_size != 0)
      return bad(fmt::format("at {:#x} has p_memsz {:#x}, not a multiple of the page size {:#x}", ph.vaddr, ph.memsz,
                             Arch::page_size));
    NECRO_TRY_ASSIGN(io::byte_view b, whole_.sub(ph.offset, ph.filesz,
                                                 fmt::format("PT_LOAD (program header {}) at {:#x}: bytes", i, ph.vaddr)));
    segments_.push_back(segment{ph.vaddr, ph.memsz, ph.filesz, ph.offset, ph.flags, b, at});
    return {};
  }

  /// A PT_NOTE (at file offset `at`): its notes parsed; at most max_note_segments of them.
  result<void> take_note_segment(const phdr64& ph, std::uint64_t at, std::uint32_t& note_segments) {
    if (++note_segments > max_note_segments)
      return fail(whole_.error_at(at, errc::limit, fmt::format("more than {} PT_NOTE segments", max_note_segments)));
    NECRO_TRY_ASSIGN(const io::byte_view notes, whole_.sub(ph.offset, ph.filesz, "PT_NOTE segment"));
    return parse_notes(notes);
  }

  /// The segments sorted by address for segment_at; overlapping ones are an error.
  result<void> index_segments() {
    sorted_.reserve(segments_.size());
    for (const auto& s : segments_) sorted_.push_back(&s);
    std::sort(sorted_.begin(), sorted_.end(), [](const segment* a, const segment* b) { return a->vaddr < b->vaddr; });
    for (std::size_t i = 1; i < sorted_.size(); ++i)
      if (sorted_[i]->vaddr < sorted_[i - 1]->end())
        return fail(whole_.error_at(sorted_[i]->header_offset, errc::bad_value,
                                    fmt::format("PT_LOAD at {:#x} overlaps the one at {:#x}", sorted_[i]->vaddr,
                                                sorted_[i - 1]->vaddr)));
    return {};
  }

  result<void> parse_notes(const io::byte_view& seg) {
    return for_each_note(seg, [this](const note& n) -> result<void> {
      // Not `core`/`linux`: `linux` is a predefined macro under -std=gnu++XX.
      const bool owner_core = n.owner == arch::owner_core;
      const bool owner_linux = n.owner == arch::owner_linux;
      if (owner_core && n.type == arch::nt::prstatus) return take_prstatus(n);
      if (owner_core && n.type == arch::nt::prpsinfo) {
        if (n.desc.size() < sizeof(typename Arch::prpsinfo))
          return fail(n.desc.short_read(0, sizeof(typename Arch::prpsinfo), "NT_PRPSINFO"));
        process_.prpsinfo = n.desc;
        return {};
      }
      if (owner_core && n.type == arch::nt::siginfo) {
        process_.siginfo = n.desc;
        return {};
      }
      if (owner_core && n.type == arch::nt::auxv) return parse_auxv(n.desc);
      if (owner_core && n.type == arch::nt::file) return parse_nt_file(n.desc);
      if (owner_linux && Arch::take_process_note(process_, n.type, n.desc)) return {};
      // Regsets belong to the thread whose NT_PRSTATUS came last.
      if ((owner_core && n.type == Arch::nt_fpregs) || (owner_linux && n.type >= arch::nt::first_linux_regset)) {
        if (threads_.empty()) {
          ++process_.unknown_notes;
          return {};
        }
        return take_regset(threads_.back(), n, owner_core);
      }
      ++process_.unknown_notes;
      return {};
    });
  }

  /// NT_PRSTATUS opens a thread's group of notes.
  result<void> take_prstatus(const note& n) {
    if (threads_.size() >= max_threads)
      return fail(n.desc.error_at(0, errc::limit, fmt::format("more than {} threads", max_threads)));
    if (n.desc.size() != sizeof(typename Arch::prstatus))
      return fail(n.desc.error_at(0, errc::bad_value,
                                  fmt::format("NT_PRSTATUS has {} bytes, {} expects {}", n.desc.size(), Arch::name,
                                              sizeof(typename Arch::prstatus))));
    thread_notes<Arch> t;
    NECRO_TRY_ASSIGN(t.prstatus, n.desc.template load<typename Arch::prstatus>(0, "NT_PRSTATUS"));
    threads_.push_back(std::move(t));
    return {};
  }

  /// A regset of thread `t`: the FP regset (owner CORE), one the architecture
  /// reads, or another kept unparsed.
  result<void> take_regset(thread_notes<Arch>& t, const note& n, bool owner_core) {
    if (owner_core && n.type == Arch::nt_fpregs) {
      if (n.desc.size() != sizeof(typename Arch::fpregs))
        return fail(n.desc.error_at(0, errc::bad_value,
                                    fmt::format("FP regset note has {} bytes, expected {}", n.desc.size(),
                                                sizeof(typename Arch::fpregs))));
      NECRO_TRY_ASSIGN(t.fpregs, n.desc.template load<typename Arch::fpregs>(0, "FP regset"));
      return {};
    }
    NECRO_TRY_ASSIGN(const bool taken, Arch::take_thread_regset(t, n.type, n.desc));
    if (!taken) t.others.push_back(n);
    return {};
  }

  result<void> parse_auxv(const io::byte_view& d) {
    if (d.size() % sizeof(auxv_entry) != 0)
      return fail(d.error_at(0, errc::bad_value, fmt::format("NT_AUXV size {} is not a multiple of {}", d.size(),
                                                             sizeof(auxv_entry))));
    if (d.size() / 8 > max_auxv_words)
      return fail(d.error_at(0, errc::limit, fmt::format("NT_AUXV has {} words, cap is {}", d.size() / 8, max_auxv_words)));
    process_.auxv_bytes = d;
    process_.auxv.clear();
    for (std::uint64_t off = 0; off < d.size(); off += sizeof(auxv_entry)) {
      NECRO_TRY_ASSIGN(const auto k, d.load<std::uint64_t>(off + offsetof(auxv_entry, key), "auxv key"));
      NECRO_TRY_ASSIGN(const auto v, d.load<std::uint64_t>(off + offsetof(auxv_entry, value), "auxv value"));
      process_.auxv.push_back({k, v});
      if (k == arch::at::null) break;
    }
    return {};
  }

  /// NT_FILE: the header, `count` typed entries, then as many paths.
  result<void> parse_nt_file(const io::byte_view& d) {
    using entry = arch::lp64_core_abi::nt_file_entry;
    using header = arch::lp64_core_abi::nt_file_header;
    NECRO_TRY_ASSIGN(const auto count, d.load<std::uint64_t>(offsetof(header, count), "NT_FILE count"));
    NECRO_TRY_ASSIGN(const auto page, d.load<std::uint64_t>(offsetof(header, page_size), "NT_FILE page size"));
    if (count > max_file_entries)
      return fail(d.error_at(0, errc::limit, fmt::format("NT_FILE count {} exceeds the cap of {}", count, max_file_entries)));
    if (page == 0 || (page & (page - 1)) != 0)
      return fail(d.error_at(offsetof(header, page_size), errc::bad_value,
                             fmt::format("NT_FILE page size {} is not a power of two", page)));
    const std::uint64_t table = sizeof(header);
    if (!d.covers(table, count * sizeof(entry)))
      return fail(d.short_read(table, count * sizeof(entry), fmt::format("NT_FILE table of {} entries", count)));
    process_.file_page_size = page;
    process_.nt_file = true;
    process_.files.clear();
    process_.files.reserve(static_cast<std::size_t>(count));
    std::uint64_t name_pos = table + count * sizeof(entry);
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::uint64_t at = table + i * sizeof(entry);
      NECRO_TRY_ASSIGN(const entry e, d.load<entry>(at, "NT_FILE entry"));
      if (e.end < e.start)
        return fail(d.error_at(at, errc::bad_value,
                               fmt::format("NT_FILE entry {} ends ({:#x}) before it starts ({:#x})", i, e.end, e.start)));
      if (e.file_ofs > UINT64_MAX / page)
        return fail(d.error_at(at + offsetof(entry, file_ofs), errc::bad_value,
                               fmt::format("NT_FILE entry {} offset overflows", i)));
      NECRO_TRY_ASSIGN(const std::string_view name, nt_file_name(d, name_pos, i));
      process_.files.push_back(file_mapping{e.start, e.end, e.file_ofs * page, name});
      name_pos += name.size() + 1;
    }
    return {};
  }

  /// NT_FILE's `i`th path, NUL-terminated at `pos` of `d`.
  static result<std::string_view> nt_file_name(const io::byte_view& d, std::uint64_t pos, std::uint64_t i) {
    if (pos >= d.size()) return fail(d.short_read(pos, 1, fmt::format("NT_FILE name {}", i)));
    const auto* p = reinterpret_cast<const char*>(d.data() + pos);
    const void* nul = std::memchr(p, 0, d.size() - pos);
    if (!nul) return fail(d.error_at(pos, errc::truncated, fmt::format("NT_FILE name {} is not NUL-terminated", i)));
    return std::string_view(p, static_cast<std::size_t>(static_cast<const char*>(nul) - p));
  }

  io::byte_view whole_;
  std::unique_ptr<io::mapped_file> file_;
  std::unique_ptr<std::vector<owned_file_mapping>> rebuilt_;  ///< owns the paths of adopted mappings
  ehdr64 ehdr_{};
  std::vector<segment> segments_;
  std::vector<const segment*> sorted_;
  std::vector<thread_notes<Arch>> threads_;
  process_notes<Arch> process_;
};

}  // namespace necro::elf

#endif
