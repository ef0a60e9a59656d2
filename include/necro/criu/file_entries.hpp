/// necro::criu file entries: the one way necro makes a regular file's
/// files.img entry (make_reg_file; make_reg_entry for a file restore opens by
/// path, as donor-less sets and captures do), and the owner every file entry
/// it writes has (none: no F_SETOWN process, no signal).
#ifndef NECRO_CRIU_FILE_ENTRIES_HPP
#define NECRO_CRIU_FILE_ENTRIES_HPP
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <necro/arch/kernel_abi.hpp>
#include <necro/pb/fdinfo.pb.h>
#include <necro/pb/fown.pb.h>
#include <necro/pb/regfile.pb.h>

namespace necro::criu {

/// fown_entry of a file no process owns (F_GETOWN 0, no F_SETSIG signal).
inline void clear_owner(pb::fown_entry& f) {
  f.set_uid(0), f.set_euid(0), f.set_signum(0), f.set_pid_type(0), f.set_pid(0);
}

/// A regular file opened at `name` with `flags`, read or written at `pos`
/// (size, mode and mount id are the caller's to add: CRIU checks the ones set).
inline pb::reg_file_entry make_reg_file(std::uint32_t id, const std::string& name, std::uint32_t flags,
                                        std::uint64_t pos = 0) {
  pb::reg_file_entry r;
  r.set_id(id), r.set_flags(flags), r.set_pos(pos), r.set_name(name);
  clear_owner(*r.mutable_fown());
  return r;
}

/// The files.img entry of a regular file (type REG, the file's own id).
inline pb::file_entry make_file_entry(pb::reg_file_entry reg) {
  pb::file_entry e;
  e.set_type(pb::REG);
  e.set_id(reg.id());
  *e.mutable_reg() = std::move(reg);
  return e;
}

/// reg_file_entry.pos of a file restore must not seek.
inline constexpr std::uint64_t no_position = ~std::uint64_t{0};

/// The files.img entry of a regular file restore opens by path with `flags`:
/// `size` and `mode` where known (CRIU checks the ones set), at position 0,
/// but a tty or pipe, which cannot seek, at no_position (restore then leaves
/// it; criu/files-reg.c).
inline pb::file_entry make_reg_entry(std::uint32_t id, const std::string& path, std::uint32_t flags,
                                     std::optional<std::uint64_t> size, std::uint32_t mode) {
  const std::uint32_t type = mode & arch::s_if::mask;
  auto reg = make_reg_file(id, path, flags, type == arch::s_if::chr || type == arch::s_if::fifo ? no_position : 0);
  if (size) reg.set_size(*size);
  if (mode != 0) reg.set_mode(mode);
  return make_file_entry(std::move(reg));
}

}  // namespace necro::criu

#endif
