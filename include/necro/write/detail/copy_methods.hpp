/// necro::write::detail copy system calls: writing from a mapping, what errno
/// says about a copy the kernel cannot do, and whether two files can share
/// extents. Used by range_copier (write/copy_methods.hpp) and the writers.
#ifndef NECRO_WRITE_DETAIL_COPY_METHODS_HPP
#define NECRO_WRITE_DETAIL_COPY_METHODS_HPP
#pragma once

#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>

#include <necro/io/error.hpp>

namespace necro::write::detail {

/// The kernel's default fault_around_bytes: a read fault on a file mapping
/// maps up to this much around the faulting page.
inline constexpr std::uint64_t fault_around = 64 << 10;

/// The most one copy system call is asked to move (1 GiB).
inline constexpr std::uint64_t max_call_bytes = 1u << 30;

/// write(2) of [p, p+len) to fd at its current position, retrying short writes.
inline result<void> write_all(int fd, const std::byte* p, std::uint64_t len, const std::string& out_path) {
  while (len > 0) {
    const ssize_t n = ::write(fd, p, static_cast<std::size_t>(std::min<std::uint64_t>(len, max_call_bytes)));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(error::from_errno(out_path, "cannot write pages", errno));
    }
    p += n;
    len -= static_cast<std::uint64_t>(n);
  }
  return {};
}

/// Whether errno says "this kernel or file system cannot do that copy".
inline bool copy_unsupported(int err) noexcept {
  return err == EXDEV || err == ENOSYS || err == EINVAL || err == EOPNOTSUPP || err == ENOTSUP;
}

/// Whether errno says "these two files cannot share extents" (another file
/// system, no reflink, a block size the ranges do not align to, ...).
inline bool clone_unsupported(int err) noexcept {
  return copy_unsupported(err) || err == ETXTBSY || err == EPERM || err == EBADF || err == ENOTTY;
}

/// Whether the output's file system shares extents with the core: one page of
/// `core` at `core_offset` cloned to the output's end, then taken back.
inline bool can_clone(int core_fd, std::uint64_t core_offset, int out_fd, std::uint64_t page) noexcept {
  const off_t at = ::lseek(out_fd, 0, SEEK_CUR);
  if (at < 0) return false;
  file_clone_range r{};
  r.src_fd = core_fd;
  r.src_offset = core_offset;
  r.src_length = page;
  r.dest_offset = static_cast<std::uint64_t>(at);
  if (::ioctl(out_fd, FICLONERANGE, &r) != 0) return false;
  return ::ftruncate(out_fd, at) == 0;
}

}  // namespace necro::write::detail

#endif
