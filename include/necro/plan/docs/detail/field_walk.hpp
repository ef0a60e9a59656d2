/// necro::plan::detail: every field under a protobuf message descriptor, in
/// descriptor order, with its path and type as plan::field_rows lists them.
#ifndef NECRO_PLAN_DOCS_DETAIL_FIELD_WALK_HPP
#define NECRO_PLAN_DOCS_DETAIL_FIELD_WALK_HPP
#pragma once

#include <string>

#include <google/protobuf/descriptor.h>

namespace necro::plan::detail {

/// "uint64", "repeated uint32", "message user_x86_regs_entry", "enum fd_types".
inline std::string type_of(const google::protobuf::FieldDescriptor& f) {
  std::string t = f.is_repeated() ? "repeated " : "";
  if (f.message_type()) return t + "message " + std::string(f.message_type()->name());
  if (f.enum_type()) return t + "enum " + std::string(f.enum_type()->name());
  return t + f.type_name();
}

/// Calls `visit(field, path)` for each field of `d` ("prefix.name"), a message
/// field before the fields under it.
template <class Visit>
void walk_fields(const google::protobuf::Descriptor& d, const std::string& prefix, Visit&& visit, int depth = 0) {
  if (depth > 16) return;  // no recursive messages in CRIU's schema; a guard all the same
  for (int i = 0; i < d.field_count(); ++i) {
    const auto& f = *d.field(i);
    const std::string path = prefix + "." + std::string(f.name());
    visit(f, path);
    if (f.message_type()) walk_fields(*f.message_type(), path, visit, depth + 1);
  }
}

}  // namespace necro::plan::detail

#endif
