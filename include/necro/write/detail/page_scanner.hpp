/// necro::write::detail page scanner: walks the candidate runs window by
/// window and decides, by the elision rules of plan/pages/pages.hpp, which pages
/// need data. The holes of a sparse core are found by SEEK_DATA/SEEK_HOLE and
/// never read; what was read is dropped from memory behind the scan, so memory
/// does not grow with the core.
#ifndef NECRO_WRITE_DETAIL_PAGE_SCANNER_HPP
#define NECRO_WRITE_DETAIL_PAGE_SCANNER_HPP
#pragma once

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include <necro/io/file_facts.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/plan/pages/pages.hpp>
#include <necro/plan/plan.hpp>

namespace necro::write::detail {

/// Pages [first, first + pages) of run `run` need data.
struct kept_range {
  std::size_t run = 0;
  std::uint64_t first = 0, pages = 0;
};

/// One window's verdicts, from the scanner to the copier.
struct scan_batch {
  std::vector<kept_range> kept;
  plan::elision_stats st;
  std::uint64_t holes = 0;
  std::uint64_t bytes = 0;  ///< candidate bytes covered

  /// Pages [first, first + pages) of run `run` need data: extends the last
  /// range when it ends there.
  void keep(std::size_t run, std::uint64_t first, std::uint64_t pages) {
    if (!kept.empty() && kept.back().first + kept.back().pages == first) kept.back().pages += pages;
    else kept.push_back({run, first, pages});
  }
};

/// The rule of every run of `p` the engine applies: none when elision is off;
/// when cloning, only the zero rule (whose holes are found unread): reading
/// file pages to elide them would cost more than sharing their extents.
inline std::vector<plan::page_rule> engine_rules(const plan::resurrection& p, const io::file_facts& files, bool elide,
                                                 bool clone) {
  std::vector<plan::page_rule> rules = elide ? plan::page_rules(p, files) : std::vector<plan::page_rule>(p.runs.size());
  if (clone)
    for (auto& r : rules)
      if (r.kind == plan::elision::same_as_file) r = plan::page_rule{};
  return rules;
}

/// Walks the runs window by window and decides which pages need data.
class scanner {
 public:
  /// `read_pages` false: no page is read; only the holes of a sparse core are
  /// left out of zero-rule runs (the clone path). Runs whose flags have a bit
  /// of `unread_flags` are treated so even when pages are read (the runs a
  /// page server of the core serves).
  scanner(const io::mapped_file& core, std::span<const plan::page_run> runs, std::span<const plan::page_rule> rules,
          std::uint64_t page, std::uint64_t window, bool read_pages = true, std::uint32_t unread_flags = 0)
      : core_(core), runs_(runs), rules_(rules), page_(page), window_pages_(std::max<std::uint64_t>(1, window / page)),
        read_pages_(read_pages), unread_flags_(unread_flags) {
    struct stat st {};
    sparse_ = ::fstat(core.fd(), &st) == 0 && static_cast<std::uint64_t>(st.st_blocks) * 512 < static_cast<std::uint64_t>(st.st_size);
  }

  /// Calls emit(scan_batch&&) for each window, in order, until it returns false.
  template <class Emit>
  void run(Emit&& emit) {
    for (std::size_t i = 0; i < runs_.size(); ++i) {
      const auto& r = runs_[i];
      if (rules_[i].kind == plan::elision::none) {
        // Nothing to read: one batch, the copier splits it into copy steps.
        scan_batch b;
        b.kept.push_back({i, 0, r.pages});
        b.st.kept_pages = r.pages;
        b.bytes = r.pages * page_;
        if (!emit(std::move(b))) return;
        continue;
      }
      for (std::uint64_t a = 0; a < r.pages; a += window_pages_) {
        const std::uint64_t n = std::min(window_pages_, r.pages - a);
        scan_batch b;
        b.bytes = n * page_;
        scan_window(i, a, n, b);
        if (!emit(std::move(b))) return;
      }
    }
  }

 private:
  /// What the core's file holds from page k of a run on, up to page `end`.
  struct extent {
    std::uint64_t hole = 0;      ///< pages [k, k + hole) are a hole: zeros, not to be read
    std::uint64_t data_end = 0;  ///< else pages [k, data_end) hold data (or may)
  };

