// necro::io::byte_view: bounds checks (overflow-safe), sub-ranges that keep
// absolute offsets and the origin name, unaligned loads, error messages.
#include <array>
#include <cstdint>
#include <limits>
#include <string>

#include <catch2/catch.hpp>

#include <necro/io/byte_view.hpp>
#include <necro/io/mapped_file.hpp>

#include "support/core_builder.hpp"
#include "support/fixtures.hpp"

using necro::errc;
using necro::io::byte_view;
using necro::test::bytes;
using necro::test::check_error;

namespace {

constexpr std::uint64_t max64 = std::numeric_limits<std::uint64_t>::max();

bytes counting(std::size_t n) {
  bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>(i);
  return b;
}

}  // namespace

TEST_CASE("byte_view: a default view is empty", "[io][byte_view]") {
  const byte_view v;
  CHECK(v.empty());
  CHECK(v.size() == 0);
  CHECK(v.file_offset() == 0);
  CHECK(v.covers(0, 0));
  CHECK_FALSE(v.covers(0, 1));
  CHECK_FALSE(v.load<std::uint8_t>(0, "byte"));
}

TEST_CASE("byte_view: covers is exact at the edges and overflow-safe", "[io][byte_view]") {
  const bytes b = counting(16);
  const byte_view v = necro::test::view_of(b, "f.bin");
  CHECK(v.covers(0, 16));
  CHECK(v.covers(16, 0));
  CHECK(v.covers(15, 1));
  CHECK_FALSE(v.covers(15, 2));
  CHECK_FALSE(v.covers(16, 1));
  CHECK_FALSE(v.covers(17, 0));
  CHECK_FALSE(v.covers(0, 17));
  // off + len would wrap to a small number.
  CHECK_FALSE(v.covers(8, max64));
  CHECK_FALSE(v.covers(max64, 2));
  CHECK_FALSE(v.covers(max64, 0));
  CHECK_FALSE(v.covers(1, max64));
}

TEST_CASE("byte_view: sub keeps the origin and the absolute offset", "[io][byte_view]") {
  const bytes b = counting(64);
  const byte_view whole(std::span<const std::byte>(b.data(), b.size()), 0x1000, "f.bin");

  auto s = whole.sub(8, 32, "outer");
  REQUIRE(s);
  CHECK(s->size() == 32);
  CHECK(s->file_offset() == 0x1008);
  CHECK(s->origin() == "f.bin");
  CHECK(s->data() == b.data() + 8);

  auto inner = s->sub(4, 8, "inner");
  REQUIRE(inner);
  CHECK(inner->file_offset() == 0x100c);
  CHECK(std::to_integer<int>(inner->bytes()[0]) == 12);

  SECTION("a sub-range past the end names the structure, the absolute offset and the shortfall") {
    auto bad = s->sub(30, 4, "widget");
    REQUIRE_FALSE(bad);
    check_error(bad.error(), "f.bin", errc::truncated, "widget truncated: need 4 bytes, 2 left", 0x1008 + 30);
  }
  SECTION("an offset past the end reports 0 bytes left") {
    auto bad = s->sub(40, 1, "widget");
    REQUIRE_FALSE(bad);
    check_error(bad.error(), "f.bin", errc::truncated, "need 1 bytes, 0 left", 0x1008 + 40);
  }
  SECTION("a length that would wrap is refused") {
    auto bad = s->sub(1, max64, "widget");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code() == errc::truncated);
  }
}

TEST_CASE("byte_view: from() accepts the end and refuses past it", "[io][byte_view]") {
  const bytes b = counting(10);
  const byte_view v = necro::test::view_of(b, "f.bin");
  auto tail = v.from(7, "tail");
  REQUIRE(tail);
  CHECK(tail->size() == 3);
  CHECK(tail->file_offset() == 7);
  auto end = v.from(10, "tail");
  REQUIRE(end);
  CHECK(end->empty());
  auto past = v.from(11, "tail");
  REQUIRE_FALSE(past);
  check_error(past.error(), "f.bin", errc::truncated, "tail truncated", 11);
}

TEST_CASE("byte_view: load reads unaligned little-endian values", "[io][byte_view]") {
  const bytes b = counting(32);
  const byte_view v = necro::test::view_of(b, "f.bin");
  auto u32 = v.load<std::uint32_t>(1, "u32");
  REQUIRE(u32);
  CHECK(*u32 == 0x04030201u);
  auto u64 = v.load<std::uint64_t>(3, "u64");
  REQUIRE(u64);
  CHECK(*u64 == 0x0a09080706050403ull);
  auto arr = v.load<std::array<std::uint16_t, 3>>(5, "array");
  REQUIRE(arr);
  CHECK((*arr)[2] == 0x0a09);
  // The last value that fits, then one byte too far.
  CHECK(v.load<std::uint64_t>(24, "u64"));
  auto bad = v.load<std::uint64_t>(25, "trailer");
  REQUIRE_FALSE(bad);
  check_error(bad.error(), "f.bin", errc::truncated, "trailer truncated: need 8 bytes, 7 left", 25);
  CHECK_FALSE(v.load<std::uint8_t>(max64, "byte"));
}

TEST_CASE("byte_view: error_at locates an error inside the view", "[io][byte_view]") {
  const bytes b = counting(16);
  const byte_view v(std::span<const std::byte>(b.data(), b.size()), 0x200, "core.1");
  const auto e = v.error_at(4, errc::bad_value, "field is odd");
  check_error(e, "core.1", errc::bad_value, "field is odd", 0x204);
  CHECK(e.message() == "core.1: offset 0x204: field is odd");
}
