/// Escaping of values in capture.txt: every byte <= 0x20, 0x7f and '%' is
/// written %XX, so a value never holds a space or a control byte. The empty
/// value is written `-` (and a value that is just `-` as `%2D`).
#ifndef NECRO_CAPTURE_DETAIL_ESCAPE_HPP
#define NECRO_CAPTURE_DETAIL_ESCAPE_HPP
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace necro::capture::detail {

inline bool needs_escape(unsigned char c) noexcept { return c <= 0x20 || c == 0x7f || c == '%'; }

inline std::string escape(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  if (s.empty()) return "-";
  if (s == "-") return "%2D";
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (!needs_escape(c)) {
      out += ch;
      continue;
    }
    out += '%';
    out += hex[c >> 4];
    out += hex[c & 0xf];
  }
  return out;
}

inline int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// The bytes of an escaped value; nullopt when a '%' is not followed by two hex digits.
inline std::optional<std::string> unescape(std::string_view s) {
  std::string out;
  if (s == "-") return out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (s.size() - i < 3) return std::nullopt;
    const int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

}  // namespace necro::capture::detail

#endif
