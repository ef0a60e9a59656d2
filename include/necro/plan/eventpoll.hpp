/// necro::plan eventpoll: the donor's epoll registrations (files.img EVENTPOLL
/// entries) carry each target's epoll_event.data as the donor registered it.
/// Programs store fds there (left alone) or pointers (nginx: its
/// ngx_connection_t, with an `instance` bit ORed into bit 0): a pointer into a
/// donor mapping is moved into the victim's layout, like any donor address.
#ifndef NECRO_PLAN_EVENTPOLL_HPP
#define NECRO_PLAN_EVENTPOLL_HPP
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/plan/layout.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan {

/// A donor range and where its start sits in the victim.
struct moved_range {
  std::uint64_t start = 0, end = 0;  ///< donor [start, end)
  std::uint64_t victim_start = 0;
};

/// What epoll data may point into, besides mapped files.
struct epoll_targets {
  std::optional<moved_range> heap;  ///< the donor's brk heap and the victim's
  std::vector<std::pair<std::uint64_t, std::uint64_t>> donor_anon;  ///< other donor anonymous memory: not paired
                                                                    ///< (the heap too, when it has no pair)
};

/// The donor's brk heap [start_brk, brk) moved to the victim's heap start
/// (startup is deterministic: objects sit at the same heap offset); none when
/// either process has no heap.
inline std::optional<moved_range> heap_move(const pb::mm_entry& donor_mm, const resurrection& out,
                                            std::optional<std::size_t> victim_heap) {
  if (!victim_heap || donor_mm.mm_brk() <= donor_mm.mm_start_brk()) return std::nullopt;
  return moved_range{donor_mm.mm_start_brk(), donor_mm.mm_brk(), out.vmas[*victim_heap].entry.start()};
}

/// The targets of `donor`, with the victim's heap.
inline epoll_targets epoll_targets_of(const criu::image_set& donor, const resurrection& out,
                                      std::optional<std::size_t> victim_heap) {
  epoll_targets t{heap_move(donor.mm(), out, victim_heap), {}};
  for (const auto& v : donor.mm().vmas())
    if ((v.status() & (criu::vma_status::anon_private | criu::vma_status::anon_shared)) &&
        !(t.heap && (v.status() & criu::vma_status::heap)))  // an unpaired heap is anonymous memory like any
      t.donor_anon.emplace_back(v.start(), v.end());
  return t;
}

/// What became of one epoll data value.
struct epoll_move {
  std::uint64_t to = 0;
  std::string how;      ///< empty: unchanged
  bool unpaired = false;  ///< an address in donor anonymous memory, left as it is
};

/// One epoll data value moved: bit 0 is kept apart (a tag), the rest is
/// relocated by the heap delta, else the load delta of the file that holds
/// it; a value in no donor mapping (an fd, a small integer) stays.
inline epoll_move move_epoll_data(std::uint64_t data, const relocator& reloc, const epoll_targets& t) {
  const std::uint64_t ptr = data & ~std::uint64_t{1}, tag = data & 1;
  if (t.heap && ptr >= t.heap->start && ptr < t.heap->end)
    return {ptr - t.heap->start + t.heap->victim_start + tag, "brk heap delta"};
  if (auto f = reloc.by_file(ptr)) return {f->first + tag, f->second};
  for (const auto& [s, e] : t.donor_anon)
    if (ptr >= s && ptr < e) return {data, "", true};
  return {data, ""};
}

/// Every EVENTPOLL entry's target data moved (listed in relocations); an
/// address in donor anonymous memory that cannot be paired stays, with a warning.
inline void relocate_eventpolls(std::vector<pb::file_entry>& files, const relocator& reloc, const epoll_targets& t,
                                resurrection& out) {
  for (auto& f : files) {
    if (f.type() != pb::EVENTPOLL || !f.has_epfd()) continue;
    for (auto& tfd : *f.mutable_epfd()->mutable_tfd()) {
      const auto m = move_epoll_data(tfd.data(), reloc, t);
      const auto what = fmt::format("epoll (file id {}) fd {} data", f.id(), tfd.tfd());
      if (m.unpaired)
        out.warnings.push_back(fmt::format("{} {:#x} points into donor anonymous memory that cannot be paired with "
                                           "the victim's: left as it is (the program may misread it)",
                                           what, tfd.data()));
      if (m.how.empty()) continue;
      out.relocations.push_back({what, tfd.data(), m.to, m.how});
      tfd.set_data(m.to);
    }
  }
}

}  // namespace necro::plan

#endif
