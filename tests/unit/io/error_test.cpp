// necro::error and necro::result: the one-line message format, errno
// preservation, and the NECRO_TRY / NECRO_TRY_ASSIGN propagation macros.
#include <cerrno>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include <necro/io/error.hpp>

using necro::errc;
using necro::error;
using necro::result;

namespace {

result<int> parse_positive(int v) {
  if (v <= 0) return necro::fail(error(errc::bad_value, "in.txt", 12, "value must be positive"));
  return v;
}

result<int> doubled(int v) {
  NECRO_TRY_ASSIGN(const int x, parse_positive(v));
  return 2 * x;
}

result<void> check(int v) {
  NECRO_TRY(parse_positive(v));
  return {};
}

result<std::unique_ptr<int>> boxed(int v) {
  NECRO_TRY_ASSIGN(auto x, parse_positive(v));
  return std::make_unique<int>(x);
}

}  // namespace

TEST_CASE("error: message is path, offset, description", "[io][error]") {
  const error e(errc::truncated, "core.4711", 0x1a40, "NT_FILE entry 3 truncated: need 24 bytes, 8 left");
  CHECK(e.message() == "core.4711: offset 0x1a40: NT_FILE entry 3 truncated: need 24 bytes, 8 left");
  CHECK(e.code() == errc::truncated);
  CHECK(e.path() == "core.4711");
  REQUIRE(e.offset());
  CHECK(*e.offset() == 0x1a40);
  CHECK_FALSE(e.os());
}

TEST_CASE("error: parts that are absent are left out", "[io][error]") {
  CHECK(error(errc::missing, "dir", "no pstree.img").message() == "dir: no pstree.img");
  CHECK(error(errc::missing, "", "nothing").message() == "nothing");
  CHECK_FALSE(error(errc::missing, "dir", "x").offset());
  CHECK(error(errc::limit, "", 0, "zero offset").message() == "offset 0x0: zero offset");
}

TEST_CASE("error: from_errno keeps errno and appends its text", "[io][error]") {
  const auto e = error::from_errno("/nope", "cannot open", ENOENT);
  CHECK(e.code() == errc::io);
  CHECK(e.os() == std::errc::no_such_file_or_directory);
  CHECK(e.message().starts_with("/nope: cannot open: "));
  CHECK_THAT(e.message(), Catch::Matchers::Contains("No such file"));
}

TEST_CASE("error: prefix adds context in front of the description", "[io][error]") {
  error e(errc::bad_value, "core", 8, "bad register");
  e.prefix("thread 2: ");
  CHECK(e.message() == "core: offset 0x8: thread 2: bad register");
}

TEST_CASE("result: holds a value or an error", "[io][error]") {
  result<int> ok = 5;
  REQUIRE(ok);
  CHECK(ok.has_value());
  CHECK(*ok == 5);
  CHECK(ok.value() == 5);

  result<int> bad = error(errc::io, "p", "boom");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().what() == "boom");

  result<std::string> s = std::string("abc");
  CHECK(s->size() == 3);
  const std::string moved = std::move(s).value();
  CHECK(moved == "abc");
}

TEST_CASE("result: NECRO_TRY and NECRO_TRY_ASSIGN return the first error", "[io][error]") {
  auto good = doubled(21);
  REQUIRE(good);
  CHECK(*good == 42);

  auto bad = doubled(-1);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message() == "in.txt: offset 0xc: value must be positive");

  CHECK(check(1));
  auto v = check(0);
  REQUIRE_FALSE(v);
  CHECK(v.error().code() == errc::bad_value);

  auto p = boxed(3);
  REQUIRE(p);
  CHECK(**p == 3);
  CHECK_FALSE(boxed(0));
}
