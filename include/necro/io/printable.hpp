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

namespace necro::io {

namespace detail {

/// Length of the well-formed UTF-8 sequence at the start of `s` (1 to 4), or
/// 0 when it is not one (a stray continuation byte, an overlong form, a
/// surrogate, a code point above U+10FFFF, a sequence cut short).
constexpr std::size_t utf8_sequence(std::string_view s) noexcept {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the range of the second byte
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c == 0xe0) n = 3, lo = 0xa0;
  else if (c == 0xed) n = 3, hi = 0x9f;
  else if (c >= 0xe1 && c <= 0xef) n = 3;
  else if (c == 0xf0) n = 4, lo = 0x90;
  else if (c == 0xf4) n = 4, hi = 0x8f;
  else if (c >= 0xf1 && c <= 0xf3) n = 4;
  else return 0;
  if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
  for (std::size_t i = 2; i < n; ++i)
    if (b(i) < 0x80 || b(i) > 0xbf) return 0;
  return n;
}

}  // namespace detail

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
