/// necro::progress_line: a one-line progress report on stderr for the page
/// copy (done / total, rate, ETA, bytes elided) or a decompression, as
/// criu-necromancer shows it.
///   automatic  on a terminal only, once the work has run for a second: one
///              line redrawn in place;
///   always     from the start, also when stderr is a file or a pipe (logs):
///              on a terminal redrawn in place, elsewhere one line per update;
///   never      nothing.
/// Redrawn at most every 200 ms; with `always` the last state is always shown.
#ifndef NECRO_RESURRECT_PROGRESS_LINE_HPP
#define NECRO_RESURRECT_PROGRESS_LINE_HPP
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

#include <fmt/format.h>

#include <necro/io/printable.hpp>
#include <necro/io/zstd_file.hpp>
#include <necro/write/page_engine.hpp>

namespace necro {

class progress_line {
 public:
  enum class mode { automatic, always, never };

  /// `what` heads the line: "pages" for the page copy, else a decompression.
  progress_line(mode m, bool terminal, std::string what = "pages")
      : what_(std::move(what)),
        on_(m == mode::always || (m == mode::automatic && terminal)),
        always_(m == mode::always),
        terminal_(terminal),
        start_(clock::now()),
        last_(start_) {}

  /// The page engine's callback; empty when nothing is shown.
  write::progress_fn callback() {
    if (!on_) return {};
    return [this](const write::progress& p) { update(p); };
  }

  /// A decompression's callback: compressed bytes read against their total,
  /// plain bytes written.
  io::decompress_progress_fn decompress_callback() {
    if (!on_) return {};
    return [this](const io::decompress_progress& d) {
      update({.done = d.in_done, .total = d.in_total, .written = d.out_done, .elided = d.out_done});
    };
  }

  /// After the work: the final state where one is owed, and the terminal line cleared.
  void finish() {
    if (!on_) return;
    if (always_ && seen_ && !(drawn_ && shown_ == latest_.done)) draw(latest_);
    // automatic: the line goes (a summary follows); always: it stays, ended.
    if (drawn_ && terminal_) fmt::print(stderr, "{}", always_ ? "\n" : "\r\033[K");
    std::fflush(stderr);
  }

 private:
  using clock = std::chrono::steady_clock;

  void update(const write::progress& p) {
    latest_ = p;
    seen_ = true;
    const auto now = clock::now();
    // automatic waits a second: short work prints nothing.
    if ((!always_ && now - start_ < std::chrono::seconds(1)) || p.total == 0) return;
    if (drawn_ && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    draw(p);
  }

  void draw(const write::progress& p) {
    const double secs = std::max(1e-3, std::chrono::duration<double>(clock::now() - start_).count());
    const double rate = static_cast<double>(p.done) / secs;
    const std::string eta = p.done > 0 && rate > 0
                                ? fmt::format("{:.0f} s", static_cast<double>(p.total - std::min(p.done, p.total)) / rate)
                                : std::string("-");
    // GiB for large work, MiB below.
    const bool gib = p.total >= (1ull << 30);
    const double unit = gib ? double(1ull << 30) : double(1ull << 20);
    // A decompression counts compressed bytes read; `elided` carries the plain bytes written.
    const bool pages = what_ == "pages";
    fmt::print(stderr, "{}{}: {:.2f} / {:.2f} {}  {:.2f} GB/s  ETA {}  ({} MiB {}){}", terminal_ ? "\r\033[K" : "",
               io::printable(what_), static_cast<double>(p.done) / unit, static_cast<double>(p.total) / unit,
               gib ? "GiB" : "MiB", rate / 1e9, eta, p.elided >> 20, pages ? "elided" : "out", terminal_ ? "" : "\n");
    std::fflush(stderr);
    drawn_ = true;
    shown_ = p.done;
  }

  std::string what_;
  bool on_, always_, terminal_, drawn_ = false, seen_ = false;
  std::uint64_t shown_ = 0;
  write::progress latest_{};
  clock::time_point start_, last_;
};

}  // namespace necro

#endif
