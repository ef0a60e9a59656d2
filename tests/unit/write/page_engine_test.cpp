// write/page_engine.hpp: the copy methods, and write_pages streaming the
// synthetic core and the real fixture: its pagemap holds exactly the pages
// the elision rules keep, its pages image carries them, and a restore of them
// gives the core's bytes back, for every method, window size, with and
// without the scanner thread.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>

#include "support/fixtures.hpp"
#include "support/planned.hpp"
#include "write/page_audit.hpp"
#include "write/synthetic_memory.hpp"

namespace fs = std::filesystem;

namespace {

using necro::write::copy_method;
using core_t = necro::elf::core_view<necro::arch::x86_64>;
constexpr std::uint64_t page = 4096;

struct out_file {
  fs::path path;
  int fd = -1;
  explicit out_file(const fs::path& dir, const std::string& name) : path(dir / name) {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
  }
  ~out_file() {
    if (fd >= 0) ::close(fd);
    ::unlink(path.c_str());
  }
  std::string content() const { return necro::test::slurp(path); }
};

bool same_entries(const std::vector<necro::pb::pagemap_entry>& a, const std::vector<necro::pb::pagemap_entry>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].SerializeAsString() != b[i].SerializeAsString()) return false;
  return true;
}

/// The candidate runs' own entries: what write_pages gives with no elision.
std::vector<necro::pb::pagemap_entry> candidate_entries(const necro::plan::resurrection& p) {
  std::vector<necro::pb::pagemap_entry> out;
  for (const auto& r : p.runs) out.push_back(necro::criu::make_pagemap_entry(r.vaddr, r.pages, r.flags));
  return out;
}

constexpr auto all_methods = necro::write::copy_methods;

}  // namespace

TEST_CASE("copy methods have names the CLI parses", "[write]") {
  CHECK(all_methods.size() == 4);
  for (auto m : all_methods) CHECK(necro::write::parse_copy_method(necro::write::name(m)) == m);
  CHECK(necro::write::parse_copy_method("write_from_map") == copy_method::write_from_map);
  CHECK_FALSE(necro::write::parse_copy_method("memcpy"));
}

TEST_CASE("range_copier appends ranges by every method, byte for byte", "[write]") {
  necro::test::synthetic_memory m;
  const auto& src = *m.core->file();
  for (auto method : all_methods) {
    INFO("method " << necro::write::name(method));
    out_file out(m.dir, "copy.bin");
    necro::write::range_copier c(src, out.fd, out.path.string(), method);
    REQUIRE(c.append(4096, 3 * page));
    REQUIRE(c.append(0, 100));
    REQUIRE(c.append(src.size() - 10, 10));
    CHECK(c.bytes() == 3 * page + 110);
    CHECK_FALSE(c.fell_back());
    const auto got = out.content();
    REQUIRE(got.size() == 3 * page + 110);
    const auto* s = reinterpret_cast<const char*>(src.view().data());
    CHECK(std::memcmp(got.data(), s + 4096, 3 * page) == 0);
    CHECK(std::memcmp(got.data() + 3 * page, s, 100) == 0);
    CHECK(std::memcmp(got.data() + 3 * page + 100, s + src.size() - 10, 10) == 0);
    // Past the end: an error naming the core, nothing half done.
    auto bad = c.append(src.size() - 4, 8);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code() == necro::errc::truncated);
    CHECK(bad.error().path() == src.path());
  }
}

TEST_CASE("range_copier falls back to the mapping when the kernel cannot copy", "[write]") {
  necro::test::synthetic_memory m;
  const auto& src = *m.core->file();
  // A pipe as the output: copy_file_range and sendfile into a pipe are refused or
  // work depending on the kernel; either way every byte must arrive.
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  necro::write::range_copier c(src, p[1], "pipe", copy_method::copy_file_range);
  REQUIRE(c.append(0, 1000));
  ::close(p[1]);
  std::string got(2000, '\0');
  const ssize_t n = ::read(p[0], got.data(), got.size());
  ::close(p[0]);
  REQUIRE(n == 1000);
  CHECK(std::memcmp(got.data(), src.view().data(), 1000) == 0);
}

