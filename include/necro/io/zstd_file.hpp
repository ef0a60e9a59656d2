/// necro::io::open_decompressed: a file that may be zstd-compressed (as
/// systemd-coredump stores cores: core.*.zst), opened as a mapped_file of its
/// plain bytes. A compressed file is decompressed once, in one streaming pass
/// with bounded memory, into an unnamed sparse file (O_TMPFILE) in a scratch
/// directory — put it on the output's file system, so page runs can still be
/// cloned from it — which vanishes with its descriptor, even on a crash.
#ifndef NECRO_IO_ZSTD_FILE_HPP
#define NECRO_IO_ZSTD_FILE_HPP
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <zstd.h>

#include <fmt/format.h>

#include <necro/io/byte_view.hpp>
#include <necro/io/error.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/io/unique_fd.hpp>

namespace necro::io {

/// A zstd frame starts with these 4 bytes (little-endian 0xFD2FB528).
inline constexpr unsigned char zstd_magic[4] = {0x28, 0xB5, 0x2F, 0xFD};

/// Whether `bytes` starts like a zstd frame.
inline bool is_zstd(const byte_view& bytes) noexcept {
  const auto s = bytes.bytes();
  return s.size() >= 4 && std::memcmp(s.data(), zstd_magic, 4) == 0;
}

/// How far a decompression has got.
struct decompress_progress {
  std::uint64_t in_done = 0, in_total = 0;  ///< compressed bytes
  std::uint64_t out_done = 0;               ///< plain bytes
};
using decompress_progress_fn = std::function<void(const decompress_progress&)>;

struct decompress_options {
  /// Where the unnamed plain file lives (its file system needs room for the
  /// plain file's non-zero blocks).
  std::filesystem::path scratch_dir = std::filesystem::temp_directory_path();
  /// The largest back-reference window accepted, as log2 bytes: the memory a
  /// frame may demand. 27 (128 MiB) is zstd's own default limit; only
  /// `zstd --long=28..31` frames need more.
  int window_log_max = 27;
  decompress_progress_fn progress = {};  ///< called about every 64 MiB of output
};

namespace detail {

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

/// One streaming pass over `in` into `fd`; returns the plain size.
inline result<std::uint64_t> stream_frames(const mapped_file& in, int fd, const decompress_options& opt) {
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

}  // namespace detail

/// Opens `path` read-only; when it holds zstd frames, their plain content
/// instead (path() then says "PATH (decompressed)").
inline result<mapped_file> open_decompressed(const std::string& path, const decompress_options& opt = {}) {
  NECRO_TRY_ASSIGN(mapped_file in, mapped_file::open(path));
  if (!is_zstd(in.view())) return in;
  in.advise(0, in.size(), MADV_SEQUENTIAL);
  NECRO_TRY_ASSIGN(unique_fd fd, detail::open_scratch(opt.scratch_dir));
  NECRO_TRY_ASSIGN(const std::uint64_t size, detail::stream_frames(in, fd.get(), opt));
  // Trailing zero blocks were skipped: the size says where the file ends.
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
    return fail(error::from_errno(opt.scratch_dir.string(), "cannot size the decompressed core", errno));
  return mapped_file::adopt(std::move(fd), path + " (decompressed)");
}

}  // namespace necro::io

#endif
