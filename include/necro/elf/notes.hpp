/// necro::elf::note and for_each_note: a bounds-checked walk over a PT_NOTE
/// segment. Names and descriptors are 4-byte aligned in cores; executables may
/// also carry 8-byte aligned note segments (p_align 8, e.g. .note.gnu.property).
#ifndef NECRO_ELF_NOTES_HPP
#define NECRO_ELF_NOTES_HPP
#pragma once

#include <cstdint>
#include <string_view>

#include <fmt/format.h>

#include <necro/elf/detail/align.hpp>
#include <necro/elf/types.hpp>
#include <necro/io/byte_view.hpp>
#include <necro/io/error.hpp>

namespace necro::elf {

/// One note: its owner name (without the NUL), type, and descriptor bytes.
struct note {
  std::string_view owner;
  std::uint32_t type = 0;
  io::byte_view desc;
  std::uint64_t file_offset = 0;  ///< where the note header starts
};

/// Caps on what a note stream may contain (hostile cores).
inline constexpr std::uint64_t max_notes = 1u << 20;
inline constexpr std::uint32_t max_note_name = 256;

/// Note alignment: 4 in cores; 8 in a PT_NOTE segment whose p_align is 8.
enum class note_align { four = 4, eight = 8 };

/// Calls `f(note)` for each note of `seg` in order; `f` returns result<void>.
/// Stops at the first malformed note or the first error `f` returns.
template <class F>
result<void> for_each_note(const io::byte_view& seg, F&& f, note_align align = note_align::four) {
  const auto pad = [align](std::uint64_t v) { return align == note_align::eight ? detail::align8(v) : detail::align4(v); };
  std::uint64_t pos = 0;
  std::uint64_t count = 0;
  while (pos < seg.size()) {
    if (++count > max_notes)
      return fail(seg.error_at(pos, errc::limit, fmt::format("more than {} notes", max_notes)));
    NECRO_TRY_ASSIGN(const nhdr h, seg.load<nhdr>(pos, "note header"));
    if (h.namesz > max_note_name)
      return fail(seg.error_at(pos, errc::bad_value,
                               fmt::format("note name size {} exceeds {}", h.namesz, max_note_name)));
    const std::uint64_t name_off = pos + sizeof(nhdr);
    const std::uint64_t desc_off = pad(name_off + h.namesz);
    NECRO_TRY_ASSIGN(const io::byte_view name, seg.sub(name_off, h.namesz, "note name"));
    NECRO_TRY_ASSIGN(const io::byte_view desc,
                     seg.sub(desc_off, h.descsz, fmt::format("note {:#x} descriptor", h.type)));
    std::string_view owner(reinterpret_cast<const char*>(name.data()), name.size());
    if (!owner.empty() && owner.back() == '\0') owner.remove_suffix(1);
    NECRO_TRY(f(note{owner, h.type, desc, seg.file_offset() + pos}));
    // descsz <= size - desc_off, so this cannot overflow and always advances.
    pos = pad(desc_off + h.descsz);
  }
  return {};
}

}  // namespace necro::elf

#endif
