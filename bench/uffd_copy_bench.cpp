// The kernel's part of a lazy restore from the core: UFFDIO_COPY of N bytes
// into an anonymous region registered for missing pages (as CRIU's restorer
// registers the process's memory), 4 MiB per ioctl, by one or two threads,
// each copying every other chunk, the way necro's lazy-pages daemon splits
// its push (lazy/detail/copy_helper.hpp). The source is either one buffer
// that stays in cache (the copy alone), a pread(2) of a file in the page
// cache before each copy (the daemon's read, then copy), or the file's own
// pages through a read-only mapping of it (the copy from the page cache
// alone: each chunk populated with MADV_POPULATE_READ, copied, unmapped
// again with MADV_DONTNEED). Results read in
// bytes/s; `cat FILE > /dev/null` of a file in memory is the yardstick of
// docs/performance.md's "all memory in" target.
//
//   NECRO_BENCH_DIR       where the source file goes (default /tmp/necro-bench)
//   NECRO_BENCH_MAX_MIB   N (default 4096)
//
// Needs a userfaultfd: root, or vm.unprivileged_userfaultfd=1.
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include <necro/io/unique_fd.hpp>

#include "bench_support.hpp"

namespace {

constexpr std::uint64_t mib = 1 << 20;
constexpr std::uint64_t chunk = 4 * mib;  // uffd_options::push_bytes

std::uint64_t bytes() { return necro::bench::max_mib() * mib / chunk * chunk; }

void uffd_copy(benchmark::State& state) {
  const unsigned threads = static_cast<unsigned>(state.range(0));
  const bool from_file = state.range(1) == 1, from_map = state.range(1) == 2;
  const std::uint64_t len = bytes();
  necro::io::unique_fd src;
  unsigned char* map = nullptr;
  if (from_file || from_map) {
    src = necro::io::unique_fd(::open(necro::bench::source_file(len).c_str(), O_RDONLY | O_CLOEXEC));
    if (src.get() < 0) return state.SkipWithError("cannot open the source file");
  }
  if (from_map) {
    void* m = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, src.get(), 0);
    if (m == MAP_FAILED) return state.SkipWithError("cannot map the source file");
    map = static_cast<unsigned char*>(m);
  }
  for (auto _ : state) {
    state.PauseTiming();
    void* dst = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    necro::io::unique_fd uffd(static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC)));
    uffdio_api api{};
    api.api = UFFD_API;
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<std::uint64_t>(dst);
    reg.range.len = len;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    if (dst == MAP_FAILED || uffd.get() < 0 || ::ioctl(uffd.get(), UFFDIO_API, &api) != 0 ||
        ::ioctl(uffd.get(), UFFDIO_REGISTER, &reg) != 0) {
      if (dst != MAP_FAILED) ::munmap(dst, len);
      return state.SkipWithError("no userfaultfd (root, or vm.unprivileged_userfaultfd=1)");
    }
    state.ResumeTiming();
    std::vector<std::thread> workers;
    std::vector<int> failed(threads, 0);
    for (unsigned t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        std::vector<unsigned char> own(chunk, 0x5a);  // a non-zero page: no UFFDIO_ZEROPAGE shortcut
        for (std::uint64_t off = t * chunk; off < len; off += threads * chunk) {
          if (from_file && ::pread(src.get(), own.data(), chunk, static_cast<off_t>(off)) != static_cast<ssize_t>(chunk)) {
            failed[t] = 1;
            return;
          }
          if (from_map && ::madvise(map + off, chunk, MADV_POPULATE_READ) != 0) {
            failed[t] = 1;
            return;
          }
          uffdio_copy c{};
          c.dst = reinterpret_cast<std::uint64_t>(dst) + off;
          c.src = reinterpret_cast<std::uint64_t>(from_map ? map + off : own.data());
          c.len = chunk;
          if (::ioctl(uffd.get(), UFFDIO_COPY, &c) != 0) {
            failed[t] = 1;
            return;
          }
          if (from_map) ::madvise(map + off, chunk, MADV_DONTNEED);
        }
      });
    for (auto& w : workers) w.join();
    state.PauseTiming();
    uffd.reset();
    ::munmap(dst, len);
    state.ResumeTiming();
    for (int f : failed)
      if (f) return state.SkipWithError("pread, MADV_POPULATE_READ or UFFDIO_COPY failed");
  }
  if (map) ::munmap(map, len);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * len));
  state.SetLabel(std::string(from_map    ? "UFFDIO_COPY from the file's mapping"
                             : from_file ? "pread + UFFDIO_COPY"
                                         : "UFFDIO_COPY from a cached buffer") + ", " +
                 std::to_string(threads) + " thread(s)");
}

BENCHMARK(uffd_copy)->ArgsProduct({{1, 2}, {0, 1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
