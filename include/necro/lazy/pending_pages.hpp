/// necro::lazy::pending_pages: the pages of one restored process that are not
/// in it yet, and where each lies in the core. necro's lazy-pages daemon
/// (lazy/uffd_daemon.hpp) takes chunks from it for page faults and for its
/// background push, and keeps it true to the process's address space as the
/// userfaultfd reports it: unmapped or MADV_DONTNEED'd ranges are dropped
/// (their old bytes must never come back), mremap'd ones move, a fork copies
/// it. Ranges never cross a VMA of the plan: one UFFDIO_COPY must stay in one
/// VMA. Pure: no I/O, unit-tested.
#ifndef NECRO_LAZY_PENDING_PAGES_HPP
#define NECRO_LAZY_PENDING_PAGES_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <necro/lazy/served_ranges.hpp>

namespace necro::lazy {

/// [start, end) of one VMA of the plan.
using vma_bounds = std::pair<std::uint64_t, std::uint64_t>;

/// `ranges` (sorted, not overlapping) cut wherever a VMA of `vmas` (sorted)
/// starts or ends inside one.
inline std::vector<served_range> split_at_vmas(std::span<const served_range> ranges, std::span<const vma_bounds> vmas,
                                               std::uint64_t page) {
  std::vector<served_range> out;
  out.reserve(ranges.size());
  for (const auto& r : ranges) {
    std::uint64_t at = r.vaddr;
    const std::uint64_t end = r.end(page);
    // The first VMA that ends past `at`.
    auto v = std::upper_bound(vmas.begin(), vmas.end(), at, [](std::uint64_t a, const vma_bounds& b) { return a < b.second; });
    while (at < end) {
      std::uint64_t cut = end;
      if (v != vmas.end()) {
        if (v->first > at) cut = std::min(cut, v->first);  // a gap before the next VMA
        else cut = std::min(cut, v->second);
      }
      out.push_back({at, (cut - at) / page, r.core_offset + (at - r.vaddr)});
      at = cut;
      while (v != vmas.end() && v->second <= at) ++v;
    }
  }
  return out;
}

/// The pages of one process still to be delivered.
class pending_pages {
 public:
  explicit pending_pages(std::span<const served_range> ranges, std::uint64_t page = 4096) : page_(page) {
    for (const auto& r : ranges)
      if (r.pages > 0) {
        ranges_.emplace(r.vaddr, span_{r.end(page_), r.core_offset});
        pages_ += r.pages;
      }
  }

  bool empty() const noexcept { return ranges_.empty(); }
  std::uint64_t pages() const noexcept { return pages_; }
  std::size_t ranges() const noexcept { return ranges_.size(); }

  /// Whether the page at `addr` is still to be delivered.
  bool holds(std::uint64_t addr) const { return holder(addr) != ranges_.end(); }

  /// Takes up to `max_pages` pages from the page at `addr` on (within its
  /// range); nothing when no pending page is there.
  std::optional<served_range> take_at(std::uint64_t addr, std::uint64_t max_pages) {
    addr -= addr % page_;
    auto it = holder(addr);
    if (it == ranges_.end() || max_pages == 0) return std::nullopt;
    const std::uint64_t end = std::min(it->second.end, addr + max_pages * page_);
    served_range out{addr, (end - addr) / page_, offset_of(it, addr)};
    erase(addr, end);
    return out;
  }

  /// Takes the pending pages of [start, end) from the lowest address on, as
  /// far as they run on in one range; nothing when none is left there.
  std::optional<served_range> take_from(std::uint64_t start, std::uint64_t end) {
    auto it = first_overlap(start);
    if (it == ranges_.end() || it->first >= end) return std::nullopt;
    const std::uint64_t s = std::max(it->first, start), e = std::min(it->second.end, end);
    served_range out{s, (e - s) / page_, offset_of(it, s)};
    erase(s, e);
    return out;
  }

  /// Takes up to `max_pages` pages from the lowest pending address.
  std::optional<served_range> take_first(std::uint64_t max_pages) {
    if (ranges_.empty()) return std::nullopt;
    return take_at(ranges_.begin()->first, max_pages);
  }

  /// Pages taken but not delivered (the VMA was busy): pending again.
  void put_back(const served_range& r) {
    if (r.pages == 0) return;
    erase(r.vaddr, r.end(page_));  // never twice
    ranges_.emplace(r.vaddr, span_{r.end(page_), r.core_offset});
    pages_ += r.pages;
  }

  /// [start, end) is gone from the process (unmapped, or emptied by
  /// MADV_DONTNEED/REMOVE): none of its old bytes may come back.
  void erase(std::uint64_t start, std::uint64_t end) {
    if (end <= start) return;
    auto it = ranges_.lower_bound(start);
    if (it != ranges_.begin() && std::prev(it)->second.end > start) --it;
    while (it != ranges_.end() && it->first < end) {
      const std::uint64_t s = it->first;
      const span_ sp = it->second;
      it = ranges_.erase(it);
      pages_ -= (sp.end - s) / page_;
      if (s < start) {  // the head stays
        ranges_.emplace(s, span_{start, sp.core_offset});
        pages_ += (start - s) / page_;
      }
      if (sp.end > end) {  // the tail stays
        ranges_.emplace(end, span_{sp.end, sp.core_offset + (end - s)});
        pages_ += (sp.end - end) / page_;
        break;
      }
    }
  }

  /// mremap moved [from, from + len) to `to`: the pending pages there move with it.
  void remap(std::uint64_t from, std::uint64_t to, std::uint64_t len) {
    std::vector<served_range> moved;
    for (auto it = first_overlap(from); it != ranges_.end() && it->first < from + len; ++it) {
      const std::uint64_t s = std::max(it->first, from), e = std::min(it->second.end, from + len);
      if (s < e) moved.push_back({s - from + to, (e - s) / page_, offset_of(it, s)});
    }
    erase(from, from + len);
    erase(to, to + len);  // whatever was there is unmapped by the move
    for (const auto& m : moved) put_back(m);
  }

 private:
  struct span_ {
    std::uint64_t end = 0, core_offset = 0;
  };
  using map_ = std::map<std::uint64_t, span_>;

  /// The range holding `addr`, or end(): one body for both constnesses.
  template <class Self>
  static auto holder_in(Self& self, std::uint64_t addr) {
    auto it = self.ranges_.upper_bound(addr);
    if (it == self.ranges_.begin()) return self.ranges_.end();
    --it;
    return addr < it->second.end ? it : self.ranges_.end();
  }
  map_::const_iterator holder(std::uint64_t addr) const { return holder_in(*this, addr); }
  map_::iterator holder(std::uint64_t addr) { return holder_in(*this, addr); }
  map_::iterator first_overlap(std::uint64_t addr) {
    auto it = ranges_.lower_bound(addr);
    if (it != ranges_.begin() && std::prev(it)->second.end > addr) --it;
    return it;
  }
  static std::uint64_t offset_of(map_::const_iterator it, std::uint64_t addr) {
    return it->second.core_offset + (addr - it->first);
  }

  std::uint64_t page_;
  map_ ranges_;
  std::uint64_t pages_ = 0;
};

}  // namespace necro::lazy

#endif
