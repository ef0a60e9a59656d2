/// necro::plan::detail: pieces of docs/fields.md (plan::field_sources_markdown):
/// its opening text and one source as a table cell.
#ifndef NECRO_PLAN_DOCS_DETAIL_FIELD_MARKDOWN_HPP
#define NECRO_PLAN_DOCS_DETAIL_FIELD_MARKDOWN_HPP
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace necro::plan::detail {

/// docs/fields.md up to its counts table.
inline constexpr std::string_view fields_md_intro =
    "# Where every CRIU field comes from\n\n"
    "<!-- Generated from include/necro/plan/docs/field_sources.hpp; do not edit. Regenerate with\n"
    "     cmake --build build --target update_fields_md -->\n\n"
    "One row per field of every protobuf message necro writes: its source in donor mode\n"
    "(`criu-necromancer -c CORE -i DONOR -o OUT`) and in donor-less mode (`-c CORE -o OUT`, which plans\n"
    "on the images `synthesize_donor` makes from the core).\n\n"
    "- **table**: a compile-time mapping table (map/) and its row;\n"
    "- **function**: the named function sets it;\n"
    "- **donor**: kept from the donor's image;\n"
    "- **default**: a stated default, or not written (CRIU's default applies);\n"
    "- **pending**: not decided yet; **same**: as in donor mode.\n\n"
    "An x86-64 core's images carry `core_entry.thread_info`, an aarch64 core's `core_entry.ti_aarch64`.\n\n"
    "A message field shows its place (and, where listed, what decides whether it is there); its\n"
    "fields carry the sources. `tests/unit/plan/field_sources_test.cpp` fails when a field has no row\n"
    "or a row names no field, and checks the rows on the fixtures: kept fields equal the donor's and\n"
    "follow a changed donor, table fields are the core's and do not, stated defaults are the values\n"
    "the donor-less plans of the counter, pool and shmem cores write, and every named function\n"
    "and table exists in include/necro.\n\n";

/// A source as a markdown table cell: its kind, and what it names ('|' would end the cell).
inline std::string markdown_cell(std::string_view kind, std::string by) {
  for (auto& ch : by)
    if (ch == '|') ch = '/';
  if (by.empty()) return std::string(kind);
  return fmt::format("{}: {}", kind, by);
}

}  // namespace necro::plan::detail

#endif
