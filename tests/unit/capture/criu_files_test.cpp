// The capture as CRIU 4.x messages, on the real fixture: the images
// necro-catch wrote (tests/data/x86_64/catch.capture/*.img) decode with
// necro's image reader, equal what criu_images() makes from capture.txt byte
// for byte, and carry each fd's kind, flags, position and details.
#include <arpa/inet.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include <catch2/catch.hpp>

#include <necro/capture/criu_files.hpp>
#include <necro/capture/reader.hpp>
#include <necro/io/mapped_file.hpp>

#include "support/fixtures.hpp"

namespace {

struct loaded {
  std::string dir;
  necro::capture::process_capture capture;
};

std::optional<loaded> load() {
  const auto d = necro::test::fixture("x86_64/catch.capture");
  if (!d) return std::nullopt;
  auto c = necro::capture::read(d->string());
  if (!c) FAIL(c.error().message());
  return loaded{d->string(), std::move(*c)};
}

/// Each fd's files.img entry, found by the id its fdinfo names.
std::map<std::uint32_t, const necro::pb::file_entry*> entries_by_fd(const necro::capture::criu_files& m) {
  std::map<std::uint32_t, const necro::pb::file_entry*> out;
  for (const auto& fi : m.fdinfo)
    for (const auto& f : m.files)
      if (f.id() == fi.id()) out[fi.fd()] = &f;
  return out;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("necro-catch's images equal criu_images() of its capture.txt", "[capture][criu]") {
  const auto l = load();
  REQUIRE(l);
  const auto images = necro::capture::criu_images(l->capture);
  REQUIRE(images.size() == 4);
  for (const auto& [name, bytes] : images) {
    INFO(name);
    CHECK(file_bytes(l->dir + "/" + name) == bytes);
  }
}

TEST_CASE("files.img and fdinfo decode: one entry per fd, then cwd and root", "[capture][criu]") {
  const auto l = load();
  REQUIRE(l);
  const auto files = necro::io::mapped_file::open(l->dir + "/files.img");
  REQUIRE(files);
  auto r = necro::criu::entry_reader::open(files->view(), necro::criu::magic::files);
  REQUIRE(r);
  auto entries = r->read_all<necro::pb::file_entry>();
  REQUIRE(entries);
  const auto shared = std::count_if(l->capture.fds.begin(), l->capture.fds.end(), [](const auto& f) { return f.shares.has_value(); });
  CHECK(shared == 1);  // catchme's stdout and stderr: >/dev/null 2>&1
  REQUIRE(entries->size() == l->capture.fds.size() - static_cast<std::size_t>(shared) + 2);
  const auto m = necro::capture::to_criu(l->capture);
  CHECK(m.not_converted.empty());
  REQUIRE(m.fdinfo.size() == l->capture.fds.size());
  CHECK(m.fdinfo[2].id() == m.fdinfo[1].id());
  std::map<std::uint32_t, necro::pb::file_entry> by_fd;
  for (const auto& [fd, e] : entries_by_fd(m)) by_fd[fd] = *e;
  REQUIRE(by_fd.size() == m.fdinfo.size());
  for (std::size_t i = 0; i < m.fdinfo.size(); ++i) CHECK(m.fdinfo[i].type() == by_fd[m.fdinfo[i].fd()].type());
  CHECK((by_fd[6].efd().size() > 0 && m.fdinfo[6].flags() == 1));  // eventfd: EFD_CLOEXEC -> FD_CLOEXEC
  CHECK(m.fdinfo[3].flags() == 0);
  const auto& reg = by_fd[3].reg();
  CHECK((reg.flags() & 03) == 01);  // O_WRONLY
  CHECK((reg.flags() & 02000) != 0);  // O_APPEND
  CHECK(reg.pos() == 7);
  CHECK(reg.size() == 17);
  CHECK(by_fd[12].epfd().tfd_size() == 3);
  CHECK(entries->at(entries->size() - 2).reg().name() == l->capture.cwd);
  CHECK(m.fs.cwd_id() == entries->at(entries->size() - 2).id());
  CHECK(m.fs.root_id() == entries->back().id());
}

TEST_CASE("pipe, eventfd, signalfd, timerfd and socket entries carry their details", "[capture][criu]") {
  const auto l = load();
  REQUIRE(l);
  const auto m = necro::capture::to_criu(l->capture);
  const auto by_fd = entries_by_fd(m);
  necro::pb::pipe_entry p4, p5;
  REQUIRE((p4.ParseFromString(by_fd.at(4)->pipe()) && p5.ParseFromString(by_fd.at(5)->pipe())));
  CHECK(p4.pipe_id() == p5.pipe_id());
  necro::pb::eventfd_file_entry e;
  REQUIRE(e.ParseFromString(by_fd.at(6)->efd()));
  CHECK(e.counter() == 42);
  necro::pb::timerfd_entry t;
  REQUIRE(t.ParseFromString(by_fd.at(7)->tfd()));
  CHECK((t.clockid() == 1 && t.isec() == 2 && t.insec() == 500000000));
  necro::pb::signalfd_entry s;
  REQUIRE(s.ParseFromString(by_fd.at(8)->sgfd()));
  CHECK(s.sig_mask() == 0xa00);
  necro::pb::inet_sk_entry tcp;
  REQUIRE(tcp.ParseFromString(by_fd.at(9)->isk()));
  CHECK((tcp.family() == 2 && tcp.proto() == 6 && tcp.state() == 10 && tcp.backlog() > 0));
  REQUIRE(tcp.src_addr_size() == 1);
  CHECK(tcp.src_addr(0) == htonl(INADDR_LOOPBACK));  // network order in memory, as CRIU stores it
  necro::pb::unix_sk_entry u;
  REQUIRE(u.ParseFromString(by_fd.at(11)->usk()));
  // The path as the kernel reports it, with its NUL; state TCP_LISTEN as CRIU
  // records it (not /proc/net/unix's SS_UNCONNECTED); "sock" is relative to the cwd.
  CHECK((u.name() == std::string("sock", 5) && u.backlog() > 0 && u.type() == 1 && u.state() == 10));
  CHECK(u.name_dir() == l->capture.cwd);
  CHECK(u.opts().so_sndbuf() > 0);  // the kernel's default, not 0 (CRIU would force the minimum)
  CHECK(m.creds.cap_eff_size() == 2);
  CHECK(m.rlimits.size() == 16);
}
