/// necro::io::mapped_file: a read-only, move-only mmap of a whole file, and the
/// fd it came from (kept open so page data can be copied in-kernel).
#ifndef NECRO_IO_MAPPED_FILE_HPP
#define NECRO_IO_MAPPED_FILE_HPP
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <string>
#include <algorithm>
#include <memory>
#include <utility>

#include <necro/io/byte_view.hpp>
#include <necro/io/error.hpp>
#include <necro/io/unique_fd.hpp>

namespace necro::io {

/// Owns a read-only private mapping of a file. Views into it (byte_view) live
/// as long as the mapped_file does; moving it keeps them valid.
class mapped_file {
 public:
  mapped_file() = default;
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  mapped_file(mapped_file&& o) noexcept { swap(o); }
  mapped_file& operator=(mapped_file&& o) noexcept {
    if (this != &o) {
      reset();
      swap(o);
    }
    return *this;
  }
  ~mapped_file() { reset(); }

  /// Maps `path` read-only. An empty file maps to an empty view.
  static result<mapped_file> open(std::string path) {
    mapped_file f;
    f.path_ = std::make_unique<std::string>(std::move(path));
    // O_NONBLOCK: opening a FIFO (a hostile donor directory, `-c fifo`) must
    // not wait for a writer; it is refused below as not a regular file. The
    // flag changes nothing for regular files.
    f.fd_ = ::open(f.path_->c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f.fd_ < 0) return fail(error::from_errno(*f.path_, "cannot open", errno));
    NECRO_TRY(f.map());
    return f;
  }

  /// Maps the file open on `fd` (an unnamed scratch file, say); `label`
  /// names it in errors and views.
  static result<mapped_file> adopt(unique_fd fd, std::string label) {
    mapped_file f;
    f.path_ = std::make_unique<std::string>(std::move(label));
    f.fd_ = fd.release();
    NECRO_TRY(f.map());
    return f;
  }

  /// The whole file as a view; valid while *this lives.
  byte_view view() const noexcept { return byte_view({data_, size_}, 0, *path_); }
  const std::string& path() const noexcept { return *path_; }
  std::size_t size() const noexcept { return size_; }
  /// The open descriptor (read-only), for copy_file_range and friends.
  int fd() const noexcept { return fd_; }

  /// Hints the kernel about how a range will be read (MADV_SEQUENTIAL, ...).
  void advise(std::size_t off, std::size_t len, int advice) const noexcept {
    if (!data_ || off >= size_) return;
    const std::size_t page = 4096;
    const std::size_t start = off & ~(page - 1);
    len = std::min(len + (off - start), size_ - start);
    ::madvise(const_cast<std::byte*>(data_) + start, len, advice);
  }

 private:
  result<void> map() {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return fail(error::from_errno(*path_, "cannot stat", errno));
    if (!S_ISREG(st.st_mode)) return fail(error(errc::unsupported, *path_, "not a regular file"));
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ == 0) return {};
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (p == MAP_FAILED) return fail(error::from_errno(*path_, "cannot map", errno));
    data_ = static_cast<const std::byte*>(p);
    return {};
  }

  void reset() noexcept {
    if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
    data_ = nullptr;
    size_ = 0;
    fd_ = -1;
  }
  void swap(mapped_file& o) noexcept {
    std::swap(path_, o.path_);
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(fd_, o.fd_);
  }

  // The path lives on the heap so views' origin string_views survive moves.
  std::unique_ptr<std::string> path_ = std::make_unique<std::string>();
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  int fd_ = -1;
};

}  // namespace necro::io

#endif
