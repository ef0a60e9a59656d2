/// necro::lazy wire: the page-server protocol that `criu lazy-pages
/// --page-server` speaks (CRIU 4.x, criu/page-xfer.c), as far as serving a
/// lazy restore needs it. Every message starts with a 32-byte header (host
/// byte order, the C layout of CRIU's `struct page_server_iov`: u32 command,
/// 4 bytes of padding, u64 nr_pages, u64 vaddr, u64 dst_id). The daemon asks
/// PS_IOV_GET(nr_pages, vaddr, dst_id = the task's pid); the server answers
/// PS_IOV_ADD_F with flags PE_PRESENT in the command's upper 16 bits, the
/// number of pages it sends (maybe fewer than asked) and the same vaddr and
/// dst_id, then the raw page bytes. Done, the daemon sends PS_IOV_CLOSE (or
/// PS_IOV_FORCE_CLOSE when it was handed the socket with --ps-socket) and
/// waits for a 4-byte status, 0.
#ifndef NECRO_LAZY_WIRE_HPP
#define NECRO_LAZY_WIRE_HPP
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include <necro/criu/magic.hpp>

namespace necro::lazy {

/// Command numbers (the low 16 bits of page_server_iov::cmd).
namespace ps_cmd {
inline constexpr std::uint32_t add = 1, hole = 2, open = 3, open2 = 4, parent = 5, add_f = 6, get = 7;
inline constexpr std::uint32_t close = 0x1023, force_close = 0x1024;
}  // namespace ps_cmd

/// The header of every page-server message, in its wire layout.
struct page_server_iov {
  std::uint32_t cmd = 0;
  std::uint32_t pad = 0;  ///< the C struct's alignment padding; sent as zero
  std::uint64_t nr_pages = 0;
  std::uint64_t vaddr = 0;
  std::uint64_t dst_id = 0;

  std::uint32_t command() const noexcept { return cmd & 0xffffu; }
  std::uint32_t flags() const noexcept { return cmd >> 16; }
};
static_assert(sizeof(page_server_iov) == 32, "necro: page_server_iov must be CRIU's 32-byte header");
static_assert(offsetof(page_server_iov, nr_pages) == 8 && offsetof(page_server_iov, vaddr) == 16 &&
                  offsetof(page_server_iov, dst_id) == 24,
              "necro: page_server_iov fields must sit where CRIU's do");

inline constexpr std::size_t header_size = sizeof(page_server_iov);
using header_bytes = std::array<std::byte, header_size>;

/// The header as it goes on the wire.
inline header_bytes encode(const page_server_iov& h) noexcept {
  header_bytes b{};
  page_server_iov z = h;
  z.pad = 0;
  std::memcpy(b.data(), &z, header_size);
  return b;
}

/// A header read from the wire (any bytes make some header; the server judges it).
inline page_server_iov decode(const header_bytes& b) noexcept {
  page_server_iov h;
  std::memcpy(&h, b.data(), header_size);
  return h;
}

/// The answer that carries `nr_pages` pages of `request` (the bytes follow it).
inline page_server_iov pages_answer(const page_server_iov& request, std::uint64_t nr_pages) noexcept {
  return {ps_cmd::add_f | (criu::pe::present << 16), 0, nr_pages, request.vaddr, request.dst_id};
}

/// The answer that says "no such pages": PS_IOV_ADD(0, 0, 0), no bytes follow.
inline page_server_iov refusal() noexcept { return {ps_cmd::add, 0, 0, 0, 0}; }

/// A request in words, for errors: `PS_IOV_GET of 3 pages at 0x7f..000 for pid 42`.
inline std::string describe(const page_server_iov& h) {
  switch (h.command()) {
    case ps_cmd::get:
      return fmt::format("PS_IOV_GET of {} pages at {:#x} for pid {}", h.nr_pages, h.vaddr, h.dst_id);
    case ps_cmd::close:
      return "PS_IOV_CLOSE";
    case ps_cmd::force_close:
      return "PS_IOV_FORCE_CLOSE";
    default:
      return fmt::format("command {:#x} (nr_pages {}, vaddr {:#x}, dst_id {})", h.cmd, h.nr_pages, h.vaddr, h.dst_id);
  }
}

}  // namespace necro::lazy

#endif
