// necro::lazy served ranges and wire: which pages a page server of the core
// serves, where they lie in the core, and the page-server header layout.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include <necro/lazy/served_ranges.hpp>
#include <necro/lazy/wire.hpp>

using namespace necro;
using namespace necro::lazy;

namespace {

constexpr std::uint64_t page = 4096;

page_server_iov get(std::uint64_t vaddr, std::uint64_t pages, std::uint64_t pid = 42) {
  return {ps_cmd::get, 0, pages, vaddr, pid};
}

// Two lazy runs (out of order) and a present-only run the server must not serve.
std::vector<served_range> sample() {
  const std::vector<plan::page_run> runs{
      {0x7000'0000, 4, 0x9000, criu::pe::present | criu::pe::lazy},
      {0x5000'0000, 2, 0x1000, criu::pe::present},
      {0x4000'0000, 3, 0x3000, criu::pe::present | criu::pe::lazy},
  };
  return served_ranges(runs);
}

}  // namespace

TEST_CASE("served ranges are the lazy runs sorted by address", "[lazy]") {
  const auto r = sample();
  REQUIRE(r.size() == 2);
  CHECK(r[0].vaddr == 0x4000'0000);
  CHECK(r[0].pages == 3);
  CHECK(r[0].core_offset == 0x3000);
  CHECK(r[1].vaddr == 0x7000'0000);
  CHECK(r[1].core_offset == 0x9000);
}

TEST_CASE("a request maps to its offset in the core", "[lazy]") {
  const auto r = sample();
  auto s = resolve(r, get(0x4000'1000, 2), 42, page, "core");
  REQUIRE(s);
  CHECK(s->core_offset == 0x3000 + 0x1000);
  CHECK(s->pages == 2);
  s = resolve(r, get(0x7000'3000, 1), 42, page, "core");
  REQUIRE(s);
  CHECK(s->core_offset == 0x9000 + 0x3000);
}

TEST_CASE("a request past its range's end gets the pages up to it", "[lazy]") {
  const auto s = resolve(sample(), get(0x4000'1000, 10), 42, page, "core");
  REQUIRE(s);
  CHECK(s->pages == 2);  // pages 1 and 2 of a 3-page range; the daemon asks again for the rest
}

TEST_CASE("requests for pages no range holds are named errors", "[lazy]") {
  const auto r = sample();
  for (const auto& [vaddr, what] : std::vector<std::pair<std::uint64_t, std::string>>{
           {0x3fff'f000, "before every range"},
           {0x4000'3000, "just past a range"},
           {0x5000'0000, "a present-only run"},
           {0x7000'4000, "past the last range"}}) {
    INFO(what);
    const auto s = resolve(r, get(vaddr, 1), 42, page, "core.42");
    REQUIRE_FALSE(s);
    CHECK_THAT(s.error().message(), Catch::Matchers::StartsWith("core.42: PS_IOV_GET of 1 pages at"));
    CHECK_THAT(s.error().message(), Catch::Matchers::Contains(fmt::format("{:#x}", vaddr)));
    CHECK_THAT(s.error().message(), Catch::Matchers::Contains("no served page there"));
  }
}

TEST_CASE("requests for another pid, of no pages, unaligned or not GET are refused", "[lazy]") {
  const auto r = sample();
  auto s = resolve(r, get(0x4000'0000, 1, 7), 42, page, "core");
  REQUIRE_FALSE(s);
  CHECK_THAT(s.error().message(), Catch::Matchers::Contains("serves pid 42"));
  s = resolve(r, get(0x4000'0000, 0), 42, page, "core");
  REQUIRE_FALSE(s);
  CHECK_THAT(s.error().message(), Catch::Matchers::Contains("no pages"));
  s = resolve(r, get(0x4000'0010, 1), 42, page, "core");
  REQUIRE_FALSE(s);
  CHECK_THAT(s.error().message(), Catch::Matchers::Contains("not page-aligned"));
  auto add = get(0x4000'0000, 1);
  add.cmd = ps_cmd::add;
  s = resolve(r, add, 42, page, "core");
  REQUIRE_FALSE(s);
  CHECK_THAT(s.error().message(), Catch::Matchers::Contains("not a request for pages"));
}

TEST_CASE("ranges past the end of the core or overlapping are rejected", "[lazy]") {
  auto r = sample();
  CHECK(check_ranges(r, 0x9000 + 4 * page, page, "core"));
  const auto short_core = check_ranges(r, 0x9000 + 4 * page - 1, page, "core");
  REQUIRE_FALSE(short_core);
  CHECK(short_core.error().code() == errc::truncated);
  CHECK_THAT(short_core.error().message(), Catch::Matchers::Contains("past the end of the core"));
  r[0].pages = 0x3000'0001;  // reaches into the second range
  const auto overlap = check_ranges(r, UINT64_MAX, page, "core");
  REQUIRE_FALSE(overlap);
  CHECK_THAT(overlap.error().message(), Catch::Matchers::Contains("overlap"));
}

TEST_CASE("the page-server header has CRIU's layout", "[lazy]") {
  const auto req = get(0x1234'5000, 3, 42);
  const auto bytes = encode(req);
  std::uint32_t cmd;
  std::uint64_t nr, vaddr, dst;
  std::memcpy(&cmd, bytes.data(), 4);
  std::memcpy(&nr, bytes.data() + 8, 8);
  std::memcpy(&vaddr, bytes.data() + 16, 8);
  std::memcpy(&dst, bytes.data() + 24, 8);
  CHECK(cmd == 7);
  CHECK(nr == 3);
  CHECK(vaddr == 0x1234'5000);
  CHECK(dst == 42);
  const auto back = decode(bytes);
  CHECK(back.command() == ps_cmd::get);
  CHECK(back.vaddr == req.vaddr);

  const auto ans = pages_answer(req, 2);
  CHECK(ans.command() == ps_cmd::add_f);
  CHECK(ans.flags() == criu::pe::present);
  CHECK(ans.nr_pages == 2);
  CHECK(ans.vaddr == req.vaddr);
  CHECK(ans.dst_id == 42);
  const auto no = refusal();
  CHECK(no.cmd == ps_cmd::add);
  CHECK(no.nr_pages == 0);
  CHECK(no.vaddr == 0);
  CHECK(no.dst_id == 0);
}
