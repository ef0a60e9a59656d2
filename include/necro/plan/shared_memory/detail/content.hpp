/// necro::plan::detail: the content of a shared-memory object from the
/// core's segments (plan/shared_memory/shared_memory.hpp), and a private VMA's page limit.
#ifndef NECRO_PLAN_SHARED_MEMORY_DETAIL_CONTENT_HPP
#define NECRO_PLAN_SHARED_MEMORY_DETAIL_CONTENT_HPP
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/shared_memory/detail/objects.hpp>

namespace necro::plan::detail {

/// [a, b) minus the sorted, disjoint `covered` ranges.
inline std::vector<std::pair<std::uint64_t, std::uint64_t>> uncovered(
    std::uint64_t a, std::uint64_t b, const std::vector<std::pair<std::uint64_t, std::uint64_t>>& covered) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  for (const auto& [c0, c1] : covered) {
    if (c1 <= a || c0 >= b) continue;
    if (c0 > a) out.emplace_back(a, c0);
    a = std::max(a, c1);
  }
  if (a < b) out.emplace_back(a, b);
  return out;
}

/// Which coredump_filter bits decide whether the kernel dumps such a VMA
/// (vma_dump_size in fs/coredump.c): a shared mapping of a file without
/// links (shared anonymous memory, memfd, deleted file) is bit 1; a private
/// one is bit 0 once written, else bit 2.
constexpr std::string_view filter_bits(bool shared) noexcept {
  return shared ? "bit 1 (anonymous shared memory; the kernel counts shared mappings of memfds and deleted files as such)"
                : "bits 0 and 2 (anonymous private, file-backed private)";
}

/// The object's content: each page from the first VMA that maps it, shared
/// VMAs before private ones (a private VMA's written pages go to the
/// process's own pagemap anyway). Fails when a needed VMA is not in the core.
template <class Arch>
result<void> collect_content(const elf::core_view<Arch>& core, const std::vector<vma>& vmas,
                             const victim_object& o, shmem_object& obj) {
  constexpr std::uint64_t page = Arch::page_size;
  const std::uint64_t limit = (obj.size + page - 1) / page * page;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> covered;
  for (const bool want_shared : {true, false}) {
    for (const auto i : o.vmas) {
      const auto& v = vmas[i];
      if (((v.entry.flags() & criu::mmap_bits::map_shared) != 0) != want_shared || v.segment < 0) continue;
      const auto& seg = core.segments()[static_cast<std::size_t>(v.segment)];
      const std::uint64_t a = v.entry.pgoff(), b = std::min(limit, a + (v.entry.end() - v.entry.start()));
      if (a >= b) continue;
      const auto gaps = uncovered(a, b, covered);
      if (!gaps.empty() && seg.filesz < seg.memsz)
        return fail(error(errc::missing, std::string(core.path()), seg.offset,
                          fmt::format("VMA {:#x}-{:#x} maps {} {} but the core does not hold its pages: the "
                                      "process's coredump_filter lacked {}",
                                      v.entry.start(), v.entry.end(), describe(o.kind), o.name, filter_bits(want_shared))));
      for (const auto& [g0, g1] : gaps)
        obj.runs.push_back({g0, (g1 - g0) / page, seg.offset + (g0 - a)});
      covered.emplace_back(a, b);
      std::sort(covered.begin(), covered.end());
    }
  }
  std::sort(obj.runs.begin(), obj.runs.end(), [](const auto& x, const auto& y) { return x.vaddr < y.vaddr; });
  return {};
}

/// A private VMA's pages past the object's end are not memory
/// (docs/pitfalls.md#pages-past-eof).
template <class Arch>
void limit_private_pages(vma& v, std::uint64_t size) {
  const std::uint64_t eof = (size + Arch::page_size - 1) / Arch::page_size * Arch::page_size;
  const auto& e = v.entry;
  v.page_limit = eof <= e.pgoff() ? e.start() : std::min(e.end(), e.start() + (eof - e.pgoff()));
}

}  // namespace necro::plan::detail

#endif
