// necro::lazy::serve_uffd against a real userfaultfd: this test plays `criu
// restore --lazy-pages` (the pid and the uffd on a socket, then
// LAZY_PAGES_RESTORE_FINISHED) for a region of its own memory registered
// like CRIU's restorer does, and touches it while the daemon runs in a
// thread. Each page must hold the core's bytes; zero pages are mapped, not
// copied; a removed range reads zeros; a truncated or rewritten core is a
// named error before any wrong byte is placed, while a deleted or renamed
// one goes on serving; ranges the core has no bytes for, and a restore that
// goes away mid-message, are named errors; a child the process forks gets
// its missing pages too (FORK event). The push's chunks go half to the copy
// helper thread, so its path and its fallback (a page already in) run too.
// And the guardian: it kills the process when the daemon dies without a
// word, and only then.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <functional>
#include <future>
#include <string>
#include <vector>

#include <necro/io/unique_fd.hpp>
#include <necro/lazy/launch.hpp>
#include <necro/lazy/uffd_daemon.hpp>

#include "support/fixtures.hpp"

using namespace necro;
using namespace necro::lazy;

namespace {

constexpr std::uint64_t page = 4096;
constexpr std::uint64_t pages = 96;

// Core page k holds the byte k % 251 + 1, except every 8th page: zeros.
std::string pattern() {
  std::string s(pages * page, '\0');
  for (std::uint64_t k = 0; k < pages; ++k)
    if (k % 8 != 0) std::memset(s.data() + k * page, static_cast<int>(k % 251 + 1), page);
  return s;
}

// The region of the "restored process": registered for missing pages.
struct region {
  void* base = MAP_FAILED;
  std::uint64_t len = 0;
  io::unique_fd uffd;

  // registered: at once (else register_missing(), e.g. after a fork that
  // would otherwise wait for a reader of its FORK event).
  explicit region(std::uint64_t n, bool registered = true) : len(n * page) {
    base = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(base != MAP_FAILED);
    if (registered) register_missing();
  }
  void register_missing() {
    uffd = io::unique_fd(static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK)));
    REQUIRE(uffd.get() >= 0);  // root, or vm.unprivileged_userfaultfd=1
    uffdio_api api{};
    api.api = UFFD_API;
    api.features = UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMOVE;
    REQUIRE(::ioctl(uffd.get(), UFFDIO_API, &api) == 0);
    uffdio_register reg{};
    reg.range.start = addr(0);
    reg.range.len = len;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    REQUIRE(::ioctl(uffd.get(), UFFDIO_REGISTER, &reg) == 0);
  }
  ~region() {
    uffd.reset();  // first: an unmap event nobody reads would block munmap
    ::munmap(base, len);
  }
  std::uint64_t addr(std::uint64_t k) const { return reinterpret_cast<std::uint64_t>(base) + k * page; }
  const char* at(std::uint64_t k) const { return static_cast<const char*>(base) + k * page; }
  // Whether page k is in (mincore), without touching it.
  bool resident(std::uint64_t k) const {
    unsigned char v = 0;
    REQUIRE(::mincore(const_cast<char*>(at(k)), page, &v) == 0);
    return (v & 1) != 0;
  }
};

// As CRIU's send_uffd, on `sock`: this process's pid, then r's userfaultfd
// with one byte.
void send_uffd(int sock, const region& r) {
  const int pid = ::getpid();
  REQUIRE(::send(sock, &pid, sizeof pid, 0) == sizeof pid);
  REQUIRE(lazy::detail::send_one_fd(sock, r.uffd.get()));
}

// The restore's end of the lazy-pages socket; the daemon serves the other in a thread.
struct restore_side {
  test::scratch_dir dir;
  std::filesystem::path path;
  io::unique_fd core, ours;
  core_identity id;
  std::future<result<uffd_report>> daemon;

