// Test support: a real fixture core and donor, opened and planned offline
// (the fixtures' files live on the machine that recorded them) — the setup
// most plan and write tests start from.
#ifndef NECRO_TEST_SUPPORT_PLANNED_HPP
#define NECRO_TEST_SUPPORT_PLANNED_HPP
#pragma once

#include <filesystem>
#include <optional>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>

#include "support/fixtures.hpp"

namespace necro::test {

using x86_64_core_view = elf::core_view<arch::x86_64>;

struct planned {
  x86_64_core_view core;
  criu::image_set donor;
  plan::resurrection plan;
};

/// Opens `core` and the donor images in `donor_dir` and plans the
/// resurrection offline; any failure fails the test case, naming the error.
inline planned plan_offline(const fs::path& core, const fs::path& donor_dir) {
  auto c = x86_64_core_view::open(core.string());
  if (!c) FAIL(c.error().message());
  auto d = criu::image_set::load(donor_dir);
  if (!d) FAIL(d.error().message());
  auto p = plan::plan_resurrection(*c, *d, {}, {.offline = true});
  if (!p) FAIL(p.error().message());
  return planned{std::move(*c), std::move(*d), std::move(*p)};
}

/// The counter fixture (x86_64/counter.core + counter.donor) planned offline;
/// nullopt when the fixture is absent (use NECRO_REQUIRE_FIXTURE).
inline std::optional<planned> plan_counter() {
  const auto c = x86_64_core();
  const auto d = x86_64_donor();
  if (!c || !d) return std::nullopt;
  return plan_offline(*c, *d);
}

/// The multi-threaded pool fixture (x86_64/pool.core, unpacked from .zst by
/// the build, + pool.donor) planned offline; nullopt when absent.
inline std::optional<planned> plan_pool() {
  const auto c = fixture("x86_64/pool.core");
  const auto d = fixture("x86_64/pool.donor");
  if (!c || !d) return std::nullopt;
  return plan_offline(*c, *d);
}

/// The shared-memory fixture (x86_64/shmem.core, unpacked from .zst by the
/// build, + shmem.donor) planned offline; nullopt when absent.
inline std::optional<planned> plan_shmem() {
  const auto c = fixture("x86_64/shmem.core");
  const auto d = fixture("x86_64/shmem.donor");
  if (!c || !d) return std::nullopt;
  return plan_offline(*c, *d);
}

}  // namespace necro::test

#endif
