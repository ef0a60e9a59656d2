/// necro::elf::detail::walk_build_id: the walk of an ELF image's program
/// headers and PT_NOTE segments to its NT_GNU_BUILD_ID, shared by the file
/// reader and the core-memory reader of elf/build_id.hpp, in named steps.
#ifndef NECRO_ELF_DETAIL_BUILD_ID_WALK_HPP
#define NECRO_ELF_DETAIL_BUILD_ID_WALK_HPP
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/elf/identity.hpp>
#include <necro/elf/notes.hpp>
#include <necro/elf/types.hpp>
#include <necro/io/byte_view.hpp>
#include <necro/io/error.hpp>

namespace necro::elf {

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

namespace detail {

using maybe_view = std::optional<io::byte_view>;

/// An ELF header and the bytes it was read from (for error offsets).
struct elf_head {
  io::byte_view bytes;
  ehdr64 eh;
};

/// The ELF64 little-endian header at `base`: nullopt when it is not available
/// or not ELF (a file that is not ELF has no build-id: not an error).
template <class Fetch>
result<std::optional<elf_head>> fetch_elf_head(Fetch& fetch, std::uint64_t base) {
  NECRO_TRY_ASSIGN(const maybe_view head, fetch(base, sizeof(ehdr64), "ELF header"));
  if (!head || !has_elf_magic(*head)) return std::optional<elf_head>{};
  NECRO_TRY_ASSIGN(const ehdr64 eh, head->load<ehdr64>(0, "ELF header"));
  if (!identity_of(eh).elf64_lsb())
    return fail(head->error_at(arch::elfc::ei_class, errc::unsupported,
                               fmt::format("ELF class {} data {} is not ELF64 little-endian: build-id not read",
                                           eh.ident[arch::elfc::ei_class], eh.ident[arch::elfc::ei_data])));
  return std::optional<elf_head>(elf_head{*head, eh});
}

/// The program header table of `h` (nullopt when it has none or it is not available).
template <class Fetch>
result<maybe_view> fetch_program_headers(Fetch& fetch, const elf_head& h, std::uint64_t base) {
  if (h.eh.phnum == 0) return maybe_view{};
  if (h.eh.phentsize != sizeof(phdr64))
    return fail(h.bytes.error_at(offsetof(ehdr64, phentsize), errc::bad_value,
                                 fmt::format("e_phentsize {} is not {}", h.eh.phentsize, sizeof(phdr64))));
  // phnum <= 0xffff, so the table size cannot overflow; its position can.
  const std::uint64_t table_len = std::uint64_t{h.eh.phnum} * sizeof(phdr64);
  if (h.eh.phoff > UINT64_MAX - base)
    return fail(h.bytes.error_at(offsetof(ehdr64, phoff), errc::bad_value,
                                 fmt::format("e_phoff {:#x} wraps around", h.eh.phoff)));
  return fetch(base + h.eh.phoff, table_len, "program header table");
}

/// The load bias of an image loaded at `load_start`: where its first PT_LOAD's
/// page landed, less where it asked to be (0 for ET_EXEC).
inline result<std::uint64_t> load_bias(const io::byte_view& table, const ehdr64& eh, std::uint64_t load_start,
                                       std::uint64_t page_size) {
  if (eh.type == arch::elfc::et_exec) return std::uint64_t{0};
  for (std::uint64_t i = 0; i < eh.phnum; ++i) {
    NECRO_TRY_ASSIGN(const phdr64 ph, table.load<phdr64>(i * sizeof(phdr64), "program header"));
    if (ph.type != arch::elfc::pt_load) continue;
    return load_start - (ph.vaddr & ~(page_size - 1));  // modular, like the loader's arithmetic
  }
  return std::uint64_t{0};
}

/// The NT_GNU_BUILD_ID descriptor among the notes of `seg`, if any.
inline result<maybe_view> build_id_note(const io::byte_view& seg, note_align align) {
  maybe_view found;
  NECRO_TRY(for_each_note(
      seg,
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
  return found;
}

/// The PT_NOTE program header `i` (at `table`'s offset `at`) within the caps.
inline result<void> check_note_segment(const io::byte_view& table, const phdr64& ph, std::uint64_t i,
                                       std::uint32_t note_segments) {
  const std::uint64_t at = i * sizeof(phdr64);
  if (note_segments > max_build_id_note_segments)
    return fail(table.error_at(at, errc::limit, fmt::format("more than {} PT_NOTE segments", max_build_id_note_segments)));
  if (ph.filesz > max_build_id_note_bytes)
    return fail(table.error_at(at, errc::limit,
                               fmt::format("PT_NOTE (program header {}) of {} bytes exceeds the cap of {}", i,
                                           ph.filesz, max_build_id_note_bytes)));
  return {};
}

/// Walks an ELF image reached through `fetch(pos, len, what)`, which returns
/// result<std::optional<io::byte_view>>: the bytes at `pos` (an error if they
/// cannot be there, nullopt if they exist but are not available, e.g. not
/// dumped). `load_start` is unset for a file (positions are file offsets), or
/// the address where the file's offset 0 is mapped (positions are addresses).
template <class Fetch>
result<maybe_view> walk_build_id(Fetch&& fetch, std::optional<std::uint64_t> load_start, std::uint64_t page_size) {
  const std::uint64_t base = load_start.value_or(0);
  NECRO_TRY_ASSIGN(const std::optional<elf_head> head, fetch_elf_head(fetch, base));
  if (!head) return maybe_view{};
  NECRO_TRY_ASSIGN(const maybe_view table, fetch_program_headers(fetch, *head, base));
  if (!table) return maybe_view{};
  std::uint64_t bias = 0;
  if (load_start) {
    NECRO_TRY_ASSIGN(bias, load_bias(*table, head->eh, *load_start, page_size));
  }

  std::uint32_t note_segments = 0;
  for (std::uint64_t i = 0; i < head->eh.phnum; ++i) {
    NECRO_TRY_ASSIGN(const phdr64 ph, table->load<phdr64>(i * sizeof(phdr64), "program header"));
    if (ph.type != arch::elfc::pt_note) continue;
    NECRO_TRY(check_note_segment(*table, ph, i, ++note_segments));
    const std::uint64_t pos = load_start ? bias + ph.vaddr : ph.offset;
    NECRO_TRY_ASSIGN(const maybe_view seg, fetch(pos, ph.filesz, "PT_NOTE segment"));
    if (!seg) continue;  // not available: another PT_NOTE may still have it
    NECRO_TRY_ASSIGN(const maybe_view found, build_id_note(*seg, ph.align == 8 ? note_align::eight : note_align::four));
    if (found) return found;
  }
  return maybe_view{};
}

}  // namespace detail
}  // namespace necro::elf

#endif