TEST_CASE("coalesced_copy starts writeback per batch of bytes, not per scattered page", "[write]") {
  necro::test::synthetic_memory m;
  const auto& src = *m.core->file();
  const std::uint64_t pages = src.size() / page;
  REQUIRE(pages >= 16);
  out_file out(m.dir, "copy.bin");
  necro::write::range_copier c(src, out.fd, out.path.string(), copy_method::copy_file_range);
  // Every other page: each one is its own copy step.
  necro::write::detail::coalesced_copy copy(c, out.fd, 64 * page, /*dry_run=*/false, /*writeback=*/true,
                                            /*writeback_batch=*/4 * page);
  std::uint64_t added = 0;
  for (std::uint64_t i = 0; added < 8; i += 2, ++added) REQUIRE(copy.add(i * page, page));
  REQUIRE(copy.flush());
  CHECK(copy.written() == added * page);
  CHECK(copy.writebacks() == 2);
  const auto got = out.content();
  REQUIRE(got.size() == added * page);
  const auto* s = reinterpret_cast<const char*>(src.view().data());
  for (std::uint64_t k = 0; k < added; ++k) CHECK(std::memcmp(got.data() + k * page, s + 2 * k * page, page) == 0);
}

TEST_CASE("write_pages elides zero pages, holes and clean file pages, and the restore gives the core back", "[write]") {
  necro::test::synthetic_memory m;
  using sm = necro::test::synthetic_memory;
  const std::uint64_t kept_pages = m.plan.stats.candidate_pages - sm::zero_pages - sm::file_pages;

  for (auto method : all_methods)
    for (bool parallel : {true, false})
      for (std::uint64_t window : {std::uint64_t{page}, 3 * page, std::uint64_t{8} << 20}) {
        INFO("method " << necro::write::name(method) << ", parallel " << parallel << ", window " << window);
        out_file out(m.dir, "pages-1.img");
        std::vector<necro::write::progress> seen;
        necro::write::engine_options opt;
        opt.method = method;
        opt.parallel = parallel;
        opt.window = window;
        opt.max_copy = 2 * page;  // several copy steps per run
        opt.progress = [&](const necro::write::progress& pr) { seen.push_back(pr); };
        auto rep = necro::write::write_pages<necro::arch::x86_64>(*m.core->file(), m.plan, m.files, out.fd,
                                                                  out.path.string(), opt);
        REQUIRE(rep);
        CHECK(necro::test::entry_spans(rep->pagemap) == sm::kept_entries());
        for (const auto& e : rep->pagemap) {
          CHECK(e.compat_nr_pages() == e.nr_pages());
          CHECK(e.flags() == (e.vaddr() < sm::file_at ? necro::criu::pe::present | necro::criu::pe::lazy
                                                      : necro::criu::pe::present));
        }
        CHECK(rep->pages.zero_pages == sm::zero_pages);
        CHECK(rep->pages.file_pages == sm::file_pages);
        CHECK(rep->pages.kept_pages == kept_pages);
        CHECK(rep->hole_pages == (m.sparse ? sm::hole_pages : 0));
        CHECK(rep->bytes_written == kept_pages * page);
        CHECK(rep->bytes_elided == (sm::zero_pages + sm::file_pages) * page);
        CHECK_FALSE(rep->fell_back);
        const auto image = out.content();
        CHECK(image.size() == rep->bytes_written);
        CHECK(m.restore_mismatches(rep->pagemap, image) == 0);
        // Progress: monotonic, ends with everything done.
        REQUIRE_FALSE(seen.empty());
        for (std::size_t i = 1; i < seen.size(); ++i) CHECK(seen[i - 1].done <= seen[i].done);
        CHECK(seen.back().done == seen.back().total);
        CHECK(seen.back().total == m.plan.stats.candidate_pages * page);
        CHECK(seen.back().written == rep->bytes_written);
        CHECK(seen.back().elided == rep->bytes_elided);
      }
}

