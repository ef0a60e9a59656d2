/// necro::elf::read_file_layout: what an ELF64 little-endian file (a program
/// or shared object, given as its bytes) tells its loader: its type, machine,
/// entry point, where its program headers are, its PT_LOAD program headers
/// and GNU build-id. Bounds-checked and capped; nothing is copied but the
/// program headers.
#ifndef NECRO_ELF_FILE_LAYOUT_HPP
#define NECRO_ELF_FILE_LAYOUT_HPP
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/elf/build_id.hpp>
#include <necro/elf/identity.hpp>
#include <necro/elf/types.hpp>
#include <necro/io/byte_view.hpp>
#include <necro/io/error.hpp>

namespace necro::elf {

/// A loader-visible summary of an ELF file.
struct file_layout {
  std::uint16_t type = 0;             ///< ET_EXEC or ET_DYN
  std::uint16_t machine = 0;          ///< e_machine
  std::uint64_t entry = 0;            ///< e_entry
  std::uint64_t phoff = 0;            ///< e_phoff: where the program headers are in the file
  std::uint16_t phnum = 0;            ///< e_phnum (every type, not only PT_LOAD)
  std::vector<phdr64> loads;          ///< PT_LOAD program headers, in file order
  std::optional<std::string> build_id;  ///< lower-case hex
};

/// Reads the layout of the ELF file whose bytes are `file`. Errors name the
/// file and the offset: not ELF64 little-endian, headers past its end, no
/// PT_LOAD, or more program headers than an object has.
inline result<file_layout> read_file_layout(const io::byte_view& file) {
  NECRO_TRY_ASSIGN(const ehdr64 eh, read_elf_header(file));
  if (!identity_of(eh).elf64_lsb())
    return fail(file.error_at(arch::elfc::ei_class, errc::unsupported, "not ELF64 little-endian"));
  if (eh.type != arch::elfc::et_exec && eh.type != arch::elfc::et_dyn)
    return fail(file.error_at(offsetof(ehdr64, type), errc::bad_value,
                              fmt::format("ELF type {} is neither ET_EXEC nor ET_DYN", eh.type)));
  if (eh.phentsize != sizeof(phdr64))
    return fail(file.error_at(offsetof(ehdr64, phentsize), errc::bad_value, fmt::format("e_phentsize {} is not {}", eh.phentsize, sizeof(phdr64))));
  NECRO_TRY_ASSIGN(const io::byte_view table,
                   file.sub(eh.phoff, std::uint64_t{eh.phnum} * sizeof(phdr64), "program header table"));
  file_layout out;
  out.type = eh.type;
  out.machine = eh.machine;
  out.entry = eh.entry;
  out.phoff = eh.phoff;
  out.phnum = eh.phnum;
  for (std::uint64_t i = 0; i < eh.phnum; ++i) {
    NECRO_TRY_ASSIGN(const phdr64 ph, table.load<phdr64>(i * sizeof(phdr64), "program header"));
    if (ph.type == arch::elfc::pt_load) out.loads.push_back(ph);
  }
  if (out.loads.empty()) return fail(file.error_at(eh.phoff, errc::bad_value, "no PT_LOAD program header"));
  if (auto id = read_build_id(file); id && *id) out.build_id = to_hex((*id)->bytes());
  return out;
}

}  // namespace necro::elf

#endif
