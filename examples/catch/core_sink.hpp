// necro-catch: where the core's bytes go. sparse_sink writes an ordinary ELF
// core with every all-zero 4 KiB block left as a hole (pwrite past it, a final
// ftruncate); zstd_sink compresses it as one zstd frame (libzstd streaming).
#pragma once

#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include <fmt/format.h>

namespace catcher {

inline constexpr std::size_t block = 4096;

/// Writes `len` bytes at `off`, looping over short writes; false with errno.
inline bool pwrite_all(int fd, const char* p, std::size_t len, std::uint64_t off) {
  while (len) {
    const ssize_t n = ::pwrite(fd, p, len, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n, len -= static_cast<std::size_t>(n), off += static_cast<std::uint64_t>(n);
  }
  return true;
}

inline bool all_zero(const char* p, std::size_t len) {
  static const std::array<char, block> zeros{};
  return len <= block && std::memcmp(p, zeros.data(), len) == 0;
}

/// A sink takes the core in order; after the first failure it only counts.
class sink {
 public:
  virtual ~sink() = default;
  /// Takes the next bytes of the core (a multiple of 4 KiB except at the end).
  virtual void put(const char* p, std::size_t len) = 0;
  /// After the last byte: sizes the file / ends the frame.
  virtual void finish() = 0;
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  std::uint64_t bytes() const { return in_; }
  std::uint64_t holes() const { return holes_; }

 protected:
  void fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
  }
  std::string error_;
  std::uint64_t in_ = 0, holes_ = 0;
};

class sparse_sink final : public sink {
 public:
  explicit sparse_sink(int fd) : fd_(fd) {}
  void put(const char* p, std::size_t len) override {
    std::size_t i = 0;
    while (i < len && !failed()) {
      const std::size_t n = std::min(block, len - i);
      if (all_zero(p + i, n)) {
        holes_ += n, i += n;
        continue;
      }
      std::size_t run = n;  // extend over the following non-zero blocks
      while (i + run < len && !all_zero(p + i + run, std::min(block, len - i - run))) run += std::min(block, len - i - run);
      if (!pwrite_all(fd_, p + i, run, in_ + i)) fail(fmt::format("write at offset {:#x}: {}", in_ + i, std::strerror(errno)));
      i += run;
    }
    in_ += len;
  }
  void finish() override {
    if (!failed() && ::ftruncate(fd_, static_cast<off_t>(in_)) != 0)
      fail(fmt::format("ftruncate to {} bytes: {}", in_, std::strerror(errno)));
  }

 private:
  int fd_;
};

class zstd_sink final : public sink {
 public:
  explicit zstd_sink(int fd, int level) : fd_(fd), cs_(ZSTD_createCStream(), ZSTD_freeCStream), out_(ZSTD_CStreamOutSize(), '\0') {
    if (!cs_ || ZSTD_isError(ZSTD_initCStream(cs_.get(), level))) fail("cannot set up zstd compression");
  }
  void put(const char* p, std::size_t len) override {
    in_ += len;
    ZSTD_inBuffer in{p, len, 0};
    while (!failed() && in.pos < in.size) pump(in, ZSTD_e_continue);
  }
  void finish() override {
    ZSTD_inBuffer in{nullptr, 0, 0};
    while (!failed() && pump(in, ZSTD_e_end) != 0) {
    }
  }

 private:
  std::size_t pump(ZSTD_inBuffer& in, ZSTD_EndDirective how) {
    ZSTD_outBuffer out{out_.data(), out_.size(), 0};
    const std::size_t left = ZSTD_compressStream2(cs_.get(), &out, &in, how);
    if (ZSTD_isError(left)) return fail(fmt::format("zstd: {}", ZSTD_getErrorName(left))), 0;
    if (!pwrite_all(fd_, out_.data(), out.pos, written_))
      return fail(fmt::format("write at offset {:#x}: {}", written_, std::strerror(errno))), 0;
    written_ += out.pos;
    return left;
  }
  int fd_;
  std::unique_ptr<ZSTD_CStream, std::size_t (*)(ZSTD_CStream*)> cs_;
  std::string out_;
  std::uint64_t written_ = 0;
};

/// Reads stdin to its end in 1 MiB chunks into `s`; returns false (errno) on a read error.
inline bool drain(int in, sink& s) {
  std::string buf(1u << 20, '\0');
  for (;;) {
    std::size_t got = 0;
    int err = 0;
    while (got < buf.size()) {
      const ssize_t n = ::read(in, buf.data() + got, buf.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) err = errno;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got) s.put(buf.data(), got);
    if (err) return errno = err, false;
    if (got < buf.size()) return true;
  }
}

}  // namespace catcher
