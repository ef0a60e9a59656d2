// necro::lazy::serve over a real socket from a real file: the bytes of the
// core for each request, and each hostile case a named error with a refusal
// or a closed connection, never other bytes: a truncated core, a core deleted
// or replaced by a rename (the open core goes on serving), a request for pages
// the core does not serve, a daemon that goes away mid-answer or without
// PS_IOV_CLOSE, and the process killed on an error.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include <necro/io/unique_fd.hpp>
#include <necro/lazy/page_server.hpp>

#include "support/fixtures.hpp"

using namespace necro;
using namespace necro::lazy;

namespace {

constexpr std::uint64_t page = 4096;
constexpr std::uint64_t pid = 4242;

// A core of `pages` pages, page k filled with the byte k % 251 + 1.
std::string pattern(std::uint64_t pages) {
  std::string s(pages * page, '\0');
  for (std::uint64_t k = 0; k < pages; ++k) std::memset(s.data() + k * page, static_cast<int>(k % 251 + 1), page);
  return s;
}

struct served_core {
  test::scratch_dir dir;
  std::filesystem::path path;
  io::unique_fd fd;
  core_identity id;
  std::vector<served_range> ranges;

  explicit served_core(std::uint64_t pages = 64) {
    ::signal(SIGPIPE, SIG_IGN);  // as in the server's own process
    path = dir.write("core", pattern(pages));
    fd = io::unique_fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd.get() >= 0);
    id = *identify(fd.get(), path.string());
    // The process's pages 0x10000.. are the core's pages 1.., its 0x80000.. the core's 40..
    ranges = {{0x10000, 30, page}, {0x80000, pages - 40, 40 * page}};
  }
};

// One end of a stream pair serves in a thread; the other is the test's.
struct connection {
  io::unique_fd client;
  std::future<result<serve_report>> server;

  connection(const served_core& c, int kill_pid = 0) {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    client = io::unique_fd(sv[0]);
    server = std::async(std::launch::async, [&c, s = sv[1], kill_pid] {
      auto r = serve(s, c.fd.get(), c.path.string(), c.ranges, pid, c.id, {.page = page, .kill_on_error = kill_pid});
      ::close(s);
      return r;
    });
  }

  void send(const page_server_iov& h) const {
    const auto b = encode(h);
    REQUIRE(::send(client.get(), b.data(), b.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(b.size()));
  }
  page_server_iov header() const {
    header_bytes b{};
    REQUIRE(::recv(client.get(), b.data(), b.size(), MSG_WAITALL) == static_cast<ssize_t>(b.size()));
    return decode(b);
  }
  std::string bytes(std::uint64_t n) const {
    std::string s(n, '\0');
    if (n) REQUIRE(::recv(client.get(), s.data(), n, MSG_WAITALL) == static_cast<ssize_t>(n));
    return s;
  }
  std::int32_t close_status() const {
    send({ps_cmd::force_close, 0, 0, 0, 0});
    std::int32_t st = -1;
    REQUIRE(::recv(client.get(), &st, sizeof st, MSG_WAITALL) == sizeof st);
    return st;
  }
};

page_server_iov get(std::uint64_t vaddr, std::uint64_t pages) { return {ps_cmd::get, 0, pages, vaddr, pid}; }

// The pages the core holds at core page `first`.
std::string core_pages(std::uint64_t first, std::uint64_t n) { return pattern(first + n).substr(first * page); }

}  // namespace

TEST_CASE("the server answers each request with the core's bytes and closes when told", "[lazy]") {
  served_core c;
  connection k(c);
  k.send(get(0x12000, 3));
  auto h = k.header();
  CHECK(h.command() == ps_cmd::add_f);
  CHECK(h.flags() == criu::pe::present);
  CHECK(h.nr_pages == 3);
  CHECK(h.vaddr == 0x12000);
  CHECK(h.dst_id == pid);
  CHECK(k.bytes(3 * page) == core_pages(1 + 2, 3));
  k.send(get(0x80000 + 20 * page, 100));  // 4 pages left in that range
  h = k.header();
  CHECK(h.nr_pages == 4);
  CHECK(k.bytes(4 * page) == core_pages(60, 4));
  CHECK(k.close_status() == 0);
  const auto r = k.server.get();
  REQUIRE(r);
  CHECK(r->closed);
  CHECK(r->requests == 2);
  CHECK(r->pages_sent == 7);
}

