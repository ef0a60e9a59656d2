// necro::criu::rpc against a stand-in for `criu swrk` (fake_criu_swrk.cpp):
// each kind of answer, a binary that cannot start, one that exits without
// answering, and the version floor. The real CRIU is exercised end to end by
// e2e.restore-rpc.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include <necro/criu/rpc.hpp>

namespace fs = std::filesystem;
namespace rpc = necro::criu::rpc;

namespace {

const fs::path fake = NECRO_FAKE_CRIU_SWRK;

void answer(const char* mode) { ::setenv("NECRO_FAKE_CRIU", mode, 1); }

}  // namespace

TEST_CASE("query_version reads the VERSION answer", "[criu][rpc]") {
  answer("version:4.1");
  auto v = rpc::query_version(fake);
  REQUIRE(v);
  CHECK(v->major == 4);
  CHECK(v->minor == 1);
  CHECK(v->str() == "4.1");
  CHECK(rpc::require_version(fake));
}

TEST_CASE("require_version refuses a CRIU older than 4.1, saying why", "[criu][rpc]") {
  answer("version:3.17");
  auto v = rpc::require_version(fake);
  REQUIRE_FALSE(v);
  CHECK(v.error().code() == necro::errc::unsupported);
  CHECK_THAT(v.error().message(), Catch::Contains("CRIU 3.17 is too old") && Catch::Contains(">= 4.1"));
}

TEST_CASE("version order", "[criu][rpc]") {
  CHECK(rpc::version{4, 0, 0, {}} < rpc::min_version);
  CHECK(rpc::version{4, 1, 1, {}} > rpc::min_version);
  CHECK(rpc::version{3, 17, 1, {}} < rpc::min_version);
  CHECK_FALSE(rpc::version{5, 0, 0, {}} < rpc::min_version);
}

TEST_CASE("restore returns the pid and the log path", "[criu][rpc]") {
  answer("restored:4711");
  const auto dir = fs::temp_directory_path();
  auto r = rpc::restore(fake, {.images_dir = dir, .leave_stopped = true});
  REQUIRE(r);
  CHECK(r->pid == 4711);
  CHECK(r->log == dir / "restore.log");
}

TEST_CASE("a failed restore quotes CRIU's error lines and names the log", "[criu][rpc]") {
  answer("failed");
  const auto dir = fs::temp_directory_path() / fmt::format("necro-rpc-{}", ::getpid());
  fs::create_directories(dir);
  {
    std::ofstream log(dir / "restore.log");
    log << "(00.01) rlimit: Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE for self\n"
        << "(00.02) a line that is fine\n"
        << "(00.03) Error (criu/cr-restore.c:1230): Can't fork for 4711: File exists\n";
  }
  auto r = rpc::restore(fake, {.images_dir = dir});
  fs::remove_all(dir);
  REQUIRE_FALSE(r);
  const auto m = r.error().message();
  CHECK_THAT(m, Catch::Contains("criu restore failed (errno 17: File exists)"));
  CHECK_THAT(m, Catch::Contains("\n(00.03) Error (criu/cr-restore.c:1230): Can't fork for 4711: File exists"));
  CHECK_THAT(m, !Catch::Contains("RLIMIT_NOFILE"));  // benign on every restore here
  CHECK_THAT(m, Catch::EndsWith("the whole log: " + (dir / "restore.log").string()));
}

TEST_CASE("answers that are not answers are errors, not crashes", "[criu][rpc]") {
  necro::pb::criu_req req;
  req.set_type(necro::pb::REQ_VERSION);
  SECTION("garbage") {
    answer("garbage");
    auto r = rpc::call(fake, req);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message(), Catch::Contains("not a criu_resp"));
  }
  SECTION("silence") {
    answer("silent");
    auto r = rpc::call(fake, req);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message(), Catch::Contains("criu swrk exited with status 3 without answering"));
  }
  SECTION("no such binary") {
    auto r = rpc::call("/nonexistent/criu", req);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == necro::errc::io);
    CHECK_THAT(r.error().message(), Catch::Contains("/nonexistent/criu: cannot start `criu swrk`"));
  }
  SECTION("an image directory that does not exist") {
    auto r = rpc::restore(fake, {.images_dir = "/nonexistent/images"});
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message(), Catch::Contains("/nonexistent/images: cannot open the image directory"));
  }
}

TEST_CASE("locate: --criu first, then NECRO_CRIU, then PATH", "[criu][rpc]") {
  ::setenv("NECRO_CRIU", "/from/env/criu", 1);
  CHECK(*rpc::locate(fs::path("/explicit/criu")) == "/explicit/criu");
  CHECK(*rpc::locate(std::nullopt) == "/from/env/criu");
  ::unsetenv("NECRO_CRIU");
  const auto dir = fake.parent_path() / "rpc-path";
  fs::create_directories(dir);
  fs::copy_file(fake, dir / "criu", fs::copy_options::overwrite_existing);
  const std::string old_path = ::getenv("PATH") ? ::getenv("PATH") : "";
  ::setenv("PATH", ("/nonexistent:" + dir.string()).c_str(), 1);
  auto found = rpc::locate(std::nullopt);
  ::setenv("PATH", "/nonexistent", 1);
  auto none = rpc::locate(std::nullopt);
  ::setenv("PATH", old_path.c_str(), 1);
  REQUIRE(found);
  CHECK(*found == dir / "criu");
  REQUIRE_FALSE(none);
  CHECK_THAT(none.error().message(), Catch::Contains("no CRIU found"));
}
