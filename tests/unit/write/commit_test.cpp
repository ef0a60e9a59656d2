// write::commit on the real fixture: a complete image set appears atomically,
// reads back, carries the core's page bytes, and the donor is never touched.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <utility>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>

#include "support/fixtures.hpp"
#include "support/planned.hpp"
#include "write/page_audit.hpp"

namespace fs = std::filesystem;

TEST_CASE("commit writes a complete image set that reads back", "[write]") {
  const auto c = necro::test::x86_64_core();
  const auto d = necro::test::x86_64_donor();
  NECRO_REQUIRE_FIXTURE(c && d, "x86_64/counter.core + counter.donor");
  necro::test::scratch_dir s;
  fs::copy(*d, s.path / "donor");
  const auto before = necro::test::files_in(s.path / "donor");
  const auto f = necro::test::plan_offline(*c, s.path / "donor");
  const auto& core = f.core;
  const auto& donor = f.donor;
  const auto& plan = f.plan;

  // The reference: the page engine's own decision for the plan (what --explain reports).
  const auto decided = necro::write::classify_pages<necro::arch::x86_64>(*core.file(), plan, {});
  REQUIRE(decided);
  const auto& st = decided->pages;
  const auto rules = necro::plan::page_rules(plan, {});

  for (auto method : {necro::write::copy_method::copy_file_range, necro::write::copy_method::sendfile,
                      necro::write::copy_method::splice, necro::write::copy_method::write_from_map})
    for (bool durable : {true, false}) {
      INFO("method " << necro::write::name(method) << ", durable " << durable);
      const fs::path out = s.path / fmt::format("out-{}-{}", necro::write::name(method), durable);
      std::uint64_t last_done = 0, calls = 0;
      auto rep = necro::write::commit(plan, core, donor, out,
                                      {.method = method,
                                       .files = nullptr,
                                       .progress = [&](const necro::write::progress& pr) { last_done = pr.done; ++calls; },
                                       .durable = durable});
      REQUIRE(rep);
      CHECK(rep->page_bytes == st.kept_pages * 4096);
      CHECK(rep->pages.pages.zero_pages == st.zero_pages);
      CHECK(rep->pages.bytes_elided == st.zero_pages * 4096);
      CHECK(calls > 0);
      CHECK(last_done == plan.stats.candidate_pages * 4096);
      // No staging directory is left behind.
      for (const auto& e : fs::directory_iterator(s.path)) CHECK_FALSE(e.path().filename().string().starts_with("."));

      // The new set reads back as a donor would, under the victim's pid.
      auto back = necro::criu::image_set::load(out);
      REQUIRE(back);
      CHECK(back->pid() == static_cast<std::uint32_t>(plan.pid));
      CHECK(back->mm().SerializeAsString() == plan.mm.SerializeAsString());
      CHECK(back->leader_core().SerializeAsString() == plan.threads[0].core.SerializeAsString());
      CHECK(back->has(necro::criu::image_name("fs-", static_cast<std::uint64_t>(plan.pid))));
      CHECK_FALSE(back->has(necro::criu::image_name("core-", plan.donor_pid)));

      // pagemap-PID.img: the engine's entries, the ones it decided.
      auto pm_file = necro::io::mapped_file::open((out / necro::criu::image_name("pagemap-", static_cast<std::uint64_t>(plan.pid))).string());
      REQUIRE(pm_file);
      auto rd = necro::criu::entry_reader::open(pm_file->view(), necro::criu::magic::pagemap);
      REQUIRE(rd);
      necro::pb::pagemap_head head;
      REQUIRE(*rd->next(head));
      CHECK(head.pages_id() == plan.pages_id);
      auto entries = rd->read_all<necro::pb::pagemap_entry>();
      REQUIRE(entries);
      REQUIRE(entries->size() == decided->pagemap.size());
      REQUIRE(entries->size() == rep->pages.pagemap.size());
      for (std::size_t i = 0; i < entries->size(); ++i) {
        CHECK((*entries)[i].SerializeAsString() == decided->pagemap[i].SerializeAsString());
        // Both page counts set: docs/pitfalls.md#pagemap-page-counts.
        CHECK((*entries)[i].nr_pages() == (*entries)[i].compat_nr_pages());
      }
      // pages-N.img holds the kept pages, in pagemap order, and they restore the core.
      const auto pages = necro::test::slurp(out / necro::criu::image_name("pages-", plan.pages_id));
      REQUIRE(pages.size() == st.kept_pages * 4096);
      const auto a = necro::test::audit_pages(core.bytes().bytes(), plan, rules, *entries, pages);
      CHECK(a.image_size_ok);
      CHECK(a.wrong == 0);
      CHECK(a.missed == 0);
      CHECK(a.bad == 0);
      CHECK(a.kept == st.kept_pages);
    }
  // The donor's directory is byte-identical.
  CHECK(necro::test::files_in(s.path / "donor") == before);
}