TEST_CASE("write_pages without elision, or without the file's content, writes those pages", "[write]") {
  necro::test::synthetic_memory m;
  using sm = necro::test::synthetic_memory;
  {
    out_file out(m.dir, "pages-1.img");
    necro::write::engine_options opt;
    opt.elide = false;
    auto rep = necro::write::write_pages<necro::arch::x86_64>(*m.core->file(), m.plan, m.files, out.fd,
                                                              out.path.string(), opt);
    REQUIRE(rep);
    CHECK(same_entries(rep->pagemap, candidate_entries(m.plan)));
    CHECK(rep->bytes_elided == 0);
    CHECK(rep->bytes_written == m.plan.stats.candidate_pages * page);
    CHECK(m.restore_mismatches(rep->pagemap, out.content()) == 0);
  }
  {
    out_file out(m.dir, "pages-1.img");
    auto rep = necro::write::write_pages<necro::arch::x86_64>(*m.core->file(), m.plan, {}, out.fd, out.path.string());
    REQUIRE(rep);
    CHECK(rep->pages.file_pages == 0);
    CHECK(rep->pages.zero_pages == sm::zero_pages);
    CHECK(m.restore_mismatches(rep->pagemap, out.content(), false) == 0);
  }
}

TEST_CASE("write_pages splits pagemap entries at max_entry_pages, and the restore gives the core back", "[write]") {
  // CRIU's lazy-pages daemon crashed on one entry for a whole 4 GiB run.
  necro::test::synthetic_memory m;
  for (std::uint64_t cap : {std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{3}}) {
    for (bool elide : {true, false}) {
      INFO("max_entry_pages " << cap << ", elide " << elide);
      out_file out(m.dir, "pages-1.img");
      necro::write::engine_options opt;
      opt.max_entry_pages = cap;
      opt.elide = elide;
      auto rep = necro::write::write_pages<necro::arch::x86_64>(*m.core->file(), m.plan, m.files, out.fd,
                                                                out.path.string(), opt);
      REQUIRE(rep);
      std::uint64_t pages = 0, longest = 0;
      for (const auto& e : rep->pagemap) {
        pages += e.nr_pages();
        longest = std::max<std::uint64_t>(longest, e.nr_pages());
        CHECK(e.compat_nr_pages() == e.nr_pages());
      }
      CHECK(longest <= cap);
      CHECK(pages * page == rep->bytes_written);
      CHECK(m.restore_mismatches(rep->pagemap, out.content(), elide) == 0);
    }
  }
}

TEST_CASE("write_pages refuses runs past the end of the core", "[write]") {
  necro::test::synthetic_memory m;
  auto p = m.plan;
  p.runs.back().pages += 1000;
  out_file out(m.dir, "pages-1.img");
  auto rep = necro::write::write_pages<necro::arch::x86_64>(*m.core->file(), p, m.files, out.fd, out.path.string());
  REQUIRE_FALSE(rep);
  CHECK(rep.error().code() == necro::errc::truncated);
  CHECK_THAT(rep.error().message(), Catch::Matchers::Contains("past the end of the core"));
}

