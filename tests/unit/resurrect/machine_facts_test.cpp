// What a capture finds on this machine (resurrect/detail/machine_facts.hpp),
// with real sockets and files: a port another socket listens on, or an
// address that is not this machine's, cannot be bound (the fd then comes back
// as an unbound stand-in); a captured file under --sysroot is found there; a
// missing one is held by --missing-files-as.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>

#include "support/fixtures.hpp"

namespace {

namespace fs = std::filesystem;
using necro::capture::fd_kind;

/// A TCP socket listening on 127.0.0.1 (a free port); closed at scope exit.
struct listener {
  int fd = -1;
  std::uint16_t port = 0;
  listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 1) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
  }
  ~listener() { ::close(fd); }
};

necro::capture::socket_info tcp_listening(std::uint32_t addr_host_order, std::uint16_t port) {
  necro::capture::socket_info k;
  k.family = AF_INET, k.type = SOCK_STREAM, k.proto = IPPROTO_TCP, k.state = 10;  // TCP_LISTEN
  const std::uint32_t be = htonl(addr_host_order);
  std::memcpy(k.local_addr.data(), &be, 4);
  k.local_port = port;
  return k;
}

}  // namespace

TEST_CASE("bind_problem: a taken port and another machine's address are named, a free port is fine",
          "[resurrect][machine]") {
  const listener taken;
  const auto busy = necro::detail::bind_problem(tcp_listening(INADDR_LOOPBACK, taken.port), fd_kind::inet);
  CHECK_THAT(busy, Catch::Matchers::StartsWith("bind: ") && Catch::Matchers::Contains("in use"));
  // TEST-NET-1 (RFC 5737): never this machine's.
  const auto foreign = necro::detail::bind_problem(tcp_listening(0xc0000201u, 8080), fd_kind::inet);
  CHECK_THAT(foreign, Catch::Matchers::Contains("Cannot assign requested address"));
  std::uint16_t free_port = taken.port;
  { const listener probe; free_port = probe.port; }  // closed again: free
  CHECK(necro::detail::bind_problem(tcp_listening(INADDR_LOOPBACK, free_port), fd_kind::inet).empty());
  // Nothing bound, nothing to check; a connection is not probed (it comes back as a stand-in anyway).
  CHECK(necro::detail::bind_problem(tcp_listening(INADDR_LOOPBACK, 0), fd_kind::inet).empty());
  auto conn = tcp_listening(INADDR_LOOPBACK, taken.port);
  conn.state = 1;  // TCP_ESTABLISHED
  CHECK(necro::detail::bind_problem(conn, fd_kind::inet).empty());
  // A unix socket whose directory is gone.
  necro::capture::socket_info u;
  u.family = AF_UNIX, u.type = SOCK_STREAM, u.backlog = 1, u.unix_name = "/nonexistent-necro-dir/sock";
  CHECK(necro::detail::bind_problem(u, fd_kind::unix_sk) == "no directory /nonexistent-necro-dir");
}

TEST_CASE("bind_problem: a v4-mapped v6 listener (a JVM's) is bindable on a free port, and a taken one is named",
          "[resurrect][machine]") {
  const listener taken;
  necro::capture::socket_info k = tcp_listening(0, 0);
  k.family = AF_INET6;
  const std::uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  std::memcpy(k.local_addr.data(), mapped, 16);
  std::uint16_t free_port = 0;
  { const listener probe; free_port = probe.port; }
  k.local_port = free_port;
  CHECK(necro::detail::bind_problem(k, fd_kind::inet).empty());
  k.local_port = taken.port;
  CHECK_THAT(necro::detail::bind_problem(k, fd_kind::inet), Catch::Matchers::Contains("in use"));
}

TEST_CASE("stat_captured_paths: a file under the sysroot first, a missing one held by the stand-in",
          "[resurrect][machine]") {
  necro::test::scratch_dir root;
  fs::create_directories(root.path / "var/log");
  root.write("var/log/app.log", "x");
  necro::capture::process_capture c;
  necro::capture::fd_entry log;
  log.fd = 3, log.kind = fd_kind::reg, log.link = "/var/log/app.log", log.mode = 0100644;
  necro::capture::fd_entry gone = log;
  gone.fd = 4, gone.link = "/nonexistent-necro-dir/gone.log";
  c.fds = {log, gone};
  const auto f = necro::detail::stat_captured_paths(c, "cap", root.path, "/dev/null");
  REQUIRE(f.relocated.contains("/var/log/app.log"));
  CHECK(f.relocated.at("/var/log/app.log") == (root.path / "var/log/app.log").string());
  CHECK(f.present.contains("/var/log/app.log"));
  CHECK_FALSE(f.present.contains("/nonexistent-necro-dir/gone.log"));
  CHECK(f.missing_stand_in == "/dev/null");
  CHECK((f.missing_stand_in_mode & S_IFMT) == S_IFCHR);
  // An empty stand-in closes such fds; one that does not exist is none either.
  CHECK(necro::detail::stat_captured_paths(c, "cap", {}, "").missing_stand_in.empty());
  CHECK(necro::detail::stat_captured_paths(c, "cap", {}, "/nonexistent-necro-dir/x").missing_stand_in.empty());
}
