// capture::collect on a live process — this test itself, after it opened one
// fd of each kind — and the /proc parsers on the kernel's own text: what
// collect sees is what the test knows it opened.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include <catch2/catch.hpp>

#include <necro/capture/collect.hpp>
#include <necro/capture/criu_files.hpp>
#include <necro/capture/text.hpp>

namespace {

const necro::capture::fd_entry* find_fd(const necro::capture::process_capture& c, int fd) {
  for (const auto& f : c.fds)
    if (f.fd == fd) return &f;
  return nullptr;
}

}  // namespace

TEST_CASE("collect on this process finds the fds it opened", "[capture][collect]") {
  char tmpl[] = "/tmp/necro-collect-XXXXXX";
  const int app = ::mkstemp(tmpl);
  REQUIRE(app >= 0);
  REQUIRE(::write(app, "12345", 5) == 5);
  REQUIRE(::fcntl(app, F_SETFL, O_APPEND) == 0);
  int p[2];
  REQUIRE(::pipe(p) == 0);
  const int efd = ::eventfd(5, 0);
  const int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET, a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(tcp, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(tcp, 4) == 0);
  const int ep = ::epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN, ev.data.u64 = 0xabc;
  REQUIRE(::epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) == 0);
  const int ino = ::inotify_init1(0);
  REQUIRE(ino >= 0);

  const auto c = necro::capture::collect(::getpid());
  REQUIRE(c);
  CHECK(c->pid == ::getpid());
  const auto* f = find_fd(*c, app);
  REQUIRE(f);
  CHECK((f->kind == necro::capture::fd_kind::reg && f->link == tmpl && f->pos == 5 && (f->flags & O_APPEND)));
  REQUIRE(find_fd(*c, p[0]));
  CHECK(find_fd(*c, p[0])->ino == find_fd(*c, p[1])->ino);
  CHECK(find_fd(*c, efd)->eventfd_count == 5u);
  REQUIRE(find_fd(*c, tcp)->sock);
  CHECK(find_fd(*c, tcp)->sock->state == 10);
  REQUIRE(find_fd(*c, ep)->targets.size() == 1);
  CHECK(find_fd(*c, ep)->targets[0].data == 0xabc);
  const auto* other = find_fd(*c, ino);  // inotify: no description, recorded by kind
  REQUIRE(other);
  CHECK((other->kind == necro::capture::fd_kind::other && other->link == "anon_inode:inotify"));
  bool said = false;
  for (const auto& s : c->skipped) said |= s.find(fmt::format("fd {}: kind anon_inode:inotify recorded", ino)) != std::string::npos;
  CHECK(said);
  const auto criu = necro::capture::to_criu(*c);
  CHECK(criu.fdinfo.size() + criu.not_converted.size() == c->fds.size());
  const auto mine = fmt::format("fd {}: other anon_inode:inotify", ino);
  CHECK(std::count(criu.not_converted.begin(), criu.not_converted.end(), mine) == 1);
  const auto back = necro::capture::parse_text(necro::capture::to_text(*c), "self", ::getpid());
  REQUIRE(back);
  CHECK(back->fds.size() == c->fds.size());
  for (const int fd : {app, p[0], p[1], efd, tcp, ep, ino}) ::close(fd);
  ::unlink(tmpl);
}

TEST_CASE("collect finds the fds that share one open file description", "[capture][collect]") {
  char tmpl[] = "/tmp/necro-collect-XXXXXX";
  const int first = ::mkstemp(tmpl);
  REQUIRE(first >= 0);
  const int dup = ::dup(first);
  const int again = ::open(tmpl, O_RDONLY | O_CLOEXEC);  // the same file, another description
  const int dup2nd = ::dup(dup);
  REQUIRE((dup >= 0 && again >= 0 && dup2nd >= 0));
  const auto c = necro::capture::collect(::getpid());
  REQUIRE(c);
  CHECK(!find_fd(*c, first)->shares);
  CHECK(find_fd(*c, dup)->shares == first);
  CHECK(find_fd(*c, dup2nd)->shares == first);  // the lowest of them
  CHECK(!find_fd(*c, again)->shares);
  const auto back = necro::capture::parse_text(necro::capture::to_text(*c), "self", ::getpid());
  REQUIRE(back);
  CHECK(find_fd(*back, dup2nd)->shares == first);
  for (const int fd : {first, dup, again, dup2nd}) ::close(fd);
  ::unlink(tmpl);
}

TEST_CASE("collect stops at its deadline and says so", "[capture][collect]") {
  necro::capture::collect_options o;
  o.deadline = std::chrono::steady_clock::now();
  const auto c = necro::capture::collect(::getpid(), o);
  REQUIRE(c);
  CHECK(c->fds.empty());
  REQUIRE(!c->skipped.empty());
  CHECK_THAT(c->skipped[0], Catch::Contains("time limit reached"));
}

TEST_CASE("collect of a pid that does not exist is one error naming its /proc path", "[capture][collect]") {
  const auto c = necro::capture::collect(0x3fffffff);
  REQUIRE(!c);
  CHECK_THAT(c.error().message(), Catch::Contains("/proc/1073741823"));
}
