/// necro::plan::layout and relocator: where each mapped file sits in the donor
/// and in the victim, and the translation of donor addresses into the victim's
/// layout (same file + offset; TLS by the thread-pointer delta).
#ifndef NECRO_PLAN_ADDRESS_SPACE_LAYOUT_HPP
#define NECRO_PLAN_ADDRESS_SPACE_LAYOUT_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan {

/// A mapped range of a file: [start, end) maps the file from byte `offset`.
struct file_range {
  std::uint64_t start = 0, end = 0, offset = 0;
};

/// Where one file sits in one address space.
struct file_placement {
  std::vector<file_range> ranges;  ///< sorted by start
  /// The address of file offset 0 (the load base of an ELF object).
  std::uint64_t base() const noexcept {
    const auto it = std::min_element(ranges.begin(), ranges.end(),
                                     [](const auto& a, const auto& b) { return a.offset < b.offset; });
    return it->start - it->offset;
  }
  std::uint64_t lowest() const noexcept { return ranges.front().start; }
  std::uint64_t highest() const noexcept { return ranges.back().end; }
};

/// Files by path, for one address space.
using file_layout = std::map<std::string, file_placement, std::less<>>;

/// The victim's file layout, from NT_FILE.
template <class Arch>
file_layout victim_files(const elf::process_notes<Arch>& notes) {
  file_layout l;
  for (const auto& f : notes.files)
    if (!f.path.ends_with(" (deleted)"))  // shared memory and deleted files hold no code or data to relocate into
      l[std::string(f.path)].ranges.push_back({f.start, f.end, f.offset});
  for (auto& [p, pl] : l)
    std::sort(pl.ranges.begin(), pl.ranges.end(), [](const auto& a, const auto& b) { return a.start < b.start; });
  return l;
}

/// The donor's file layout, from mm's file VMAs and files.img.
inline file_layout donor_files(const criu::image_set& donor) {
  file_layout l;
  for (const auto& v : donor.mm().vmas()) {
    if (!(v.status() & (criu::vma_status::file_private | criu::vma_status::file_shared))) continue;
    const auto* reg = donor.reg_file(v.shmid());
    if (!reg || donor.shared_memory().ghost_remap(static_cast<std::uint32_t>(v.shmid()))) continue;
    l[reg->name()].ranges.push_back({v.start(), v.end(), v.pgoff()});
  }
  for (auto& [p, pl] : l)
    std::sort(pl.ranges.begin(), pl.ranges.end(), [](const auto& a, const auto& b) { return a.start < b.start; });
  return l;
}

/// Translates donor addresses into the victim's layout.
class relocator {
 public:
  relocator(file_layout donor, file_layout victim, std::vector<std::pair<std::uint64_t, std::uint64_t>> donor_anon_after)
      : donor_(std::move(donor)), victim_(std::move(victim)), glued_(std::move(donor_anon_after)) {}

  /// A donor address inside a file mapping (or the anonymous bss glued right
  /// after it) moved by that file's load delta; nullopt when it is in none.
  std::optional<std::pair<std::uint64_t, std::string>> by_file(std::uint64_t addr) const {
    for (const auto& [path, d] : donor_) {
      std::uint64_t hi = d.highest();
      for (const auto& [s, e] : glued_)
        if (s == hi) hi = e;
      if (addr < d.lowest() || addr >= hi) continue;
      const auto v = victim_.find(path);
      if (v == victim_.end()) return std::nullopt;
      const std::uint64_t moved = addr - d.base() + v->second.base();
      const auto slash = path.rfind('/');
      return std::pair{moved, fmt::format("{} load delta", slash == std::string::npos ? path : path.substr(slash + 1))};
    }
    return std::nullopt;
  }

  const file_layout& donor() const noexcept { return donor_; }
  const file_layout& victim() const noexcept { return victim_; }

 private:
  file_layout donor_, victim_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> glued_;  ///< donor anon VMAs [start,end)
};

/// A TLS address moved by the thread-pointer delta: victim_tp + (addr - donor_tp).
constexpr std::uint64_t by_thread_pointer(std::uint64_t addr, std::uint64_t donor_tp, std::uint64_t victim_tp) noexcept {
  return victim_tp + (addr - donor_tp);
}

}  // namespace necro::plan

#endif
