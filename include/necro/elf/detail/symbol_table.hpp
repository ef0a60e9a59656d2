/// necro::elf::detail::find_symbol: the lookup of one defined symbol in an
/// ELF64 symbol table and its string table (elf/dynamic_symbols.hpp).
#ifndef NECRO_ELF_DETAIL_SYMBOL_TABLE_HPP
#define NECRO_ELF_DETAIL_SYMBOL_TABLE_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

#include <necro/elf/types.hpp>
#include <necro/io/byte_view.hpp>
#include <necro/io/error.hpp>

namespace necro::elf::detail {

/// The defined symbol `name` in the symbol table `tab` (strings in
/// `strtab`), looking at no more than `max_symbols` entries.
inline result<std::optional<std::uint64_t>> find_symbol(const io::byte_view& tab, const io::byte_view& strtab,
                                                        std::string_view name, std::uint64_t max_symbols) {
  const std::uint64_t n = std::min<std::uint64_t>(tab.size() / sizeof(sym64), max_symbols);
  for (std::uint64_t i = 1; i < n; ++i) {
    NECRO_TRY_ASSIGN(const auto s, tab.load<sym64>(i * sizeof(sym64), "dynamic symbol"));
    if (s.shndx == 0 || s.name >= strtab.size() || strtab.size() - s.name <= name.size()) continue;
    const auto* p = reinterpret_cast<const char*>(strtab.data() + s.name);
    if (std::memcmp(p, name.data(), name.size()) == 0 && p[name.size()] == '\0') return std::optional(s.value);
  }
  return std::optional<std::uint64_t>{};
}

}  // namespace necro::elf::detail

#endif
