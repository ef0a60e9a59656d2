/// necro::plan eventpoll: the donor's epoll registrations (files.img EVENTPOLL
/// entries) carry each target's epoll_event.data as the donor registered it.
/// Programs store fds there (left alone) or pointers (nginx: its
/// ngx_connection_t, with an `instance` bit ORed into bit 0): a pointer into a
/// donor mapping is moved into the victim's layout, like any donor address.
#ifndef NECRO_PLAN_FILES_EVENTPOLL_HPP
#define NECRO_PLAN_FILES_EVENTPOLL_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/plan/address_space/layout.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan {

/// A donor range and where its start sits in the victim.
struct moved_range {
  std::uint64_t start = 0, end = 0;  ///< donor [start, end)
  std::uint64_t victim_start = 0;
  std::string how;  ///< for the relocation list
};

/// What epoll data may point into, besides mapped files.
struct epoll_targets {
  std::optional<moved_range> heap;  ///< the donor's brk heap and the victim's
  std::vector<moved_range> anon;    ///< donor anonymous memory paired with the victim's
  std::vector<std::pair<std::uint64_t, std::uint64_t>> donor_anon;  ///< other donor anonymous memory: not paired
                                                                    ///< (the heap too, when it has no pair)
};

/// The donor's brk heap [start_brk, brk) moved to the victim's heap start
/// (startup is deterministic: objects sit at the same heap offset); none when
/// either process has no heap.
inline std::optional<moved_range> heap_move(const pb::mm_entry& donor_mm, const resurrection& out,
                                            std::optional<std::size_t> victim_heap) {
  if (!victim_heap || donor_mm.mm_brk() <= donor_mm.mm_start_brk()) return std::nullopt;
  return moved_range{donor_mm.mm_start_brk(), donor_mm.mm_brk(), out.vmas[*victim_heap].entry.start(),
                     "brk heap delta"};
}

/// The donor file mapped nearest above `addr`: its path, nullptr if none.
inline const std::string* file_above(std::uint64_t addr, const file_layout& donor) {
  const std::string* ref = nullptr;
  std::uint64_t lowest = UINT64_MAX;
  for (const auto& [path, d] : donor)
    for (const auto& r : d.ranges)
      if (r.start >= addr && r.start < lowest) lowest = r.start, ref = &path;
  return ref;
}

/// The basename of a path, for --explain.
inline std::string file_label(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// Pairing by place: mmap places memory top-down in call order, so after a
/// deterministic startup an anonymous VMA often sits at the same distance below
/// the file mapped nearest above it. Paired when the victim has a plain
/// anonymous VMA of the same size exactly there.
inline std::optional<moved_range> pair_anon_by_place(const pb::vma_entry& d, const relocator& reloc,
                                                     const std::vector<vma>& victim) {
  const auto* ref = file_above(d.end(), reloc.donor());
  if (!ref) return std::nullopt;
  const auto v = reloc.victim().find(*ref);
  if (v == reloc.victim().end()) return std::nullopt;
  const std::uint64_t vs = d.start() - reloc.donor().at(*ref).base() + v->second.base();
  // The victim's VMAs are sorted by start: a binary search, not a scan (70 000 VMAs in each).
  const auto x = std::lower_bound(victim.begin(), victim.end(), vs,
                                  [](const vma& a, std::uint64_t s) { return a.entry.start() < s; });
  if (x != victim.end() && x->kind == vma_kind::anon && x->entry.start() == vs && x->entry.end() - vs == d.end() - d.start())
    return moved_range{d.start(), d.end(), vs,
                       fmt::format("anonymous memory at the same distance below {}", file_label(*ref))};
  return std::nullopt;
}

/// Pairing by size: alignment gaps of the libraries differ between runs and
/// mmap may fill another gap; a size and protection that only one anonymous
/// VMA has, in donor and in victim alike, still names the same memory.
/// How many anonymous VMAs of each (size, protection) donor and victim have,
/// and the victim's last one: counted once, not per donor VMA.
struct anon_sizes {
  std::map<std::pair<std::uint64_t, std::uint32_t>, int> donor;
  std::map<std::pair<std::uint64_t, std::uint32_t>, std::pair<int, const vma*>> victim;
};

inline anon_sizes count_anon_sizes(const pb::mm_entry& donor_mm, const std::vector<vma>& victim) {
  anon_sizes a;
  for (const auto& o : donor_mm.vmas())
    if (o.status() & criu::vma_status::anon_private) ++a.donor[{o.end() - o.start(), o.prot()}];
  for (const auto& x : victim)
    if (x.kind == vma_kind::anon) {
      auto& [n, last] = a.victim[{x.entry.end() - x.entry.start(), x.entry.prot()}];
      ++n;
      last = &x;
    }
  return a;
}

inline std::optional<moved_range> pair_anon_by_size(const pb::vma_entry& d, const anon_sizes& sizes) {
  const std::pair<std::uint64_t, std::uint32_t> key{d.end() - d.start(), d.prot()};
  const auto dn = sizes.donor.find(key);
  const auto vn = sizes.victim.find(key);
  if (dn == sizes.donor.end() || vn == sizes.victim.end() || dn->second != 1 || vn->second.first != 1)
    return std::nullopt;
  return moved_range{d.start(), d.end(), vn->second.second->entry.start(),
                     fmt::format("the only anonymous {:#x}-byte VMA in both", d.end() - d.start())};
}

/// A donor anonymous VMA paired with the victim's memory, by place, else by
/// size; none when neither is certain.
inline std::optional<moved_range> pair_anon(const pb::vma_entry& d, const anon_sizes& sizes, const relocator& reloc,
                                            const std::vector<vma>& victim) {
  if (auto m = pair_anon_by_place(d, reloc, victim)) return m;
  return pair_anon_by_size(d, sizes);
}

/// The targets of `donor`, with the victim's heap and VMAs.
inline epoll_targets epoll_targets_of(const criu::image_set& donor, const resurrection& out,
                                      std::optional<std::size_t> victim_heap, const relocator& reloc) {
  epoll_targets t{heap_move(donor.mm(), out, victim_heap), {}, {}};
  const auto sizes = count_anon_sizes(donor.mm(), out.vmas);
  for (const auto& v : donor.mm().vmas()) {
    if (!(v.status() & (criu::vma_status::anon_private | criu::vma_status::anon_shared))) continue;
    if (v.status() & criu::vma_status::heap) {
      if (!t.heap) t.donor_anon.emplace_back(v.start(), v.end());  // an unpaired heap is memory like any
      continue;
    }
    if (auto m = pair_anon(v, sizes, reloc, out.vmas)) t.anon.push_back(std::move(*m));
    else t.donor_anon.emplace_back(v.start(), v.end());
  }
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
/// it (or its bss), else the paired anonymous memory's delta; a value in no
/// donor mapping (an fd, a small integer) stays.
inline epoll_move move_epoll_data(std::uint64_t data, const relocator& reloc, const epoll_targets& t) {
  const std::uint64_t ptr = data & ~std::uint64_t{1}, tag = data & 1;
  const auto in = [ptr](const moved_range& r) { return ptr >= r.start && ptr < r.end; };
  const auto moved = [ptr, tag](const moved_range& r) { return epoll_move{ptr - r.start + r.victim_start + tag, r.how}; };
  if (t.heap && in(*t.heap)) return moved(*t.heap);
  if (auto f = reloc.by_file(ptr)) return {f->first + tag, f->second};
  for (const auto& r : t.anon)
    if (in(r)) return moved(r);
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
