// epoll registrations on the real fixture (tests/data/src/epoll.c, killed with
// SIGQUIT, and a CRIU 4.x donor of it): the donor's files.img EVENTPOLL entry
// decodes, re-encodes byte for byte, and the planned `data` of each target is
// the value the victim itself registered (its own report in epoll.facts.txt):
// a heap pointer moved by the brk heap delta, a tagged .data pointer by the
// executable's load delta with its tag bit kept, a tagged pointer into memory
// malloc got from mmap by its distance below libc, an fd number left alone.
#include <map>
#include <string>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>
#include <necro/plan/files/eventpoll.hpp>

#include "support/fixtures.hpp"
#include "support/planned.hpp"

namespace {

std::optional<necro::test::planned> plan_epoll() {
  const auto c = necro::test::fixture("x86_64/epoll.core");
  const auto d = necro::test::fixture("x86_64/epoll.donor");
  if (!c || !d) return std::nullopt;
  return necro::test::plan_offline(*c, *d);
}

/// tfd -> data of the one EVENTPOLL entry in `files`.
std::map<std::uint32_t, std::uint64_t> epoll_data_of(const std::vector<necro::pb::file_entry>& files) {
  std::map<std::uint32_t, std::uint64_t> out;
  int entries = 0;
  for (const auto& f : files) {
    if (f.type() != necro::pb::EVENTPOLL) continue;
    ++entries;
    REQUIRE(f.has_epfd());
    for (const auto& t : f.epfd().tfd()) out[t.tfd()] = t.data();
  }
  REQUIRE(entries == 1);
  return out;
}

const necro::plan::relocation* relocation_of(const necro::plan::resurrection& p, std::uint32_t tfd) {
  for (const auto& r : p.relocations)
    if (r.what.starts_with("epoll ") && r.what.ends_with(fmt::format(" fd {} data", tfd))) return &r;
  return nullptr;
}

}  // namespace

TEST_CASE("eventpoll: the donor's files.img decodes and re-encodes byte for byte", "[plan][eventpoll]") {
  const auto d = necro::test::fixture("x86_64/epoll.donor");
  NECRO_REQUIRE_FIXTURE(d, "x86_64/epoll.donor");
  const auto facts = necro::test::facts::load("x86_64/epoll.facts.txt");
  REQUIRE(facts);
  auto donor = necro::criu::image_set::load(*d);
  if (!donor) FAIL(donor.error().message());
  const auto data = epoll_data_of(donor->files());
  CHECK(data.size() == 4);
  for (const char* k : {"heap", "data", "number", "anon"})
    CHECK(data.at(static_cast<std::uint32_t>(*facts->number(fmt::format("donor_{}_fd", k)))) ==
          *facts->number(fmt::format("donor_{}_data", k)));
  necro::criu::image_builder b(necro::criu::magic::files);
  for (const auto& f : donor->files()) b.add(f);
  CHECK(b.bytes() == necro::test::slurp(*d / "files.img"));
}

TEST_CASE("eventpoll: each target's data is the victim's own", "[plan][eventpoll]") {
  const auto f = plan_epoll();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/epoll.core + epoll.donor");
  const auto facts = necro::test::facts::load("x86_64/epoll.facts.txt");
  REQUIRE(facts);
  const auto data = epoll_data_of(f->plan.files);
  const auto fd = [&](const char* k) { return static_cast<std::uint32_t>(*facts->number(fmt::format("victim_{}_fd", k))); };
  const auto want = [&](const char* k) { return *facts->number(fmt::format("victim_{}_data", k)); };
  // The donor's values differ (other load addresses): the test cannot pass by leaving them.
  REQUIRE(*facts->number("donor_heap_data") != want("heap"));
  REQUIRE(*facts->number("donor_data_data") != want("data"));
  REQUIRE(*facts->number("donor_anon_data") != want("anon"));

  CHECK(data.at(fd("heap")) == want("heap"));
  CHECK(data.at(fd("data")) == want("data"));
  CHECK((data.at(fd("data")) & 1) == 1);  // nginx's instance bit survives
  CHECK(data.at(fd("number")) == want("number"));
  CHECK(data.at(fd("anon")) == want("anon"));

  const auto* heap = relocation_of(f->plan, fd("heap"));
  REQUIRE(heap);
  CHECK(heap->how == "brk heap delta");
  CHECK(heap->from == *facts->number("donor_heap_data"));
  const auto* dat = relocation_of(f->plan, fd("data"));
  REQUIRE(dat);
  CHECK(dat->how == "epoll load delta");
  const auto* anon = relocation_of(f->plan, fd("anon"));
  REQUIRE(anon);
  CHECK(anon->how == "anonymous memory at the same distance below libc.so.6");
  CHECK(relocation_of(f->plan, fd("number")) == nullptr);  // an fd is not an address
  for (const auto& w : f->plan.warnings) CHECK_THAT(w, !Catch::Contains("epoll"));
}

TEST_CASE("eventpoll: an address in donor anonymous memory is left, with a warning", "[plan][eventpoll]") {
  const auto f = plan_epoll();
  NECRO_REQUIRE_FIXTURE(f, "x86_64/epoll.core + epoll.donor");
  const auto& donor = f->donor;
  const necro::plan::relocator reloc(necro::plan::donor_files(donor), necro::plan::victim_files(f->core.process()), {});
  // No victim VMAs: nothing pairs; no victim heap: the donor's heap is unpaired memory.
  necro::plan::resurrection bare;
  const auto t = necro::plan::epoll_targets_of(donor, bare, std::nullopt, reloc);
  REQUIRE(!t.heap);
  REQUIRE(t.anon.empty());
  REQUIRE(!t.donor_anon.empty());
  const std::uint64_t anon = t.donor_anon.front().first + 0x10;
  const auto m = necro::plan::move_epoll_data(anon, reloc, t);
  CHECK(m.unpaired);
  CHECK(m.to == anon);
  CHECK(m.how.empty());
  const auto small = necro::plan::move_epoll_data(42, reloc, t);
  CHECK(!small.unpaired);
  CHECK(small.to == 42);

  // Without a victim heap, the donor's heap pointer is unpaired too, and with
  // no victim VMAs the mmap'd one: three warnings.
  const auto facts = necro::test::facts::load("x86_64/epoll.facts.txt");
  REQUIRE(facts);
  auto files = donor.files();
  for (auto& fe : files)
    if (fe.type() == necro::pb::EVENTPOLL)
      for (auto& tfd : *fe.mutable_epfd()->mutable_tfd())
        if (tfd.tfd() == *facts->number("donor_number_fd")) tfd.set_data(anon);
  necro::plan::resurrection out;
  necro::plan::relocate_eventpolls(files, reloc, t, out);
  REQUIRE(out.warnings.size() == 3);
  CHECK_THAT(out.warnings[0] + out.warnings[1] + out.warnings[2],
             Catch::Contains("donor anonymous memory") && Catch::Contains(fmt::format("{:#x}", anon)) &&
                 Catch::Contains(fmt::format("{:#x}", *facts->number("donor_heap_data"))));
  REQUIRE(out.relocations.size() == 1);  // the .data pointer still moves
  CHECK(out.relocations[0].how == "epoll load delta");
  CHECK(epoll_data_of(files).at(static_cast<std::uint32_t>(*facts->number("donor_number_fd"))) == anon);
}
