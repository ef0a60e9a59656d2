// Copy strategies over the same data: the first N bytes of one file of
// non-zero bytes (in the page cache) appended to a new file on the same file
// system, N from 64 MiB to 4 GiB. The kernel paths are the page engine's own
// (write::range_copier, 64 MiB per call as write_pages coalesces); read+write
// and mmap+memcpy are the user-space yardsticks, memcpy between two anonymous
// buffers the memory bandwidth. Results read in bytes/s (SetBytesProcessed).
//
// A file copy must also allocate the destination's page-cache pages, which a
// memcpy between warm buffers does not: memcpy_fresh copies into anonymous
// memory mapped for each run (its page faults included), the fair yardstick
// for the copy paths when the destination is memory too (NECRO_BENCH_OUT_DIR
// on a tmpfs such as /dev/shm).
//
//   NECRO_BENCH_DIR       where the source goes, and the copies (default /tmp/necro-bench)
//   NECRO_BENCH_OUT_DIR   where the copies go instead (e.g. /dev/shm: memory to memory)
//   NECRO_BENCH_MAX_MIB   largest N (default 4096; the source file is that big)
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <necro/io/mapped_file.hpp>
#include <necro/write/copy_methods.hpp>

#include "bench_support.hpp"

namespace {

using necro::write::copy_method;
constexpr std::uint64_t mib = 1 << 20;
constexpr std::uint64_t step = 64 * mib;  // write_pages' max_copy

enum class strategy { read_write, write_from_map, copy_file_range, sendfile, splice, mmap_memcpy };

const char* label(strategy s) {
  switch (s) {
    case strategy::read_write: return "read_write";
    case strategy::write_from_map: return "write_from_map";
    case strategy::copy_file_range: return "copy_file_range";
    case strategy::sendfile: return "sendfile";
    case strategy::splice: return "splice";
    case strategy::mmap_memcpy: return "mmap_memcpy";
  }
  return "?";
}

/// The source, mapped once and read once (so every strategy starts from the page cache).
const necro::io::mapped_file& source() {
  static const auto src = [] {
    const auto path = necro::bench::source_file(necro::bench::max_mib() * mib);
    auto f = necro::io::mapped_file::open(path.string());
    if (!f) {
      std::fprintf(stderr, "%s\n", f.error().message().c_str());
      std::exit(1);
    }
    std::vector<char> buf(mib);
    for (std::uint64_t off = 0; off < f->size(); off += mib)
      if (::pread(f->fd(), buf.data(), buf.size(), static_cast<off_t>(off)) < 0) break;
    return std::make_unique<necro::io::mapped_file>(std::move(*f));
  }();
  return *src;
}

void fail_if(benchmark::State& st, bool bad, const char* what) {
  if (bad) st.SkipWithError(what);
}

void copy_once(benchmark::State& st, strategy s, const necro::io::mapped_file& src, int fd, const std::string& path,
               std::uint64_t n) {
  switch (s) {
    case strategy::read_write: {
      static std::vector<char> buf(mib);
      for (std::uint64_t off = 0; off < n; off += buf.size()) {
        const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), n - off));
        const bool ok = ::pread(src.fd(), buf.data(), len, static_cast<off_t>(off)) == static_cast<ssize_t>(len) &&
                        ::write(fd, buf.data(), len) == static_cast<ssize_t>(len);
        if (!ok) return fail_if(st, true, "read/write failed");
      }
      return;
    }
    case strategy::mmap_memcpy: {
      if (::ftruncate(fd, static_cast<off_t>(n)) != 0) return fail_if(st, true, "ftruncate failed");
      void* dst = ::mmap(nullptr, n, PROT_WRITE, MAP_SHARED, fd, 0);
      if (dst == MAP_FAILED) return fail_if(st, true, "mmap failed");
      for (std::uint64_t off = 0; off < n; off += step) {
        const std::uint64_t len = std::min(step, n - off);
        std::memcpy(static_cast<char*>(dst) + off, src.view().data() + off, len);
        src.advise(off, len, MADV_DONTNEED);
      }
      ::munmap(dst, n);
      return;
    }
    default: {
      const copy_method m = s == strategy::write_from_map   ? copy_method::write_from_map
                            : s == strategy::copy_file_range ? copy_method::copy_file_range
                            : s == strategy::sendfile        ? copy_method::sendfile
                                                             : copy_method::splice;
      necro::write::range_copier copier(src, fd, path, m);
      for (std::uint64_t off = 0; off < n; off += step) {
        auto r = copier.append(off, std::min(step, n - off));
        if (!r) return fail_if(st, true, r.error().message().c_str());
      }
      if (copier.fell_back()) fail_if(st, true, "the kernel refused this method here (fell back)");
      return;
    }
  }
}