TEST_CASE("write_pages on the real fixture keeps exactly the pages the rules need, and they restore the core", "[write]") {
  auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  const auto& core = f->core;
  const auto& plan = f->plan;
  const auto rules = necro::plan::page_rules(plan, {});
  const auto dir = fs::temp_directory_path();
  for (auto method : all_methods) {
    INFO("method " << necro::write::name(method));
    out_file out(dir, "necro-page-engine-test-" + std::to_string(::getpid()) + ".img");
    auto rep = necro::write::write_pages<necro::arch::x86_64>(*core.file(), plan, {}, out.fd, out.path.string(),
                                                              {.method = method});
    REQUIRE(rep);
    const auto image = out.content();
    const auto a = necro::test::audit_pages(core.bytes().bytes(), plan, rules, rep->pagemap, image);
    CHECK(a.image_size_ok);
    CHECK(a.wrong == 0);     // the restore gives the core back
    CHECK(a.missed == 0);    // no zero anonymous page is written
    CHECK(a.bad == 0);       // entries in the candidates, with their flags, both counts set
    CHECK(a.unmerged == 0);  // one entry per kept range of a run
    CHECK(a.kept == rep->pages.kept_pages);
    CHECK(a.elided == rep->pages.zero_pages);
    CHECK(rep->pages.zero_pages > 0);
    CHECK(rep->pages.file_pages == 0);
    CHECK(a.kept + a.elided == plan.stats.candidate_pages);
    CHECK(image.size() == rep->pages.kept_pages * page);
  }
  // The audit sees a difference: without elision the zero pages are written
  // (missed), and a kept range left out of the pagemap is lost (wrong).
  out_file out(dir, "necro-page-engine-test-" + std::to_string(::getpid()) + ".img");
  auto all = necro::write::write_pages<necro::arch::x86_64>(*core.file(), plan, {}, out.fd, out.path.string(),
                                                            {.elide = false});
  REQUIRE(all);
  const auto zero = necro::write::classify_pages<necro::arch::x86_64>(*core.file(), plan, {});
  REQUIRE(zero);
  const auto a = necro::test::audit_pages(core.bytes().bytes(), plan, rules, all->pagemap, out.content());
  CHECK(a.wrong == 0);
  CHECK(a.missed == zero->pages.zero_pages);
  auto fewer = zero->pagemap;
  fewer.pop_back();
  CHECK(necro::test::audit_pages(core.bytes().bytes(), plan, rules, fewer, std::nullopt).wrong > 0);
}

TEST_CASE("classify_pages decides as write_pages does, and writes nothing", "[write]") {
  necro::test::synthetic_memory m;
  auto f = necro::test::plan_pool();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/pool.core + pool.donor");
  const auto check = [](const necro::io::mapped_file& core, const necro::plan::resurrection& p,
                        const necro::io::file_facts& files, const fs::path& dir) {
    out_file out(dir, "necro-classify-test-" + std::to_string(::getpid()) + ".img");
    auto wrote = necro::write::write_pages<necro::arch::x86_64>(core, p, files, out.fd, out.path.string());
    REQUIRE(wrote);
    for (std::uint64_t window : {std::uint64_t{page}, std::uint64_t{8} << 20}) {
      auto decided = necro::write::classify_pages<necro::arch::x86_64>(core, p, files, {.window = window});
      REQUIRE(decided);
      CHECK(same_entries(decided->pagemap, wrote->pagemap));
      CHECK(decided->pages.kept_pages == wrote->pages.kept_pages);
      CHECK(decided->pages.zero_pages == wrote->pages.zero_pages);
      CHECK(decided->pages.file_pages == wrote->pages.file_pages);
      CHECK(decided->hole_pages == wrote->hole_pages);
      CHECK(decided->bytes_written == wrote->bytes_written);
      CHECK(decided->bytes_elided == wrote->bytes_elided);
    }
    CHECK(out.content().size() == wrote->bytes_written);  // classify appended nothing
  };
  SECTION("synthetic memory: zero pages, holes and clean file pages") {
    check(*m.core->file(), m.plan, m.files, m.dir);
  }
  SECTION("the real pool fixture") { check(*f->core.file(), f->plan, {}, fs::temp_directory_path()); }
}

TEST_CASE("write_pages stops when cancelled", "[write]") {
  necro::test::synthetic_memory m;
  std::atomic<bool> stop{false};
  std::uint64_t windows = 0;
  necro::write::engine_options opt;
  opt.window = page;
  opt.cancel = &stop;
  opt.progress = [&](const necro::write::progress&) {
    if (++windows == 3) stop = true;  // as a signal handler would, mid-write
  };
  out_file out(m.dir, "pages-1.img");
  auto rep = necro::write::write_pages<necro::arch::x86_64>(*m.core->file(), m.plan, m.files, out.fd,
                                                            out.path.string(), opt);
  REQUIRE_FALSE(rep);
  CHECK(rep.error().code() == necro::errc::io);
  CHECK_THAT(rep.error().message(), Catch::Matchers::Contains("interrupted"));
  CHECK(windows == 3);
}