  // reader: the push from a reading thread's buffers (else the push reads).
  // send: the task's pid and uffd go to the daemon at once.
  // tweak: changes the daemon's options.
  restore_side(const region& r, const std::vector<served_range>& ranges, bool reader = true, bool send = true,
               const std::function<void(uffd_options&)>& tweak = {}) {
    path = dir.write("core", pattern());
    core = io::unique_fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(core.get() >= 0);
    id = *identify(core.get(), path.string());
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    ours = io::unique_fd(sv[0]);
    uffd_options o;
    o.page = page;
    o.push_bytes = 16 * page;
    o.fault_pages = 2;
    o.readahead_bytes = reader ? 3 * 16 * page : 0;
    o.split_bytes = 8 * page;  // the push's chunks go half to the copy helper
    o.kill_on_error = false;
    if (tweak) tweak(o);
    daemon = std::async(std::launch::async, [this, s = sv[1], ranges, o] {
      auto rep = serve_uffd(s, core.get(), path.string(), ranges, static_cast<std::uint64_t>(::getpid()), id, o);
      ::close(s);
      return rep;
    });
    if (send) send_task(r);
  }
  void send_task(const region& r) const { send_uffd(ours.get(), r); }
  void finished() const {
    const std::uint32_t fin = restore_finished_word;
    REQUIRE(::send(ours.get(), &fin, sizeof fin, 0) == sizeof fin);
  }
  std::string core_page(std::uint64_t k) const { return pattern().substr(k * page, page); }
};

}  // namespace

TEST_CASE("necro's lazy-pages daemon answers faults and pushes the rest from the core", "[lazy]") {
  const bool reader = GENERATE(true, false);
  INFO((reader ? "pushed from the reading thread's buffers" : "pushed by the daemon's own reads"));
  region r(pages);
  // The process's pages 0..47 are the core's 0..47; 48..63 a hole (zeros); 64..95 the core's 64..95.
  const std::vector<served_range> ranges{{r.addr(0), 48, 0}, {r.addr(64), 32, 64 * page}};
  restore_side k(r, ranges, reader);
  // Faults before the restore finished are answered at once.
  CHECK(std::string(r.at(5), page) == k.core_page(5));
  CHECK(std::string(r.at(70), page) == k.core_page(70));
  CHECK(std::string(r.at(50), page) == std::string(page, '\0'));  // not served: the zero page
  k.finished();
  const auto rep = k.daemon.get();
  REQUIRE(rep);
  r.uffd.reset();  // as CRIU's restorer does: then the hole reads zeros without a daemon
  for (std::uint64_t p = 0; p < pages; ++p) {
    INFO("page " << p);
    if (p >= 48 && p < 64) CHECK(std::string(r.at(p), page) == std::string(page, '\0'));
    else CHECK(std::string(r.at(p), page) == k.core_page(p));
  }
  CHECK(rep->faults >= 3);
  CHECK(rep->tasks == 1);
  CHECK(rep->pages_copied == 70);       // 80 served, every 8th a zero page
  CHECK(rep->pages_zeroed == 10 + 1);   // those, and the hole's faulting page
  CHECK(rep->pages_dropped == 0);
  CHECK_FALSE(rep->exited);
}

TEST_CASE("the hot pages are pushed first, on demand too: a debugger cannot fault them in", "[lazy]") {
  region r(pages);
  const std::vector<served_range> ranges{{r.addr(0), pages, 0}};
  // On demand only: nothing but the hot pages comes in until touched.
  restore_side k(r, ranges, true, true, [&](uffd_options& o) {
    o.push = false;
    o.hot_pages = {r.addr(40) + 100};  // its page, and the ones either side
    o.hot = {r.addr(80) + 8};          // hot_bytes from the page below
    o.hot_bytes = 4 * page;
  });
  k.finished();
  for (int tries = 0; tries < 500 && !(r.resident(39) && r.resident(41) && r.resident(82)); ++tries) ::usleep(10 * 1000);
  for (std::uint64_t p = 0; p < pages; ++p) {
    INFO("page " << p);
    CHECK(r.resident(p) == ((p >= 39 && p <= 41) || (p >= 79 && p <= 82)));
  }
  for (std::uint64_t p = 0; p < pages; ++p) CHECK(std::string(r.at(p), page) == k.core_page(p));  // the rest on touch
  const auto rep = k.daemon.get();
  REQUIRE(rep);
}

