/// necro::elf::identify and read_elf_header: the one check of an ELF file's
/// identity (magic, class, data encoding, type, machine) that core_view, the
/// build-id, file-layout and dynamic-symbol readers and the CLI's
/// architecture dispatch share.
#ifndef NECRO_ELF_IDENTITY_HPP
#define NECRO_ELF_IDENTITY_HPP
#pragma once

#include <algorithm>
#include <cstdint>

#include <necro/arch/common.hpp>
#include <necro/elf/types.hpp>
#include <necro/io/byte_view.hpp>
#include <necro/io/error.hpp>

namespace necro::elf {

/// Whether `file` starts with the ELF magic (false when shorter than it).
inline bool has_elf_magic(const io::byte_view& file) noexcept {
  return file.covers(0, arch::elfc::magic.size()) &&
         std::equal(arch::elfc::magic.begin(), arch::elfc::magic.end(),
                    reinterpret_cast<const unsigned char*>(file.data()));
}

/// Whether the header `eh` starts with the ELF magic.
inline bool has_elf_magic(const ehdr64& eh) noexcept {
  return std::equal(arch::elfc::magic.begin(), arch::elfc::magic.end(), eh.ident.begin());
}

/// What the ELF header says the file is.
struct identity {
  unsigned char elf_class = 0;  ///< EI_CLASS: 1 ELFCLASS32, 2 ELFCLASS64
  unsigned char data = 0;       ///< EI_DATA: 1 little-endian, 2 big-endian
  std::uint16_t type = 0;       ///< e_type (4: ET_CORE)
  std::uint16_t machine = 0;    ///< e_machine (62: x86-64, 183: aarch64)
  /// ELFCLASS64 and ELFDATA2LSB: the layout every reader here walks.
  bool elf64_lsb() const noexcept { return elf_class == arch::elfc::class64 && data == arch::elfc::data_lsb; }
};

/// The identity in the header `eh` (whose magic the caller checked).
inline identity identity_of(const ehdr64& eh) noexcept {
  return identity{eh.ident[arch::elfc::ei_class], eh.ident[arch::elfc::ei_data], eh.type, eh.machine};
}

/// The ELF64 header at the start of `file`: an error (truncated) when the file
/// is shorter than one, (bad_magic at offset 0) when it is not ELF.
[[nodiscard]] inline result<ehdr64> read_elf_header(const io::byte_view& file) {
  NECRO_TRY_ASSIGN(const ehdr64 eh, file.load<ehdr64>(0, "ELF header"));
  if (!has_elf_magic(eh)) return fail(file.error_at(0, errc::bad_magic, "not an ELF file (bad magic)"));
  return eh;
}

/// The identity of the ELF file `file`, with read_elf_header's errors (as
/// core_view reports them).
[[nodiscard]] inline result<identity> identify(const io::byte_view& file) {
  NECRO_TRY_ASSIGN(const ehdr64 eh, read_elf_header(file));
  return identity_of(eh);
}

}  // namespace necro::elf

#endif
