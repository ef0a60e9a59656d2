// capture.txt's field tables (capture/detail/text_tables.hpp): every record
// kind written through its table and read back is the same record; every
// word of a written line, missing or garbled, gives one error naming the
// file, the line and the field.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/pfr/core.hpp>
#include <catch2/catch.hpp>

#include <necro/capture/detail/text_tables.hpp>
#include <necro/capture/detail/text_write.hpp>

namespace {

namespace cd = necro::capture::detail;
using namespace necro::capture;

template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

/// Field-by-field equality of two records (PFR), through optionals and vectors.
template <class T>
bool same(const T& a, const T& b) {
  if constexpr (cd::is_optional<T>::value) {
    return a.has_value() == b.has_value() && (!a || same(*a, *b));
  } else if constexpr (is_vector<T>::value) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!same(a[i], b[i])) return false;
    return true;
  } else if constexpr (std::is_class_v<T> && std::is_aggregate_v<T> && !std::is_same_v<T, std::string> &&
                       !necro::map::detail::is_std_array<T>::value) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return (same(boost::pfr::get<I>(a), boost::pfr::get<I>(b)) && ...);
    }(std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
  } else {
    return a == b;
  }
}

constexpr std::string_view origin = "capture.txt";
constexpr std::uint64_t at = 0x40;
constexpr std::size_t line_number = 7;

/// One record's line as the writer makes it.
template <class Table, class Record>
std::string written(std::string_view key, const Table& table, const Record& rec) {
  std::string o;
  cd::put_line(o, key, table, rec);
  o.pop_back();  // the newline
  return o;
}

/// The line read back through the table.
template <class Record, class Table>
necro::result<Record> read_back(const std::string& bytes, const Table& table) {
  auto l = cd::split_line(origin, line_number, at, bytes);
  if (!l) return necro::fail(std::move(l).error_value());
  return cd::read_fields<Record>(*l, table);
}

template <class Record, class Table>
void round_trips(std::string_view key, const Table& table, const Record& rec) {
  const auto line = written(key, table, rec);
  INFO(line);
  const auto back = read_back<Record>(line, table);
  REQUIRE(back);
  CHECK(same(*back, rec));
  CHECK(written(key, table, *back) == line);
}

/// The words of a line after its key.
std::vector<std::string> words_of(const std::string& line) {
  std::vector<std::string> out;
  for (std::size_t pos = line.find(' '); pos != std::string::npos;) {
    const auto next = line.find(' ', pos + 1);
    out.push_back(line.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1));
    pos = next;
  }
  return out;
}

std::string with_word(const std::string& line, const std::string& word, const std::string& by) {
  std::string t = line;
  const auto w = t.find(" " + word);
  t.replace(w, word.size() + 1, by.empty() ? "" : " " + by);
  return t;
}

/// Each `name=value` word of a written line: missing, it is an error naming
/// file, line and field (or, for an optional word, no error); garbled, always.
template <class Record, class Table>
void each_word_is_checked(std::string_view key, const Table& table, const Record& rec,
                          const std::vector<std::string>& optional_words = {}) {
  const auto line = written(key, table, rec);
  const std::string prefix =
      fmt::format("{}: offset {:#x}: line {}: {}: ", origin, at, line_number, key.substr(0, key.find(' ')));
  for (const auto& word : words_of(line)) {
    const auto eq = word.find('=');
    if (eq == std::string::npos) continue;
    const auto name = word.substr(0, eq + 1);
    INFO(line << "\nword " << word);
    const auto missing = read_back<Record>(with_word(line, word, ""), table);
    if (std::find(optional_words.begin(), optional_words.end(), word.substr(0, eq)) == optional_words.end()) {
      REQUIRE(!missing);
      CHECK_THAT(missing.error().message(), Catch::StartsWith(prefix) && Catch::Contains(name));
    } else {
      CHECK(missing);
    }
    const auto garbled = read_back<Record>(with_word(line, word, name + "%zz"), table);
    REQUIRE(!garbled);
    CHECK_THAT(garbled.error().message(), Catch::StartsWith(prefix) && Catch::Contains(name));
  }
}

