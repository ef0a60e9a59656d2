/// necro::error and necro::result<T>: every parser returns a result that, on
/// failure, names the file, the absolute offset and the structure being read.
#ifndef NECRO_IO_ERROR_HPP
#define NECRO_IO_ERROR_HPP
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include <necro/config.hpp>

namespace necro {

/// What kind of failure an error is; the message says the rest.
enum class errc {
  io,           ///< the operating system refused (os() holds errno)
  truncated,    ///< a structure runs past the end of its container
  bad_magic,    ///< a file is not what it claims to be
  bad_value,    ///< a field holds a value that cannot be right
  unsupported,  ///< valid, but not something necro handles
  limit,        ///< a count read from the file exceeds necro's cap
  mismatch,     ///< core and donor (or file on disk) do not belong together
  missing,      ///< a required image, note or field is absent
};

/// A failure with enough context to act on it: `file: offset 0x..: what`.
class error {
 public:
  error(errc code, std::string path, std::string what)
      : code_(code), path_(std::move(path)), what_(std::move(what)) {}
  error(errc code, std::string path, std::uint64_t offset, std::string what)
      : code_(code), path_(std::move(path)), offset_(offset), what_(std::move(what)) {}

  /// An OS failure on `path` while doing `what`; keeps errno.
  static error from_errno(std::string path, std::string what, int err) {
    error e(errc::io, std::move(path), std::move(what));
    e.os_ = std::error_code(err, std::generic_category());
    return e;
  }

  errc code() const noexcept { return code_; }
  const std::string& path() const noexcept { return path_; }
  std::optional<std::uint64_t> offset() const noexcept { return offset_; }
  const std::string& what() const noexcept { return what_; }
  std::error_code os() const noexcept { return os_; }

  /// One line: `core.4711: offset 0x1a40: NT_FILE entry 3 truncated: need 24 bytes, 8 left`.
  std::string message() const {
    std::string m = path_.empty() ? std::string() : path_ + ": ";
    if (offset_) m += fmt::format("offset {:#x}: ", *offset_);
    m += what_;
    if (os_) m += ": " + os_.message();
    return m;
  }

  /// Adds context in front of the description (e.g. "thread 2: ").
  error& prefix(std::string_view p) {
    what_.insert(0, p);
    return *this;
  }

 private:
  errc code_;
  std::string path_;
  std::optional<std::uint64_t> offset_;
  std::string what_;
  std::error_code os_;
};

/// Tag that turns an error into a failed result (like std::unexpected).
struct failure {
  error err;
};
inline failure fail(error e) { return failure{std::move(e)}; }

/// A value or an error, shaped like std::expected (C++20 has none).
template <class T>
class [[nodiscard]] result {
 public:
  using value_type = T;
  result(T v) : state_(std::in_place_index<0>, std::move(v)) {}  // NOLINT: implicit like expected
  result(failure f) : state_(std::in_place_index<1>, std::move(f.err)) {}  // NOLINT
  result(necro::error e) : state_(std::in_place_index<1>, std::move(e)) {}        // NOLINT

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    NECRO_ASSERT(has_value());
    return std::get<0>(state_);
  }
  const T& value() const& {
    NECRO_ASSERT(has_value());
    return std::get<0>(state_);
  }
  T&& value() && {
    NECRO_ASSERT(has_value());
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const necro::error& error_value() const& {
    NECRO_ASSERT(!has_value());
    return std::get<1>(state_);
  }
  necro::error&& error_value() && {
    NECRO_ASSERT(!has_value());
    return std::get<1>(std::move(state_));
  }
  /// expected-style spelling
  const necro::error& error() const& { return error_value(); }

 private:
  std::variant<T, necro::error> state_;
};

/// result<void>: success or an error.
template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(failure f) : err_(std::move(f.err)) {}  // NOLINT
  result(necro::error e) : err_(std::move(e)) {}        // NOLINT
  bool has_value() const noexcept { return !err_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  const necro::error& error() const& {
    NECRO_ASSERT(err_.has_value());
    return *err_;
  }
  necro::error&& error_value() && {
    NECRO_ASSERT(err_.has_value());
    return std::move(*err_);
  }

 private:
  std::optional<necro::error> err_;
};

}  // namespace necro

/// Evaluates `expr` (a result); on failure returns its error from the caller.
#define NECRO_TRY(expr)                                         \
  do {                                                          \
    auto&& necro_try_r_ = (expr);                               \
    if (!necro_try_r_) return ::necro::fail(std::move(necro_try_r_).error_value()); \
  } while (0)

#define NECRO_CONCAT_IMPL_(a, b) a##b
#define NECRO_CONCAT_(a, b) NECRO_CONCAT_IMPL_(a, b)
/// `NECRO_TRY_ASSIGN(auto x, f());` declares x from a result or returns its error.
#define NECRO_TRY_ASSIGN(decl, expr) \
  NECRO_TRY_ASSIGN_IMPL_(NECRO_CONCAT_(necro_r_, __LINE__), decl, expr)
#define NECRO_TRY_ASSIGN_IMPL_(tmp, decl, expr)                         \
  auto tmp = (expr);                                                    \
  if (!tmp) return ::necro::fail(std::move(tmp).error_value());         \
  decl = std::move(tmp).value()

#endif
