// capture::proc::parse_status reads /proc/PID/status through the capture
// text's own tables (each creds and signals word names its status line): on
// this process's real status, its values equal what the kernel's calls say,
// and they survive the trip through capture.txt.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>

namespace {

std::string own_status() {
  std::ifstream in("/proc/self/status");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("proc status: creds and signal masks as the kernel gives them", "[capture]") {
  // A mask of our own, so the masks are not all zero.
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  sigaddset(&set, SIGWINCH);
  REQUIRE(::sigprocmask(SIG_BLOCK, &set, &old) == 0);
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  struct sigaction old_pipe {};
  REQUIRE(::sigaction(SIGPIPE, &ign, &old_pipe) == 0);
  const std::string text = own_status();
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  ::sigprocmask(SIG_SETMASK, &old, nullptr);

  necro::capture::process_capture c;
  necro::capture::proc::parse_status(text, c);
  REQUIRE(c.creds);
  REQUIRE(c.signals);
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  REQUIRE(::getresuid(&ru, &eu, &su) == 0);
  REQUIRE(::getresgid(&rg, &eg, &sg) == 0);
  CHECK(c.creds->uid[0] == ru);
  CHECK(c.creds->uid[1] == eu);
  CHECK(c.creds->uid[2] == su);
  CHECK(c.creds->gid[0] == rg);
  CHECK(c.creds->gid[2] == sg);
  std::vector<gid_t> groups(static_cast<std::size_t>(::getgroups(0, nullptr)));
  REQUIRE(::getgroups(static_cast<int>(groups.size()), groups.data()) == static_cast<int>(groups.size()));
  CHECK(c.creds->groups == std::vector<std::uint32_t>(groups.begin(), groups.end()));
  CHECK(c.creds->no_new_privs == static_cast<std::uint32_t>(::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)));
  const auto bit = [](int sig) { return std::uint64_t{1} << (sig - 1); };
  CHECK((c.signals->blocked & bit(SIGUSR2)) != 0);
  CHECK((c.signals->blocked & bit(SIGWINCH)) != 0);
  CHECK((c.signals->ignored & bit(SIGPIPE)) != 0);
  CHECK((c.signals->blocked & bit(SIGPIPE)) == 0);
  CHECK(c.umask.has_value());

  // The values read there are the ones capture.txt writes and reads back.
  c.pid = ::getpid();
  const auto again = necro::capture::parse_text(necro::capture::to_text(c), "status-trip", c.pid);
  REQUIRE(again);
  CHECK(again->creds->uid == c.creds->uid);
  CHECK(again->creds->groups == c.creds->groups);
  CHECK(again->creds->cap_eff == c.creds->cap_eff);
  CHECK(again->signals->blocked == c.signals->blocked);
  CHECK(again->signals->ignored == c.signals->ignored);
}

TEST_CASE("proc status: a line that is not a number reads as 0, unknown lines are skipped", "[capture]") {
  necro::capture::process_capture c;
  necro::capture::proc::parse_status("Name:\tx\nUid:\t1000\tzz\t7\nGroups:\t\nSigBlk:\tnothex\nCapEff:\t0000000000000400\n"
                                     "Umask:\t0027\nNoColon\n",
                                     c);
  REQUIRE(c.creds);
  CHECK(c.creds->uid == std::array<std::uint32_t, 4>{1000, 0, 7, 0});
  CHECK(c.creds->groups.empty());
  CHECK(c.creds->cap_eff == 0x400);
  CHECK(c.signals->blocked == 0);
  CHECK(c.umask == 027u);
}
