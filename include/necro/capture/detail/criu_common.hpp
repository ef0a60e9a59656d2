/// What every CRIU file entry made from a capture shares (capture/criu_files.hpp):
/// no owner (fown), the open flags without O_CLOEXEC (that one goes to
/// fdinfo), and a regular file's reg_file_entry.
#ifndef NECRO_CAPTURE_DETAIL_CRIU_COMMON_HPP
#define NECRO_CAPTURE_DETAIL_CRIU_COMMON_HPP
#pragma once

#include <cstdint>
#include <string>

#include <necro/arch/kernel_abi.hpp>
#include <necro/capture/model.hpp>
#include <necro/criu/file_entries.hpp>
#include <necro/pb/fown.pb.h>
#include <necro/pb/regfile.pb.h>

namespace necro::capture::detail {

inline pb::reg_file_entry reg_entry(std::uint32_t id, const std::string& name, std::uint32_t flags, const fd_entry* f) {
  auto r = criu::make_reg_file(id, name, flags, f ? f->pos : 0);
  if (f) r.set_mnt_id(f->mnt_id), r.set_size(f->size), r.set_mode(f->mode);
  return r;
}

template <class Msg>
void with_common(Msg& m, std::uint32_t id, const fd_entry& f) {
  m.set_id(id), m.set_flags(f.flags & ~arch::o::cloexec);
  criu::clear_owner(*m.mutable_fown());
}

}  // namespace necro::capture::detail

#endif
