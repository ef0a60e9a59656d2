/// necro::interrupt_guard: while it lives, SIGINT, SIGTERM and SIGHUP only
/// raise a flag (pass `flag()` as resurrect_options::cancel): the write stops
/// at its next step and removes what it wrote. `settle()` then puts the old
/// dispositions back and raises the signal again. Signals the caller ignores
/// (nohup, background jobs) stay ignored. One guard at a time per process.
#ifndef NECRO_RESURRECT_INTERRUPT_HPP
#define NECRO_RESURRECT_INTERRUPT_HPP
#pragma once

#include <signal.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <utility>

namespace necro {

namespace detail {

inline std::atomic<bool> stop_requested{false};
inline std::atomic<int> stop_signal{0};
static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "necro: the signal handler may only touch lock-free atomics");

inline void on_stop_signal(int sig) {
  stop_signal.store(sig);
  stop_requested.store(true);
}

}  // namespace detail

class interrupt_guard {
 public:
  interrupt_guard() {
    for (std::size_t i = 0; i < signals_.size(); ++i) {
      installed_[i] = ::sigaction(signals_[i], nullptr, &old_[i]) == 0 && old_[i].sa_handler != SIG_IGN;
      if (!installed_[i]) continue;
      struct sigaction sa {};
      sa.sa_handler = detail::on_stop_signal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART;
      installed_[i] = ::sigaction(signals_[i], &sa, nullptr) == 0;
    }
  }
  interrupt_guard(const interrupt_guard&) = delete;
  interrupt_guard& operator=(const interrupt_guard&) = delete;
  ~interrupt_guard() { restore(); }

  /// Turns true when one of the signals came.
  static const std::atomic<bool>* flag() noexcept { return &detail::stop_requested; }
  /// The signal that came, or 0.
  static int signal() noexcept { return detail::stop_signal.load(); }
  static const char* name(int sig) noexcept {
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
  }

  /// Puts the old dispositions back and, if a signal came, raises it again.
  void settle() {
    restore();
    if (const int sig = signal()) ::raise(sig);
  }

 private:
  void restore() {
    for (std::size_t i = 0; i < signals_.size(); ++i)
      if (std::exchange(installed_[i], false)) ::sigaction(signals_[i], &old_[i], nullptr);
  }
  static constexpr std::array<int, 3> signals_{SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> old_{};
  std::array<bool, 3> installed_{};
};

}  // namespace necro

#endif
