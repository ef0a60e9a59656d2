/// necro::write page engine: streams the plan's candidate page runs from the
/// core into pages-<id>.img and builds their pagemap entries, in one pass and
/// with memory that does not grow with the core. Page bytes never pass through
/// a user-space buffer: they are copied in the kernel (copy_file_range,
/// sendfile or splice) or written straight from the core's mapping. While the
/// copy runs, a second thread applies the elision rules of plan/pages.hpp to
/// the pages ahead of it (zero anonymous pages, clean file pages), skipping the
/// holes of a sparse core without reading them, and drops what it has read.
/// Where the output's file system can share extents with the core (XFS with
/// reflink, btrfs), each run is cloned (FICLONERANGE) instead: nothing is read
/// but the core's hole map, and the pages cost no space.
#ifndef NECRO_WRITE_PAGE_ENGINE_HPP
#define NECRO_WRITE_PAGE_ENGINE_HPP
#pragma once

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/magic.hpp>
#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/plan/pages.hpp>
#include <necro/plan/plan.hpp>

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
  for (auto m : {copy_method::copy_file_range, copy_method::sendfile, copy_method::splice, copy_method::write_from_map})
    if (s == name(m)) return m;
  if (s == "write_from_map") return copy_method::write_from_map;
  return std::nullopt;
}

namespace detail {

/// The kernel's default fault_around_bytes: a read fault on a file mapping
/// maps up to this much around the faulting page.
inline constexpr std::uint64_t fault_around = 64 << 10;

/// write(2) of [p, p+len) to fd at its current position, retrying short writes.
inline result<void> write_all(int fd, const std::byte* p, std::uint64_t len, const std::string& out_path) {
  while (len > 0) {
    const ssize_t n = ::write(fd, p, static_cast<std::size_t>(std::min<std::uint64_t>(len, 1u << 30)));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(error::from_errno(out_path, "cannot write pages", errno));
    }
    p += n;
    len -= static_cast<std::uint64_t>(n);
  }
  return {};
}

/// Linux's MADV_POPULATE_READ (5.14): map a range's pages in one call. Older
/// kernels say EINVAL, which only costs the hint.
inline constexpr int madv_populate_read = 22;

/// Whether errno says "this kernel or file system cannot do that copy".
inline bool copy_unsupported(int err) noexcept {
  return err == EXDEV || err == ENOSYS || err == EINVAL || err == EOPNOTSUPP || err == ENOTSUP;
}

/// Whether errno says "these two files cannot share extents" (another file
/// system, no reflink, a block size the ranges do not align to, ...).
inline bool clone_unsupported(int err) noexcept {
  return copy_unsupported(err) || err == ETXTBSY || err == EPERM || err == EBADF || err == ENOTTY;
}