credentials some_creds() {
  credentials k;
  k.uid = {1000, 1001, 1002, 1003};
  k.gid = {100, 101, 102, 103};
  k.groups = {4, 24, 27};
  k.cap_inh = 0, k.cap_prm = 0x1fffeffffff, k.cap_eff = 0x3, k.cap_bnd = 0x1fffeffffff, k.cap_amb = 1;
  k.no_new_privs = 1;
  return k;
}

/// One fd of each kind, with its kind's own words.
std::vector<fd_entry> some_fds() {
  std::vector<fd_entry> out;
  const auto add = [&](fd_kind kind, std::string link) -> fd_entry& {
    fd_entry f;
    f.fd = static_cast<std::int32_t>(out.size() + 3), f.kind = kind, f.link = std::move(link);
    f.flags = 02101, f.pos = 7, f.mnt_id = 29, f.ino = 1234567, f.mode = 0100644, f.size = 17, f.dev = 0xfd01;
    return out.emplace_back(std::move(f));
  };
  add(fd_kind::reg, "/var/log/a log%");
  add(fd_kind::reg, "/dev/null").mnt_id = -1;
  add(fd_kind::pipe, "pipe:[42]").shares = 3;
  add(fd_kind::eventfd, "anon_inode:[eventfd]").eventfd_count = 42;
  add(fd_kind::signalfd, "anon_inode:[signalfd]").sigmask = 0xa00;
  add(fd_kind::timerfd, "anon_inode:[timerfd]").timer = timer_setting{1, 3, 1, 999, 5000, 2, 500000000};
  add(fd_kind::epoll, "anon_inode:[eventpoll]");
  socket_info v4{2, 1, 6, 10, {127, 0, 0, 1}, 6379, {}, 0, 0, {}};
  add(fd_kind::inet, "socket:[77]").sock = v4;
  socket_info v6{10, 2, 17, 7, {}, 53, {}, 4242, 0, {}};
  v6.local_addr[15] = 1, v6.remote_addr[0] = 0xfe, v6.remote_addr[15] = 0x80;
  add(fd_kind::inet, "socket:[78]").sock = v6;
  add(fd_kind::unix_sk, "socket:[79]").sock = socket_info{1, 1, 0, 10, {}, 0, {}, 0, 1, "@abstract name"};
  add(fd_kind::unix_sk, "socket:[80]").sock = socket_info{1, 2, 0, 7, {}, 0, {}, 0, 0, {}};
  add(fd_kind::socket, "socket:[81]");
  add(fd_kind::other, "anon_inode:[io_uring]");
  return out;
}

}  // namespace

TEST_CASE("every record kind round-trips through its table", "[capture][text]") {
  round_trips("creds", cd::creds_fields, some_creds());
  round_trips("creds", cd::creds_fields, credentials{});
  round_trips("signals", cd::signals_fields, signal_masks{0x4000, 0xa00, 0x1001, 0x2, 0x8000000000000000});
  round_trips("rlimit", cd::rlimit_fields, rlimit_entry{"Max open files", 7, 1024, ~std::uint64_t{0}});
  round_trips("rlimit", cd::rlimit_fields, rlimit_entry{"-", 0, 0, 0});
  for (const auto& f : some_fds()) round_trips("fd", cd::fd_fields, f);
  round_trips("tfd 12", cd::tfd_fields, epoll_target{6, 0x80000019, 0x1122334455667788, 0xabc, 9});
  round_trips("map", cd::map_fields, mapped_file{"/usr/lib/libc.so.6", 1311, std::string(40, 'a')});
  round_trips("map", cd::map_fields, mapped_file{"/memfd:x (deleted)", 5, ""});
  round_trips("action", cd::action_fields, signal_action{10, 0x55550000123a, 0x1c000004, 0x7f0000001000, 0x200});
  round_trips("thread", cd::thread_fields,
              thread_state{7, "w 1", 0x7f0000200000, 65536, 0, 0x10, 0x20, 0x30, 32, 0x53053053, 2, 10, 100, 100, -20, 1});
}

