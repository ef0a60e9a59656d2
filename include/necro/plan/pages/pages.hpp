/// necro::plan pages: which pages of the victim's private memory may go to
/// pages-*.img. plan_pages lists the candidate runs (vaddr, pages, core offset,
/// pagemap flags) from metadata alone: pages past a file's end and pages the
/// core lacks are left out, and no page byte is read. The elision rules then
/// say which candidate pages need no data at all: all-zero pages of anonymous
/// memory (a pagemap hole restores as zero) and pages of private file mappings
/// that still equal the file on disk (the restore maps the file). The page
/// engine (write::write_pages, write::classify_pages) applies them while it
/// streams the core, and makes the one pagemap that is written and explained.
#ifndef NECRO_PLAN_PAGES_PAGES_HPP
#define NECRO_PLAN_PAGES_PAGES_HPP
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan {

/// Whether [p, p+len) is all zeros. Reads 8-byte words, 256 bytes per step
/// (the OR of a step vectorises), and stops at the first step that is not zero:
/// a page of data costs one step, a page of zeros one pass at memory speed.
inline bool is_zero(const std::byte* p, std::size_t len) noexcept {
  std::size_t i = 0;
  if (len >= 8) {  // data pages rarely start with eight zero bytes: one load decides most of them
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    if (w != 0) return false;
  }
  for (; i + 256 <= len; i += 256) {
    std::uint64_t acc = 0;
    for (std::size_t k = 0; k < 256; k += 8) {
      std::uint64_t w;
      std::memcpy(&w, p + i + k, 8);
      acc |= w;
    }
    if (acc != 0) return false;
  }
  for (; i + 8 <= len; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (w != 0) return false;
  }
  for (; i < len; ++i)
    if (p[i] != std::byte{0}) return false;
  return true;
}

/// Which pages of a run may go without data.
enum class elision : std::uint8_t {
  none,          ///< every page is written (vDSO, or a file whose content is unknown)
  zero,          ///< anonymous memory: all-zero pages restore as zero from a pagemap hole
  same_as_file,  ///< private file mapping: pages equal to the file restore from the file
};

/// The elision rule of one candidate run.
struct page_rule {
  elision kind = elision::none;
  const io::mapped_file* file = nullptr;  ///< same_as_file: the file as it is on disk now
  std::uint64_t file_offset = 0;          ///< same_as_file: file offset of the run's first page
};

/// Pages left out (or kept) by the rules.
struct elision_stats {
  std::uint64_t zero_pages = 0;  ///< all-zero anonymous pages (holes of a sparse core included)
  std::uint64_t file_pages = 0;  ///< private file pages equal to the file
  std::uint64_t kept_pages = 0;  ///< pages that need data
  std::uint64_t elided_pages() const noexcept { return zero_pages + file_pages; }
  elision_stats& operator+=(const elision_stats& o) noexcept {
    zero_pages += o.zero_pages;
    file_pages += o.file_pages;
    kept_pages += o.kept_pages;
    return *this;
  }
};

/// The file's bytes behind page `k` of a same_as_file run: a page, shorter at
/// the end of the file, empty past it.
inline std::span<const std::byte> file_page(const page_rule& r, std::uint64_t k, std::uint64_t page) noexcept {
  if (!r.file) return {};
  const std::uint64_t off = r.file_offset + k * page;
  if (off >= r.file->size()) return {};
  const std::uint64_t n = std::min<std::uint64_t>(page, r.file->size() - off);
  return r.file->view().bytes().subspan(static_cast<std::size_t>(off), static_cast<std::size_t>(n));
}

/// Whether a page of the core (`bytes`, one page) needs data under `kind`;
/// `file` is the file's bytes at that page (file_page) for same_as_file.
/// Memory past the end of a file reads as zeros, so a short last file page
/// matches a page whose tail is zero.
inline bool needs_data(elision kind, std::span<const std::byte> bytes, std::span<const std::byte> file) noexcept {
  switch (kind) {
    case elision::zero:
      return !is_zero(bytes.data(), bytes.size());
    case elision::same_as_file:
      if (file.empty() || file.size() > bytes.size()) return true;
      return std::memcmp(bytes.data(), file.data(), file.size()) != 0 ||
             !is_zero(bytes.data() + file.size(), bytes.size() - file.size());
    case elision::none:
      break;
  }
  return true;
}

/// Applies `rule` to pages [first, first + count) of a run whose first page is
/// at `run_bytes`: calls keep(first_kept, n) for each maximal range of pages
/// that need data (indices within the run), in order, and counts every page.
/// Pages under elision::none are kept without being read.
template <class Keep>
void elide_range(const page_rule& rule, const std::byte* run_bytes, std::uint64_t first, std::uint64_t count,
                 std::uint64_t page, elision_stats& st, Keep&& keep) {
  if (rule.kind == elision::none) {
    if (count > 0) keep(first, count);
    st.kept_pages += count;
    return;
  }
  std::uint64_t start = first, len = 0;
  for (std::uint64_t k = first; k < first + count; ++k) {
    // Pages are visited in order but the hardware does not prefetch across
    // pages: ask for the first line of a page a few pages ahead.
    if (k + 4 < first + count) __builtin_prefetch(run_bytes + (k + 4) * page);
    const std::span<const std::byte> bytes(run_bytes + k * page, static_cast<std::size_t>(page));
    const auto file = rule.kind == elision::same_as_file ? file_page(rule, k, page) : std::span<const std::byte>{};
    if (needs_data(rule.kind, bytes, file)) {
      if (len == 0) start = k;
      ++len;
      ++st.kept_pages;
      continue;
    }
    if (rule.kind == elision::zero) ++st.zero_pages;
    else ++st.file_pages;
    if (len > 0) keep(start, len);
    len = 0;
  }
  if (len > 0) keep(start, len);
}

/// The rule of every run of `p`, in order: anonymous VMAs elide zero pages;
/// private file VMAs elide pages equal to the file when `files` holds its
/// content (io::stat_files with map_content); everything else keeps all.
inline std::vector<page_rule> page_rules(const resurrection& p, const io::file_facts& files) {
  std::vector<page_rule> rules;
  rules.reserve(p.runs.size());
  std::size_t vi = 0;
  for (const auto& r : p.runs) {
    while (vi < p.vmas.size() && p.vmas[vi].entry.end() <= r.vaddr) ++vi;
    page_rule rule;
    if (vi < p.vmas.size() && r.vaddr >= p.vmas[vi].entry.start()) {
      const auto& v = p.vmas[vi];
      if (v.anonymous) {
        rule.kind = elision::zero;
      } else if (v.carries_pages && (v.entry.status() & criu::vma_status::file_private)) {
        const auto it = files.find(v.label);
        if (it != files.end() && it->second && it->second->content) {
          rule.kind = elision::same_as_file;
          rule.file = it->second->content.get();
          rule.file_offset = v.entry.pgoff() + (r.vaddr - v.entry.start());
        }
      }
    }
    rules.push_back(rule);
  }
  return rules;
}

/// Whether CRIU restores a VMA's pages lazily when asked to (its
/// vma_entry_can_be_lazy, criu/include/vma.h): private anonymous memory, not
/// locked, not huge pages, not the vDSO, vvar or vsyscall page. Pages of any
/// other VMA are restored before the process runs, so they must be in
/// pages-*.img; a lazy entry over such a VMA would be skipped by the restore
/// and never filled by the daemon.
inline bool criu_takes_lazily(const pb::vma_entry& e) noexcept {
  namespace mb = criu::mmap_bits;
  namespace vs = criu::vma_status;
  constexpr std::uint32_t map_hugetlb = 0x40000;
  return (e.flags() & mb::map_anonymous) && (e.flags() & mb::map_private) &&
         !(e.flags() & (mb::map_locked | map_hugetlb)) && !(e.status() & (vs::vdso | vs::vvar | vs::vsyscall));
}

/// The candidate page runs: for each VMA that carries pages, its dumped pages
/// below its page limit, one run per VMA, flagged present (and lazy when
/// anonymous and CRIU takes it lazily). Reads no page: zero and clean file pages are elided by the page
/// engine. Counts pages past a file's end and pages the core lacks.
template <class Arch>
void plan_pages(const elf::core_view<Arch>& core, resurrection& out) {
  constexpr std::uint64_t page = Arch::page_size;
  out.runs.clear();
  out.stats.candidate_pages = 0;
  for (const auto& v : out.vmas) {
    if (!v.carries_pages || v.segment < 0) continue;
    const auto& seg = core.segments()[static_cast<std::size_t>(v.segment)];
    const std::uint64_t npages = seg.memsz / page;
    const std::uint64_t limit = v.page_limit <= seg.vaddr ? 0 : std::min(npages, (v.page_limit - seg.vaddr) / page);
    const std::uint64_t dumped = std::min(limit, seg.filesz / page);
    out.stats.past_eof_pages += npages - limit;
    out.stats.not_dumped_pages += limit - dumped;
    if (dumped == 0) continue;
    const std::uint32_t flags = criu::pe::present | (v.anonymous && criu_takes_lazily(v.entry) ? criu::pe::lazy : 0);
    out.runs.push_back({seg.vaddr, dumped, seg.offset, flags});
    out.stats.candidate_pages += dumped;
  }
}

}  // namespace necro::plan

#endif
