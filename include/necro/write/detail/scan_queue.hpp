/// necro::write::detail scan queue: the page scanner run in a second thread
/// ahead of the copy, its windows handed over through a bounded queue, or
/// inline when there is no second core (or no thread to be had).
#ifndef NECRO_WRITE_DETAIL_SCAN_QUEUE_HPP
#define NECRO_WRITE_DETAIL_SCAN_QUEUE_HPP
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include <necro/io/error.hpp>
#include <necro/write/detail/page_scanner.hpp>

namespace necro::write::detail {

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

/// The scan in the calling thread: consume(const scan_batch&) -> result<void>
/// after each window, stopping at its first error.
template <class Consume>
result<void> scan_inline(scanner& scan, Consume& consume) {
  result<void> status;
  scan.run([&](scan_batch&& b) {
    status = consume(b);
    return static_cast<bool>(status);
  });
  return status;
}

/// Runs `scan` and hands each window's batch to consume(const scan_batch&) ->
/// result<void>, in order, stopping at its first error. With `parallel` on a
/// machine of two cores or more, the scan runs in a second thread, up to 16
/// windows ahead; otherwise (or when no thread can be had) inline.
template <class Consume>
result<void> scan_batches(scanner& scan, bool parallel, const std::string& out_path, Consume&& consume) {
  batch_queue q(16);
  thread_guard guard{q, {}};
  if (parallel && std::thread::hardware_concurrency() > 1) {
    try {
      guard.t = std::thread([&] {
        try {
          scan.run([&](scan_batch&& b) { return q.push(std::move(b)); });
          q.finish();
        } catch (...) {
          q.finish(true);
        }
      });
    } catch (const std::system_error&) {
      // no thread to be had: scan inline below
    }
  }
  if (!guard.t.joinable()) return scan_inline(scan, consume);
  while (auto b = q.pop()) NECRO_TRY(consume(*b));
  guard.t.join();
  if (q.failed()) return fail(error(errc::io, out_path, "the page scanner failed (out of memory?)"));
  return {};
}

}  // namespace necro::write::detail

#endif
