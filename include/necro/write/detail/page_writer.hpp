/// necro::write::detail page writer parts: the pagemap built from the kept
/// ranges (entries of a bounded size, one make_pagemap_entry), the copies of
/// adjacent ranges coalesced into bounded steps, and the check that every run
/// lies in the core.
#ifndef NECRO_WRITE_DETAIL_PAGE_WRITER_HPP
#define NECRO_WRITE_DETAIL_PAGE_WRITER_HPP
#pragma once

#include <fcntl.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/pagemap.hpp>
#include <necro/io/error.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/plan/plan.hpp>
#include <necro/write/copy_methods.hpp>

namespace necro::write::detail {

/// Every run lies in the core: an error naming the core and the first run
/// that does not.
inline result<void> check_runs(const io::mapped_file& core, std::span<const plan::page_run> runs, std::uint64_t page) {
  for (const auto& r : runs)
    if (r.core_offset > core.size() || r.pages > (core.size() - r.core_offset) / page)
      return fail(error(errc::truncated, core.path(), r.core_offset,
                        fmt::format("page run at {:#x} needs {} bytes past the end of the core", r.vaddr, r.pages * page)));
  return {};
}

/// The pagemap of the kept pages, in order. Kept pages that continue the last
/// entry of the same run extend it; an entry covers at most max_entry_pages,
/// as CRIU's own dumps have (its lazy-pages daemon crashes on one entry of a
/// 4 GiB run).
class pagemap_builder {
 public:
  pagemap_builder(std::uint64_t max_entry_pages, std::uint64_t page)
      : max_(std::max<std::uint64_t>(1, max_entry_pages)), page_(page) {}

  /// `pages` kept pages at `vaddr` of run `run`, whose entries get `flags`.
  void add(std::size_t run, std::uint64_t vaddr, std::uint64_t pages, std::uint32_t flags) {
    for (std::uint64_t done = 0; done < pages;) {
      const std::uint64_t at = vaddr + done * page_;
      const bool extend = last_run_ == run && last_end_ == at && entries_.back().nr_pages() < max_;
      if (!extend) entries_.push_back(criu::make_pagemap_entry(at, 0, flags));
      auto& e = entries_.back();
      const std::uint64_t n = std::min(pages - done, max_ - e.nr_pages());
      criu::set_nr_pages(e, e.nr_pages() + n);
      done += n;
      last_run_ = run;
      last_end_ = at + n * page_;
    }
  }

  std::vector<pb::pagemap_entry> take() && { return std::move(entries_); }

 private:
  std::uint64_t max_, page_;
  std::vector<pb::pagemap_entry> entries_;
  std::size_t last_run_ = SIZE_MAX;
  std::uint64_t last_end_ = 0;  ///< vaddr just past the last entry
};

/// Copies of core ranges, adjacent ones coalesced, in steps of at most
/// `max_copy` bytes. `dry_run`: counts, copies nothing. `writeback`: what is
/// copied starts going to disk once `writeback_batch` bytes have gathered
/// (durable commits fsync at the end, which then has little left to do). Not
/// per step: scattered single pages (file pages that differ from the file)
/// made one sync_file_range per 4 KiB, 20-30 ms each on ext4 (measured: 0.7 s
/// of a 2.4 s lazy restore for 4 099 pages).
class coalesced_copy {
 public:
  coalesced_copy(range_copier& copier, int out_fd, std::uint64_t max_copy, bool dry_run, bool writeback,
                 std::uint64_t writeback_batch = 8u << 20)
      : copier_(copier),
        out_fd_(out_fd),
        max_copy_(max_copy),
        batch_(writeback_batch),
        dry_run_(dry_run),
        writeback_(writeback) {}

  /// core[off, off + len), after what was added before.
  result<void> add(std::uint64_t off, std::uint64_t len) {
    if (pend_len_ > 0 && pend_off_ + pend_len_ != off) NECRO_TRY(step(pend_len_));
    if (pend_len_ == 0) pend_off_ = off;
    pend_len_ += len;
    while (pend_len_ >= max_copy_) NECRO_TRY(step(max_copy_));
    return {};
  }
  /// Copies what is still pending.
  result<void> flush() {
    if (pend_len_ > 0) return step(pend_len_);
    return {};
  }
  /// Bytes copied (or, in a dry run, that would have been).
  std::uint64_t written() const noexcept { return written_; }
  /// How many times writeback was started.
  std::uint64_t writebacks() const noexcept { return writebacks_; }

 private:
  result<void> step(std::uint64_t len) {
    if (!dry_run_) NECRO_TRY(copier_.append(pend_off_, len));
    written_ += len;
    pend_off_ += len;
    pend_len_ -= len;
    if (writeback_ && !dry_run_ && written_ - unsynced_ >= batch_) {
      ::sync_file_range(out_fd_, static_cast<off_t>(unsynced_), static_cast<off_t>(written_ - unsynced_),
                        SYNC_FILE_RANGE_WRITE);
      unsynced_ = written_;
      ++writebacks_;
    }
    return {};
  }

  range_copier& copier_;
  int out_fd_;
  std::uint64_t max_copy_, batch_;
  bool dry_run_, writeback_;
  std::uint64_t pend_off_ = 0, pend_len_ = 0;  ///< coalesced bytes not yet copied
  std::uint64_t written_ = 0;
  std::uint64_t unsynced_ = 0;  ///< written_ when writeback was last started
  std::uint64_t writebacks_ = 0;
};

}  // namespace necro::write::detail

#endif
