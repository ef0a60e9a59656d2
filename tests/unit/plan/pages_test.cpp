// plan/pages/pages.hpp: the zero check, the elision rules and the candidate runs.
// The page engine applies the rules (tests/unit/write/page_engine_test.cpp).
#include <algorithm>
#include <cstring>
#include <vector>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>

#include "support/fixtures.hpp"
#include "support/planned.hpp"
#include "write/synthetic_memory.hpp"

namespace {

using necro::plan::elision;
constexpr std::size_t page = 4096;

std::vector<std::byte> zeros(std::size_t n) { return std::vector<std::byte>(n, std::byte{0}); }

}  // namespace

TEST_CASE("is_zero: every length, and one non-zero byte anywhere in a page", "[plan]") {
  for (std::size_t n : {0, 1, 7, 8, 9, 255, 256, 257, 4095, 4096, 4097, 8192}) {
    const auto z = zeros(n);
    CHECK(necro::plan::is_zero(z.data(), n));
  }
  auto p = zeros(page);
  for (std::size_t i = 0; i < page; ++i) {
    p[i] = std::byte{0x80};
    if (necro::plan::is_zero(p.data(), page)) FAIL("byte " << i << " missed");
    p[i] = std::byte{0};
  }
  // Short tails are checked too.
  auto q = zeros(300);
  q[299] = std::byte{1};
  CHECK_FALSE(necro::plan::is_zero(q.data(), q.size()));
  CHECK(necro::plan::is_zero(q.data(), 299));
  CHECK(necro::plan::is_zero(p.data(), page));
}

TEST_CASE("needs_data: zero, same-as-file (short last page), none", "[plan]") {
  auto z = zeros(page);
  std::vector<std::byte> d(page, std::byte{7});
  CHECK_FALSE(necro::plan::needs_data(elision::zero, z, {}));
  CHECK(necro::plan::needs_data(elision::zero, d, {}));
  CHECK(necro::plan::needs_data(elision::none, z, {}));

  CHECK_FALSE(necro::plan::needs_data(elision::same_as_file, d, d));
  auto changed = d;
  changed[4095] = std::byte{8};
  CHECK(necro::plan::needs_data(elision::same_as_file, changed, d));
  // The file ends 100 bytes into the page: memory past it reads as zeros.
  std::vector<std::byte> tail_page = z;
  std::fill_n(tail_page.begin(), 100, std::byte{7});
  const std::span<const std::byte> short_file(d.data(), 100);
  CHECK_FALSE(necro::plan::needs_data(elision::same_as_file, tail_page, short_file));
  tail_page[200] = std::byte{1};
  CHECK(necro::plan::needs_data(elision::same_as_file, tail_page, short_file));
  // Nothing to compare with: written.
  CHECK(necro::plan::needs_data(elision::same_as_file, z, {}));
}

TEST_CASE("elide_range: maximal kept ranges, counts, and none keeps without reading", "[plan]") {
  // pages: data zero zero data data zero data
  const bool data[] = {true, false, false, true, true, false, true};
  std::vector<std::byte> run(std::size(data) * page, std::byte{0});
  for (std::size_t k = 0; k < std::size(data); ++k)
    if (data[k]) run[k * page + 17] = std::byte{1};
  necro::plan::elision_stats st;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> kept;
  necro::plan::elide_range({elision::zero, nullptr, 0}, run.data(), 0, std::size(data), page, st,
                           [&](std::uint64_t f, std::uint64_t n) { kept.emplace_back(f, n); });
  CHECK(kept == std::vector<std::pair<std::uint64_t, std::uint64_t>>{{0, 1}, {3, 2}, {6, 1}});
  CHECK(st.kept_pages == 4);
  CHECK(st.zero_pages == 3);
  CHECK(st.elided_pages() == 3);

  // A sub-range: indices stay the run's.
  kept.clear();
  necro::plan::elision_stats st2;
  necro::plan::elide_range({elision::zero, nullptr, 0}, run.data(), 2, 3, page, st2,
                           [&](std::uint64_t f, std::uint64_t n) { kept.emplace_back(f, n); });
  CHECK(kept == std::vector<std::pair<std::uint64_t, std::uint64_t>>{{3, 2}});

  kept.clear();
  necro::plan::elision_stats st3;
  necro::plan::elide_range({}, nullptr, 5, 1000, page, st3, [&](std::uint64_t f, std::uint64_t n) { kept.emplace_back(f, n); });
  CHECK(kept == std::vector<std::pair<std::uint64_t, std::uint64_t>>{{5, 1000}});
  CHECK(st3.kept_pages == 1000);
}

