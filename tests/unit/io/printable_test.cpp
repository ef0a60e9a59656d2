// necro::io::printable: what a hostile core can put in a name (newlines,
// terminal escapes, bytes that are not UTF-8) comes out as \xNN; text,
// including UTF-8, comes out as it went in.
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include <necro/io/printable.hpp>

using necro::io::printable;
using namespace std::string_view_literals;

namespace {

/// True when `s` holds no byte a terminal acts on.
bool inert(std::string_view s) {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("printable: text is kept", "[io]") {
  CHECK(printable("") == "");
  CHECK(printable("/usr/lib/x86_64-linux-gnu/libc.so.6") == "/usr/lib/x86_64-linux-gnu/libc.so.6");
  CHECK(printable("[vdso] (deleted) +0x1000 ~!@#$%^&*()") == "[vdso] (deleted) +0x1000 ~!@#$%^&*()");
  // Well-formed UTF-8 of 2, 3 and 4 bytes: U+00E9, U+20AC, U+1F600, and the
  // first printable code point after the C1 controls (U+00A0).
  CHECK(printable("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa0") == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa0");
  // The largest code point, U+10FFFF, and the last before the surrogates.
  CHECK(printable("\xf4\x8f\xbf\xbf\xed\x9f\xbf") == "\xf4\x8f\xbf\xbf\xed\x9f\xbf");
}

TEST_CASE("printable: control bytes and DEL become hex escapes", "[io]") {
  CHECK(printable("/tmp/\x1b[2Jx") == "/tmp/\\x1b[2Jx");
  CHECK(printable("a\nb\rc\td") == "a\\x0ab\\x0dc\\x09d");
  CHECK(printable("\x7f") == "\\x7f");
  CHECK(printable("\x01\x1f") == "\\x01\\x1f");
  CHECK(printable("nul\0inside"sv) == "nul\\x00inside");
  // An OSC sequence that would set the window title, ended by BEL.
  CHECK(printable("\x1b]0;pwned\x07") == "\\x1b]0;pwned\\x07");
}

TEST_CASE("printable: a backslash is doubled, so escapes read back unambiguously", "[io]") {
  CHECK(printable("a\\b") == "a\\\\b");
  // A name that spells an escape is not confused with an escaped byte.
  CHECK(printable("\\x1b") == "\\\\x1b");
  CHECK(printable("\x1b") == "\\x1b");
}

TEST_CASE("printable: bytes that are not UTF-8 become hex escapes", "[io]") {
  // A stray continuation byte, a lead byte never used (0xc0, 0xf5, 0xff).
  CHECK(printable("a\x80z") == "a\\x80z");
  CHECK(printable("\xc0\xaf") == "\\xc0\\xaf");  // overlong '/'
  CHECK(printable("\xff\xfe") == "\\xff\\xfe");
  CHECK(printable("\xf5\x80\x80\x80") == "\\xf5\\x80\\x80\\x80");
  // Overlong 3- and 4-byte forms, a surrogate (U+D800), above U+10FFFF.
  CHECK(printable("\xe0\x80\xaf") == "\\xe0\\x80\\xaf");
  CHECK(printable("\xf0\x80\x80\xaf") == "\\xf0\\x80\\x80\\xaf");
  CHECK(printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");
  CHECK(printable("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");
  // A sequence cut short, at the end and before an ASCII byte.
  CHECK(printable("ab\xe2\x82") == "ab\\xe2\\x82");
  CHECK(printable("\xe2\x82z") == "\\xe2\\x82z");
  CHECK(printable("\xf0\x9f\x98") == "\\xf0\\x9f\\x98");
  // A valid sequence right after an invalid byte is kept.
  CHECK(printable("\xff\xc3\xa9") == "\\xff\xc3\xa9");
}

TEST_CASE("printable: C1 controls (U+0080-U+009F) are escaped as their bytes", "[io]") {
  CHECK(printable("\xc2\x9b" "2J") == "\\xc2\\x9b2J");  // CSI
  CHECK(printable("\xc2\x80\xc2\x9f") == "\\xc2\\x80\\xc2\\x9f");
}

TEST_CASE("printable: every single byte and pair of bytes comes out inert", "[io]") {
  for (int a = 0; a < 256; ++a) {
    const std::string one(1, static_cast<char>(a));
    INFO("byte " << a);
    REQUIRE(inert(printable(one)));
    for (int b = 0; b < 256; ++b) {
      const std::string two{static_cast<char>(a), static_cast<char>(b)};
      REQUIRE(inert(printable(two)));
    }
  }
}