TEST_CASE("awaiting a debugger with none attached the push starts after debugger_wait", "[lazy]") {
  region r(pages);
  const std::vector<served_range> ranges{{r.addr(0), pages, 0}};
  restore_side k(r, ranges, true, true, [&](uffd_options& o) {
    o.debugger = true;
    o.debugger_wait = std::chrono::milliseconds(400);
  });
  k.finished();
  const auto t0 = std::chrono::steady_clock::now();
  ::usleep(150 * 1000);  // no tracer: nothing pushed yet
  for (std::uint64_t p = 0; p < pages; ++p) CHECK_FALSE(r.resident(p));
  const auto rep = k.daemon.get();
  REQUIRE(rep);
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(350));
  r.uffd.reset();
  for (std::uint64_t p = 0; p < pages; ++p) CHECK(std::string(r.at(p), page) == k.core_page(p));
}

TEST_CASE("awaiting a debugger the push starts once an attached tracer is quiet", "[lazy]") {
  region r(pages);
  const std::vector<served_range> ranges{{r.addr(0), pages, 0}};
  restore_side k(r, ranges, true, true, [&](uffd_options& o) {
    o.debugger = true;
    o.debugger_quiet = std::chrono::milliseconds(100);
    o.debugger_wait = std::chrono::seconds(20);
  });
  // A page in first: the daemon is past its start (a fork now would hold
  // malloc's locks while it waits for the daemon to read its event).
  CHECK(std::string(r.at(1), page) == k.core_page(1));
  int p[2];
  REQUIRE(::pipe(p) == 0);
  const pid_t me = ::getpid();
  const pid_t tracer = ::fork();  // attaches without stopping this process, then idles
  REQUIRE(tracer >= 0);
  if (tracer == 0) {
    const char ok = ::ptrace(PTRACE_SEIZE, me, nullptr, nullptr) == 0 ? 'y' : 'n';
    [[maybe_unused]] auto w = ::write(p[1], &ok, 1);
    ::pause();
    ::_exit(0);
  }
  char ok = 0;
  REQUIRE(::read(p[0], &ok, 1) == 1);
  ::close(p[0]);
  ::close(p[1]);
  REQUIRE(ok == 'y');  // root, or a ptrace scope that lets a child trace its parent
  const auto t0 = std::chrono::steady_clock::now();
  k.finished();
  const auto rep = k.daemon.get();
  const auto took = std::chrono::steady_clock::now() - t0;
  ::kill(tracer, SIGKILL);
  int status = 0;
  ::waitpid(tracer, &status, 0);
  REQUIRE(rep);
  CHECK(took < std::chrono::seconds(5));  // not the 20 s of debugger_wait
  r.uffd.reset();
  for (std::uint64_t q = 0; q < pages; ++q) CHECK(std::string(r.at(q), page) == k.core_page(q));
}

TEST_CASE("pages the process removed read zeros, never the core's bytes", "[lazy]") {
  region r(pages);
  const std::vector<served_range> ranges{{r.addr(0), pages, 0}};
  restore_side k(r, ranges);
  // MADV_DONTNEED: the REMOVE event waits for the daemon, which drops them.
  REQUIRE(::madvise(const_cast<char*>(r.at(16)), 16 * page, MADV_DONTNEED) == 0);
  k.finished();
  const auto rep = k.daemon.get();
  REQUIRE(rep);
  CHECK(rep->pages_dropped == 16);
  r.uffd.reset();
  for (std::uint64_t p = 16; p < 32; ++p) CHECK(std::string(r.at(p), page) == std::string(page, '\0'));
  CHECK(std::string(r.at(33), page) == k.core_page(33));
}

TEST_CASE("a core truncated while served is a named error, and no page of it is placed", "[lazy]") {
  const bool reader = GENERATE(true, false);
  INFO((reader ? "pushed from the reading thread's buffers" : "pushed by the daemon's own reads"));
  region r(pages);
  const std::vector<served_range> ranges{{r.addr(0), pages, 0}};
  restore_side k(r, ranges, reader);
  CHECK(std::string(r.at(1), page) == k.core_page(1));
  REQUIRE(::truncate(k.path.c_str(), 40 * page) == 0);
  k.finished();
  const auto rep = k.daemon.get();
  REQUIRE_FALSE(rep);
  CHECK_THAT(rep.error().message(), Catch::Matchers::Contains("truncated"));
  // Nothing past the truncation reached the region: those pages are still missing.
  CHECK_FALSE(r.resident(64));
}