TEST_CASE("commit refuses a non-empty output directory and leaves everything as it was", "[write]") {
  const auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  necro::test::scratch_dir s;
  fs::create_directory(s.path / "busy");
  { std::ofstream(s.path / "busy" / "keep.txt") << "mine"; }
  auto rep = necro::write::commit(f->plan, f->core, f->donor, s.path / "busy");
  REQUIRE_FALSE(rep);
  CHECK_THAT(rep.error().message(), Catch::Matchers::Contains("not an empty directory"));
  CHECK(necro::test::files_in(s.path / "busy").size() == 1);
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(s.path)) ++entries;
  CHECK(entries == 1);  // no staging directory left
}

TEST_CASE("commit: an output path the OS cannot look at is an error naming it, not an exception", "[write]") {
  const auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  necro::test::scratch_dir s;
  fs::create_directory_symlink("loop", s.path / "loop");  // a symlink to itself: ELOOP
  const std::string long_name(300, 'a');                  // longer than NAME_MAX: ENAMETOOLONG
  for (const auto& [out, says] : {std::pair{s.path / "loop", "Too many levels of symbolic links"},
                                  std::pair{s.path / "loop" / "out", "Too many levels of symbolic links"},
                                  std::pair{s.path / long_name, "File name too long"}}) {
    CAPTURE(out);
    std::optional<necro::result<necro::write::commit_report>> rep;
    REQUIRE_NOTHROW(rep.emplace(necro::write::commit(f->plan, f->core, f->donor, out)));
    REQUIRE_FALSE(*rep);
    CHECK((*rep).error().code() == necro::errc::io);
    CHECK((*rep).error().path() == out.string());
    CHECK_THAT((*rep).error().message(), Catch::Matchers::EndsWith(says));
  }
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(s.path)) ++entries;
  CHECK(entries == 1);  // the loop only: no staging directory left
}

TEST_CASE("commit: an entry over the image cap is an error naming the image, not an abort", "[write]") {
  auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  // What the planner makes of a hostile NT_FILE name of 70 MB.
  auto& fe = f->plan.files.emplace_back(f->plan.files.front());
  fe.mutable_reg()->set_name(std::string(70u << 20, 'x'));
  necro::test::scratch_dir s;
  auto rep = necro::write::commit(f->plan, f->core, f->donor, s.path / "out");
  REQUIRE_FALSE(rep);
  necro::test::check_error(rep.error(), (s.path / "out" / "files.img").string(), necro::errc::limit,
                           "cannot write a file_entry entry of 734003");
  CHECK_THAT(rep.error().message(), Catch::Matchers::EndsWith("bytes: over the cap of 67108864"));
  CHECK(fs::is_empty(s.path));  // nothing written, no staging directory
}

TEST_CASE("patching in place keeps the donor's originals beside it", "[write]") {
  const auto c = necro::test::x86_64_core();
  const auto d = necro::test::x86_64_donor();
  NECRO_REQUIRE_FIXTURE(c && d, "x86_64/counter.core + counter.donor");
  necro::test::scratch_dir s;
  fs::copy(*d, s.path / "donor");
  const auto before = necro::test::files_in(s.path / "donor");
  {
    const auto f = necro::test::plan_offline(*c, s.path / "donor");
    auto rep = necro::write::commit(f.plan, f.core, f.donor, s.path / "donor");
    REQUIRE(rep);
    CHECK(rep->kept_donor == s.path / "donor.donor");
  }
  CHECK(necro::test::files_in(s.path / "donor.donor") == before);
  // The patched set plans again, as a donor (under the victim's pid).
  const auto patched = necro::test::plan_offline(*c, s.path / "donor");
  CHECK(patched.donor.pid() != necro::criu::image_set::load(s.path / "donor.donor")->pid());

  // A second in-place patch would overwrite the kept originals: refused.
  const auto patched_files = necro::test::files_in(s.path / "donor");
  auto again = necro::write::commit(patched.plan, patched.core, patched.donor, s.path / "donor");
  REQUIRE_FALSE(again);
  CHECK_THAT(again.error().message(), Catch::Matchers::Contains("donor.donor: exists"));
  CHECK(necro::test::files_in(s.path / "donor") == patched_files);
  CHECK(necro::test::files_in(s.path / "donor.donor") == before);
}
