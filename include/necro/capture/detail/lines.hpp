/// capture.txt lines: a key, then space-separated words, most of them
/// `name=value`. Bounds and control bytes are checked here; every error names
/// the file, the line and its byte offset.
#ifndef NECRO_CAPTURE_DETAIL_LINES_HPP
#define NECRO_CAPTURE_DETAIL_LINES_HPP
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/capture/detail/escape.hpp>
#include <necro/io/error.hpp>
#include <necro/io/printable.hpp>

namespace necro::capture::detail {

/// A line longer than this is refused (an escaped PATH_MAX path is ~12 KiB).
inline constexpr std::size_t max_line = 64u << 10;
/// At most this many words on a line (a `creds` line with many groups is one word).
inline constexpr std::size_t max_words = 64;

/// One line, split into words (views into the text).
struct line {
  std::string_view origin;
  std::size_t number = 0;    ///< 1-based
  std::uint64_t offset = 0;  ///< of its first byte
  std::string_view key;
  std::vector<std::string_view> words;

  necro::error fail(std::string what) const {
    return necro::error(errc::bad_value, std::string(origin), offset, fmt::format("line {}: {}", number, what));
  }
  /// The raw value of `name=...`, if the line has it.
  std::optional<std::string_view> raw(std::string_view name) const {
    for (const auto w : words)
      if (w.size() > name.size() && w.substr(0, name.size()) == name && w[name.size()] == '=')
        return w.substr(name.size() + 1);
    return std::nullopt;
  }
};

/// Stores a parsed value into `dst` (usable as one statement under NECRO_TRY).
template <class T, class U>
result<void> assign(U& dst, result<T> r) {
  if (!r) return fail(std::move(r).error_value());
  dst = std::move(*r);
  return {};
}

/// A number: decimal, `0x` hex or `0o` octal.
template <class T>
std::optional<T> parse_number(std::string_view s) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    base = s[1] == 'x' ? 16 : 8;
    s.remove_prefix(2);
  }
  if (s.empty() || s[0] == '-' || s[0] == '+') return std::nullopt;
  T v{};
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

/// `name=N` as a number, or an error naming the line.
template <class T>
result<T> number(const line& l, std::string_view name) {
  const auto r = l.raw(name);
  if (!r) return fail(l.fail(fmt::format("{}: no {}=", l.key, name)));
  const auto v = parse_number<T>(*r);
  if (!v) return fail(l.fail(fmt::format("{}: {}={} is not a number that fits", l.key, name, io::printable(*r))));
  return *v;
}

/// `name=TEXT` unescaped, or an error naming the line.
inline result<std::string> text(const line& l, std::string_view name) {
  const auto r = l.raw(name);
  if (!r) return fail(l.fail(fmt::format("{}: no {}=", l.key, name)));
  auto v = unescape(*r);
  if (!v) return fail(l.fail(fmt::format("{}: {}= has a bad %-escape", l.key, name)));
  return std::move(*v);
}

/// The first control byte of `s` (other than none), if any.
inline std::optional<std::size_t> control_byte(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return i;
  }
  return std::nullopt;
}

/// Splits one line's bytes into key and words, or says what is wrong with it.
inline result<line> split_line(std::string_view origin, std::size_t number, std::uint64_t offset,
                               std::string_view bytes) {
  line l{origin, number, offset, {}, {}};
  if (bytes.size() > max_line) return fail(l.fail(fmt::format("{} bytes, more than the cap of {}", bytes.size(), max_line)));
  if (const auto at = control_byte(bytes))
    return fail(l.fail(fmt::format("control byte {:#04x} at column {} (values are %-escaped)",
                                   static_cast<unsigned char>(bytes[*at]), *at + 1)));
  std::size_t pos = 0;
  while (pos <= bytes.size()) {
    const std::size_t sp = std::min(bytes.find(' ', pos), bytes.size());
    const auto w = bytes.substr(pos, sp - pos);
    if (w.empty()) return fail(l.fail(fmt::format("empty word at column {} (one space between words)", pos + 1)));
    if (l.key.empty()) l.key = w;
    else if (l.words.size() == max_words) return fail(l.fail(fmt::format("more than {} words", max_words)));
    else l.words.push_back(w);
    pos = sp + 1;
  }
  return l;
}

}  // namespace necro::capture::detail

#endif
