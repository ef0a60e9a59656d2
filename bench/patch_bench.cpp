// The whole patch of a large core, as criu-necromancer runs it
// (necro::resurrect): open the core, load the donor, gather the mapped files'
// facts (and map them), plan, commit into a new directory. Per copy method, with and without fsync (durable), and
// next to it the yardstick: the core copied whole by copy_file_range, which is
// what `cp` (coreutils 9) does on one file system. bytes/s are of the core.
//
//   NECRO_BENCH_CORE    the core (made by bench/make-large-core.sh, or any)
//   NECRO_BENCH_DONOR   its donor images (default: the core's directory/donor)
// Without NECRO_BENCH_CORE: the largest $NECRO_BENCH_DIR/core-<N>g/core there
// is, else the small test fixture (planned offline).
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <necro/necro.hpp>

#include "bench_support.hpp"

namespace {

namespace fs = std::filesystem;

struct input {
  fs::path core, donor;
  bool offline = false;
};

input find_input() {
  input in;
  if (const char* c = std::getenv("NECRO_BENCH_CORE"); c && *c) {
    in.core = c;
    const char* d = std::getenv("NECRO_BENCH_DONOR");
    in.donor = d && *d ? fs::path(d) : in.core.parent_path() / "donor";
    return in;
  }
  std::uint64_t best = 0;
  std::error_code ec;
  const std::regex made("core-([0-9]+)g");
  for (const auto& e : fs::directory_iterator(necro::bench::data_dir(), ec)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (!std::regex_match(name, m, made) || !fs::exists(e.path() / "core") || !fs::exists(e.path() / "donor")) continue;
    const auto gib = std::stoull(m[1]);
    if (gib > best) {
      best = gib;
      in.core = e.path() / "core";
      in.donor = e.path() / "donor";
    }
  }
  if (best > 0) return in;
  in.core = fs::path(NECRO_SOURCE_DIR) / "tests/data/x86_64/counter.core";
  in.donor = fs::path(NECRO_SOURCE_DIR) / "tests/data/x86_64/counter.donor";
  in.offline = true;
  return in;
}

const input& the_input() {
  static const input in = find_input();
  return in;
}

fs::path out_dir() { return necro::bench::data_dir() / "patch-bench-out"; }

void BM_patch(benchmark::State& st, necro::write::copy_method method, bool durable) {
  const auto& in = the_input();
  necro::resurrect_options options;
  options.core = in.core;
  options.donor = in.donor;
  options.out = out_dir();
  options.capture = necro::capture_choice::none;
  options.offline = in.offline;
  options.method = method;
  options.durable = durable;
  std::uint64_t written = 0, elided = 0;
  for (auto _ : st) {
    st.PauseTiming();
    fs::remove_all(out_dir());
    st.ResumeTiming();

    auto rep = necro::resurrect(options);
    if (!rep) {
      st.SkipWithError(rep.error().message().c_str());
      break;
    }

    st.PauseTiming();
    written = rep->commit.pages.bytes_written;
    elided = rep->commit.pages.bytes_elided;
    st.ResumeTiming();
  }
  fs::remove_all(out_dir());
  std::error_code ec;
  const std::uint64_t core_size = fs::file_size(in.core, ec);
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * core_size));
  st.counters["core_MiB"] = static_cast<double>(core_size >> 20);
  st.counters["written_MiB"] = static_cast<double>(written >> 20);
  st.counters["elided_MiB"] = static_cast<double>(elided >> 20);
  st.counters["peak_rss_MiB"] = necro::bench::peak_rss_mib();
}

/// The yardstick: the whole core copied by copy_file_range into a new file,
/// in one call as cp does when it uses copy_file_range.
void BM_cp(benchmark::State& st) {
  const auto& in = the_input();
  const std::string path = (necro::bench::data_dir() / "patch-bench-cp").string();
  std::uint64_t size = 0;
  for (auto _ : st) {
    st.PauseTiming();
    ::unlink(path.c_str());
    st.ResumeTiming();
    const int src = ::open(in.core.c_str(), O_RDONLY | O_CLOEXEC);
    const int dst = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (src < 0 || dst < 0) {
      st.SkipWithError("cannot open the core or create the copy");
      break;
    }
    size = static_cast<std::uint64_t>(::lseek(src, 0, SEEK_END));
    loff_t off = 0;
    while (off < static_cast<loff_t>(size))
      if (::copy_file_range(src, &off, dst, nullptr, size - static_cast<std::uint64_t>(off), 0) <= 0) break;
    ::close(src);
    ::close(dst);
  }
  ::unlink(path.c_str());
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * size));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const auto& in = the_input();
  std::fprintf(stderr, "patch_bench: core %s, donor %s%s\n", in.core.c_str(), in.donor.c_str(),
               in.offline ? " (the test fixture: set NECRO_BENCH_CORE or run bench/make-large-core.sh)" : "");
  // Every contender starts with the core in the page cache.
  if (const int fd = ::open(in.core.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    std::vector<char> buf(1 << 20);
    while (::read(fd, buf.data(), buf.size()) > 0) {
    }
    ::close(fd);
  }
  using necro::write::copy_method;
  benchmark::RegisterBenchmark("patch/cp_yardstick", BM_cp)->Unit(benchmark::kMillisecond)->UseRealTime();
  for (bool durable : {false, true})
    for (auto m : {copy_method::copy_file_range, copy_method::sendfile, copy_method::splice, copy_method::write_from_map})
      benchmark::RegisterBenchmark(
          (std::string("patch/") + std::string(necro::write::name(m)) + (durable ? "/durable" : "/no_sync")).c_str(),
          BM_patch, m, durable)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
