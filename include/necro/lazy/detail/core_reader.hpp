/// necro::lazy::detail::core_reader: a thread that reads the core, in the
/// order the lazy-pages daemon pushes it, into a ring of buffers. The daemon
/// copies a ready buffer into the process (UFFDIO_COPY) while this thread
/// reads the next ones: the disk never waits for a copy, the copy never
/// waits for the disk (and where the kernel's reading costs CPU it runs on
/// the other CPU), and each byte is copied once in user space. An eventfd
/// becomes readable whenever a buffer is ready, for the daemon's epoll.
/// A read that fails or ends early marks its buffer failed: the daemon then
/// reads those pages itself and reports why.
#ifndef NECRO_LAZY_DETAIL_CORE_READER_HPP
#define NECRO_LAZY_DETAIL_CORE_READER_HPP
#pragma once

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <necro/io/unique_fd.hpp>
#include <necro/lazy/served_ranges.hpp>

namespace necro::lazy::detail {

class core_reader {
 public:
  /// One buffer's worth: the pages [vaddr, vaddr + pages * page) are the
  /// core's bytes at core_offset, held in `data` (when `ok`).
  struct chunk {
    served_range extent;
    const unsigned char* data = nullptr;
    bool ok = false;
  };

  /// Reads `order` (sorted by address) in chunks of `chunk_bytes` into
  /// `buffers` buffers. Check ready() after construction.
  core_reader(int core_fd, std::vector<served_range> order, std::uint64_t page, std::uint64_t chunk_bytes,
              std::size_t buffers)
      : fd_(core_fd), page_(page), chunk_pages_(std::max<std::uint64_t>(1, chunk_bytes / page)),
        slots_(std::max<std::size_t>(2, buffers)), event_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    for (const auto& r : order)
      for (std::uint64_t k = 0; k < r.pages; k += chunk_pages_)
        plan_.push_back({r.vaddr + k * page, std::min(chunk_pages_, r.pages - k), r.core_offset + k * page});
    for (auto& s : slots_) {
      s.data.reset(static_cast<unsigned char*>(std::aligned_alloc(page_, chunk_pages_ * page_)));
      if (!s.data) return;
    }
    if (event_.get() < 0) return;
    thread_ = std::thread([this] { run(); });
  }

  ~core_reader() {
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  core_reader(const core_reader&) = delete;
  core_reader& operator=(const core_reader&) = delete;

  /// Whether the thread runs (buffers and eventfd were had).
  bool ready() const noexcept { return thread_.joinable(); }
  /// Readable (epoll) when a buffer may have become ready.
  int event_fd() const noexcept { return event_.get(); }

  /// The next chunk in order if it is read, without waiting; nullopt when it
  /// is not read yet. done() tells the end. Hand it back with release().
  std::optional<chunk> try_next() {
    std::uint64_t v;
    [[maybe_unused]] const auto n = ::read(event_.get(), &v, sizeof v);  // re-armed below if need be
    std::lock_guard lock(m_);
    if (taken_ >= plan_.size()) return std::nullopt;
    auto& s = slots_[taken_ % slots_.size()];
    if (s.state != slot_state::ready) return std::nullopt;
    return chunk{plan_[taken_], s.data.get(), s.ok};
  }
  /// The chunk try_next() gave is used: its buffer reads on.
  void release() {
    {
      std::lock_guard lock(m_);
      slots_[taken_ % slots_.size()].state = slot_state::free;
      ++taken_;
    }
    cv_.notify_all();
  }
  /// Every chunk was handed out.
  bool done() {
    std::lock_guard lock(m_);
    return taken_ >= plan_.size();
  }

 private:
  enum class slot_state { free, ready };
  struct aligned_free {
    void operator()(unsigned char* p) const noexcept { std::free(p); }
  };
  struct slot {
    std::unique_ptr<unsigned char, aligned_free> data;
    slot_state state = slot_state::free;
    bool ok = false;
  };

  void run() {
    std::size_t advised = 0;
    for (std::size_t i = 0; i < plan_.size(); ++i) {
      // The disk gets the next chunks asked for before they are read, so
      // its queue never runs dry while this thread waits for a buffer.
      for (; advised < plan_.size() && advised < i + advise_chunks; ++advised)
        ::posix_fadvise(fd_, static_cast<off_t>(plan_[advised].core_offset),
                        static_cast<off_t>(plan_[advised].pages * page_), POSIX_FADV_WILLNEED);
      slot* s = nullptr;
      {
        std::unique_lock lock(m_);
        cv_.wait(lock, [&] { return stop_ || slots_[i % slots_.size()].state == slot_state::free; });
        if (stop_) return;
        s = &slots_[i % slots_.size()];
      }
      const auto& c = plan_[i];
      const std::uint64_t len = c.pages * page_;
      std::uint64_t got = 0;
      while (got < len) {
        const ssize_t n = ::pread(fd_, s->data.get() + got, len - got, static_cast<off_t>(c.core_offset + got));
        if (n <= 0) break;  // an error or the core's end: the daemon reads again and says which
        got += static_cast<std::uint64_t>(n);
      }
      {
        std::lock_guard lock(m_);
        s->ok = got == len;
        s->state = slot_state::ready;
      }
      const std::uint64_t one = 1;
      [[maybe_unused]] const auto n = ::write(event_.get(), &one, sizeof one);
    }
  }

  static constexpr std::size_t advise_chunks = 64;  // the page cache's, not the daemon's memory
  int fd_;
  std::uint64_t page_, chunk_pages_;
  std::vector<served_range> plan_;
  std::vector<slot> slots_;
  io::unique_fd event_;
  std::mutex m_;
  std::condition_variable cv_;
  std::size_t taken_ = 0;
  bool stop_ = false;
  std::thread thread_;  // last: started once everything above is ready
};

}  // namespace necro::lazy::detail

#endif
