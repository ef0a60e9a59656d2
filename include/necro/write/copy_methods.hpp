/// necro::write copy methods: how page bytes travel from the core to an image
/// (copy_file_range, sendfile, splice, or write(2) from the core's mapping),
/// their names as the CLI spells them, and range_copier, which appends byte
/// ranges of the core to an image by one method, falling back when the kernel
/// refuses, or clones them (FICLONERANGE) where the file system shares extents.
#ifndef NECRO_WRITE_COPY_METHODS_HPP
#define NECRO_WRITE_COPY_METHODS_HPP
#pragma once

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include <necro/io/error.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/write/detail/copy_methods.hpp>

namespace necro::write {

/// How page bytes travel from the core to the pages image. All but
/// write_from_map stay in the kernel; each falls back to the next that works
/// (copy_file_range -> sendfile -> write_from_map; splice -> write_from_map),
/// e.g. across file systems where copy_file_range says EXDEV.
enum class copy_method {
  copy_file_range,  ///< in-kernel file to file (the default: fastest measured, see docs/performance.md)
  sendfile,         ///< in-kernel, file to file through the kernel's internal pipe
  splice,           ///< in-kernel, through a 1 MiB pipe of our own
  write_from_map,   ///< write(2) straight from the core's read-only mapping
};

/// Every method, in the order the CLI lists them.
inline constexpr std::array<copy_method, 4> copy_methods = {copy_method::copy_file_range, copy_method::sendfile,
                                                            copy_method::splice, copy_method::write_from_map};

/// The method's name as the CLI spells it.
constexpr std::string_view name(copy_method m) noexcept {
  switch (m) {
    case copy_method::copy_file_range: return "copy_file_range";
    case copy_method::sendfile: return "sendfile";
    case copy_method::splice: return "splice";
    case copy_method::write_from_map: return "write";
  }
  return "?";
}

/// The method named `s` ("write" or "write_from_map" for write_from_map).
constexpr std::optional<copy_method> parse_copy_method(std::string_view s) noexcept {
  for (auto m : copy_methods)
    if (s == name(m)) return m;
  if (s == "write_from_map") return copy_method::write_from_map;
  return std::nullopt;
}

/// Appends byte ranges of one open file (the core) to another at its current
/// position, by one copy_method, falling back when the kernel refuses. No
/// user-space buffer: the bytes go file to file, or from the source's mapping.
class range_copier {
 public:
  range_copier(const io::mapped_file& src, int out_fd, std::string out_path, copy_method m)
      : src_(src), out_fd_(out_fd), out_path_(std::move(out_path)), method_(m) {}
  range_copier(const range_copier&) = delete;
  range_copier& operator=(const range_copier&) = delete;
  ~range_copier() {
    if (pipe_[0] >= 0) ::close(pipe_[0]);
    if (pipe_[1] >= 0) ::close(pipe_[1]);
  }

  /// Clones (FICLONERANGE) instead of copying from now on, until the file
  /// system refuses; then the method's copy takes over.
  void clone_extents() noexcept { clone_ = true; }
  /// Whether runs are still being cloned.
  bool cloning() const noexcept { return clone_; }
  std::uint64_t cloned_bytes() const noexcept { return cloned_; }

  /// Appends src[off, off+len).
  result<void> append(std::uint64_t off, std::uint64_t len) {
    if (off > src_.size() || len > src_.size() - off)
      return fail(error(errc::truncated, src_.path(), off,
                        fmt::format("page data needs {} bytes past the end of the core", len)));
    if (clone_) {
      NECRO_TRY_ASSIGN(const bool cloned, clone(off, len));
      if (cloned) return {};
    }
    for (std::uint64_t done = 0; done < len;) {
      NECRO_TRY_ASSIGN(const std::uint64_t n, copy_step(off + done, len - done));
      done += n;
    }
    bytes_ += len;
    return {};
  }

  /// The method in use now (after any fallback).
  copy_method method() const noexcept { return method_; }
  bool fell_back() const noexcept { return fell_back_; }
  std::uint64_t calls() const noexcept { return calls_; }
  std::uint64_t bytes() const noexcept { return bytes_; }

 private:
  void fall_back(copy_method to) noexcept {
    method_ = to;
    fell_back_ = true;
  }

  /// One counted call of the method in use over src[at, at + left): the bytes
  /// it moved, or 0 when it is to be tried again (interrupted, or the method
  /// fell back to the next one).
  result<std::uint64_t> copy_step(std::uint64_t at, std::uint64_t left) {
    NECRO_TRY_ASSIGN(const std::optional<ssize_t> n, call_method(at, left));
    if (!n) return std::uint64_t{0};  // fell back before a call that counts
    ++calls_;
    if (*n < 0) {
      if (errno == EINTR) return std::uint64_t{0};
      return fail(error::from_errno(out_path_, fmt::format("cannot copy pages ({})", name(method_)), errno));
    }
    if (*n == 0) {  // the kernel copied nothing and said no error: finish from the mapping
      if (method_ == copy_method::write_from_map)
        return fail(error(errc::io, out_path_, "cannot write pages: no progress"));
      fall_back(copy_method::write_from_map);
      return std::uint64_t{0};
    }
    return static_cast<std::uint64_t>(*n);
  }

