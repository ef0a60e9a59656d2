/// necro::io::detail::utf8_sequence: the length of one well-formed UTF-8
/// sequence, which io::printable keeps as text.
#ifndef NECRO_IO_DETAIL_UTF8_HPP
#define NECRO_IO_DETAIL_UTF8_HPP
#pragma once

#include <cstddef>
#include <string_view>

namespace necro::io::detail {

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

}  // namespace necro::io::detail

#endif