TEST_CASE("a core rewritten in place while served is a named error", "[lazy]") {
  const bool reader = GENERATE(true, false);
  INFO((reader ? "pushed from the reading thread's buffers" : "pushed by the daemon's own reads"));
  region r(pages);
  const std::vector<served_range> ranges{{r.addr(0), pages, 0}};
  restore_side k(r, ranges, reader);
  {
    const int w = ::open(k.path.c_str(), O_WRONLY);
    REQUIRE(w >= 0);
    const timespec later[2] = {{0, UTIME_OMIT}, {k.id.mtime_sec + 10, 0}};
    REQUIRE(::pwrite(w, "x", 1, 10 * page) == 1);
    REQUIRE(::futimens(w, later) == 0);
    ::close(w);
  }
  k.finished();
  const auto rep = k.daemon.get();
  REQUIRE_FALSE(rep);
  CHECK_THAT(rep.error().message(), Catch::Matchers::Contains("modified while being served"));
}

TEST_CASE("a restore that ends before it finished is an error naming it", "[lazy]") {
  region r(pages);
  const std::vector<served_range> ranges{{r.addr(0), pages, 0}};
  restore_side k(r, ranges);
  k.ours.reset();
  const auto rep = k.daemon.get();
  REQUIRE_FALSE(rep);
  CHECK_THAT(rep.error().message(), Catch::Matchers::Contains("before it finished restoring"));
}

TEST_CASE("a restore that goes away in the middle of a message is a named error", "[lazy]") {
  const bool half_pid = GENERATE(true, false);
  region r(pages);
  const std::vector<served_range> ranges{{r.addr(0), pages, 0}};
  restore_side k(r, ranges, true, false);
  const int pid = ::getpid();
  // Half of the pid's bytes, or the pid without its userfaultfd.
  const auto len = half_pid ? sizeof pid / 2 : sizeof pid;
  REQUIRE(::send(k.ours.get(), &pid, len, 0) == static_cast<ssize_t>(len));
  k.ours.reset();
  const auto rep = k.daemon.get();
  REQUIRE_FALSE(rep);
  CHECK_THAT(rep.error().message(), Catch::Matchers::Contains(half_pid ? "in the middle of a message on the lazy-pages socket (2 of 4 bytes)"
                                                                       : fmt::format("sent pid {} but no userfaultfd", pid)));
}

TEST_CASE("a core deleted or replaced by a rename while served goes on serving its own bytes", "[lazy]") {
  const bool renamed = GENERATE(false, true);
  INFO((renamed ? "another file renamed over the core" : "the core deleted"));
  region r(pages);
  const std::vector<served_range> ranges{{r.addr(0), pages, 0}};
  restore_side k(r, ranges);
  CHECK(std::string(r.at(2), page) == k.core_page(2));
  if (renamed) {
    const auto other = k.dir.write("other", std::string(pages * page, 'X'));
    REQUIRE(::rename(other.c_str(), k.path.c_str()) == 0);
  } else {
    REQUIRE(::unlink(k.path.c_str()) == 0);
  }
  k.finished();
  const auto rep = k.daemon.get();
  REQUIRE(rep);
  for (std::uint64_t p = 0; p < pages; ++p) CHECK(std::string(r.at(p), page) == k.core_page(p));
}

