/// necro::elf::detail::align4 and align8: note names and descriptors are
/// padded to 4 bytes (8 in a PT_NOTE segment whose p_align is 8).
#ifndef NECRO_ELF_DETAIL_ALIGN_HPP
#define NECRO_ELF_DETAIL_ALIGN_HPP
#pragma once

#include <cstdint>

namespace necro::elf::detail {
constexpr std::uint64_t align4(std::uint64_t v) noexcept { return (v + 3) & ~std::uint64_t{3}; }
constexpr std::uint64_t align8(std::uint64_t v) noexcept { return (v + 7) & ~std::uint64_t{7}; }
}  // namespace necro::elf::detail

#endif
