/// necro::elf::dynamic_symbol: the value (st_value) of a symbol in an ELF64
/// little-endian file's dynamic symbol table (.dynsym, through the section
/// headers), read from the file's bytes. Used for glibc's __rseq_offset and
/// __rseq_size, which a donor-less set needs to register rseq again.
#ifndef NECRO_ELF_DYNAMIC_SYMBOLS_HPP
#define NECRO_ELF_DYNAMIC_SYMBOLS_HPP
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include <necro/elf/detail/symbol_table.hpp>
#include <necro/elf/identity.hpp>
#include <necro/elf/types.hpp>
#include <necro/io/byte_view.hpp>
#include <necro/io/error.hpp>

namespace necro::elf {

/// SHT_DYNSYM, and caps on what is read of a hostile file.
inline constexpr std::uint32_t sht_dynsym = 11;
inline constexpr std::uint32_t max_section_headers = 1u << 16;
inline constexpr std::uint64_t max_dynamic_symbols = 1u << 22;

/// st_value of the defined dynamic symbol `name` of the ELF file `file`;
/// nullopt when the file has no .dynsym or no such symbol (a file that is not
/// ELF64 little-endian is an error naming it).
inline result<std::optional<std::uint64_t>> dynamic_symbol(const io::byte_view& file, std::string_view name) {
  NECRO_TRY_ASSIGN(const auto eh, file.load<ehdr64>(0, "ELF header"));
  if (!has_elf_magic(eh) || !identity_of(eh).elf64_lsb())
    return fail(file.error_at(0, errc::unsupported, "not an ELF64 little-endian file"));
  // e_shnum is 16 bits wide: the cap holds by the field's width.
  static_assert(std::numeric_limits<decltype(eh.shnum)>::max() < max_section_headers,
                "necro: e_shnum can exceed max_section_headers: check it");
  if (eh.shentsize != sizeof(shdr64)) return std::optional<std::uint64_t>{};
  for (std::uint64_t i = 0; i < eh.shnum; ++i) {
    NECRO_TRY_ASSIGN(const auto sh, file.load<shdr64>(eh.shoff + i * sizeof(shdr64), "section header"));
    if (sh.type != sht_dynsym) continue;
    NECRO_TRY_ASSIGN(const auto link, file.load<shdr64>(eh.shoff + std::uint64_t{sh.link} * sizeof(shdr64),
                                                        "section header of .dynstr"));
    NECRO_TRY_ASSIGN(const auto tab, file.sub(sh.offset, sh.size, ".dynsym"));
    NECRO_TRY_ASSIGN(const auto str, file.sub(link.offset, link.size, ".dynstr"));
    return detail::find_symbol(tab, str, name, max_dynamic_symbols);
  }
  return std::optional<std::uint64_t>{};
}

}  // namespace necro::elf

#endif
