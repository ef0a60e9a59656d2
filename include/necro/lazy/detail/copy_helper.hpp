/// necro::lazy::detail::copy_helper: a second thread for the lazy-pages
/// daemon's UFFDIO_COPY. Copying into fresh pages is the kernel's work
/// (allocate, copy, map) and costs a CPU about 1 s per 4 GiB: with the core
/// in memory (tmpfs, a warm cache) it, not the disk, bounds the push. The
/// daemon hands this thread half of a chunk and copies the other half
/// itself, then waits for it: nothing is in flight when the daemon next
/// reads the process's events (an UNMAP, REMOVE or REMAP must never meet a
/// copy begun before it), so the daemon's state stays single-threaded.
#ifndef NECRO_LAZY_DETAIL_COPY_HELPER_HPP
#define NECRO_LAZY_DETAIL_COPY_HELPER_HPP
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace necro::lazy::detail {

class copy_helper {
 public:
  copy_helper() : thread_([this] { loop(); }) {}
  ~copy_helper() {
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  copy_helper(const copy_helper&) = delete;
  copy_helper& operator=(const copy_helper&) = delete;

  /// Runs `job` on the helper; wait() before its captures go.
  void start(std::function<void()> job) {
    {
      std::lock_guard lock(m_);
      job_ = std::move(job);
      busy_ = true;
    }
    cv_.notify_all();
  }
  /// Until the job start() gave has run.
  void wait() {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return !busy_; });
  }

 private:
  void loop() {
    std::unique_lock lock(m_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || (busy_ && job_); });
      if (stop_) return;
      auto job = std::move(job_);
      job_ = nullptr;
      lock.unlock();
      job();
      lock.lock();
      busy_ = false;
      cv_.notify_all();
    }
  }

  std::mutex m_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool busy_ = false, stop_ = false;
  std::thread thread_;  // last: started once the rest is ready
};

}  // namespace necro::lazy::detail

#endif
