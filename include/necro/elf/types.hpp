/// Fixed-width mirrors of the ELF64 file header, program header, section
/// header, symbol, dynamic entry and note header.
#ifndef NECRO_ELF_TYPES_HPP
#define NECRO_ELF_TYPES_HPP
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace necro::elf {

/// Elf64_Ehdr
struct ehdr64 {
  std::array<unsigned char, 16> ident;
  std::uint16_t type, machine;
  std::uint32_t version;
  std::uint64_t entry, phoff, shoff;
  std::uint32_t flags;
  std::uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
static_assert(sizeof(ehdr64) == 64);
static_assert(offsetof(ehdr64, phoff) == 32);
static_assert(offsetof(ehdr64, type) == 16);
static_assert(offsetof(ehdr64, machine) == 18);
static_assert(offsetof(ehdr64, phentsize) == 54);
static_assert(offsetof(ehdr64, phnum) == 56);

/// Elf64_Phdr
struct phdr64 {
  std::uint32_t type, flags;
  std::uint64_t offset, vaddr, paddr, filesz, memsz, align;
};
static_assert(sizeof(phdr64) == 56);

/// Elf64_Shdr
struct shdr64 {
  std::uint32_t name, type;
  std::uint64_t flags, addr, offset, size;
  std::uint32_t link, info;
  std::uint64_t addralign, entsize;
};
static_assert(sizeof(shdr64) == 64);
static_assert(offsetof(shdr64, info) == 44);

/// Elf64_Sym
struct sym64 {
  std::uint32_t name;
  unsigned char info, other;
  std::uint16_t shndx;
  std::uint64_t value, size;
};
static_assert(sizeof(sym64) == 24);

/// Elf64_Dyn
struct dyn64 {
  std::uint64_t tag, val;
};
static_assert(sizeof(dyn64) == 16);
static_assert(offsetof(dyn64, val) == 8);

/// Elf64_Nhdr (same layout as Elf32_Nhdr)
struct nhdr {
  std::uint32_t namesz, descsz, type;
};
static_assert(sizeof(nhdr) == 12);

}  // namespace necro::elf

#endif
