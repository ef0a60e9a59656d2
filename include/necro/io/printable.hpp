/// necro::io::printable: a string from a core or an image made safe to print
/// on a terminal. Paths in NT_FILE, the name in NT_PRPSINFO, AT_EXECFN and
/// image names are whatever the dumped process (or whoever wrote the file)
/// put there, including newlines and terminal escape sequences.
#ifndef NECRO_IO_PRINTABLE_HPP
#define NECRO_IO_PRINTABLE_HPP
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <necro/io/detail/utf8.hpp>

namespace necro::io {

/// `s` with every byte a terminal could act on written as `\xNN`: C0
/// control bytes (newline, ESC, ...), DEL, bytes that are not well-formed
/// UTF-8, and the C1 controls U+0080-U+009F (which some terminals take as
/// CSI and friends) as their two bytes. A backslash becomes `\\`, so the
/// result reads back unambiguously. Printable ASCII and valid UTF-8 text are
/// kept. The result never contains a byte below 0x20 or 0x7f.
inline std::string printable(std::string_view s) {
  constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  const auto escape = [&](unsigned char c) {
    out += "\\x";
    out += hex[c >> 4];
    out += hex[c & 0xf];
  };
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      out += "\\\\";
      ++i;
      continue;
    }
    if (c < 0x20 || c == 0x7f) {
      escape(c);
      ++i;
      continue;
    }
    const std::size_t n = detail::utf8_sequence(s.substr(i));
    if (n == 0) {
      escape(c);
      ++i;
    } else if (n == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0) {
      escape(c);  // a C1 control
      escape(static_cast<unsigned char>(s[i + 1]));
      i += 2;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace necro::io

#endif
