/// necro::criu file entries: the one way necro makes a regular file's
/// files.img entry, and the owner every file entry it writes has (none: no
/// F_SETOWN process, no signal).
#ifndef NECRO_CRIU_FILE_ENTRIES_HPP
#define NECRO_CRIU_FILE_ENTRIES_HPP
#pragma once

#include <cstdint>
#include <string>

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

}  // namespace necro::criu

#endif