/// Whether the output's file system shares extents with the core: one page of
/// `core` at `core_offset` cloned to the output's end, then taken back.
inline bool can_clone(int core_fd, std::uint64_t core_offset, int out_fd, std::uint64_t page) noexcept {
  const off_t at = ::lseek(out_fd, 0, SEEK_CUR);
  if (at < 0) return false;
  file_clone_range r{};
  r.src_fd = core_fd;
  r.src_offset = core_offset;
  r.src_length = page;
  r.dest_offset = static_cast<std::uint64_t>(at);
  if (::ioctl(out_fd, FICLONERANGE, &r) != 0) return false;
  return ::ftruncate(out_fd, at) == 0;
}

}  // namespace detail

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
    std::uint64_t done = 0;
    while (done < len) {
      ssize_t n = 0;
      const std::uint64_t left = len - done;
      switch (method_) {
        case copy_method::copy_file_range: {
          loff_t in = static_cast<loff_t>(off + done);
          n = ::copy_file_range(src_.fd(), &in, out_fd_, nullptr, static_cast<std::size_t>(std::min<std::uint64_t>(left, 1u << 30)), 0);
          if (n < 0 && detail::copy_unsupported(errno)) {
            fall_back(copy_method::sendfile);
            continue;
          }
          break;
        }
        case copy_method::sendfile: {
          off_t in = static_cast<off_t>(off + done);
          n = ::sendfile(out_fd_, src_.fd(), &in, static_cast<std::size_t>(std::min<std::uint64_t>(left, 1u << 30)));
          if (n < 0 && detail::copy_unsupported(errno)) {
            fall_back(copy_method::write_from_map);
            continue;
          }
          break;
        }
        case copy_method::splice: {
          NECRO_TRY_ASSIGN(n, splice_some(off + done, left));
          if (n < 0) continue;  // fell back
          break;
        }
        case copy_method::write_from_map: {
          // A bounded step at a time, dropped from the mapping behind us.
          const std::uint64_t step = std::min<std::uint64_t>(left, 8u << 20);
          NECRO_TRY(detail::write_all(out_fd_, src_.view().data() + off + done, step, out_path_));
          // write() faults the mapping in with fault-around (64 KiB around
          // each fault by default): drop that neighbourhood too, or a core of
          // scattered single kept pages keeps 16 times their size resident.
          const std::uint64_t lo = (off + done) & ~(detail::fault_around - 1);
          const std::uint64_t hi = (off + done + step + detail::fault_around - 1) & ~(detail::fault_around - 1);
          src_.advise(static_cast<std::size_t>(lo), static_cast<std::size_t>(hi - lo), MADV_DONTNEED);
          n = static_cast<ssize_t>(step);
          break;
        }
      }
      ++calls_;
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail(error::from_errno(out_path_, fmt::format("cannot copy pages ({})", name(method_)), errno));
      }
      if (n == 0) {  // the kernel copied nothing and said no error: finish from the mapping
        if (method_ == copy_method::write_from_map)
          return fail(error(errc::io, out_path_, "cannot write pages: no progress"));
        fall_back(copy_method::write_from_map);
        continue;
      }
      done += static_cast<std::uint64_t>(n);
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

/// How far a write has come, in bytes of the candidate runs.
struct progress {
  std::uint64_t done = 0;     ///< handled: written or elided
  std::uint64_t total = 0;    ///< all candidate bytes
  std::uint64_t written = 0;  ///< appended to pages-*.img
  std::uint64_t elided = 0;   ///< left out by the elision rules
};

/// Called from the writing thread as the write advances (about every window).
using progress_fn = std::function<void(const progress&)>;

/// Knobs of write_pages; the defaults are the fastest measured.
struct engine_options {
  copy_method method = copy_method::copy_file_range;
  /// Apply the elision rules (zero anonymous pages, clean file pages).
  bool elide = true;
  /// Clone page runs from the core (FICLONERANGE) where the output's file
  /// system shares extents: no page is read (only the core's holes are still
  /// left out, found by SEEK_HOLE), and the pages take no space. Zero and
  /// file-equal pages are then kept: they cost nothing there.
  bool reflink = true;
  /// Scan for elidable pages in a second thread while copying (when the machine has two cores).
  bool parallel = true;
  /// Start writing each copy step back to disk as soon as it is copied (for
  /// durable commits, which fsync at the end).
  bool writeback = false;
  /// Pages are scanned, and dropped from memory, this many bytes at a time.
  std::uint64_t window = 8u << 20;
  /// Adjacent ranges are coalesced into one copy call of at most this many bytes.
  std::uint64_t max_copy = 64u << 20;
  /// A pagemap entry covers at most this many pages (64 MiB of 4 KiB pages).
  std::uint64_t max_entry_pages = 16384;
  progress_fn progress{};
  /// Cancellation: when set and it turns true (a signal handler's flag), the
  /// write stops after the current window and fails with errc::io "interrupted".
  const std::atomic<bool>* cancel = nullptr;
  /// Decide and count every page as the write would, but write nothing (the
  /// output fd is not touched): what `--explain` reports (classify_pages).
  bool dry_run = false;
};

