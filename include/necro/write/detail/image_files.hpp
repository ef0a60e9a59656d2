/// necro::write::detail image files: creating an image in the staging
/// directory (never over an existing file), writing it whole, copying a
/// donor's image, and making the staged set durable.
#ifndef NECRO_WRITE_DETAIL_IMAGE_FILES_HPP
#define NECRO_WRITE_DETAIL_IMAGE_FILES_HPP
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include <necro/io/error.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/io/unique_fd.hpp>
#include <necro/write/detail/copy_methods.hpp>

namespace necro::write::detail {

/// An image file created for writing; closed (and synced) by finish(), or
/// closed unchecked when dropped.
class image_out {
 public:
  static result<image_out> create(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return fail(error::from_errno(path.string(), "cannot create", errno));
    return image_out(fd, path.string());
  }
  image_out(image_out&& o) noexcept : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)) {}
  image_out(const image_out&) = delete;
  image_out& operator=(const image_out&) = delete;
  image_out& operator=(image_out&&) = delete;
  ~image_out() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const noexcept { return fd_; }
  const std::string& path() const noexcept { return path_; }
  result<void> put(std::string_view bytes) {
    return write_all(fd_, reinterpret_cast<const std::byte*>(bytes.data()), bytes.size(), path_);
  }
  result<void> finish(bool durable) {
    if (durable && ::fsync(fd_) != 0) return fail(error::from_errno(path_, "cannot sync", errno));
    if (::close(std::exchange(fd_, -1)) != 0) return fail(error::from_errno(path_, "cannot close", errno));
    return {};
  }

 private:
  image_out(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

/// A new file at `path` holding `bytes`; fsynced when `durable`.
inline result<void> write_image(const std::filesystem::path& path, std::string_view bytes, bool durable) {
  NECRO_TRY_ASSIGN(auto out, image_out::create(path));
  NECRO_TRY(out.put(bytes));
  return out.finish(durable);
}

/// A new file at `to` holding the bytes of `from`.
inline result<void> copy_image(const std::filesystem::path& from, const std::filesystem::path& to, bool durable) {
  NECRO_TRY_ASSIGN(io::mapped_file in, io::mapped_file::open(from.string()));
  const auto v = in.view();
  return write_image(to, std::string_view(reinterpret_cast<const char*>(v.data()), v.size()), durable);
}

/// syncfs(2) of the file system holding `dir`: every staged image and the
/// directory itself reach the disk with one flush of the device.
inline result<void> sync_filesystem(const std::filesystem::path& dir) {
  io::unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return fail(error::from_errno(dir.string(), "cannot open to sync", errno));
  if (::syncfs(fd.get()) != 0) return fail(error::from_errno(dir.string(), "cannot sync the images", errno));
  return {};
}

/// fsync(2) of directory `dir`, best effort.
inline void sync_dir(const std::filesystem::path& dir) {
  io::unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() >= 0) ::fsync(fd.get());
}

}  // namespace necro::write::detail

#endif
