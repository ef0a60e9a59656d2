// necro::lazy::pending_pages and split_at_vmas: what necro's lazy-pages
// daemon still has to deliver, as the process unmaps, removes, moves and
// forks its memory, and ranges cut where the plan's VMAs are.
#include <catch2/catch.hpp>

#include <vector>

#include <necro/lazy/pending_pages.hpp>

using namespace necro::lazy;

namespace {
constexpr std::uint64_t page = 4096;
}

TEST_CASE("split_at_vmas cuts a range at every VMA boundary inside it, keeping core offsets", "[lazy]") {
  const std::vector<served_range> ranges{{0x10000, 8, 0x1000}, {0x40000, 2, 0x20000}};
  const std::vector<vma_bounds> vmas{{0x10000, 0x13000}, {0x13000, 0x16000}, {0x16000, 0x20000}, {0x40000, 0x42000}};
  const auto out = split_at_vmas(ranges, vmas, page);
  REQUIRE(out.size() == 4);
  CHECK(out[0].vaddr == 0x10000);
  CHECK(out[0].pages == 3);
  CHECK(out[0].core_offset == 0x1000);
  CHECK(out[1].vaddr == 0x13000);
  CHECK(out[1].pages == 3);
  CHECK(out[1].core_offset == 0x4000);
  CHECK(out[2].vaddr == 0x16000);
  CHECK(out[2].pages == 2);
  CHECK(out[2].core_offset == 0x7000);
  CHECK(out[3].vaddr == 0x40000);
  CHECK(out[3].pages == 2);
}

TEST_CASE("pending_pages hands out chunks from a fault or from the lowest address, each once", "[lazy]") {
  const std::vector<served_range> ranges{{0x10000, 16, 0x1000}, {0x40000, 4, 0x90000}};
  pending_pages p(ranges, page);
  CHECK(p.pages() == 20);
  auto c = p.take_at(0x10000 + 5 * page + 123, 4);  // an unaligned fault address
  REQUIRE(c);
  CHECK(c->vaddr == 0x15000);
  CHECK(c->pages == 4);
  CHECK(c->core_offset == 0x6000);
  CHECK_FALSE(p.holds(0x16000));
  CHECK_FALSE(p.take_at(0x16000, 1));  // delivered already
  CHECK(p.pages() == 16);
  c = p.take_at(0x1e000, 100);  // never past its range
  REQUIRE(c);
  CHECK(c->pages == 2);
  c = p.take_first(1000);
  REQUIRE(c);
  CHECK(c->vaddr == 0x10000);
  CHECK(c->pages == 5);
  c = p.take_first(1000);
  REQUIRE(c);
  CHECK(c->vaddr == 0x19000);
  CHECK(c->pages == 5);
  CHECK(c->core_offset == 0xa000);
  p.put_back(*c);  // not delivered: pending again
  CHECK(p.pages() == 9);
  CHECK(p.take_first(2)->vaddr == 0x19000);
  CHECK(p.pages() == 7);
}

TEST_CASE("pending_pages drops what the process unmapped or removed, never to come back", "[lazy]") {
  pending_pages p(std::vector<served_range>{{0x10000, 16, 0}, {0x30000, 16, 0x100000}}, page);
  p.erase(0x14000, 0x18000);
  CHECK(p.pages() == 28);
  CHECK(p.holds(0x13000));
  CHECK_FALSE(p.holds(0x14000));
  CHECK(p.holds(0x18000));
  const auto tail = p.take_at(0x18000, 1);
  REQUIRE(tail);
  CHECK(tail->core_offset == 0x8000);  // the tail keeps its place in the core
  p.erase(0x1c000, 0x34000);  // across two ranges
  CHECK(p.holds(0x1b000));
  CHECK_FALSE(p.holds(0x30000));
  CHECK(p.take_at(0x34000, 1)->core_offset == 0x104000);
  p.erase(0, ~0ull);
  CHECK(p.empty());
  CHECK(p.pages() == 0);
}

TEST_CASE("pending_pages follows an mremap, and a fork copies it", "[lazy]") {
  pending_pages p(std::vector<served_range>{{0x10000, 8, 0x5000}}, page);
  pending_pages child = p;
  p.remap(0x12000, 0x80000, 4 * page);  // pages 2..5 move
  CHECK(p.pages() == 8);
  CHECK_FALSE(p.holds(0x12000));
  const auto moved = p.take_at(0x81000, 1);
  REQUIRE(moved);
  CHECK(moved->core_offset == 0x5000 + 3 * page);
  CHECK(p.holds(0x16000));
  CHECK(child.holds(0x12000));  // the copy is its own
  CHECK(child.pages() == 8);
}