  /// Pages [a, a + n) of run i: holes counted as zero pages, the rest decided.
  void scan_window(std::size_t i, std::uint64_t a, std::uint64_t n, scan_batch& b) {
    const auto& r = runs_[i];
    const auto& rule = rules_[i];
    // A hole of a sparse core is zeros: no need to read it.
    const bool find_holes = sparse_ && rule.kind == plan::elision::zero;
    for (std::uint64_t k = a; k < a + n;) {
      const extent e = find_holes ? probe(r, k, a + n) : extent{0, a + n};
      if (e.hole > 0) {
        b.st.zero_pages += e.hole;
        b.holes += e.hole;
        k += e.hole;
        continue;
      }
      decide(i, k, e.data_end - k, b);
      k = e.data_end;
    }
    if (reads(r)) drop_window(r, rule, a, n);
  }

  /// SEEK_DATA/SEEK_HOLE from page k of run `r`, within pages [k, end).
  extent probe(const plan::page_run& r, std::uint64_t k, std::uint64_t end) const {
    const std::uint64_t pos = r.core_offset + k * page_;
    const auto [data, hole] = data_at(pos);
    if (data == no_data) return {end - k, end};  // a hole to the file's end
    if (data > pos) {
      const std::uint64_t hole_pages = std::min(end, (data - r.core_offset) / page_) - k;
      if (hole_pages > 0) return {hole_pages, k + hole_pages};
    }
    if (hole <= data) return {0, end};
    const std::uint64_t h_page = (hole - r.core_offset + page_ - 1) / page_;
    return {0, std::clamp(h_page, k + 1, end)};
  }

  static constexpr std::uint64_t no_data = ~0ull;

  /// The first data at or after `pos` and the hole that ends it: [data,
  /// hole) holds data, [pos, data) is a hole (data = no_data: no data to the
  /// end). The last answer is kept: a file system whose SEEK_HOLE walks its
  /// pages (tmpfs) would otherwise walk a dense core's whole extent for every
  /// window, quadratic in the core's size.
  std::pair<std::uint64_t, std::uint64_t> data_at(std::uint64_t pos) const {
    if (known_ && pos >= known_from_ && (pos < known_hole_ || known_data_ == no_data))
      return {std::max(pos, known_data_), known_hole_};
    std::uint64_t data = no_data, hole = no_data;
    const off_t d = ::lseek(core_.fd(), static_cast<off_t>(pos), SEEK_DATA);
    if (d >= 0) {
      data = static_cast<std::uint64_t>(d);
      const off_t h = ::lseek(core_.fd(), d, SEEK_HOLE);
      hole = h > d ? static_cast<std::uint64_t>(h) : data;
    } else if (errno != ENXIO) {
      return {pos, pos};  // cannot tell: read it all (no hole, unknown data end)
    }
    known_ = true;
    known_from_ = pos;
    known_data_ = data;
    known_hole_ = hole;
    return {data, hole};
  }

  /// Pages [k, k + m) of run i hold data: read them and apply the rule, or
  /// keep them unread (the clone path).
  void decide(std::size_t i, std::uint64_t k, std::uint64_t m, scan_batch& b) {
    const auto& r = runs_[i];
    if (!reads(r)) {
      b.keep(i, k, m);
      b.st.kept_pages += m;
      return;
    }
    core_.advise(static_cast<std::size_t>(r.core_offset + k * page_), static_cast<std::size_t>(m * page_),
                 MADV_POPULATE_READ);  // Linux 5.14; older kernels say EINVAL, which only costs the hint
    const std::byte* run_bytes = core_.view().data() + r.core_offset;
    plan::elide_range(rules_[i], run_bytes, k, m, page_, b.st,
                      [&](std::uint64_t first, std::uint64_t pages) { b.keep(i, first, pages); });
  }

  /// Drops what the window read, of the core and of the file it was compared
  /// with: memory must not grow with the core.
  void drop_window(const plan::page_run& r, const plan::page_rule& rule, std::uint64_t a, std::uint64_t n) const {
    const std::uint64_t len = n * page_;
    core_.advise(static_cast<std::size_t>(r.core_offset + a * page_), static_cast<std::size_t>(len), MADV_DONTNEED);
    if (rule.kind == plan::elision::same_as_file && rule.file)
      rule.file->advise(static_cast<std::size_t>(rule.file_offset + a * page_), static_cast<std::size_t>(len),
                        MADV_DONTNEED);
  }

  bool reads(const plan::page_run& r) const noexcept { return read_pages_ && !(r.flags & unread_flags_); }

  const io::mapped_file& core_;
  mutable bool known_ = false;  // data_at()'s last answer
  mutable std::uint64_t known_from_ = 0, known_data_ = 0, known_hole_ = 0;
  std::span<const plan::page_run> runs_;
  std::span<const plan::page_rule> rules_;
  std::uint64_t page_, window_pages_;
  bool read_pages_ = true;
  std::uint32_t unread_flags_ = 0;
  bool sparse_ = false;
};

}  // namespace necro::write::detail

#endif