TEST_CASE("plan_pages lists candidate runs and their pagemap flags from metadata", "[plan]") {
  auto f = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/counter.core + counter.donor");
  const auto& core = f->core;
  const auto& p = f->plan;

  // Candidates: one run per page-carrying VMA with dumped pages, in VMA order,
  // present, and lazy when anonymous.
  std::uint64_t pages = 0;
  for (std::size_t i = 0; i < p.runs.size(); ++i) {
    const auto& r = p.runs[i];
    const auto* seg = core.segment_at(r.vaddr);
    REQUIRE(seg);
    CHECK(r.core_offset == seg->offset + (r.vaddr - seg->vaddr));
    CHECK(r.core_offset + r.pages * page <= seg->offset + seg->filesz);
    if (i > 0) CHECK(p.runs[i - 1].vaddr < r.vaddr);
    const auto v = std::find_if(p.vmas.begin(), p.vmas.end(), [&](const auto& m) { return m.entry.start() == r.vaddr; });
    REQUIRE(v != p.vmas.end());
    CHECK(r.flags == (necro::criu::pe::present | (v->anonymous ? necro::criu::pe::lazy : 0u)));
    pages += r.pages;
  }
  CHECK(pages == p.stats.candidate_pages);

  // The rules: anonymous VMAs elide zeros; the vDSO keeps everything; file VMAs
  // keep everything when no file content was gathered (offline).
  const auto rules = necro::plan::page_rules(p, {});
  REQUIRE(rules.size() == p.runs.size());
  std::size_t zero_rules = 0;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const auto v = std::find_if(p.vmas.begin(), p.vmas.end(), [&](const auto& m) { return m.entry.start() == p.runs[i].vaddr; });
    REQUIRE(v != p.vmas.end());
    CHECK((rules[i].kind == elision::zero) == v->anonymous);
    CHECK(rules[i].kind != elision::same_as_file);
    zero_rules += rules[i].kind == elision::zero;
  }
  CHECK(zero_rules > 0);
}

TEST_CASE("page_rules: zero for anonymous memory, same_as_file with the file's content, none for the vDSO", "[plan]") {
  necro::test::synthetic_memory m;
  using sm = necro::test::synthetic_memory;
  const auto& p = m.plan;
  REQUIRE(p.runs.size() == 3);
  CHECK(p.stats.candidate_pages == sm::anon_pages + sm::file_vma_pages + sm::vdso_pages);

  const auto rules = necro::plan::page_rules(p, m.files);
  REQUIRE(rules.size() == 3);
  CHECK(rules[0].kind == elision::zero);
  CHECK(rules[1].kind == elision::same_as_file);
  CHECK(rules[1].file_offset == page);
  CHECK(rules[1].file == m.files.at(m.file_path.string())->content.get());
  CHECK(rules[2].kind == elision::none);
  // The VMA's last page is the file's short last page.
  CHECK(necro::plan::file_page(rules[1], sm::file_vma_pages - 1, page).size() == 100);
  CHECK(necro::plan::file_page(rules[1], sm::file_vma_pages, page).empty());

  // Without the file's content, file pages are all kept.
  const auto no_files = necro::plan::page_rules(p, {});
  CHECK(no_files[0].kind == elision::zero);
  CHECK(no_files[1].kind == elision::none);
  CHECK(no_files[2].kind == elision::none);
}
