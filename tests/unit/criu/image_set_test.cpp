// necro::criu::image_set::load on copies of the real CRIU 4.2 donor of
// tests/data/x86_64 with one image taken away: every image `criu restore`
// needs is required when the donor is loaded, and the error names it.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>

#include <catch2/catch.hpp>

#include <necro/criu/image.hpp>
#include <necro/criu/image_set.hpp>

#include "support/fixtures.hpp"

namespace fs = std::filesystem;
using necro::errc;
using necro::criu::image_name;
using necro::criu::image_set;
using necro::test::check_error;

namespace {

/// A scratch copy of the fixture donor, removed with the object.
class donor_copy {
 public:
  explicit donor_copy(const fs::path& from) {
    dir_ = fs::temp_directory_path() / fmt::format("necro-image-set-{}-{}", ::getpid(), counter_++);
    fs::remove_all(dir_);
    fs::copy(from, dir_, fs::copy_options::recursive);
  }
  ~donor_copy() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  donor_copy(const donor_copy&) = delete;
  donor_copy& operator=(const donor_copy&) = delete;
  const fs::path& dir() const { return dir_; }

 private:
  static inline int counter_ = 0;
  fs::path dir_;
};

std::uint32_t donor_pid(const fs::path& dir) {
  auto d = image_set::load(dir);
  REQUIRE(d);
  return d->pid();
}

/// Rewrites the single entry of image `p` through `edit`.
template <class Msg>
void edit_entry(const fs::path& p, std::uint32_t image_magic, const std::function<void(Msg&)>& edit) {
  auto m = necro::criu::read_single<Msg>(p.parent_path(), p.filename().string(), image_magic);
  REQUIRE(m);
  edit(*m);
  necro::criu::image_builder b(image_magic);
  b.add(*m);
  std::ofstream(p, std::ios::binary | std::ios::trunc) << b.bytes();
}

void set_threads(const fs::path& dir, std::initializer_list<std::uint32_t> tids) {
  edit_entry<necro::pb::pstree_entry>(dir / "pstree.img", necro::criu::magic::pstree, [&](auto& e) {
    e.clear_threads();
    for (const auto t : tids) e.add_threads(t);
  });
}

}  // namespace

TEST_CASE("image_set: images that contradict each other are refused, naming the image", "[criu]") {
  const auto d = necro::test::x86_64_donor();
  NECRO_REQUIRE_FIXTURE(d, "x86_64/counter.donor");
  const std::uint32_t pid = donor_pid(*d), other = pid + 1;
  donor_copy c(*d);
  const fs::path core = c.dir() / image_name("core-", pid), other_core = c.dir() / image_name("core-", other);
  const auto refused = [&](const fs::path& file, errc code, const std::string& phrase) {
    necro::result<image_set> s = necro::fail(necro::error(errc::io, "", "not run"));
    REQUIRE_NOTHROW(s = image_set::load(c.dir()));
    REQUIRE_FALSE(s);
    check_error(s.error(), file.string(), code, phrase);
  };
  SECTION("the leader is not among the threads, whose core images are there") {
    set_threads(c.dir(), {other});
    fs::rename(core, other_core);
    refused(c.dir() / "pstree.img", errc::bad_value,
            fmt::format("pid {} is not among the process's threads ({})", pid, other));
  }
  SECTION("a thread is listed twice") {
    set_threads(c.dir(), {pid, pid});
    refused(c.dir() / "pstree.img", errc::bad_value, fmt::format("thread {} is listed twice", pid));
  }
  SECTION("a thread's core image has no registers") {
    set_threads(c.dir(), {pid, other});
    fs::copy_file(core, other_core);
    edit_entry<necro::pb::core_entry>(other_core, necro::criu::magic::core, [](auto& e) { e.clear_thread_info(); });
    refused(other_core, errc::missing, fmt::format("core_entry of thread {} has no registers (thread_info)", other));
  }
  SECTION("a thread's core image is of another architecture") {
    set_threads(c.dir(), {pid, other});
    fs::copy_file(core, other_core);
    edit_entry<necro::pb::core_entry>(other_core, necro::criu::magic::core,
                                      [](auto& e) { e.set_mtype(necro::pb::core_entry::AARCH64); });
    refused(other_core, errc::mismatch, fmt::format("core_entry of thread {} has mtype 3, the leader's has 1", other));
  }
}

TEST_CASE("image_set: the fixture donor loads whole", "[criu]") {
  const auto d = necro::test::x86_64_donor();
  NECRO_REQUIRE_FIXTURE(d, "x86_64/counter.donor");
  auto s = image_set::load(*d);
  REQUIRE(s);
  CHECK(s->has(image_name("fs-", s->pid())));
  CHECK(s->has(image_name("ids-", s->pid())));
}

TEST_CASE("image_set: an image criu restore needs is missing", "[criu]") {
  const auto d = necro::test::x86_64_donor();
  NECRO_REQUIRE_FIXTURE(d, "x86_64/counter.donor");
  const std::uint32_t pid = donor_pid(*d);
  // fs- and ids- are only renamed by the planner: without this check the
  // patch succeeded and criu restore failed.
  for (const std::string prefix : {"fs-", "ids-", "core-", "mm-", "pagemap-"}) {
    DYNAMIC_SECTION(prefix << "<pid>.img") {
      donor_copy c(*d);
      const fs::path gone = c.dir() / image_name(prefix, pid);
      REQUIRE(fs::remove(gone));
      auto s = image_set::load(c.dir());
      REQUIRE_FALSE(s);
      check_error(s.error(), gone.string(), errc::missing, "missing from the donor dump (criu restore needs it)");
    }
  }
  SECTION("pstree.img") {
    donor_copy c(*d);
    REQUIRE(fs::remove(c.dir() / "pstree.img"));
    auto s = image_set::load(c.dir());
    REQUIRE_FALSE(s);
    check_error(s.error(), (c.dir() / "pstree.img").string(), errc::missing, "missing from the donor dump");
  }
}

TEST_CASE("image_set: fs- and ids- images must be well framed", "[criu]") {
  const auto d = necro::test::x86_64_donor();
  NECRO_REQUIRE_FIXTURE(d, "x86_64/counter.donor");
  const std::uint32_t pid = donor_pid(*d);
  for (const std::string prefix : {"fs-", "ids-"}) {
    DYNAMIC_SECTION(prefix << "<pid>.img of the wrong kind") {
      // Another image in its place: its magic is not the one expected.
      donor_copy c(*d);
      const fs::path img = c.dir() / image_name(prefix, pid);
      fs::copy_file(c.dir() / image_name("mm-", pid), img, fs::copy_options::overwrite_existing);
      auto s = image_set::load(c.dir());
      REQUIRE_FALSE(s);
      check_error(s.error(), img.string(), errc::bad_magic, "is not the expected", 4);
    }
    DYNAMIC_SECTION(prefix << "<pid>.img is a directory") {
      donor_copy c(*d);
      const fs::path img = c.dir() / image_name(prefix, pid);
      REQUIRE(fs::remove(img));
      REQUIRE(fs::create_directory(img));
      auto s = image_set::load(c.dir());
      REQUIRE_FALSE(s);
      check_error(s.error(), img.string(), errc::unsupported, "not a regular file");
    }
  }
}
