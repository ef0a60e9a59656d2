// Shared by the benchmarks: where bench data lives, and a large file of
// non-zero bytes made once and reused (copy sources).
#ifndef NECRO_BENCH_SUPPORT_HPP
#define NECRO_BENCH_SUPPORT_HPP
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace necro::bench {

namespace fs = std::filesystem;

/// $NECRO_BENCH_DIR, default /tmp/necro-bench (generated data stays out of the repository).
inline fs::path data_dir() {
  const char* d = std::getenv("NECRO_BENCH_DIR");
  fs::path p = d && *d ? fs::path(d) : fs::path("/tmp/necro-bench");
  fs::create_directories(p);
  return p;
}

/// The largest copy size to run, in MiB: $NECRO_BENCH_MAX_MIB, default 4096.
inline std::uint64_t max_mib() {
  const char* m = std::getenv("NECRO_BENCH_MAX_MIB");
  return m && *m ? std::strtoull(m, nullptr, 10) : 4096;
}

/// A file of `bytes` non-zero pseudo-random bytes in data_dir(), made once.
inline fs::path source_file(std::uint64_t bytes) {
  const fs::path p = data_dir() / ("copy-source-" + std::to_string(bytes >> 20) + "m.bin");
  std::error_code ec;
  if (fs::exists(p, ec) && fs::file_size(p, ec) == bytes) return p;
  const fs::path tmp = p.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::perror(tmp.c_str());
    std::exit(1);
  }
  std::vector<std::uint64_t> buf(1 << 17);  // 1 MiB
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  for (std::uint64_t done = 0; done < bytes;) {
    for (auto& w : buf) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      w = x | 1;
    }
    const std::uint64_t n = std::min<std::uint64_t>(bytes - done, buf.size() * 8);
    if (::write(fd, buf.data(), n) != static_cast<ssize_t>(n)) {
      std::perror(tmp.c_str());
      std::exit(1);
    }
    done += n;
  }
  ::close(fd);
  fs::rename(tmp, p);
  return p;
}

/// Peak resident set of this process so far, MiB.
inline double peak_rss_mib() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

}  // namespace necro::bench

#endif
