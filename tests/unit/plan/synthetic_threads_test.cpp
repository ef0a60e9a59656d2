// find_glibc_thread: glibc's struct pthread found in a core by its robust list
// head, for the donor-less clear_child_tid and robust list (docs/pitfalls.md#thread-pointers). A
// thread that holds a robust mutex at death has a non-empty list: the head
// points at the mutex, often in a MAP_SHARED file mapping whose bytes the
// core does not hold (e2e.catch-mt-nobpf found it missed).
#include <cstdint>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>
#include <necro/plan/threads/detail/synthetic_threads.hpp>

#include "support/core_builder.hpp"

namespace {

using necro::test::bytes;
using necro::test::poke;
using core_t = necro::elf::core_view<necro::arch::x86_64>;
namespace elfc = necro::arch::elfc;

constexpr std::uint64_t tls_base = 0x7ffff7a00000;  // a thread's TLS and struct pthread
constexpr std::uint64_t tp = tls_base + 0x1000;     // its thread pointer
constexpr std::uint64_t head = tp + 0x300;          // &pd->robust_head
constexpr std::uint64_t shared_base = 0x7ffff7900000;  // a MAP_SHARED file mapping, not dumped
constexpr std::int32_t tid = 4242;

/// The small core plus a TLS block whose struct pthread has `tid` at
/// head - 16, futex_offset -32 and `next` as the list's first pointer; and a
/// shared mapping the core lists without its bytes.
necro::test::core_builder with_pthread(std::uint64_t next, std::int32_t at_tid = tid) {
  auto c = necro::test::small_core();
  bytes tls(0x2000, std::byte{0});
  poke(tls, head - 16 - tls_base, at_tid);
  poke(tls, head - tls_base, next);
  poke(tls, head + 8 - tls_base, std::int64_t{-32});
  // A robust mutex's list entry inside the TLS block, pointing back at the head.
  poke(tls, 0x100, head);
  // One that points at itself: a list that never comes back.
  poke(tls, 0x200, tls_base + 0x200);
  c.load(shared_base, 0x1000, elfc::pf_r | elfc::pf_w, bytes{});
  c.load(tls_base, tls.size(), elfc::pf_r | elfc::pf_w, tls);
  return c;
}

std::optional<necro::plan::detail::glibc_thread> find(std::uint64_t next, std::int32_t at_tid = tid) {
  const auto built = with_pthread(next, at_tid).build();
  auto core = core_t::parse(built.view());
  REQUIRE(core);
  return necro::plan::detail::find_glibc_thread(*core, tp, tid);
}

}  // namespace

TEST_CASE("find_glibc_thread: an empty robust list points at itself", "[plan][threads]") {
  const auto pt = find(head);
  REQUIRE(pt);
  CHECK(pt->robust_head == head);
  CHECK(pt->tid_address == head - 16);
}

TEST_CASE("find_glibc_thread: a robust mutex in a shared mapping the core did not dump is on the list", "[plan][threads]") {
  const auto pt = find(shared_base + 0x20);
  REQUIRE(pt);
  CHECK(pt->robust_head == head);
}

TEST_CASE("find_glibc_thread: a list through dumped memory back to its head", "[plan][threads]") {
  const auto pt = find(tls_base + 0x100);
  REQUIRE(pt);
  CHECK(pt->robust_head == head);
}

TEST_CASE("find_glibc_thread: no struct pthread where the list leaves the mappings, never closes, or the tid differs",
          "[plan][threads]") {
  CHECK_FALSE(find(0x10));                  // in no mapping
  CHECK_FALSE(find(0));                     // a null next
  CHECK_FALSE(find(tls_base + 0x200));      // loops without coming back
  CHECK_FALSE(find(head, tid + 1));         // another thread's
}