void BM_copy(benchmark::State& st, strategy s) {
  const std::uint64_t n = static_cast<std::uint64_t>(st.range(0)) * mib;
  const auto& src = source();
  const char* out = std::getenv("NECRO_BENCH_OUT_DIR");
  const std::string path =
      ((out && *out ? std::filesystem::path(out) : necro::bench::data_dir()) / "necro-copy-dest.bin").string();
  for (auto _ : st) {
    st.PauseTiming();
    ::unlink(path.c_str());
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    st.ResumeTiming();
    if (fd < 0) {
      st.SkipWithError("cannot create the copy");
      break;
    }
    copy_once(st, s, src, fd, path, n);
    if (st.error_occurred()) {  // skipped: timing calls are no longer allowed
      ::close(fd);
      ::unlink(path.c_str());
      break;
    }
    st.PauseTiming();
    ::close(fd);
    ::unlink(path.c_str());  // unwritten dirty pages of an unlinked file are dropped, not written back
    st.ResumeTiming();
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * n));
}

/// The memory bandwidth: memcpy between two anonymous buffers, already faulted in.
void BM_memcpy(benchmark::State& st) {
  const std::uint64_t n = static_cast<std::uint64_t>(st.range(0)) * mib;
  std::unique_ptr<char[]> a(new char[n]), b(new char[n]);
  std::memset(a.get(), 1, n);
  std::memset(b.get(), 2, n);
  for (auto _ : st) {
    std::memcpy(b.get(), a.get(), n);
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * n));
}

/// memcpy into memory that is not there yet: each run maps a fresh anonymous
/// destination, so the copy pays its page faults (and the kernel's zeroing),
/// as a copy into a new page-cache file pays for its pages.
void BM_memcpy_fresh(benchmark::State& st) {
  const std::uint64_t n = static_cast<std::uint64_t>(st.range(0)) * mib;
  std::unique_ptr<char[]> a(new char[n]);
  std::memset(a.get(), 1, n);
  for (auto _ : st) {
    st.PauseTiming();
    void* b = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    st.ResumeTiming();
    if (b == MAP_FAILED) {
      st.SkipWithError("cannot map the destination");
      break;
    }
    std::memcpy(b, a.get(), n);
    benchmark::ClobberMemory();
    st.PauseTiming();
    ::munmap(b, n);
    st.ResumeTiming();
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * n));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::vector<std::int64_t> sizes;
  for (std::int64_t m : {64, 256, 1024, 4096})
    if (static_cast<std::uint64_t>(m) <= necro::bench::max_mib()) sizes.push_back(m);
  for (auto s : {strategy::copy_file_range, strategy::sendfile, strategy::splice, strategy::write_from_map,
                 strategy::read_write, strategy::mmap_memcpy}) {
    auto* b = benchmark::RegisterBenchmark((std::string("copy/") + label(s)).c_str(), BM_copy, s);
    for (auto m : sizes) b->Arg(m);
    b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.2);
  }
  for (auto [name, fn] : {std::pair{"copy/memcpy", &BM_memcpy}, std::pair{"copy/memcpy_fresh", &BM_memcpy_fresh}}) {
    auto* b = benchmark::RegisterBenchmark(name, fn);
    for (auto m : sizes)
      if (m <= 1024) b->Arg(m);
    b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.2);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