TEST_CASE("a request for pages the core does not serve is refused and named", "[lazy]") {
  served_core c;
  connection k(c);
  k.send(get(0x10000 + 30 * page, 1));  // just past the first range
  const auto h = k.header();
  CHECK(h.command() == ps_cmd::add);
  CHECK(h.nr_pages == 0);
  CHECK(h.vaddr == 0);
  CHECK(h.dst_id == 0);
  const auto r = k.server.get();
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Matchers::Contains("PS_IOV_GET of 1 pages at 0x2e000 for pid 4242"));
  char c1;
  CHECK(::recv(k.client.get(), &c1, 1, 0) == 0);  // and nothing else: the connection ends
}

TEST_CASE("a core truncated while served is a named error, never short pages", "[lazy]") {
  served_core c;
  connection k(c);
  k.send(get(0x10000, 1));
  CHECK(k.header().nr_pages == 1);
  CHECK(k.bytes(page) == core_pages(1, 1));
  REQUIRE(::truncate(c.path.c_str(), 20 * page) == 0);
  k.send(get(0x80000, 1));  // its bytes are gone now
  const auto h = k.header();
  CHECK(h.command() == ps_cmd::add);
  CHECK(h.nr_pages == 0);
  const auto r = k.server.get();
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == errc::mismatch);
  CHECK_THAT(r.error().message(), Catch::Matchers::Contains("changed size while being served"));
  CHECK_THAT(r.error().message(), Catch::Matchers::Contains("truncated"));
}

TEST_CASE("a core rewritten in place while served is a named error", "[lazy]") {
  served_core c;
  connection k(c);
  {
    const int w = ::open(c.path.c_str(), O_WRONLY);
    REQUIRE(w >= 0);
    const timespec later[2] = {{0, UTIME_OMIT}, {c.id.mtime_sec + 10, 0}};
    REQUIRE(::pwrite(w, "x", 1, 0) == 1);
    REQUIRE(::futimens(w, later) == 0);
    ::close(w);
  }
  k.send(get(0x10000, 1));
  CHECK(k.header().nr_pages == 0);
  const auto r = k.server.get();
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Matchers::Contains("modified while being served"));
}

TEST_CASE("a core deleted or replaced by a rename goes on serving its own bytes", "[lazy]") {
  served_core c;
  connection k(c);
  REQUIRE(::unlink(c.path.c_str()) == 0);
  k.send(get(0x10000, 2));
  CHECK(k.header().nr_pages == 2);
  CHECK(k.bytes(2 * page) == core_pages(1, 2));
  // Another file renamed over the path: the open core is still the planned one.
  const auto other = c.dir.write("other", std::string(64 * page, 'Z'));
  REQUIRE(::rename(other.c_str(), c.path.c_str()) == 0);
  k.send(get(0x80000, 1));
  CHECK(k.header().nr_pages == 1);
  CHECK(k.bytes(page) == core_pages(40, 1));
  CHECK(k.close_status() == 0);
  CHECK(k.server.get());
}

TEST_CASE("a daemon that goes away mid-answer is a named error", "[lazy]") {
  served_core c(4096 + 40);  // a 16 MiB answer: more than the socket buffers hold
  connection k(c);
  k.send(get(0x80000, 4096));
  CHECK(k.header().nr_pages == 4096);
  k.bytes(page / 2);  // half a page, then gone
  k.client.reset();
  const auto r = k.server.get();
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Matchers::Contains("went away while PS_IOV_GET of 4096 pages at 0x80000"));
}

TEST_CASE("a daemon that closes without PS_IOV_CLOSE is a named error", "[lazy]") {
  served_core c;
  connection k(c);
  k.send(get(0x10000, 1));
  CHECK(k.header().nr_pages == 1);
  k.bytes(page);
  k.client.reset();
  const auto r = k.server.get();
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Matchers::Contains("without PS_IOV_CLOSE after 1 requests"));
}

TEST_CASE("on an error the restored process is killed before the connection ends", "[lazy]") {
  const pid_t victim = ::fork();
  REQUIRE(victim >= 0);
  if (victim == 0) {
    ::pause();
    ::_exit(0);
  }
  served_core c;
  connection k(c, victim);
  k.send(get(0x1000, 1));  // no range there
  CHECK(k.header().nr_pages == 0);
  CHECK_FALSE(k.server.get());
  int status = 0;
  REQUIRE(::waitpid(victim, &status, 0) == victim);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
}