/// What write_pages wrote.
struct pages_report {
  std::vector<pb::pagemap_entry> pagemap;  ///< the entries of the pages written, in order
  plan::elision_stats pages;               ///< kept / zero / file pages
  std::uint64_t hole_pages = 0;            ///< zero pages found as holes of a sparse core (not read)
  std::uint64_t bytes_written = 0;
  std::uint64_t bytes_elided = 0;
  std::uint64_t copy_calls = 0;
  copy_method method = copy_method::copy_file_range;  ///< in use at the end
  bool fell_back = false;
  std::uint64_t bytes_cloned = 0;  ///< of bytes_written: extents shared with the core
};

namespace detail {

/// Pages [first, first + pages) of run `run` need data.
struct kept_range {
  std::size_t run = 0;
  std::uint64_t first = 0, pages = 0;
};

/// One window's verdicts, from the scanner to the copier.
struct scan_batch {
  std::vector<kept_range> kept;
  plan::elision_stats st;
  std::uint64_t holes = 0;
  std::uint64_t bytes = 0;  ///< candidate bytes covered
};

/// A bounded single-producer, single-consumer queue of batches.
class batch_queue {
 public:
  explicit batch_queue(std::size_t cap) : cap_(cap) {}
  /// Blocks while full; false once the consumer gave up.
  bool push(scan_batch&& b) {
    std::unique_lock lk(m_);
    not_full_.wait(lk, [&] { return q_.size() < cap_ || cancelled_; });
    if (cancelled_) return false;
    q_.push_back(std::move(b));
    not_empty_.notify_one();
    return true;
  }
  /// Blocks while empty; nullopt when the producer finished and all is taken.
  std::optional<scan_batch> pop() {
    std::unique_lock lk(m_);
    not_empty_.wait(lk, [&] { return !q_.empty() || finished_; });
    if (q_.empty()) return std::nullopt;
    scan_batch b = std::move(q_.front());
    q_.pop_front();
    not_full_.notify_one();
    return b;
  }
  void finish(bool failed = false) {
    std::lock_guard lk(m_);
    finished_ = true;
    failed_ = failed;
    not_empty_.notify_all();
  }
  void cancel() {
    std::lock_guard lk(m_);
    cancelled_ = true;
    not_full_.notify_all();
  }
  bool failed() {
    std::lock_guard lk(m_);
    return failed_;
  }

 private:
  std::mutex m_;
  std::condition_variable not_full_, not_empty_;
  std::deque<scan_batch> q_;
  std::size_t cap_;
  bool finished_ = false, failed_ = false, cancelled_ = false;
};

/// Walks the runs window by window and decides which pages need data.
class scanner {
 public:
  /// `read_pages` false: no page is read; only the holes of a sparse core are
  /// left out of zero-rule runs (the clone path).
  scanner(const io::mapped_file& core, std::span<const plan::page_run> runs, std::span<const plan::page_rule> rules,
          std::uint64_t page, std::uint64_t window, bool read_pages = true)
      : core_(core), runs_(runs), rules_(rules), page_(page), window_pages_(std::max<std::uint64_t>(1, window / page)),
        read_pages_(read_pages) {
    struct stat st {};
    sparse_ = ::fstat(core.fd(), &st) == 0 && static_cast<std::uint64_t>(st.st_blocks) * 512 < static_cast<std::uint64_t>(st.st_size);
  }

  /// Calls emit(scan_batch&&) for each window, in order, until it returns false.
  template <class Emit>
  void run(Emit&& emit) {
    for (std::size_t i = 0; i < runs_.size(); ++i) {
      const auto& r = runs_[i];
      const auto& rule = rules_[i];
      if (rule.kind == plan::elision::none) {
        // Nothing to read: one batch, the copier splits it into copy steps.
        scan_batch b;
        b.kept.push_back({i, 0, r.pages});
        b.st.kept_pages = r.pages;
        b.bytes = r.pages * page_;
        if (!emit(std::move(b))) return;
        continue;
      }
      for (std::uint64_t a = 0; a < r.pages; a += window_pages_) {
        const std::uint64_t n = std::min(window_pages_, r.pages - a);
        scan_batch b;
        b.bytes = n * page_;
        scan_window(i, a, n, b);
        if (!emit(std::move(b))) return;
      }
    }
  }

