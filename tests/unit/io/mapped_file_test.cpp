// necro::io::mapped_file: maps files read-only, reports OS errors with the
// path and errno, and keeps views valid across moves.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include <necro/io/mapped_file.hpp>

#include "support/fixtures.hpp"

using necro::errc;
using necro::io::mapped_file;
namespace fs = std::filesystem;
using necro::test::scratch_dir;

TEST_CASE("mapped_file: maps a file and views it whole", "[io][mapped_file]") {
  scratch_dir d;
  const auto p = d.write("data.bin", "hello, necro");
  auto f = mapped_file::open(p.string());
  REQUIRE(f);
  CHECK(f->size() == 12);
  CHECK(f->path() == p.string());
  CHECK(f->fd() >= 0);
  const auto v = f->view();
  CHECK(v.origin() == p.string());
  CHECK(v.file_offset() == 0);
  REQUIRE(v.size() == 12);
  CHECK(std::string(reinterpret_cast<const char*>(v.data()), v.size()) == "hello, necro");
  f->advise(0, 12, MADV_SEQUENTIAL);   // must not crash, even past the end:
  f->advise(100, 12, MADV_SEQUENTIAL);
}

TEST_CASE("mapped_file: an empty file maps to an empty view", "[io][mapped_file]") {
  scratch_dir d;
  const auto p = d.write("empty.bin", "");
  auto f = mapped_file::open(p.string());
  REQUIRE(f);
  CHECK(f->size() == 0);
  CHECK(f->view().empty());
  CHECK_FALSE(f->view().load<std::uint8_t>(0, "byte"));
}

TEST_CASE("mapped_file: a missing file is an io error with errno and the path", "[io][mapped_file]") {
  scratch_dir d;
  const auto p = (d.path / "absent.core").string();
  auto f = mapped_file::open(p);
  REQUIRE_FALSE(f);
  necro::test::check_error(f.error(), p, errc::io, "cannot open");
  CHECK(f.error().os() == std::errc::no_such_file_or_directory);
  CHECK_THAT(f.error().message(), Catch::Matchers::Contains("No such file"));
}

TEST_CASE("mapped_file: a directory is refused", "[io][mapped_file]") {
  scratch_dir d;
  auto f = mapped_file::open(d.path.string());
  REQUIRE_FALSE(f);
  necro::test::check_error(f.error(), d.path.string(), errc::unsupported, "not a regular file");
}

TEST_CASE("mapped_file: moving keeps views and their origin valid", "[io][mapped_file]") {
  scratch_dir d;
  const auto p = d.write("move.bin", std::string(5000, 'x'));
  auto f = mapped_file::open(p.string());
  REQUIRE(f);
  const auto before = f->view();
  mapped_file moved = std::move(*f);
  mapped_file again;
  again = std::move(moved);
  CHECK(moved.size() == 0);  // NOLINT: moved-from is empty by contract
  const auto after = again.view();
  CHECK(after.data() == before.data());
  CHECK(before.origin() == p.string());  // the path string did not move
  CHECK(std::to_integer<char>(before.bytes()[4999]) == 'x');
}

TEST_CASE("mapped_file: maps the real x86-64 core fixture", "[io][mapped_file][fixture]") {
  const auto core = necro::test::x86_64_core();
  NECRO_REQUIRE_FIXTURE(core, "x86_64/counter.core");
  auto f = mapped_file::open(core->string());
  REQUIRE(f);
  CHECK(f->size() == fs::file_size(*core));
  const auto magic = f->view().load<std::uint32_t>(0, "magic");
  REQUIRE(magic);
  CHECK(*magic == 0x464c457fu);
}