  /// One system call of the method in use over src[at, at + left): what it
  /// returned (-1 with errno set when it failed), or nullopt when the kernel
  /// cannot do this method here and the next one takes over.
  result<std::optional<ssize_t>> call_method(std::uint64_t at, std::uint64_t left) {
    const auto most = static_cast<std::size_t>(std::min<std::uint64_t>(left, detail::max_call_bytes));
    switch (method_) {
      case copy_method::copy_file_range: {
        loff_t in = static_cast<loff_t>(at);
        const ssize_t n = ::copy_file_range(src_.fd(), &in, out_fd_, nullptr, most, 0);
        if (n < 0 && detail::copy_unsupported(errno)) return fallen_back_to(copy_method::sendfile);
        return std::optional<ssize_t>(n);
      }
      case copy_method::sendfile: {
        off_t in = static_cast<off_t>(at);
        const ssize_t n = ::sendfile(out_fd_, src_.fd(), &in, most);
        if (n < 0 && detail::copy_unsupported(errno)) return fallen_back_to(copy_method::write_from_map);
        return std::optional<ssize_t>(n);
      }
      case copy_method::splice: {
        NECRO_TRY_ASSIGN(const ssize_t n, splice_some(at, left));
        if (n < 0) return std::optional<ssize_t>();  // fell back
        return std::optional<ssize_t>(n);
      }
      case copy_method::write_from_map: {
        NECRO_TRY_ASSIGN(const std::uint64_t n, write_from_map(at, left));
        return std::optional<ssize_t>(static_cast<ssize_t>(n));
      }
    }
    return std::optional<ssize_t>(0);
  }

  std::optional<ssize_t> fallen_back_to(copy_method to) noexcept {
    fall_back(to);
    return std::nullopt;
  }

  /// write(2) of a bounded step from the mapping, dropped from it behind us.
  result<std::uint64_t> write_from_map(std::uint64_t at, std::uint64_t left) {
    const std::uint64_t step = std::min<std::uint64_t>(left, 8u << 20);
    NECRO_TRY(detail::write_all(out_fd_, src_.view().data() + at, step, out_path_));
    // write() faults the mapping in with fault-around (64 KiB around each
    // fault by default): drop that neighbourhood too, or a core of scattered
    // single kept pages keeps 16 times their size resident.
    const std::uint64_t lo = at & ~(detail::fault_around - 1);
    const std::uint64_t hi = (at + step + detail::fault_around - 1) & ~(detail::fault_around - 1);
    src_.advise(static_cast<std::size_t>(lo), static_cast<std::size_t>(hi - lo), MADV_DONTNEED);
    return step;
  }

  /// FICLONERANGE of src[off, off+len) to the output's end; false (and cloning
  /// off) when the file system cannot share these extents.
  result<bool> clone(std::uint64_t off, std::uint64_t len) {
    const off_t at = ::lseek(out_fd_, 0, SEEK_CUR);
    if (at < 0) return fail(error::from_errno(out_path_, "cannot find the end of the pages image", errno));
    file_clone_range r{};
    r.src_fd = src_.fd();
    r.src_offset = off;
    r.src_length = len;
    r.dest_offset = static_cast<std::uint64_t>(at);
    int rc;
    do rc = ::ioctl(out_fd_, FICLONERANGE, &r);
    while (rc < 0 && errno == EINTR);
    ++calls_;
    if (rc < 0) {
      if (!detail::clone_unsupported(errno))
        return fail(error::from_errno(out_path_, "cannot clone pages (FICLONERANGE)", errno));
      clone_ = false;
      fell_back_ = true;
      return false;
    }
    if (::lseek(out_fd_, at + static_cast<off_t>(len), SEEK_SET) < 0)
      return fail(error::from_errno(out_path_, "cannot seek in the pages image", errno));
    cloned_ += len;
    bytes_ += len;
    return true;
  }

  /// One splice round: up to a pipe's worth into the pipe, and all of it out.
  /// Returns -1 after falling back.
  result<ssize_t> splice_some(std::uint64_t off, std::uint64_t left) {
    if (pipe_[0] < 0) {
      if (::pipe2(pipe_, O_CLOEXEC) != 0) {
        fall_back(copy_method::write_from_map);
        return ssize_t{-1};
      }
      const int sz = ::fcntl(pipe_[1], F_SETPIPE_SZ, 1 << 20);
      pipe_size_ = sz > 0 ? static_cast<std::uint64_t>(sz) : 65536;
    }
    loff_t in = static_cast<loff_t>(off);
    const ssize_t got = ::splice(src_.fd(), &in, pipe_[1], nullptr,
                                 static_cast<std::size_t>(std::min(left, pipe_size_)), SPLICE_F_MOVE | SPLICE_F_MORE);
    if (got < 0) {
      if (errno == EINTR) return ssize_t{0};
      if (detail::copy_unsupported(errno)) {
        fall_back(copy_method::write_from_map);
        return ssize_t{-1};
      }
      return fail(error::from_errno(out_path_, "cannot copy pages (splice)", errno));
    }
    std::uint64_t out = 0;
    while (out < static_cast<std::uint64_t>(got)) {
      const ssize_t put = ::splice(pipe_[0], nullptr, out_fd_, nullptr,
                                   static_cast<std::size_t>(static_cast<std::uint64_t>(got) - out), SPLICE_F_MOVE | SPLICE_F_MORE);
      if (put < 0 && errno == EINTR) continue;
      if (put <= 0)
        return fail(error::from_errno(out_path_, "cannot copy pages (splice)", put < 0 ? errno : EIO));
      out += static_cast<std::uint64_t>(put);
    }
    return got;
  }

  const io::mapped_file& src_;
  int out_fd_;
  std::string out_path_;
  copy_method method_;
  bool fell_back_ = false;
  bool clone_ = false;
  std::uint64_t cloned_ = 0;
  int pipe_[2] = {-1, -1};
  std::uint64_t pipe_size_ = 0;
  std::uint64_t calls_ = 0, bytes_ = 0;
};

}  // namespace necro::write

#endif