 private:
  void scan_window(std::size_t i, std::uint64_t a, std::uint64_t n, scan_batch& b) {
    const auto& r = runs_[i];
    const auto& rule = rules_[i];
    const std::uint64_t off = r.core_offset + a * page_;
    const std::uint64_t len = n * page_;
    const std::byte* run_bytes = core_.view().data() + r.core_offset;
    auto keep = [&](std::uint64_t first, std::uint64_t pages) {
      if (!b.kept.empty() && b.kept.back().first + b.kept.back().pages == first) b.kept.back().pages += pages;
      else b.kept.push_back({i, first, pages});
    };
    std::uint64_t k = a;
    while (k < a + n) {
      // A hole of a sparse core is zeros: no need to read it.
      std::uint64_t data_end = a + n;
      if (sparse_ && rule.kind == plan::elision::zero) {
        const std::uint64_t pos = r.core_offset + k * page_;
        const off_t d = ::lseek(core_.fd(), static_cast<off_t>(pos), SEEK_DATA);
        std::uint64_t hole_end = d < 0 ? r.core_offset + (a + n) * page_ : static_cast<std::uint64_t>(d);
        const std::uint64_t hole_pages = std::min(a + n, (hole_end - r.core_offset) / page_) - k;
        if (d >= 0 && static_cast<std::uint64_t>(d) > pos && hole_pages > 0) {
          b.st.zero_pages += hole_pages;
          b.holes += hole_pages;
          k += hole_pages;
          continue;
        }
        if (d < 0 && errno == ENXIO) {  // nothing but hole to the end of the file
          b.st.zero_pages += a + n - k;
          b.holes += a + n - k;
          break;
        }
        if (d >= 0) {
          const off_t h = ::lseek(core_.fd(), d, SEEK_HOLE);
          if (h > d) {
            const std::uint64_t h_page = (static_cast<std::uint64_t>(h) - r.core_offset + page_ - 1) / page_;
            data_end = std::clamp(h_page, k + 1, a + n);
          }
        }
      }
      const std::uint64_t m = data_end - k;
      if (!read_pages_) {
        keep(k, m);
        b.st.kept_pages += m;
        k = data_end;
        continue;
      }
      core_.advise(static_cast<std::size_t>(r.core_offset + k * page_), static_cast<std::size_t>(m * page_),
                   madv_populate_read);
      plan::elide_range(rule, run_bytes, k, m, page_, b.st, keep);
      k = data_end;
    }
    if (!read_pages_) return;
    // Drop what was read: memory must not grow with the core.
    core_.advise(static_cast<std::size_t>(off), static_cast<std::size_t>(len), MADV_DONTNEED);
    if (rule.kind == plan::elision::same_as_file && rule.file)
      rule.file->advise(static_cast<std::size_t>(rule.file_offset + a * page_), static_cast<std::size_t>(len),
                        MADV_DONTNEED);
  }

  const io::mapped_file& core_;
  std::span<const plan::page_run> runs_;
  std::span<const plan::page_rule> rules_;
  std::uint64_t page_, window_pages_;
  bool read_pages_ = true;
  bool sparse_ = false;
};

/// Joins the scanner thread on every way out.
struct thread_guard {
  batch_queue& q;
  std::thread t;
  ~thread_guard() {
    if (t.joinable()) {
      q.cancel();
      t.join();
    }
  }
};

}  // namespace detail

