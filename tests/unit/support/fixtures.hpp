// Test support: where the real fixtures are, the facts their script recorded,
// and checks of necro::error against the house format.
#ifndef NECRO_TEST_SUPPORT_FIXTURES_HPP
#define NECRO_TEST_SUPPORT_FIXTURES_HPP
#pragma once

#include <stdlib.h>

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include <necro/io/error.hpp>

#ifndef NECRO_TEST_DATA
#error "NECRO_TEST_DATA must name tests/data (set by tests/CMakeLists.txt)"
#endif

namespace necro::test {

namespace fs = std::filesystem;

/// tests/data in the source tree.
inline fs::path data_dir() { return fs::path(NECRO_TEST_DATA); }

/// A fixture file or directory under tests/data, if it is there.
inline std::optional<fs::path> fixture(std::string_view rel) {
  fs::path p = data_dir() / rel;
  std::error_code ec;
  if (fs::exists(p, ec)) return p;
#ifdef NECRO_TEST_BUILD_DATA
  // Compressed fixtures (*.zst) are unpacked into the build tree.
  p = fs::path(NECRO_TEST_BUILD_DATA) / rel;
  if (fs::exists(p, ec)) return p;
#endif
  return std::nullopt;
}

inline std::optional<fs::path> x86_64_core() { return fixture("x86_64/counter.core"); }
inline std::optional<fs::path> x86_64_donor() { return fixture("x86_64/counter.donor"); }
inline std::optional<fs::path> aarch64_core() { return fixture("aarch64/crash.core"); }

/// The `key=value` lines of a facts.txt written by tests/data/make-fixtures.sh.
class facts {
 public:
  static std::optional<facts> load(std::string_view rel) {
    const auto p = fixture(rel);
    if (!p) return std::nullopt;
    std::ifstream in(*p);
    if (!in) return std::nullopt;
    facts f;
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      const auto eq = line.find('=');
      if (eq == std::string::npos) continue;
      f.values_[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return f;
  }

  std::optional<std::string> get(const std::string& key) const {
    auto it = values_.find(key);
    if (it == values_.end() || it->second.empty()) return std::nullopt;
    return it->second;
  }

  /// A decimal or 0x-prefixed number.
  std::optional<std::uint64_t> number(const std::string& key) const {
    auto v = get(key);
    if (!v) return std::nullopt;
    std::string_view s = *v;
    int base = 10;
    if (s.starts_with("0x")) {
      s.remove_prefix(2);
      base = 16;
    }
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n, base);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return n;
  }

  /// A comma-separated list.
  std::vector<std::string> list(const std::string& key, char sep = ',') const {
    std::vector<std::string> out;
    auto v = get(key);
    if (!v) return out;
    std::string_view s = *v;
    while (!s.empty()) {
      const auto c = s.find(sep);
      out.emplace_back(s.substr(0, c));
      if (c == std::string_view::npos) break;
      s.remove_prefix(c + 1);
    }
    return out;
  }

 private:
  std::map<std::string, std::string> values_;
};

/// The whole content of a file.
inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// name -> content of every file in directory `d` (an image set, compared whole).
inline std::map<std::string, std::string> files_in(const fs::path& d) {
  std::map<std::string, std::string> m;
  for (const auto& e : fs::directory_iterator(d)) m[e.path().filename().string()] = slurp(e.path());
  return m;
}

/// Checks that `e` is in the house format: names `path`, has the `code`, says
/// `phrase`, and (when given) points at absolute offset `offset`.
inline void check_error(const necro::error& e, std::string_view path, necro::errc code,
                        std::string_view phrase, std::optional<std::uint64_t> offset = std::nullopt) {
  INFO("error: " << e.message());
  CHECK(e.path() == path);
  CHECK(e.message().starts_with(std::string(path) + ": "));
  CHECK(e.code() == code);
  CHECK_THAT(e.message(), Catch::Matchers::Contains(std::string(phrase)));
  if (offset) {
    REQUIRE(e.offset().has_value());
    CHECK(*e.offset() == *offset);
    CHECK_THAT(e.message(), Catch::Matchers::Contains(fmt::format("offset {:#x}: ", *offset)));
  }
}

/// A scratch directory under $TMPDIR, removed with everything in it at scope exit.
struct scratch_dir {
  fs::path path;
  scratch_dir() {
    std::string tmpl = (fs::temp_directory_path() / "necro-test-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~scratch_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  /// Writes `content` to path/name; returns its path.
  fs::path write(const std::string& name, const std::string& content) const {
    const auto p = path / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
};

}  // namespace necro::test

/// Ends the current test case with a warning when a real fixture is absent
/// (Catch2 2.13 has no SKIP). Fixtures come from tests/data/make-fixtures.sh.
#define NECRO_REQUIRE_FIXTURE(opt, what)                                        \
  do {                                                                          \
    if (!(opt)) {                                                               \
      WARN("fixture " << (what) << " is missing (tests/data/make-fixtures.sh)"); \
      return;                                                                   \
    }                                                                           \
  } while (0)

#endif
