/// necro::plan::plan_pages: which pages of the victim's private memory go to
/// pages-*.img, as page runs (vaddr, pages, core offset) and pagemap entries.
/// Zero anonymous pages, pages past a file's end and pages the core lacks are
/// left out.
#ifndef NECRO_PLAN_PAGES_HPP
#define NECRO_PLAN_PAGES_HPP
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/plan/plan.hpp>

namespace necro::plan {

/// Whether a page is all zeros (memcmp against itself shifted: vectorised by libc).
inline bool is_zero_page(const std::byte* p, std::size_t len) noexcept {
  return len == 0 || (p[0] == std::byte{0} && std::memcmp(p, p + 1, len - 1) == 0);
}

/// Page runs and pagemap entries for the VMAs that carry memory.
template <class Arch>
void plan_pages(const elf::core_view<Arch>& core, resurrection& out) {
  constexpr std::uint64_t page = Arch::page_size;
  for (const auto& v : out.vmas) {
    if (!v.carries_pages || v.segment < 0) continue;
    const auto& seg = core.segments()[static_cast<std::size_t>(v.segment)];
    const std::uint64_t npages = seg.memsz / page;
    std::uint64_t run_start = 0, run_len = 0;
    auto flush = [&] {
      if (run_len == 0) return;
      pb::pagemap_entry pe;
      pe.set_vaddr(seg.vaddr + run_start * page);
      pe.set_compat_nr_pages(static_cast<std::uint32_t>(std::min<std::uint64_t>(run_len, UINT32_MAX)));
      pe.set_nr_pages(run_len);
      pe.set_flags(criu::pe::present | (v.anonymous ? criu::pe::lazy : 0));
      out.pagemap.push_back(pe);
      out.runs.push_back({pe.vaddr(), run_len, seg.offset + run_start * page});
      out.stats.pages_written += run_len;
      run_len = 0;
    };
    for (std::uint64_t i = 0; i < npages; ++i) {
      const std::uint64_t addr = seg.vaddr + i * page;
      bool keep = true;
      if (addr >= v.page_limit) {
        ++out.stats.past_eof_pages;
        keep = false;
      } else if ((i + 1) * page > seg.filesz) {
        ++out.stats.not_dumped_pages;
        keep = false;
      } else if (v.anonymous && is_zero_page(seg.bytes.data() + i * page, page)) {
        ++out.stats.zero_pages_elided;
        keep = false;
      }
      if (keep) {
        if (run_len == 0) run_start = i;
        ++run_len;
      } else {
        flush();
      }
    }
    flush();
  }
}

}  // namespace necro::plan

#endif
