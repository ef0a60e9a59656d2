/// necro::io::byte_view: a bounds-checked, non-owning window on file bytes that
/// remembers its absolute file offset and the file's name for error messages.
#ifndef NECRO_IO_BYTE_VIEW_HPP
#define NECRO_IO_BYTE_VIEW_HPP
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <necro/io/error.hpp>

namespace necro::io {

/// A span of bytes plus where they sit in their file. Views never own: they are
/// valid while the mapped_file (or buffer) they came from lives.
class byte_view {
 public:
  byte_view() = default;
  byte_view(std::span<const std::byte> bytes, std::uint64_t file_offset, std::string_view origin)
      : bytes_(bytes), file_offset_(file_offset), origin_(origin) {}

  const std::byte* data() const noexcept { return bytes_.data(); }
  std::size_t size() const noexcept { return bytes_.size(); }
  bool empty() const noexcept { return bytes_.empty(); }
  std::span<const std::byte> bytes() const noexcept { return bytes_; }
  /// Absolute offset of the first byte in the origin file.
  std::uint64_t file_offset() const noexcept { return file_offset_; }
  /// Name of the file the bytes come from (for messages).
  std::string_view origin() const noexcept { return origin_; }

  /// Whether [off, off+len) lies inside the view (overflow-safe).
  bool covers(std::uint64_t off, std::uint64_t len) const noexcept {
    return off <= bytes_.size() && len <= bytes_.size() - off;
  }

  /// The sub-range [off, off+len), or an error naming `what`.
  result<byte_view> sub(std::uint64_t off, std::uint64_t len, std::string_view what) const {
    if (!covers(off, len)) return fail(short_read(off, len, what));
    return byte_view(bytes_.subspan(static_cast<std::size_t>(off), static_cast<std::size_t>(len)),
                     file_offset_ + off, origin_);
  }

  /// Everything from `off` on (off may equal size()).
  result<byte_view> from(std::uint64_t off, std::string_view what) const {
    if (off > bytes_.size()) return fail(short_read(off, 0, what));
    return sub(off, bytes_.size() - off, what);
  }

  /// A trivially copyable T read from `off` (memcpy: payloads are often unaligned).
  template <class T>
  result<T> load(std::uint64_t off, std::string_view what) const {
    static_assert(std::is_trivially_copyable_v<T>, "necro: load<T> needs a trivially copyable T");
    if (!covers(off, sizeof(T))) return fail(short_read(off, sizeof(T), what));
    T v;
    std::memcpy(&v, bytes_.data() + off, sizeof(T));
    return v;
  }

  /// The error for a range that does not fit, in the house format.
  error short_read(std::uint64_t off, std::uint64_t len, std::string_view what) const {
    const std::uint64_t left = off <= bytes_.size() ? bytes_.size() - off : 0;
    return error(errc::truncated, std::string(origin_), file_offset_ + off,
                 fmt::format("{} truncated: need {} bytes, {} left", what, len, left));
  }

  /// An error located at `off` inside this view.
  error error_at(std::uint64_t off, errc code, std::string what) const {
    return error(code, std::string(origin_), file_offset_ + off, std::move(what));
  }

 private:
  std::span<const std::byte> bytes_;
  std::uint64_t file_offset_ = 0;
  std::string_view origin_;
};

}  // namespace necro::io

#endif
