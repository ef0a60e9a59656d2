/// necro::elf::read_build_id and victim_build_id: the GNU build-id
/// (NT_GNU_BUILD_ID, owner "GNU") of an ELF64 little-endian file, read from the
/// file's bytes (PT_NOTE at file offsets) or from a core's memory where the dead
/// process had the file loaded (PT_NOTE at the load bias plus p_vaddr). Both walk
/// the same bounds-checked program headers; nothing is copied.
#ifndef NECRO_ELF_BUILD_ID_HPP
#define NECRO_ELF_BUILD_ID_HPP
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/elf/identity.hpp>
#include <necro/elf/notes.hpp>
#include <necro/elf/types.hpp>
#include <necro/io/byte_view.hpp>
#include <necro/io/error.hpp>

namespace necro::elf {

template <class Arch>
class core_view;

/// NT_GNU_BUILD_ID: note type 3 of owner "GNU".
inline constexpr std::uint32_t nt_gnu_build_id = 3;
inline constexpr std::string_view owner_gnu = "GNU";

/// Caps on what the build-id walk reads (hostile files and cores).
/// PT_NOTE segments looked at: binaries have two or three.
inline constexpr std::uint32_t max_build_id_note_segments = 16;
/// Bytes of one PT_NOTE segment: real ones are tens of bytes.
inline constexpr std::uint64_t max_build_id_note_bytes = 1u << 16;
/// Bytes of a build-id: SHA-1 is 20, md5 and uuid 16; `ld --build-id=0xHEX` any.
inline constexpr std::uint64_t max_build_id_bytes = 64;

/// Lower-case hex of `bytes`, as readelf and `file` print a build-id.
inline std::string to_hex(std::span<const std::byte> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (const std::byte b : bytes) {
    s.push_back(digits[std::to_integer<unsigned>(b) >> 4]);
    s.push_back(digits[std::to_integer<unsigned>(b) & 0xf]);
  }
  return s;
}

namespace detail {

/// Walks an ELF image reached through `fetch(pos, len, what)`, which returns
/// result<std::optional<io::byte_view>>: the bytes at `pos` (an error if they
/// cannot be there, nullopt if they exist but are not available, e.g. not
/// dumped). `load_start` is unset for a file (positions are file offsets), or
/// the address where the file's offset 0 is mapped (positions are addresses).
template <class Fetch>
result<std::optional<io::byte_view>> walk_build_id(Fetch&& fetch, std::optional<std::uint64_t> load_start,
                                                   std::uint64_t page_size) {
  using opt = std::optional<io::byte_view>;
  const std::uint64_t base = load_start.value_or(0);
  NECRO_TRY_ASSIGN(const opt head, fetch(base, sizeof(ehdr64), "ELF header"));
  if (!head) return opt{};
  // A file that is not ELF has no build-id: that is not an error.
  if (!has_elf_magic(*head)) return opt{};
  NECRO_TRY_ASSIGN(const ehdr64 eh, head->load<ehdr64>(0, "ELF header"));
  if (eh.ident[4] != arch::elfc::class64 || eh.ident[5] != arch::elfc::data_lsb)
    return fail(head->error_at(4, errc::unsupported,
                               fmt::format("ELF class {} data {} is not ELF64 little-endian: build-id not read",
                                           eh.ident[4], eh.ident[5])));
  if (eh.phnum == 0) return opt{};
  if (eh.phentsize != sizeof(phdr64))
    return fail(head->error_at(54, errc::bad_value, fmt::format("e_phentsize {} is not {}", eh.phentsize, sizeof(phdr64))));
  // phnum <= 0xffff, so the table size cannot overflow; its position can.
  const std::uint64_t table_len = std::uint64_t{eh.phnum} * sizeof(phdr64);
  if (eh.phoff > UINT64_MAX - base)
    return fail(head->error_at(32, errc::bad_value, fmt::format("e_phoff {:#x} wraps around", eh.phoff)));
  NECRO_TRY_ASSIGN(const opt table, fetch(base + eh.phoff, table_len, "program header table"));
  if (!table) return opt{};

  // The load bias: where the first PT_LOAD's page landed, less where it asked to be.
  std::uint64_t bias = 0;
  if (load_start && eh.type != arch::elfc::et_exec) {
    for (std::uint64_t i = 0; i < eh.phnum; ++i) {
      NECRO_TRY_ASSIGN(const phdr64 ph, table->load<phdr64>(i * sizeof(phdr64), "program header"));
      if (ph.type != arch::elfc::pt_load) continue;
      bias = *load_start - (ph.vaddr & ~(page_size - 1));  // modular, like the loader's arithmetic
      break;
    }
  }

  opt found;
  std::uint32_t note_segments = 0;
  for (std::uint64_t i = 0; i < eh.phnum && !found; ++i) {
    NECRO_TRY_ASSIGN(const phdr64 ph, table->load<phdr64>(i * sizeof(phdr64), "program header"));
    if (ph.type != arch::elfc::pt_note) continue;
    if (++note_segments > max_build_id_note_segments)
      return fail(table->error_at(i * sizeof(phdr64), errc::limit,
                                  fmt::format("more than {} PT_NOTE segments", max_build_id_note_segments)));
    if (ph.filesz > max_build_id_note_bytes)
      return fail(table->error_at(i * sizeof(phdr64), errc::limit,
                                  fmt::format("PT_NOTE (program header {}) of {} bytes exceeds the cap of {}", i,
                                              ph.filesz, max_build_id_note_bytes)));
    const std::uint64_t pos = load_start ? bias + ph.vaddr : ph.offset;
    NECRO_TRY_ASSIGN(const opt seg, fetch(pos, ph.filesz, "PT_NOTE segment"));
    if (!seg) continue;  // not available: another PT_NOTE may still have it
    const auto align = ph.align == 8 ? note_align::eight : note_align::four;
    NECRO_TRY(for_each_note(
        *seg,
        [&found](const note& n) -> result<void> {
          if (found || n.owner != owner_gnu || n.type != nt_gnu_build_id) return {};
          if (n.desc.empty() || n.desc.size() > max_build_id_bytes)
            return fail(n.desc.error_at(0, errc::bad_value,
                                        fmt::format("NT_GNU_BUILD_ID of {} bytes (expected 1 to {})", n.desc.size(),
                                                    max_build_id_bytes)));
          found = n.desc;
          return {};
        },
        align));
  }
  return found;
}

}  // namespace detail

/// The GNU build-id of the ELF file whose bytes are `file` (from offset 0, e.g.
/// a mapped_file's view). nullopt when the file is not ELF or has no
/// NT_GNU_BUILD_ID note; an error naming the offset when the headers or notes
/// run past the file or exceed the caps. The view points into `file`.
inline result<std::optional<io::byte_view>> read_build_id(const io::byte_view& file) {
  // Not ELF (even shorter than a header) is no build-id; ELF cut short is an error.
  if (!has_elf_magic(file)) return std::optional<io::byte_view>{};
  return detail::walk_build_id(
      [&file](std::uint64_t pos, std::uint64_t len, std::string_view what) -> result<std::optional<io::byte_view>> {
        NECRO_TRY_ASSIGN(io::byte_view v, file.sub(pos, len, what));
        return std::optional<io::byte_view>(v);
      },
      std::nullopt, 4096);
}

/// `len` bytes of the dead process's memory at `addr`, as a view into the core,
/// when they are dumped and lie in one PT_LOAD; nullopt otherwise.
template <class Arch>
std::optional<io::byte_view> memory_view(const core_view<Arch>& core, std::uint64_t addr, std::uint64_t len) {
  const auto* s = core.segment_at(addr);
  if (!s) return std::nullopt;
  auto v = s->bytes.sub(addr - s->vaddr, len, "memory");
  if (!v) return std::nullopt;
  return *v;
}

/// The build-id of `path` as the dead process had it loaded: read from the
/// core's memory at each NT_FILE mapping of `path` at file offset 0 (the ELF
/// header; coredump_filter bit 4 dumps it). nullopt when no such mapping is
/// dumped with its headers and notes, or the file is not ELF or has no
/// build-id. Errors (naming the core and its offset) for malformed headers.
/// The view points into the core.
template <class Arch>
result<std::optional<io::byte_view>> victim_build_id(const core_view<Arch>& core, std::string_view path) {
  for (const auto& f : core.process().files) {
    if (f.path != path || f.offset != 0) continue;
    // The notes may lie in a later mapping of the file (its other PT_LOADs).
    auto fetch = [&core](std::uint64_t pos, std::uint64_t len,
                         std::string_view) -> result<std::optional<io::byte_view>> {
      return memory_view(core, pos, len);
    };
    NECRO_TRY_ASSIGN(auto id, detail::walk_build_id(fetch, f.start, Arch::page_size));
    if (id) return id;
  }
  return std::optional<io::byte_view>{};
}

}  // namespace necro::elf

#endif
