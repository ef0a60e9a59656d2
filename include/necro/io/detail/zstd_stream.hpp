/// necro::io::detail: the steps of io::open_decompressed: an unnamed scratch
/// file, sparse writes that leave zero blocks as holes, and the one streaming
/// pass of zstd frames into it.
#ifndef NECRO_IO_DETAIL_ZSTD_STREAM_HPP
#define NECRO_IO_DETAIL_ZSTD_STREAM_HPP
#pragma once

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <zstd.h>

#include <fmt/format.h>

#include <necro/io/error.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/io/unique_fd.hpp>

namespace necro::io::detail {

/// Zero blocks are left as holes: a core is mostly zero pages.
inline constexpr std::size_t sparse_block = 4096;

struct dctx_deleter {
  void operator()(ZSTD_DCtx* c) const noexcept { ZSTD_freeDCtx(c); }
};

/// An unnamed file in `dir`; mkstemp + unlink where O_TMPFILE is refused.
inline result<unique_fd> open_scratch(const std::filesystem::path& dir) {
  unique_fd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd.get() >= 0) return fd;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
    return fail(error::from_errno(dir.string(), "cannot create the scratch file for decompressing", errno));
  std::string tmpl = (dir / ".necro-core.XXXXXX").string();
  fd = unique_fd(::mkostemp(tmpl.data(), O_CLOEXEC));
  if (fd.get() < 0) return fail(error::from_errno(dir.string(), "cannot create the scratch file for decompressing", errno));
  ::unlink(tmpl.c_str());
  return fd;
}

/// Writes `out` at `at`, leaving its all-zero blocks as holes.
inline result<void> write_sparse(int fd, const std::byte* out, std::size_t n, std::uint64_t at,
                                 const std::filesystem::path& dir) {
  static const std::byte zeros[sparse_block] = {};
  std::size_t i = 0;
  while (i < n) {
    const std::size_t len = std::min(sparse_block, n - i);
    if (std::memcmp(out + i, zeros, len) == 0) {
      i += len;
      continue;
    }
    std::size_t j = i + len;  // extend over the following non-zero blocks: one pwrite
    while (j < n && std::memcmp(out + j, zeros, std::min(sparse_block, n - j)) != 0) j += std::min(sparse_block, n - j);
    for (std::size_t k = i; k < j;) {
      const ssize_t w = ::pwrite(fd, out + k, j - k, static_cast<off_t>(at + k));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0)
        return fail(error::from_errno(dir.string(), "cannot write the decompressed core (is the file system full?)",
                                      w < 0 ? errno : EIO));
      k += static_cast<std::size_t>(w);
    }
    i = j;
  }
  return {};
}

/// One streaming pass over `in` into `fd`; returns the plain size. `Options`
/// is io::decompress_options (its window_log_max, progress and scratch_dir).
template <class Options>
result<std::uint64_t> stream_frames(const mapped_file& in, int fd, const Options& opt) {
  std::unique_ptr<ZSTD_DCtx, dctx_deleter> dctx(ZSTD_createDCtx());
  if (!dctx) return fail(error(errc::io, in.path(), "cannot allocate a zstd decompression context"));
  ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, opt.window_log_max);
  std::vector<std::byte> buf(std::max<std::size_t>(ZSTD_DStreamOutSize(), 1u << 20));
  const auto bytes = in.view().bytes();
  ZSTD_inBuffer src{bytes.data(), bytes.size(), 0};
  std::uint64_t out_total = 0, next_report = 0;
  std::size_t last = 0;  // 0 once a frame is complete and flushed
  for (;;) {
    const std::size_t before = src.pos;
    ZSTD_outBuffer dst{buf.data(), buf.size(), 0};
    last = ZSTD_decompressStream(dctx.get(), &dst, &src);
    if (ZSTD_isError(last))
      return fail(error(errc::bad_value, in.path(), before,
                        fmt::format("zstd stream cannot be decompressed: {}", ZSTD_getErrorName(last))));
    NECRO_TRY(write_sparse(fd, buf.data(), dst.pos, out_total, opt.scratch_dir));
    out_total += dst.pos;
    if (opt.progress && out_total >= next_report) {
      opt.progress({src.pos, src.size, out_total});
      next_report = out_total + (64u << 20);
    }
    // A full buffer may leave output in the context: call again.
    if (src.pos == src.size && dst.pos < dst.size) break;
  }
  if (last != 0)
    return fail(error(errc::truncated, in.path(), src.pos,
                      "zstd stream ends inside a frame: the compressed core is cut short"));
  if (opt.progress) opt.progress({src.pos, src.size, out_total});
  return out_total;
}

}  // namespace necro::io::detail

#endif
