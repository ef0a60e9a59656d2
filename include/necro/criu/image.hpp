/// necro::criu image framing: the magic words, then u32-length-framed protobuf
/// entries. entry_reader walks a mapped image zero-copy; encode_image builds
/// one. pages-*.img (raw pages) is never read through here.
#ifndef NECRO_CRIU_IMAGE_HPP
#define NECRO_CRIU_IMAGE_HPP
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/magic.hpp>
#include <necro/io/byte_view.hpp>
#include <necro/io/error.hpp>

namespace necro::criu {

/// An entry is at most this large (CRIU's biggest are a few KiB).
inline constexpr std::uint32_t max_entry_size = 64u << 20;
/// An image holds at most this many entries (read_all keeps them all; one per
/// open file in files.img, the most numerous image necro reads whole).
inline constexpr std::size_t max_entries = 1u << 20;

/// Reads the entries of one image, in order, without copying the file.
class entry_reader {
 public:
  /// Checks the magic words of `whole` (common/service + `expected`; the
  /// inventory has only its own).
  static result<entry_reader> open(const io::byte_view& whole, std::uint32_t expected) {
    entry_reader r;
    r.whole_ = whole;
    std::uint64_t pos = 0;
    if (expected != magic::inventory) {
      NECRO_TRY_ASSIGN(const auto m0, whole.load<std::uint32_t>(0, "image common magic"));
      if (m0 != magic::common && m0 != magic::service)
        return fail(whole.error_at(0, errc::bad_magic,
                                   fmt::format("bad image magic {:#010x}, expected {:#010x}", m0, magic::common)));
      pos = 4;
    }
    NECRO_TRY_ASSIGN(const auto m1, whole.load<std::uint32_t>(pos, "image magic"));
    if (m1 != expected)
      return fail(whole.error_at(pos, errc::bad_magic,
                                 fmt::format("image magic {:#010x} is not the expected {:#010x}", m1, expected)));
    r.pos_ = pos + 4;
    return r;
  }

  bool at_end() const noexcept { return pos_ >= whole_.size(); }
  /// Absolute file offset of the next entry.
  std::uint64_t offset() const noexcept { return whole_.file_offset() + pos_; }

  /// The next entry's bytes, or an empty optional at end of file.
  result<std::optional<io::byte_view>> next_raw(std::string_view what) {
    if (at_end()) return std::optional<io::byte_view>{};
    NECRO_TRY_ASSIGN(const auto len, whole_.load<std::uint32_t>(pos_, fmt::format("{} entry size", what)));
    if (len > max_entry_size)
      return fail(whole_.error_at(pos_, errc::limit,
                                  fmt::format("{} entry of {} bytes exceeds the cap of {}", what, len, max_entry_size)));
    NECRO_TRY_ASSIGN(const auto body, whole_.sub(pos_ + 4, len, fmt::format("{} entry", what)));
    pos_ += 4 + std::uint64_t{len};
    return std::optional<io::byte_view>(body);
  }

  /// Parses the next entry into `msg`; false at end of file. Parsed without
  /// protobuf's own check of required fields, which logs to stderr: they are
  /// checked here, and named in the error.
  template <class Msg>
  result<bool> next(Msg& msg) {
    const std::uint64_t at = pos_;
    NECRO_TRY_ASSIGN(const auto raw, next_raw(Msg::descriptor()->name()));
    if (!raw) return false;
    if (!msg.ParsePartialFromArray(raw->data(), static_cast<int>(raw->size())))
      return fail(whole_.error_at(at, errc::bad_value,
                                  fmt::format("{} entry does not parse (bad wire data)", Msg::descriptor()->name())));
    if (!msg.IsInitialized())
      return fail(whole_.error_at(at, errc::bad_value, fmt::format("{} entry lacks required fields: {}",
                                                                   Msg::descriptor()->name(), missing_fields(msg))));
    return true;
  }

  /// Every remaining entry as Msg.
  template <class Msg>
  result<std::vector<Msg>> read_all() {
    std::vector<Msg> out;
    for (;;) {
      if (out.size() == max_entries && !at_end())
        return fail(whole_.error_at(pos_, errc::limit, fmt::format("more than {} {} entries", max_entries,
                                                                   Msg::descriptor()->name())));
      Msg m;
      NECRO_TRY_ASSIGN(const bool more, next(m));
      if (!more) break;
      out.push_back(std::move(m));
    }
    return out;
  }

 private:
  /// The required fields `msg` lacks ("pid", "vmas[3].start"), the first few.
  template <class Msg>
  static std::string missing_fields(const Msg& msg) {
    std::string s = msg.InitializationErrorString();  // field names from the schema, not from the input
    constexpr std::size_t max_len = 200;
    if (s.size() > max_len) s = s.substr(0, s.rfind(',', max_len)) + ", ...";
    return s;
  }

  io::byte_view whole_;
  std::uint64_t pos_ = 0;
};

/// Builds an image file's bytes: magic words, then each entry framed.
class image_builder {
 public:
  explicit image_builder(std::uint32_t image_magic) {
    if (image_magic != magic::inventory) put_u32(magic::common);
    put_u32(image_magic);
  }
  template <class Msg>
  image_builder& add(const Msg& msg) {
    const std::size_t len = msg.ByteSizeLong();
    NECRO_ASSERT(len <= max_entry_size);
    put_u32(static_cast<std::uint32_t>(len));
    const std::size_t at = bytes_.size();
    bytes_.resize(at + len);
    msg.SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(bytes_.data() + at));
    return *this;
  }
  /// Appends an already framed-or-raw entry body verbatim (keeps donor bytes).
  image_builder& add_raw(std::string_view body) {
    NECRO_ASSERT(body.size() <= max_entry_size);
    put_u32(static_cast<std::uint32_t>(body.size()));
    bytes_.append(body);
    return *this;
  }
  const std::string& bytes() const noexcept { return bytes_; }
  std::string take() && { return std::move(bytes_); }

 private:
  void put_u32(std::uint32_t v) {
    char b[4];
    std::memcpy(b, &v, 4);  // images are little-endian; so is every host we build on
    bytes_.append(b, 4);
  }
  std::string bytes_;
};

}  // namespace necro::criu

#endif
