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
#include <necro/io/detail/zstd_stream.hpp>
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