/// Appends the pages of `p`'s candidate runs that need data to `out_fd`
/// (positioned at its end) and returns their pagemap entries. `files` holds
/// the mapped files' content (io::stat_files with map_content); without it
/// file pages are all written. `core` must be the file the plan was made from.
template <class Arch>
result<pages_report> write_pages(const io::mapped_file& core, const plan::resurrection& p, const io::file_facts& files,
                                 int out_fd, const std::string& out_path, const engine_options& opt = {}) {
  constexpr std::uint64_t page = Arch::page_size;
  NECRO_ASSERT(p.runs.size() == p.pagemap.size());
  for (const auto& r : p.runs)
    if (r.core_offset > core.size() || r.pages > (core.size() - r.core_offset) / page)
      return fail(error(errc::truncated, core.path(), r.core_offset,
                        fmt::format("page run at {:#x} needs {} bytes past the end of the core", r.vaddr, r.pages * page)));

  // Shared extents make reading pages to elide them cost more than keeping them.
  const bool clone = opt.reflink && !p.runs.empty() && detail::can_clone(core.fd(), p.runs.front().core_offset, out_fd, page);
  std::vector<plan::page_rule> rules = opt.elide ? plan::page_rules(p, files)
                                                 : std::vector<plan::page_rule>(p.runs.size());
  if (clone)  // only the holes of a sparse core are left out (zeros, found unread)
    for (auto& r : rules)
      if (r.kind == plan::elision::same_as_file) r = plan::page_rule{};
  pages_report rep;
  progress prog;
  for (const auto& r : p.runs) prog.total += r.pages * page;
  const std::uint64_t max_entry_pages = std::max<std::uint64_t>(1, opt.max_entry_pages);
  // A clone costs per call, not per byte: each contiguous range is one call.
  const std::uint64_t max_copy = clone ? UINT64_MAX / page * page : std::max<std::uint64_t>(opt.max_copy, page) / page * page;
  ::posix_fadvise(core.fd(), 0, 0, POSIX_FADV_SEQUENTIAL);

  range_copier copier(core, out_fd, out_path, opt.method);
  if (clone) copier.clone_extents();
  std::uint64_t pend_off = 0, pend_len = 0;  // coalesced bytes not yet copied
  std::size_t last_run = SIZE_MAX;
  std::uint64_t last_end = 0;  // vaddr just past the last pagemap entry

  auto copy_step = [&](std::uint64_t len) -> result<void> {
    if (!opt.dry_run) NECRO_TRY(copier.append(pend_off, len));
    const std::uint64_t before = rep.bytes_written;
    rep.bytes_written += len;
    pend_off += len;
    pend_len -= len;
    // Durable commits fsync at the end: start writing back each step now so
    // the disk works while we copy and the final fsync has little left to do.
    if (opt.writeback && !opt.dry_run)
      ::sync_file_range(out_fd, static_cast<off_t>(before), static_cast<off_t>(len), SYNC_FILE_RANGE_WRITE);
    return {};
  };

  auto report_progress = [&] {
    if (!opt.progress) return;
    prog.written = rep.bytes_written;
    prog.elided = rep.bytes_elided;
    opt.progress(prog);
  };

  auto consume = [&](const detail::scan_batch& b) -> result<void> {
    if (opt.cancel && opt.cancel->load()) return fail(error(errc::io, out_path, "interrupted while writing pages"));
    for (const auto& k : b.kept) {
      const auto& r = p.runs[k.run];
      const std::uint64_t vaddr = r.vaddr + k.first * page;
      // Entries of at most max_entry_pages, as CRIU's own dumps have (its
      // lazy-pages daemon crashes on one entry of a 4 GiB run).
      for (std::uint64_t done = 0; done < k.pages;) {
        const std::uint64_t at = vaddr + done * page;
        const bool extend = last_run == k.run && last_end == at && rep.pagemap.back().nr_pages() < max_entry_pages;
        if (!extend) {
          pb::pagemap_entry e;
          e.set_vaddr(at);
          e.set_nr_pages(0);
          e.set_flags(p.pagemap[k.run].flags());
          rep.pagemap.push_back(std::move(e));
        }
        auto& e = rep.pagemap.back();
        const std::uint64_t n = std::min(k.pages - done, max_entry_pages - e.nr_pages());
        e.set_nr_pages(e.nr_pages() + n);
        e.set_compat_nr_pages(static_cast<std::uint32_t>(std::min<std::uint64_t>(e.nr_pages(), UINT32_MAX)));
        done += n;
        last_run = k.run;
        last_end = at + n * page;
      }

      const std::uint64_t off = r.core_offset + k.first * page;
      if (pend_len > 0 && pend_off + pend_len != off) NECRO_TRY(copy_step(pend_len));
      if (pend_len == 0) pend_off = off;
      pend_len += k.pages * page;
      while (pend_len >= max_copy) NECRO_TRY(copy_step(max_copy));
    }
    rep.pages += b.st;
    rep.hole_pages += b.holes;
    rep.bytes_elided += b.st.elided_pages() * page;
    prog.done += b.bytes;
    report_progress();
    return {};
  };

  // Cloning reads nothing: one window per run (a SEEK_DATA/SEEK_HOLE pair per
  // extent, not per 8 MiB) and no scanner thread to hand windows over.
  detail::scanner scan(core, p.runs, rules, page, clone ? UINT64_MAX : opt.window, /*read_pages=*/!clone);
  detail::batch_queue q(16);
  detail::thread_guard guard{q, {}};
  if (opt.parallel && !clone && std::thread::hardware_concurrency() > 1) {
    try {
      guard.t = std::thread([&] {
        try {
          scan.run([&](detail::scan_batch&& b) { return q.push(std::move(b)); });
          q.finish();
        } catch (...) {
          q.finish(true);
        }
      });
    } catch (const std::system_error&) {
      // no thread to be had: scan inline below
    }
  }
  if (guard.t.joinable()) {
    while (auto b = q.pop()) NECRO_TRY(consume(*b));
    guard.t.join();
    if (q.failed()) return fail(error(errc::io, out_path, "the page scanner failed (out of memory?)"));
  } else {  // one CPU, parallel off, or no thread: the same scan, inline
    result<void> status;
    scan.run([&](detail::scan_batch&& b) {
      status = consume(b);
      return static_cast<bool>(status);
    });
    NECRO_TRY(status);
  }
  if (pend_len > 0) NECRO_TRY(copy_step(pend_len));
  report_progress();
  rep.copy_calls = copier.calls();
  rep.method = copier.method();
  rep.fell_back = copier.fell_back();
  rep.bytes_cloned = copier.cloned_bytes();
  return rep;
}

