// Test support for the page engine: a pagemap the engine made (and its pages
// image, when it wrote one) checked page by page against the plan's
// candidate runs and the core's bytes, under the rules of plan/pages/pages.hpp.
#ifndef NECRO_TEST_PAGE_AUDIT_HPP
#define NECRO_TEST_PAGE_AUDIT_HPP
#pragma once

#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include <necro/necro.hpp>

namespace necro::test {

/// What a restore would make of a pagemap, page by page.
struct page_audit {
  std::uint64_t kept = 0;      ///< candidate pages in the pagemap
  std::uint64_t elided = 0;    ///< candidate pages not in it
  std::uint64_t wrong = 0;     ///< pages a restore gets wrong: present with bytes other than the core's, or absent though needed
  std::uint64_t missed = 0;    ///< present pages the rule leaves out (zero, or equal to the file)
  std::uint64_t bad = 0;       ///< pagemap pages outside the candidates, with another run's flags, or compat_nr_pages != nr_pages
  std::uint64_t unmerged = 0;  ///< entries that could have extended the previous one (same run, adjacent, below the cap)
  bool image_size_ok = true;   ///< the pages image holds exactly the pagemap's pages
};

/// Audits `pagemap` (and `image`, the pages image's bytes, when one was
/// written) against the candidate runs of `p` in `core` (the bytes of the
/// core the plan was made from), under `rules` (plan::page_rules).
inline page_audit audit_pages(std::span<const std::byte> core, const plan::resurrection& p,
                              const std::vector<plan::page_rule>& rules, const std::vector<pb::pagemap_entry>& pagemap,
                              std::optional<std::string_view> image, std::uint64_t max_entry_pages = 16384,
                              std::uint64_t page = 4096) {
  const auto run_of = [&](std::uint64_t va) -> std::ptrdiff_t {
    for (std::size_t i = 0; i < p.runs.size(); ++i)
      if (va >= p.runs[i].vaddr && va < p.runs[i].vaddr + p.runs[i].pages * page) return static_cast<std::ptrdiff_t>(i);
    return -1;
  };
  page_audit a;
  std::map<std::uint64_t, std::uint64_t> at;  // present vaddr -> offset in the image
  std::uint64_t off = 0, prev_end = 0, prev_pages = 0;
  std::ptrdiff_t prev_run = -1;
  for (const auto& e : pagemap) {
    const std::ptrdiff_t run = run_of(e.vaddr());
    if (run >= 0 && run == prev_run && e.vaddr() == prev_end && prev_pages < max_entry_pages) ++a.unmerged;
    if (e.compat_nr_pages() != e.nr_pages()) ++a.bad;
    for (std::uint64_t k = 0; k < e.nr_pages(); ++k, off += page) {
      const std::uint64_t va = e.vaddr() + k * page;
      if (run < 0 || run_of(va) != run || e.flags() != p.runs[static_cast<std::size_t>(run)].flags) ++a.bad;
      at[va] = off;
    }
    prev_run = run;
    prev_end = e.vaddr() + e.nr_pages() * page;
    prev_pages = e.nr_pages();
  }
  a.image_size_ok = !image || image->size() == off;
  for (std::size_t i = 0; i < p.runs.size(); ++i) {
    const auto& r = p.runs[i];
    for (std::uint64_t k = 0; k < r.pages; ++k) {
      const std::span<const std::byte> bytes = core.subspan(r.core_offset + k * page, page);
      const auto file = rules[i].kind == plan::elision::same_as_file ? plan::file_page(rules[i], k, page)
                                                                     : std::span<const std::byte>{};
      const bool needed = plan::needs_data(rules[i].kind, bytes, file);
      const auto it = at.find(r.vaddr + k * page);
      if (it == at.end()) {
        ++a.elided;
        a.wrong += needed;
        continue;
      }
      ++a.kept;
      a.missed += !needed;
      if (image && a.image_size_ok && std::memcmp(image->data() + it->second, bytes.data(), page) != 0) ++a.wrong;
    }
  }
  return a;
}

/// Each entry's (vaddr, nr_pages).
inline std::vector<std::pair<std::uint64_t, std::uint64_t>> entry_spans(const std::vector<pb::pagemap_entry>& pagemap) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  for (const auto& e : pagemap) out.emplace_back(e.vaddr(), e.nr_pages());
  return out;
}

}  // namespace necro::test

#endif
