// How fast zero pages are recognised. plan::is_zero (8-byte words, 256 bytes a
// step, early exit) against a byte loop and against memcmp(p, p + 1) (the
// previous implementation), over 64 MiB of zero pages (memory bandwidth), one
// zero page in L1 (compute), and 64 MiB of data pages (the early exit: a page
// of data costs one step). Then the page engine's scanner over a file in the
// page cache (mapping, populate, scan, drop behind), as write_pages runs it.
#include <sys/mman.h>

#include <cstring>
#include <memory>
#include <vector>

#include <benchmark/benchmark.h>

#include <necro/arch/x86_64.hpp>
#include <necro/plan/pages/pages.hpp>
#include <necro/write/detail/page_scanner.hpp>

#include "bench_support.hpp"

namespace {

constexpr std::size_t page = 4096;
constexpr std::size_t mib = 1 << 20;

enum class scan { words, bytes, memcmp_shift };

bool zero_by(scan s, const std::byte* p) {
  switch (s) {
    case scan::words: return necro::plan::is_zero(p, page);
    case scan::bytes: {
      for (std::size_t i = 0; i < page; ++i) {
        benchmark::DoNotOptimize(i);  // a byte loop, kept a byte loop
        if (p[i] != std::byte{0}) return false;
      }
      return true;
    }
    case scan::memcmp_shift: return p[0] == std::byte{0} && std::memcmp(p, p + 1, page - 1) == 0;
  }
  return false;
}

std::unique_ptr<std::byte[]> buffer(std::size_t n, bool zero) {
  std::unique_ptr<std::byte[]> b(new std::byte[n]);
  if (zero) {
    std::memset(b.get(), 0, n);
  } else {
    std::uint64_t x = 0x9E3779B97F4A7C15ull;
    for (std::size_t i = 0; i < n; i += 8) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      const std::uint64_t w = x | 1;
      std::memcpy(b.get() + i, &w, 8);
    }
  }
  return b;
}

/// `bytes` bytes of pages, zero or data, scanned page by page.
void BM_scan_pages(benchmark::State& st, scan s, bool zero, std::size_t bytes) {
  const auto b = buffer(bytes, zero);
  std::size_t found = 0;
  for (auto _ : st)
    for (std::size_t off = 0; off < bytes; off += page) found += zero_by(s, b.get() + off);
  benchmark::DoNotOptimize(found);
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * bytes));
  st.counters["zero_pages"] = static_cast<double>(found) / static_cast<double>(st.iterations());
}

/// The engine's scanner over the copy source (data pages) in the page cache.
void BM_scanner_mapped(benchmark::State& st) {
  const std::uint64_t n = static_cast<std::uint64_t>(st.range(0)) * mib;
  const auto path = necro::bench::source_file(necro::bench::max_mib() * mib);
  auto f = necro::io::mapped_file::open(path.string());
  if (!f) {
    st.SkipWithError(f.error().message().c_str());
    return;
  }
  std::vector<necro::plan::page_run> runs{{0x10000000, n / page, 0}};
  std::vector<necro::plan::page_rule> rules{{necro::plan::elision::zero, nullptr, 0}};
  necro::write::detail::scanner scanner(*f, runs, rules, page, 8 * mib);
  std::uint64_t kept = 0;
  for (auto _ : st)
    scanner.run([&](necro::write::detail::scan_batch&& b) {
      kept += b.st.kept_pages;
      return true;
    });
  benchmark::DoNotOptimize(kept);
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * n));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  struct {
    const char* name;
    scan s;
  } scans[] = {{"words", scan::words}, {"memcmp_shift", scan::memcmp_shift}, {"bytes", scan::bytes}};
  for (const auto& sc : scans) {
    benchmark::RegisterBenchmark((std::string("zero_scan/") + sc.name + "/zero_pages_64MiB").c_str(), BM_scan_pages,
                                 sc.s, true, 64 * mib)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("zero_scan/") + sc.name + "/zero_page_in_L1").c_str(), BM_scan_pages,
                                 sc.s, true, page)
        ->Unit(benchmark::kNanosecond);
    benchmark::RegisterBenchmark((std::string("zero_scan/") + sc.name + "/data_pages_64MiB").c_str(), BM_scan_pages,
                                 sc.s, false, 64 * mib)
        ->Unit(benchmark::kMillisecond);
  }
  auto* b = benchmark::RegisterBenchmark("zero_scan/engine_scanner_page_cache", BM_scanner_mapped);
  for (std::int64_t m : {256, 1024})
    if (static_cast<std::uint64_t>(m) <= necro::bench::max_mib()) b->Arg(m);
  b->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