TEST_CASE("the written words are the capture format's", "[capture][text]") {
  auto fds = some_fds();
  CHECK(written("fd", cd::fd_fields, fds[3]) ==
        "fd 6 kind=eventfd flags=0o2101 pos=7 mnt_id=29 ino=1234567 mode=0o100644 size=17 dev=0xfd01 count=42 "
        "link=anon_inode:[eventfd]");
  CHECK(written("fd", cd::fd_fields, fds[1]).find(" mnt_id=-1 ") != std::string::npos);
  CHECK(written("fd", cd::fd_fields, fds[2]).ends_with(" shares=3 link=pipe:[42]"));
  CHECK(written("fd", cd::fd_fields, fds[7]).ends_with(" family=2 type=1 proto=6 state=10 backlog=0 local=7f000001 "
                                                       "port=6379 remote=00000000 rport=0 link=socket:[77]"));
  CHECK(written("fd", cd::fd_fields, fds[9]).ends_with(" backlog=1 name=@abstract%20name link=socket:[79]"));
  CHECK(written("fd", cd::fd_fields, fds[10]).ends_with(" backlog=0 link=socket:[80]"));
  CHECK(written("creds", cd::creds_fields, credentials{}) ==
        "creds uid=0,0,0,0 gid=0,0,0,0 groups=- cap_inh=0x0 cap_prm=0x0 cap_eff=0x0 cap_bnd=0x0 cap_amb=0x0 "
        "no_new_privs=0");
}

TEST_CASE("a missing or garbled word is one error naming file, line and field", "[capture][text][malformed]") {
  each_word_is_checked("creds", cd::creds_fields, some_creds());
  each_word_is_checked("signals", cd::signals_fields, signal_masks{1, 2, 3, 4, 5});
  each_word_is_checked("rlimit", cd::rlimit_fields, rlimit_entry{"Max cpu time", 0, 1, 2});
  for (const auto& f : some_fds()) each_word_is_checked("fd", cd::fd_fields, f, {"mnt_id", "shares", "name"});
  each_word_is_checked("tfd 12", cd::tfd_fields, epoll_target{6, 1, 2, 3, 4});
  each_word_is_checked("map", cd::map_fields, mapped_file{"/bin/sh", 1, "ab01"});
  // The messages are the format's own (the capture corpus and text_test.cpp rely on them).
  const auto message = [](const std::string& line, const auto& table, auto record) {
    const auto r = read_back<decltype(record)>(line, table);
    REQUIRE(!r);
    return r.error().message();
  };
  CHECK(message("rlimit resource=7 max=1 name=x", cd::rlimit_fields, rlimit_entry{}) ==
        "capture.txt: offset 0x40: line 7: rlimit: no cur=");
  CHECK(message("creds uid=1,2,3 gid=1,2,3,4 groups=-", cd::creds_fields, credentials{}) ==
        "capture.txt: offset 0x40: line 7: creds: uid= and gid= need 4 values (real,effective,saved,fs)");
  CHECK(message("creds uid=1,2,3,4,5 gid=1,2,3,4 groups=-", cd::creds_fields, credentials{}) ==
        "capture.txt: offset 0x40: line 7: creds: uid= lists more than 4 values");
  CHECK(message("fd x kind=reg", cd::fd_fields, fd_entry{}) == "capture.txt: offset 0x40: line 7: fd: bad fd number x");
  CHECK(message("fd 3 kind=inet flags=0 pos=0 ino=1 mode=0 size=0 dev=0 family=2 type=1 proto=6 state=10 backlog=0 "
                "local=7f000001 port=70000 remote=00000000 rport=0 link=x",
                cd::fd_fields, fd_entry{}) == "capture.txt: offset 0x40: line 7: fd: port above 65535");
  CHECK(message("fd 3 kind=unix flags=0 pos=0 ino=1 mode=0 size=0 dev=0 family=3 type=1 proto=0 state=7 backlog=0 link=x",
                cd::fd_fields, fd_entry{}) == "capture.txt: offset 0x40: line 7: fd: socket family 3 is not 1, 2 or 10");
  CHECK(message("map ino=1 build_id=xy path=/a", cd::map_fields, mapped_file{}) ==
        "capture.txt: offset 0x40: line 7: map: build_id= holds a non-hex digit");
}
