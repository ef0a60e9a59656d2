/// necro::write page engine: copies the plan's page runs from the core into
/// pages-<id>.img without a user-space staging buffer (copy_file_range, or
/// write() straight from the core's mapping).
#ifndef NECRO_WRITE_PAGE_ENGINE_HPP
#define NECRO_WRITE_PAGE_ENGINE_HPP
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <span>
#include <string>

#include <fmt/format.h>

#include <necro/io/error.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/plan/plan.hpp>

namespace necro::write {

/// How page bytes travel from the core to the pages image.
enum class copy_method {
  copy_file_range,  ///< in-kernel; falls back to write_from_map where unsupported
  write_from_map,   ///< write(2) from the core's read-only mapping
};

/// Bytes copied and how.
struct copy_report {
  std::uint64_t bytes = 0;
  bool fell_back = false;
};

namespace detail {
/// write(2) of [p, p+len) to fd at its current position, retrying short writes.
inline result<void> write_all(int fd, const std::byte* p, std::uint64_t len, const std::string& out_path) {
  while (len > 0) {
    const ssize_t n = ::write(fd, p, static_cast<std::size_t>(std::min<std::uint64_t>(len, 1u << 30)));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(error::from_errno(out_path, "cannot write pages", errno));
    }
    p += n;
    len -= static_cast<std::uint64_t>(n);
  }
  return {};
}
}  // namespace detail

/// Appends every run's bytes, in order, to `out_fd` (positioned at its end).
template <class Arch>
result<copy_report> copy_runs(const io::mapped_file& core, std::span<const plan::page_run> runs, int out_fd,
                              const std::string& out_path, copy_method method) {
  copy_report rep;
  constexpr std::uint64_t page = Arch::page_size;
  for (const auto& r : runs) {
    const std::uint64_t len = r.pages * page;
    if (r.core_offset > core.size() || len > core.size() - r.core_offset)
      return fail(error(errc::truncated, core.path(), r.core_offset,
                        fmt::format("page run at {:#x} needs {} bytes past the end of the core", r.vaddr, len)));
    std::uint64_t done = 0;
    if (method == copy_method::copy_file_range) {
      loff_t in_off = static_cast<loff_t>(r.core_offset);
      while (done < len) {
        const ssize_t n = ::copy_file_range(core.fd(), &in_off, out_fd, nullptr,
                                            static_cast<std::size_t>(std::min<std::uint64_t>(len - done, 1u << 30)), 0);
        if (n > 0) {
          done += static_cast<std::uint64_t>(n);
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
          return fail(error::from_errno(out_path, "cannot copy pages", errno));
        // Not supported between these files (or a 0 return): finish from the mapping.
        method = copy_method::write_from_map;
        rep.fell_back = true;
        break;
      }
    }
    if (done < len) {
      const auto view = core.view();
      NECRO_TRY(detail::write_all(out_fd, view.data() + r.core_offset + done, len - done, out_path));
      // The pages were read once; let the kernel drop them rather than grow the cache.
      core.advise(static_cast<std::size_t>(r.core_offset), static_cast<std::size_t>(len), MADV_DONTNEED);
    }
    rep.bytes += len;
  }
  return rep;
}

}  // namespace necro::write

#endif
