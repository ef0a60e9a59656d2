// necro::io::open_decompressed on real fixtures: a zstd core (as
// systemd-coredump stores them) reads back byte for byte as the plain core,
// its zero blocks as holes, from an unnamed file that leaves nothing behind;
// a cut, corrupt or too demanding stream is an error naming the file.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <necro/arch/x86_64.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/zstd_file.hpp>

#include "support/fixtures.hpp"

using necro::errc;
using necro::io::open_decompressed;
namespace fs = std::filesystem;
using necro::test::scratch_dir;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string view_string(const necro::io::mapped_file& f) {
  return {reinterpret_cast<const char*>(f.view().data()), f.view().size()};
}

// The compressed fixture and its plain twin (unpacked by the zstd tool at build time).
struct pool_pair {
  fs::path packed = necro::test::data_dir() / "x86_64/pool.core.zst";
  fs::path plain = fs::path(NECRO_TEST_BUILD_DATA) / "x86_64/pool.core";
};

}  // namespace

TEST_CASE("zstd core: decompresses to the plain core, sparse, leaving no file", "[io][zstd]") {
  const pool_pair p;
  REQUIRE(fs::exists(p.packed));
  REQUIRE(fs::exists(p.plain));
  scratch_dir scratch;
  std::vector<necro::io::decompress_progress> steps;
  auto f = open_decompressed(p.packed.string(),
                             {.scratch_dir = scratch.path, .progress = [&](const auto& s) { steps.push_back(s); }});
  REQUIRE(f);
  CHECK(f->path() == p.packed.string() + " (decompressed)");
  const std::string plain = slurp(p.plain);
  REQUIRE(f->size() == plain.size());
  CHECK(view_string(*f) == plain);

  struct stat st {};
  REQUIRE(::fstat(f->fd(), &st) == 0);
  const auto allocated = static_cast<std::uint64_t>(st.st_blocks) * 512;
  INFO("allocated " << allocated << " of " << plain.size());
  CHECK(allocated < plain.size() / 2);  // the pool core is mostly zero pages

  CHECK(fs::is_empty(scratch.path));  // unnamed: nothing to clean up, even after a crash
  REQUIRE_FALSE(steps.empty());
  CHECK(steps.back().in_done == steps.back().in_total);
  CHECK(steps.back().in_total == fs::file_size(p.packed));
  CHECK(steps.back().out_done == plain.size());
}

TEST_CASE("zstd core: parses as the same core as the plain one", "[io][zstd]") {
  const pool_pair p;
  scratch_dir scratch;
  auto f = open_decompressed(p.packed.string(), {.scratch_dir = scratch.path});
  REQUIRE(f);
  auto packed = necro::elf::core_view<necro::arch::x86_64>::open(std::move(*f));
  auto plain = necro::elf::core_view<necro::arch::x86_64>::open(p.plain.string());
  REQUIRE(packed);
  REQUIRE(plain);
  CHECK(packed->pid() == plain->pid());
  CHECK(packed->threads().size() == plain->threads().size());
  CHECK(packed->segments().size() == plain->segments().size());
  REQUIRE(packed->file() != nullptr);
  CHECK(packed->path() == p.packed.string() + " (decompressed)");
}

TEST_CASE("zstd core: a plain file is opened as it is", "[io][zstd]") {
  const auto core = necro::test::x86_64_core();
  REQUIRE(core);
  auto f = open_decompressed(core->string());
  REQUIRE(f);
  CHECK(f->path() == core->string());
  CHECK(f->size() == fs::file_size(*core));
}

TEST_CASE("zstd core: concatenated frames are one stream", "[io][zstd]") {
  const pool_pair p;
  scratch_dir scratch;
  const std::string packed = slurp(p.packed);
  const auto twice = scratch.write("twice.zst", packed + packed);
  fs::create_directory(scratch.path / "out");
  auto f = open_decompressed(twice.string(), {.scratch_dir = scratch.path / "out"});
  REQUIRE(f);
  const std::string plain = slurp(p.plain);
  CHECK(view_string(*f) == plain + plain);
}

TEST_CASE("zstd core: a cut, corrupt or too demanding stream is an error naming the file", "[io][zstd]") {
  const pool_pair p;
  scratch_dir scratch;
  const std::string packed = slurp(p.packed);
  fs::create_directory(scratch.path / "out");
  const necro::io::decompress_options opt{.scratch_dir = scratch.path / "out"};

  SECTION("cut in half") {
    const auto cut = scratch.write("cut.zst", packed.substr(0, packed.size() / 2));
    auto f = open_decompressed(cut.string(), opt);
    REQUIRE_FALSE(f);
    CHECK(f.error().code() == errc::truncated);
    CHECK(f.error().path() == cut.string());
    CHECK_THAT(f.error().message(), Catch::Contains("cut short"));
  }
  SECTION("a byte flipped in the middle") {
    std::string bad = packed;
    bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x5a);
    const auto corrupt = scratch.write("corrupt.zst", bad);
    auto f = open_decompressed(corrupt.string(), opt);
    REQUIRE_FALSE(f);
    CHECK(f.error().path() == corrupt.string());
    CHECK_THAT(f.error().message(), Catch::Contains("zstd"));
  }
  SECTION("a window larger than allowed") {
    auto small = opt;
    small.window_log_max = 10;
    auto f = open_decompressed(p.packed.string(), small);
    REQUIRE_FALSE(f);
    CHECK(f.error().code() == errc::bad_value);
    CHECK_THAT(f.error().message(), Catch::Contains("memory"));
  }
  SECTION("only the magic") {
    const auto magic = scratch.write("magic.zst", packed.substr(0, 4));
    auto f = open_decompressed(magic.string(), opt);
    REQUIRE_FALSE(f);
    CHECK(f.error().path() == magic.string());
  }
  SECTION("a scratch directory that is not there") {
    auto gone = opt;
    gone.scratch_dir = scratch.path / "gone";
    auto f = open_decompressed(p.packed.string(), gone);
    REQUIRE_FALSE(f);
    CHECK(f.error().code() == errc::io);
    CHECK(f.error().path() == gone.scratch_dir.string());
  }
  CHECK(fs::is_empty(scratch.path / "out"));
}