/// What write_pages would write for `p`, without writing: the same rules,
/// the same scan (window by window, dropping what it read, so memory does not
/// grow with the core), the same pagemap and counts (bytes_written: what the
/// write would write). Reads every candidate page an elision rule applies to.
template <class Arch>
result<pages_report> classify_pages(const io::mapped_file& core, const plan::resurrection& p,
                                    const io::file_facts& files, engine_options opt = {}) {
  opt.dry_run = true;
  opt.parallel = false;  // nothing to copy alongside the scan
  return write_pages<Arch>(core, p, files, -1, core.path(), opt);
}

/// Bytes copied and how (copy_runs).
struct copy_report {
  std::uint64_t bytes = 0;
  bool fell_back = false;
};

/// Appends every run's bytes, in order and without elision, to `out_fd`
/// (positioned at its end). write_pages is the streaming engine; this is the
/// plain copy, for callers that elided already (plan::elide_pages).
template <class Arch>
result<copy_report> copy_runs(const io::mapped_file& core, std::span<const plan::page_run> runs, int out_fd,
                              const std::string& out_path, copy_method method) {
  range_copier copier(core, out_fd, out_path, method);
  for (const auto& r : runs) NECRO_TRY(copier.append(r.core_offset, r.pages * Arch::page_size));
  return copy_report{copier.bytes(), copier.fell_back()};
}

}  // namespace necro::write

#endif