TEST_CASE("served ranges the core has no bytes for are refused before any page is placed", "[lazy]") {
  region r(pages);
  test::scratch_dir dir;
  const auto path = dir.write("core", pattern().substr(0, 64 * page));  // 64 pages; 96 are asked for
  io::unique_fd core(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(core.get() >= 0);
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  io::unique_fd ours(sv[0]), theirs(sv[1]);
  uffd_options o;
  o.page = page;
  o.kill_on_error = false;
  const std::vector<served_range> ranges{{r.addr(0), pages, 0}};
  const auto rep = serve_uffd(theirs.get(), core.get(), path.string(), ranges, static_cast<std::uint64_t>(::getpid()),
                              *identify(core.get(), path.string()), o);
  REQUIRE_FALSE(rep);
  CHECK_THAT(rep.error().message(), Catch::Matchers::Contains("past the end of the core"));
  CHECK_THAT(rep.error().message(), Catch::Matchers::Contains(path.string()));
  CHECK_FALSE(r.resident(0));
}

TEST_CASE("start_uffd_daemon serves a restore as a daemon of its own and leaves nothing behind", "[lazy]") {
  test::scratch_dir dir;
  const auto path = dir.write("core", pattern());
  io::unique_fd core(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(core.get() >= 0);
  region r(pages, false);
  page_source src;
  src.core_fd = core.get();
  src.core = path.string();
  src.planned = *identify(core.get(), src.core);
  src.ranges = {{r.addr(0), pages, 0}};
  src.pid = static_cast<std::uint64_t>(::getpid());
  src.page = page;
  src.vmas = {{r.addr(0), r.addr(pages)}};
  // The daemon is forked before anything here is registered: no FORK event waits.
  const auto d = start_uffd_daemon(src, dir.path, dir.path / "necro-lazy.log", true, false, std::chrono::seconds(20));
  REQUIRE(d);
  CHECK(d->pid > 0);
  r.register_missing();
  const auto sock_path = dir.path / lazy_pages_socket_name;
  CHECK(std::filesystem::exists(sock_path));
  // As criu restore: connect, send the task, then the end of the restore.
  io::unique_fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strcpy(a.sun_path, sock_path.c_str());
  REQUIRE(::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  send_uffd(s.get(), r);
  CHECK(std::string(r.at(7), page) == pattern().substr(7 * page, page));  // a fault, answered by the other process
  const std::uint32_t fin = restore_finished_word;
  REQUIRE(::send(s.get(), &fin, sizeof fin, 0) == sizeof fin);
  for (int tries = 0; tries < 1000 && ::kill(d->pid, 0) == 0; ++tries) ::usleep(10 * 1000);
  CHECK(::kill(d->pid, 0) != 0);  // all in: it exited
  r.uffd.reset();
  for (std::uint64_t p = 0; p < pages; ++p) CHECK(std::string(r.at(p), page) == pattern().substr(p * page, page));
  CHECK_FALSE(std::filesystem::exists(sock_path));
  std::ifstream log(dir.path / "necro-lazy.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK_THAT(text, Catch::Matchers::Contains("done: 1 faults"));
}

TEST_CASE("start_uffd_daemon names the directory it cannot listen in", "[lazy]") {
  test::scratch_dir dir;
  const auto path = dir.write("core", pattern());
  io::unique_fd core(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(core.get() >= 0);
  page_source src;
  src.core_fd = core.get();
  src.core = path.string();
  src.planned = *identify(core.get(), src.core);
  src.pid = static_cast<std::uint64_t>(::getpid());
  src.page = page;
  const auto gone = dir.path / "no-such-directory";
  const auto d = start_uffd_daemon(src, gone, dir.path / "necro-lazy.log");
  REQUIRE_FALSE(d);
  CHECK_THAT(d.error().message(), Catch::Matchers::Contains(gone.string()));
}

namespace {
// A child that sleeps until killed; its exit status.
pid_t sleeper() {
  const pid_t p = ::fork();
  if (p == 0) {
    ::pause();
    ::_exit(0);
  }
  return p;
}
}  // namespace

TEST_CASE("a guardian kills the process when the daemon goes without a word, and only then", "[lazy]") {
  // The fd it keeps: any will do here (a registered userfaultfd with fork
  // events would make the forks below wait for a reader of the event).
  io::unique_fd held(static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK)));
  REQUIRE(held.get() >= 0);
  const pid_t victim = sleeper();
  REQUIRE(victim > 0);
  const int wr = lazy::detail::start_guardian(victim, held.get());
  REQUIRE(wr >= 0);
  ::close(wr);  // the daemon died
  int status = 0;
  REQUIRE(::waitpid(victim, &status, 0) == victim);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);

  const pid_t spared = sleeper();
  const int ok = lazy::detail::start_guardian(spared, held.get());
  REQUIRE(ok >= 0);
  REQUIRE(::write(ok, "d", 1) == 1);  // all delivered
  ::close(ok);
  ::usleep(100 * 1000);
  CHECK(::waitpid(spared, &status, WNOHANG) == 0);  // still running
  ::kill(spared, SIGKILL);
  ::waitpid(spared, &status, 0);
}

TEST_CASE("a guardian keeps the children's userfaultfds open until it has killed the process", "[lazy]") {
  // A pipe's write end stands for a child's userfaultfd: while a copy is
  // open its read end sees no hang-up.
  io::unique_fd held(static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK)));
  REQUIRE(held.get() >= 0);
  const auto hung_up = [](int rd, int ms) {
    pollfd p{rd, POLLIN, 0};
    return ::poll(&p, 1, ms) == 1 && (p.revents & POLLHUP);
  };
  for (const bool daemon_dies : {true, false}) {
    INFO((daemon_dies ? "the daemon dies" : "the daemon stands the guardian down"));
    const pid_t victim = sleeper();
    REQUIRE(victim > 0);
    const int guard = lazy::detail::start_guardian(victim, held.get());
    REQUIRE(guard >= 0);
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    REQUIRE(lazy::detail::guardian_keep(guard, p[1]));
    ::close(p[1]);
    CHECK_FALSE(hung_up(p[0], 200));  // the guardian holds the copy
    if (!daemon_dies) REQUIRE(::send(guard, "d", 1, MSG_NOSIGNAL) == 1);
    ::close(guard);
    CHECK(hung_up(p[0], 5000));  // and lets it go when it leaves
    int status = 0;
    if (daemon_dies) {
      REQUIRE(::waitpid(victim, &status, 0) == victim);
      CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    } else {
      CHECK(::waitpid(victim, &status, WNOHANG) == 0);  // spared
      ::kill(victim, SIGKILL);
      ::waitpid(victim, &status, 0);
    }
    ::close(p[0]);
  }
}

