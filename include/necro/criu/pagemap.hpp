/// necro::criu pagemaps: the one way necro makes a pagemap_entry, with both
/// page counts set (CRIU 4.x reads the 64-bit nr_pages, field 5; older
/// readers the 32-bit compat_nr_pages, field 2:
/// docs/pitfalls.md#pagemap-page-counts), and the bytes of a pagemap image
/// (pagemap-<pid>.img, pagemap-shmem-<shmid>.img).
#ifndef NECRO_CRIU_PAGEMAP_HPP
#define NECRO_CRIU_PAGEMAP_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>

#include <necro/criu/image.hpp>
#include <necro/criu/magic.hpp>
#include <necro/pb/pagemap.pb.h>

namespace necro::criu {

/// Sets an entry's page count: nr_pages, and compat_nr_pages capped at 2^32-1.
inline void set_nr_pages(pb::pagemap_entry& e, std::uint64_t nr_pages) {
  e.set_nr_pages(nr_pages);
  e.set_compat_nr_pages(
      static_cast<std::uint32_t>(std::min<std::uint64_t>(nr_pages, std::numeric_limits<std::uint32_t>::max())));
}

/// The entry of `nr_pages` pages at `vaddr` with pagemap flags `flags` (criu::pe).
inline pb::pagemap_entry make_pagemap_entry(std::uint64_t vaddr, std::uint64_t nr_pages, std::uint32_t flags) {
  pb::pagemap_entry e;
  e.set_vaddr(vaddr);
  set_nr_pages(e, nr_pages);
  e.set_flags(flags);
  return e;
}

/// A pagemap image: the magic (magic::pagemap or magic::shmem_pagemap), the
/// head naming pages-<pages_id>.img, then the entries in order.
inline std::string pagemap_image(std::uint32_t image_magic, std::uint32_t pages_id,
                                 std::span<const pb::pagemap_entry> entries) {
  image_builder b(image_magic);
  pb::pagemap_head head;
  head.set_pages_id(pages_id);
  b.add(head);
  for (const auto& e : entries) b.add(e);
  return std::move(b).take();
}

}  // namespace necro::criu

#endif
