/// necro::lazy served ranges: which pages a page server of the core may
/// serve, and where each lies in the core. `served_ranges()` takes them from
/// the plan (the runs whose pages are left to the lazy-pages daemon);
/// `resolve()` turns one PS_IOV_GET into a core offset and a page count, or an
/// error naming the request. Pure: no I/O, unit-tested.
#ifndef NECRO_LAZY_SERVED_RANGES_HPP
#define NECRO_LAZY_SERVED_RANGES_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/magic.hpp>
#include <necro/io/error.hpp>
#include <necro/lazy/wire.hpp>
#include <necro/plan/plan.hpp>

namespace necro::lazy {

/// Pages [vaddr, vaddr + pages * page) of the process are the core's bytes at
/// core_offset.
struct served_range {
  std::uint64_t vaddr = 0, pages = 0, core_offset = 0;
  std::uint64_t end(std::uint64_t page) const noexcept { return vaddr + pages * page; }
};

/// What one request is answered with: `pages` pages from `core_offset`.
struct served_slice {
  std::uint64_t core_offset = 0, pages = 0;
};

/// The ranges of the runs flagged lazy (plan::page_run::flags), sorted by
/// address; the ones a served set leaves to the daemon.
inline std::vector<served_range> served_ranges(std::span<const plan::page_run> runs) {
  std::vector<served_range> out;
  for (const auto& r : runs)
    if ((r.flags & criu::pe::lazy) && r.pages > 0) out.push_back({r.vaddr, r.pages, r.core_offset});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.vaddr < b.vaddr; });
  return out;
}

/// Every range lies in a core of `core_size` bytes, no two overlap, and no
/// address wraps: else an error naming `core` and the first bad range.
inline result<void> check_ranges(std::span<const served_range> ranges, std::uint64_t core_size, std::uint64_t page,
                                 const std::string& core) {
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const auto& r = ranges[i];
    if (r.pages > (UINT64_MAX - r.vaddr) / page || r.vaddr % page != 0)
      return fail(error(errc::bad_value, core, fmt::format("served range {} at {:#x} of {} pages is not a page range", i, r.vaddr, r.pages)));
    if (r.core_offset > core_size || r.pages > (core_size - r.core_offset) / page)
      return fail(error(errc::truncated, core, r.core_offset,
                        fmt::format("served range at {:#x} needs {} bytes past the end of the core ({} bytes)", r.vaddr,
                                    r.pages * page, core_size)));
    if (i > 0 && ranges[i - 1].end(page) > r.vaddr)
      return fail(error(errc::bad_value, core, fmt::format("served ranges at {:#x} and {:#x} overlap", ranges[i - 1].vaddr, r.vaddr)));
  }
  return {};
}

/// The slice of the core that answers `req` (a PS_IOV_GET for pid `pid`):
/// from the page at req.vaddr, as many of the asked pages as lie in the range
/// that holds it (the daemon asks again for the rest). A request for another
/// pid, not page-aligned, of no pages or for a page no range holds is an error
/// naming the request; it is answered with a refusal, never with other bytes.
inline result<served_slice> resolve(std::span<const served_range> ranges, const page_server_iov& req, std::uint64_t pid,
                                    std::uint64_t page, const std::string& core) {
  const auto refuse = [&](std::string why) {
    return fail(error(errc::bad_value, core, fmt::format("{}: {}", describe(req), why)));
  };
  if (req.command() != ps_cmd::get) return refuse("not a request for pages");
  if (req.dst_id != pid) return refuse(fmt::format("this server serves pid {}", pid));
  if (req.nr_pages == 0) return refuse("asks for no pages");
  if (req.vaddr % page != 0) return refuse("the address is not page-aligned");
  // The last range that starts at or below vaddr is the only one that can hold it.
  auto it = std::upper_bound(ranges.begin(), ranges.end(), req.vaddr,
                             [](std::uint64_t v, const served_range& r) { return v < r.vaddr; });
  if (it == ranges.begin() || req.vaddr >= std::prev(it)->end(page))
    return refuse("the core has no served page there (not a lazy page of the plan)");
  const auto& r = *std::prev(it);
  const std::uint64_t first = (req.vaddr - r.vaddr) / page;
  return served_slice{r.core_offset + first * page, std::min(req.nr_pages, r.pages - first)};
}

}  // namespace necro::lazy

#endif