TEST_CASE("a guardian kills the processes the restored one forked too", "[lazy]") {
  // The test reaps what the guardian kills below its child.
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  io::unique_fd held(static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK)));
  REQUIRE(held.get() >= 0);
  int p[2];
  REQUIRE(::pipe(p) == 0);
  const pid_t victim = ::fork();  // two children, one of them with a child of its own
  REQUIRE(victim >= 0);
  if (victim == 0) {
    const pid_t kids[2] = {sleeper(), ::fork()};
    if (kids[1] == 0) {  // a child with a child of its own
      const pid_t g = sleeper();
      [[maybe_unused]] auto w = ::write(p[1], &g, sizeof g);
      ::pause();
      ::_exit(0);
    }
    [[maybe_unused]] auto w = ::write(p[1], kids, sizeof kids);
    ::pause();
    ::_exit(0);
  }
  pid_t below[3] = {};  // in the order they were written
  std::size_t got = 0;
  while (got < sizeof below) {
    const ssize_t n = ::read(p[0], reinterpret_cast<char*>(below) + got, sizeof below - got);
    REQUIRE(n > 0);
    got += static_cast<std::size_t>(n);
  }
  ::close(p[0]);
  ::close(p[1]);
  const int wr = lazy::detail::start_guardian(victim, held.get());
  REQUIRE(wr >= 0);
  ::close(wr);  // the daemon died
  int status = 0;
  REQUIRE(::waitpid(victim, &status, 0) == victim);
  CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
  for (const pid_t b : below) {
    INFO("pid " << b << " below the restored one");
    pid_t w = 0;
    for (int tries = 0; tries < 500 && (w = ::waitpid(b, &status, WNOHANG)) == 0; ++tries) ::usleep(10 * 1000);
    if (w == 0) {  // still there after 5 s: the guardian spared it
      ::kill(b, SIGTERM);
      ::waitpid(b, &status, 0);
    }
    CHECK(w == b);
    CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_CASE("a child the process forks gets its missing pages from the core too", "[lazy]") {
  region r(pages);
  const std::vector<served_range> ranges{{r.addr(0), pages, 0}};
  restore_side k(r, ranges, false);
  CHECK(std::string(r.at(3), page) == k.core_page(3));  // one page in before the fork
  const std::string want10 = k.core_page(10), want90 = k.core_page(90), want3 = k.core_page(3);
  // The fork waits until the daemon has read its FORK event.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const bool ok = std::memcmp(r.at(10), want10.data(), page) == 0 && std::memcmp(r.at(90), want90.data(), page) == 0 &&
                    std::memcmp(r.at(3), want3.data(), page) == 0;
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  k.finished();
  const auto rep = k.daemon.get();
  REQUIRE(rep);
  CHECK(rep->forks == 1);
  for (std::uint64_t p = 0; p < pages; ++p) CHECK(std::string(r.at(p), page) == k.core_page(p));
}
