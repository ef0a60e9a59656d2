// criu-necromancer: bring a dead process back from its core with CRIU.
//
//   criu-necromancer -c CORE -o OUT_DIR [--stdio PATH] [--cwd DIR]
//                                                            no donor: images synthesized from the core
//                                                            (and the capture CORE.necro/ of necro-catch)
//   criu-necromancer -c CORE -i DONOR_IMAGES [-o OUT_DIR]   patch
//   criu-necromancer -c CORE -i DONOR_IMAGES --explain       show the plan only
//   criu-necromancer -c CORE [-i DONOR_IMAGES] --inspect     summarise the inputs
//   criu-necromancer -c CORE -i DONOR_IMAGES -o OUT --restore [--stopped|--gdb]
//                                                            patch, then restore through CRIU's RPC
//
// CORE is an x86_64 or aarch64 core: the ELF header's e_machine picks the
// architecture (map/architectures.hpp), and everything after runs as run<Arch>.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <necro/necro.hpp>
#include <necro/disk/facts.hpp>

#include "donorless_facts.hpp"

namespace {

// The name of the signal a core was dumped for, glibc's ("SIGSEGV"), for
// the signals this output has always named; any other (SIGSYS, SIGXCPU, a
// realtime one) reads "signal (N)", as before.
std::string signal_name(int sig) {
  namespace s = necro::arch::sig;
  constexpr std::array named{s::sigquit, s::sigill, s::sigtrap, s::sigabrt, s::sigbus, s::sigfpe, s::sigsegv};
  const char* abbrev = std::ranges::find(named, sig) != named.end() ? ::sigabbrev_np(sig) : nullptr;
  return abbrev ? fmt::format("SIG{}", abbrev) : std::string("signal");
}

using necro::io::printable;

// Every string taken from the core or the images (names, paths, image file
// names) is printed through printable(): a hostile core can put newlines and
// terminal escape sequences there.
template <class Arch>
void inspect_threads(const necro::elf::core_view<Arch>& core) {
  if (!core.threads().empty()) {
    const int sig = core.threads().front().prstatus.cursig;
    fmt::print("  killed by {} ({}) in thread {}\n", signal_name(sig), sig, core.threads().front().tid());
  }
  fmt::print("  threads ({}):\n", core.threads().size());
  for (const auto& t : core.threads()) {
    const std::string_view extra = Arch::regset_names(t.regsets());
    fmt::print("    tid {:<7} pc {:#014x} sp {:#014x} {} {:#014x}{}{}{}\n", t.tid(), Arch::pc(t.regs()),
               Arch::sp(t.regs()), Arch::thread_pointer_name, t.thread_pointer(), extra.empty() ? "" : " ", extra,
               t.fpregs ? "" : " (no FP registers)");
  }
}

template <class Arch>
void inspect_core(const necro::elf::core_view<Arch>& core) {
  fmt::print("core {}: {}, pid {}", printable(core.path()), Arch::name, core.pid());
  if (auto ps = core.prpsinfo())
    fmt::print(", {} ({})", printable({ps->fname.data(), strnlen(ps->fname.data(), ps->fname.size())}),
               printable({ps->psargs.data(), strnlen(ps->psargs.data(), ps->psargs.size())}));
  fmt::print("\n");
  inspect_threads(core);
  std::uint64_t dumped = 0, total = 0;
  for (const auto& s : core.segments()) {
    dumped += s.filesz;
    total += s.memsz;
  }
  fmt::print("  segments: {} PT_LOADs, {} KiB of {} KiB dumped\n", core.segments().size(), dumped / 1024, total / 1024);
  for (const auto& s : core.segments()) {
    std::string label;
    for (const auto& f : core.process().files)
      if (f.start == s.vaddr) label = fmt::format("{} +{:#x}", printable(f.path), f.offset);
    if (core.auxv(necro::arch::at::sysinfo_ehdr) == s.vaddr) label = "[vdso]";
    fmt::print("    {:#014x}-{:#014x} {} {:>8} KiB{} {}\n", s.vaddr, s.end(),
               necro::plan::rwx(s.readable(), s.writable(), s.executable()), s.memsz / 1024,
               s.complete() ? "" : fmt::format(" ({} KiB dumped)", s.filesz / 1024), label);
  }
  fmt::print("  auxv: {} entries; AT_SYSINFO_EHDR {:#x}, AT_PHDR {:#x}, AT_ENTRY {:#x}", core.process().auxv.size(),
             core.auxv(necro::arch::at::sysinfo_ehdr).value_or(0), core.auxv(necro::arch::at::phdr).value_or(0),
             core.auxv(necro::arch::at::entry).value_or(0));
  if (auto fn = core.auxv(necro::arch::at::execfn))
    if (auto s = core.read_string(*fn)) fmt::print(", AT_EXECFN {}", printable(*s));
  fmt::print("\n  notes skipped: {}\n", core.process().unknown_notes);
}

template <class Arch>
void inspect_donor(const necro::criu::image_set& d) {
  using bridge = necro::map::criu_thread<Arch>;
  fmt::print("donor {}: pid {}, {} thread(s), {} VMAs, {} files, pages-{}.img\n", printable(d.dir().string()), d.pid(),
             d.process().threads_size(), d.mm().vmas_size(), d.files().size(), d.pages_id());
  for (const auto& [tid, c] : d.cores()) {
    if (!bridge::has_thread_info(c)) {
      fmt::print("    tid {:<7} no {} registers (a dump of another architecture)\n", tid, Arch::name);
      continue;
    }
    fmt::print("    tid {:<7} pc {:#014x} sp {:#014x} {} {:#014x}\n", tid, bridge::pc(c), bridge::sp(c),
               Arch::thread_pointer_name, bridge::thread_pointer(c));
  }
  if (const auto* exe = d.reg_file(d.mm().exe_file_id())) fmt::print("  executable: {}\n", printable(exe->name()));
  std::vector<std::string> names;
  for (const auto& n : d.file_names()) names.push_back(printable(n));
  fmt::print("  images: {}\n", fmt::join(names, " "));
}

/// The progress of the page copy: done / total, rate, ETA, bytes elided.
///   auto    on a terminal only, once a patch has run for a second: one line
///           redrawn in place (the default);
///   always  from the start, also when stderr is a file or a pipe (logs): on a
///           terminal redrawn in place, elsewhere one line per update;
///   never   nothing (as with -q).
/// Redrawn at most every 200 ms; with `always` the last state is always shown.
class progress_line {
 public:
  enum class mode { automatic, always, never };

  /// `what` heads the line: "pages" for the page copy, else a decompression.
  progress_line(mode m, bool terminal, std::string what = "pages")
      : what_(std::move(what)),
        on_(m == mode::always || (m == mode::automatic && terminal)),
        always_(m == mode::always),
        terminal_(terminal),
        start_(clock::now()),
        last_(start_) {}

  necro::write::progress_fn callback() {
    if (!on_) return {};
    return [this](const necro::write::progress& p) { update(p); };
  }

  /// After the copy: the final state where one is owed, and the terminal line cleared.
  void finish() {
    if (!on_) return;
    if (always_ && seen_ && !(drawn_ && shown_ == latest_.done)) draw(latest_);
    // auto: the line goes (the summary follows); always: it stays, ended.
    if (drawn_ && terminal_) fmt::print(stderr, "{}", always_ ? "\n" : "\r\033[K");
    std::fflush(stderr);
  }

 private:
  using clock = std::chrono::steady_clock;

  void update(const necro::write::progress& p) {
    latest_ = p;
    seen_ = true;
    const auto now = clock::now();
    // auto waits a second: short patches print nothing.
    if ((!always_ && now - start_ < std::chrono::seconds(1)) || p.total == 0) return;
    if (drawn_ && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    draw(p);
  }

  void draw(const necro::write::progress& p) {
    const double secs = std::max(1e-3, std::chrono::duration<double>(clock::now() - start_).count());
    const double rate = static_cast<double>(p.done) / secs;
    const std::string eta = p.done > 0 && rate > 0
                                ? fmt::format("{:.0f} s", static_cast<double>(p.total - std::min(p.done, p.total)) / rate)
                                : std::string("-");
    // GiB for large patches, MiB below.
    const bool gib = p.total >= (1ull << 30);
    const double unit = gib ? double(1ull << 30) : double(1ull << 20);
    // A decompression counts compressed bytes read; `elided` carries the plain bytes written.
    const bool pages = what_ == "pages";
    fmt::print(stderr, "{}{}: {:.2f} / {:.2f} {}  {:.2f} GB/s  ETA {}  ({} MiB {}){}", terminal_ ? "\r\033[K" : "",
               printable(what_), static_cast<double>(p.done) / unit, static_cast<double>(p.total) / unit,
               gib ? "GiB" : "MiB", rate / 1e9, eta, p.elided >> 20, pages ? "elided" : "out",
               terminal_ ? "" : "\n");
    std::fflush(stderr);
    drawn_ = true;
    shown_ = p.done;
  }

  std::string what_;
  bool on_, always_, terminal_, drawn_ = false, seen_ = false;
  std::uint64_t shown_ = 0;
  necro::write::progress latest_{};
  clock::time_point start_, last_;
};

/// Where a compressed core is decompressed: on the output's file system (the
/// new set's parent, or the donor directory patched in place), so page runs
/// can still be cloned from it; the temporary directory when nothing is written.
std::filesystem::path scratch_dir_for(bool writes, const std::string& out_dir, const std::string& images_dir) {
  std::error_code ec;
  if (writes && !out_dir.empty()) {
    const auto parent = std::filesystem::absolute(out_dir, ec).parent_path();
    if (!ec && !parent.empty()) return parent;
  }
  if (writes && !images_dir.empty()) return images_dir;
  auto tmp = std::filesystem::temp_directory_path(ec);
  return ec ? std::filesystem::path("/tmp") : tmp;
}

/// The core's bytes; a zstd one (systemd-coredump's core.*.zst) is
/// decompressed once into an unnamed sparse file in `scratch`, with a progress line.
necro::result<necro::io::mapped_file> open_core(const std::string& path, const std::filesystem::path& scratch,
                                                progress_line::mode m) {
  progress_line bar(m, ::isatty(STDERR_FILENO) == 1, fmt::format("decompressing {}", path));
  auto step = bar.callback();
  necro::io::decompress_options opt{.scratch_dir = scratch};
  if (step)
    opt.progress = [&step](const necro::io::decompress_progress& d) {
      step({.done = d.in_done, .total = d.in_total, .written = d.out_done, .elided = d.out_done});
    };
  auto file = necro::io::open_decompressed(path, opt);
  bar.finish();
  return file;
}

/// SIGINT, SIGTERM and SIGHUP while the image set is written: the handler only
/// raises a flag; commit stops at its next step and removes what it wrote,
/// then the signal is raised again with its old disposition. Signals the
/// caller ignores (nohup, background jobs) stay ignored.
std::atomic<bool> stop_requested{false};
std::atomic<int> stop_signal{0};
static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "necro: the signal handler may only touch lock-free atomics");

void on_stop_signal(int sig) {
  stop_signal.store(sig);
  stop_requested.store(true);
}

class stop_signals {
 public:
  stop_signals() {
    for (std::size_t i = 0; i < signals_.size(); ++i) {
      installed_[i] = ::sigaction(signals_[i], nullptr, &old_[i]) == 0 && old_[i].sa_handler != SIG_IGN;
      if (!installed_[i]) continue;
      struct sigaction sa {};
      sa.sa_handler = on_stop_signal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART;
      installed_[i] = ::sigaction(signals_[i], &sa, nullptr) == 0;
    }
  }
  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;
  ~stop_signals() { restore(); }

  /// Puts the old dispositions back and, if a signal came, raises it again.
  void settle() {
    restore();
    if (const int sig = stop_signal.load()) ::raise(sig);
  }
  static const char* name(int sig) {
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
  }

 private:
  void restore() {
    for (std::size_t i = 0; i < signals_.size(); ++i)
      if (std::exchange(installed_[i], false)) ::sigaction(signals_[i], &old_[i], nullptr);
  }
  static constexpr std::array<int, 3> signals_{SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> old_{};
  std::array<bool, 3> installed_{};
};

/// Messages quote paths and names from the core, escaped by printable(): an
/// error stays one line and sends no terminal escapes.
[[noreturn]] void die(const necro::error& e) {
  fmt::print(stderr, "criu-necromancer: {}\n", printable(e.message()));
  std::exit(1);
}

struct restore_mode {
  bool stopped = false, gdb = false, quiet = false, lazy = false;
};

/// Restores the written set through CRIU's RPC; with gdb, becomes gdb.
int restore_and_report(const std::filesystem::path& criu, const necro::plan::resurrection& plan,
                       const std::filesystem::path& dir, restore_mode mode) {
  // A process that did not lead its own session is restored into ours.
  const bool shell_job = plan.pstree.sid() != static_cast<std::uint32_t>(plan.pid);
  std::optional<necro::criu::rpc::lazy_pages_daemon> daemon;
  if (mode.lazy) {
    auto d = necro::criu::rpc::start_lazy_pages(criu, dir);
    if (!d) {
      fmt::print(stderr, "criu-necromancer: the image set is complete, but the lazy-pages daemon failed: {}\n",
                 printable(d.error().message()));
      return 1;
    }
    daemon = *d;
  }
  auto r = necro::criu::rpc::restore(
      criu, {.images_dir = dir, .leave_stopped = mode.stopped, .shell_job = shell_job, .lazy_pages = mode.lazy});
  if (!r && daemon) ::kill(daemon->pid, SIGKILL);  // nothing left to serve
  if (!r) {
    // One printable line per line of the report (CRIU's log lines are quoted).
    const std::string message = r.error().message();
    std::string_view text = message;
    fmt::print(stderr, "criu-necromancer: the image set is complete, but restoring it failed:\n");
    while (!text.empty()) {
      const auto nl = text.find('\n');
      fmt::print(stderr, "  {}\n", printable(text.substr(0, nl)));
      text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    }
    return 1;
  }
  if (!mode.quiet || mode.gdb)
    fmt::print("restored pid {} ({}); CRIU's log: {}\n", r->pid, mode.stopped ? "stopped" : "running",
               printable(r->log.string()));
  if (daemon && (!mode.quiet || mode.gdb))
    fmt::print("memory loads on first touch: criu lazy-pages pid {} serves it and exits once all is in (log {})\n",
               daemon->pid, printable(daemon->log.string()));
  if (!mode.gdb) return 0;
  std::fflush(stdout);
  const std::string pid = std::to_string(r->pid);
  // The program's path first, so gdb loads its symbols.
  std::vector<char*> args{const_cast<char*>("gdb"), const_cast<char*>(plan.exe_path.c_str()),
                          const_cast<char*>("-p"), const_cast<char*>(pid.c_str()), nullptr};
  ::execvp("gdb", args.data());
  fmt::print(stderr, "criu-necromancer: cannot run gdb ({}); pid {} is restored and stopped: attach with gdb -p {}\n",
             std::strerror(errno), r->pid, r->pid);
  return 1;
}

/// The donor: a `criu dump` directory, or (no -i) one synthesized from the core.
struct donor_source {
  std::optional<necro::criu::image_set> loaded;
  std::optional<necro::plan::synthetic_donor> synthetic;
  const necro::criu::image_set& images() const { return synthetic ? synthetic->images : *loaded; }
};

struct donorless_choice {
  std::string stdio, cwd;
};

template <class Arch>
donor_source load_donor(const necro::elf::core_view<Arch>& core, std::optional<necro::criu::image_set> images,
                        const necro::io::file_facts& disk, const donorless_choice& choice,
                        const necro::plan::share_modes& shares) {
  donor_source d;
  if (images) {
    d.loaded = std::move(images);
    return d;
  }
  auto opt = donorless::gather(core.pid(), disk, choice.stdio, choice.cwd);
  if (!opt) die(opt.error());
  opt->shares = shares;
  auto synthetic = necro::plan::synthesize_donor(core, disk, *opt);
  if (!synthetic) die(synthetic.error());
  d.synthetic = std::move(*synthetic);
  return d;
}

template <class Arch>
necro::result<necro::plan::resurrection> plan_with(const necro::elf::core_view<Arch>& core, const donor_source& donor,
                                                   const necro::io::file_facts& disk, const necro::plan::options& opt) {
  if (donor.synthetic) return necro::plan::plan_donorless(core, *donor.synthetic, disk, opt);
  return necro::plan::plan_resurrection(core, *donor.loaded, disk, opt);
}

/// Everything the command line says.
struct cli_options {
  std::string core_path, images_dir, out_dir, method = "copy_file_range", progress = "auto", criu_bin, capture_dir;
  donorless_choice choice;
  bool explain = false, inspect = false, offline = false, quiet = false, verbose = false, no_sync = false,
       no_reflink = false, restore = false, stopped = false, gdb = false, lazy = false, no_capture = false;
};

/// The capture at death beside the core (CORE.necro/, written by necro-catch)
/// or named by --capture, with what this machine has of its paths now.
struct capture_input {
  necro::capture::process_capture capture;
  necro::plan::capture_facts facts;
};

/// st_mode of each path the capture would reopen (fd targets, cwd, root).
necro::plan::capture_facts stat_captured_paths(const necro::capture::process_capture& c, const std::string& dir) {
  necro::plan::capture_facts facts{.dir = dir, .present = {}};
  auto add = [&](const std::string& path) {
    struct stat st {};
    if (!path.empty() && path.front() == '/' && ::stat(path.c_str(), &st) == 0)
      facts.present.emplace(path, static_cast<std::uint32_t>(st.st_mode));
  };
  for (const auto& f : c.fds)
    if (f.kind == necro::capture::fd_kind::reg) add(f.link);
  add(c.cwd);
  add(c.root);
  return facts;
}

/// The capture to use: --capture DIR (unreadable: the end), else CORE.necro/
/// when it exists (unreadable: a warning, and none), never with --no-capture.
std::optional<capture_input> read_capture(const cli_options& o, std::int32_t pid, std::vector<std::string>& warnings) {
  if (o.no_capture) return std::nullopt;
  const bool given = !o.capture_dir.empty();
  const std::string dir = given ? o.capture_dir : necro::capture::dir_for_core(o.core_path);
  std::error_code ec;
  if (!given && !std::filesystem::is_directory(dir, ec)) return std::nullopt;
  auto c = necro::capture::read(dir, pid);
  if (!c) {
    if (given) die(c.error());
    warnings.push_back(fmt::format("the capture beside the core is not used: {}", c.error().message()));
    return std::nullopt;
  }
  auto facts = stat_captured_paths(*c, dir);
  facts.cwd_chosen = !o.choice.cwd.empty();
  return capture_input{std::move(*c), std::move(facts)};
}

/// The share mode of the VMAs, when the capture recorded it.
necro::plan::share_modes shares_of(const std::optional<capture_input>& cap) {
  necro::plan::share_modes s;
  if (!cap || !cap->capture.shared_vmas) return s;
  s.known = true;
  for (const auto& v : *cap->capture.shared_vmas) s.shared.emplace_back(v.start, v.end);
  return s;
}

/// A core without NT_FILE (the kernel leaves it out past
/// kernel.core_file_note_size_limit): its file mappings are rebuilt from the
/// executable and the dynamic linker's link_map, with the objects' program
/// headers read from disk. Returns the report for --explain ("" when the core
/// has NT_FILE); the warnings go to `warnings`.
template <class Arch>
necro::result<std::string> rebuild_file_mappings(necro::elf::core_view<Arch>& core, const necro::criu::image_set* donor,
                                                 bool offline, std::vector<std::string>& warnings) {
  if (core.process().nt_file) return std::string{};
  auto loaded = necro::elf::read_loaded_objects(core);
  if (!loaded) {
    auto e = loaded.error();
    return necro::fail(e.prefix("no NT_FILE, and the dynamic linker's list cannot be read: "));
  }
  if (offline)
    return necro::fail(necro::error(necro::errc::missing, std::string(core.path()),
                                    "the core has no NT_FILE note: its file mappings can only be rebuilt from the "
                                    "files on disk, which --offline does not read"));
  std::vector<std::string> exe_names, names;
  if (auto fn = core.auxv(necro::arch::at::execfn))
    if (auto s = core.read_string(*fn)) exe_names.emplace_back(*s);
  if (donor)
    if (const auto* exe = donor->reg_file(donor->mm().exe_file_id())) exe_names.push_back(exe->name());
  names = exe_names;
  for (const auto& o : loaded->objects)
    if (!o.name.empty() && o.name.front() == '/') names.emplace_back(o.name);
  const auto disk = necro::disk::read_object_files(names);
  auto rebuilt = necro::plan::rebuild_file_mappings(core, *loaded, exe_names, disk);
  if (!rebuilt) return necro::fail(rebuilt.error());
  for (auto& w : rebuilt->warnings) warnings.push_back(std::move(w));
  std::string report = necro::plan::explain_rebuilt(*rebuilt);
  core.adopt_file_mappings(std::move(rebuilt->entries));
  return report;
}

/// The donor's images (with -i), read first: its executable names the
/// victim's when the core has no NT_FILE and its mappings are rebuilt.
struct donor_and_mappings {
  std::optional<necro::criu::image_set> donor;
  std::string rebuilt;  ///< the rebuild's report ("" with NT_FILE)
  std::vector<std::string> warnings;
};

/// With `tolerant` (--inspect) mappings that cannot be rebuilt are a warning, else the end.
template <class Arch>
donor_and_mappings read_donor_and_mappings(const std::string& images_dir, necro::elf::core_view<Arch>& core,
                                           bool offline, bool tolerant = false) {
  donor_and_mappings out;
  if (!images_dir.empty()) {
    auto d = necro::criu::image_set::load(images_dir);
    if (!d) die(d.error());
    if (auto same = necro::plan::check_donor_architecture<Arch>(std::string(core.path()), *d); !same && !tolerant)
      die(same.error());
    out.donor = std::move(*d);
  }
  auto rebuilt = rebuild_file_mappings(core, out.donor ? &*out.donor : nullptr, offline, out.warnings);
  if (rebuilt) {
    out.rebuilt = std::move(*rebuilt);
  } else {
    if (!tolerant) die(rebuilt.error());
    out.warnings.push_back("file mappings not rebuilt: " + rebuilt.error().message());
  }
  return out;
}

/// --explain: the plan, with the pages the write will write and elide (the
/// page engine's own decision, made by reading the candidate pages).
template <class Arch>
void print_explanation(const necro::elf::core_view<Arch>& core, const necro::plan::resurrection& plan,
                       const necro::io::file_facts& disk, bool verbose) {
  auto decided = necro::write::classify_pages<Arch>(*core.file(), plan, disk);
  if (!decided) die(decided.error());
  const necro::plan::page_decision d{decided->pages, decided->hole_pages, decided->pagemap.size()};
  fmt::print("{}", necro::plan::explain(plan, verbose, &d));
}



void add_input_options(CLI::App& app, cli_options& o) {
  app.add_option("-c,--core", o.core_path,
                 "ELF core of the dead process, x86_64 or aarch64 (zstd-compressed is fine: core.*.zst)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("-i,--images", o.images_dir,
                 "CRIU images of the donor (criu dump -D); without it the images are synthesized from the core")
      ->check(CLI::ExistingDirectory);
  app.add_option("-o,--out", o.out_dir,
                 "write the patched image set here (must not exist); without it the donor directory is patched "
                 "in place and its originals are kept in DIR.donor");
  app.add_option("--stdio", o.choice.stdio,
                 "without -i: fds 0, 1 and 2 of the resurrected process on this file or tty (default /dev/null)");
  app.add_option("--cwd", o.choice.cwd, "without -i: the resurrected process's working directory (default: the "
                 "captured one, else /)");
  app.add_option("--capture", o.capture_dir,
                 "the capture at death to use (necro-catch's CORE.necro/, found beside the core by default): "
                 "without -i the victim's own fds, cwd, rlimits and credentials; with -i its regular files")
      ->check(CLI::ExistingDirectory);
  app.add_flag("--no-capture", o.no_capture, "do not use the capture found beside the core");
  app.add_flag("--explain", o.explain, "print the plan (VMAs, threads, relocations, pages) and write nothing");
  app.add_flag("--inspect", o.inspect, "summarise the core (and the donor images) and write nothing");
  app.add_flag("--offline", o.offline,
               "do not check the mapped files on this machine's disk (plan a core from another machine)");
}

void add_write_options(CLI::App& app, cli_options& o) {
  std::vector<std::string> methods;
  for (const auto m : necro::write::copy_methods) methods.emplace_back(necro::write::name(m));
  app.add_option("--copy-method", o.method, "how page bytes are copied (copy_file_range is the fastest measured)")
      ->check(CLI::IsMember(std::move(methods)));
  app.add_flag("--no-reflink", o.no_reflink,
               "read and elide pages even where the output's file system could share the core's extents "
               "(by default page runs are cloned there: nothing is read and no space used)");
  app.add_flag("--no-sync", o.no_sync,
               "do not fsync the new images: faster for large cores, but the set may not survive a power loss");
  app.add_flag("-v,--verbose", o.verbose, "with --explain: list every page run");
  app.add_flag("-q,--quiet", o.quiet, "print nothing on success (and no progress line)");
  app.add_option("--progress", o.progress,
                 "progress of the page copy on stderr: auto (on a terminal, for patches over a second), always "
                 "(also into files and pipes, one line per update), never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
}

void add_restore_options(CLI::App& app, cli_options& o) {
  app.add_flag("--restore", o.restore,
               "after patching, restore the process through CRIU's RPC (criu swrk) and print its pid");
  app.add_flag("--stopped", o.stopped, "with --restore: leave the restored process stopped");
  app.add_flag("--gdb", o.gdb, "with --restore: restore it stopped and run gdb on it (gdb PROGRAM -p PID)");
  app.add_flag("--lazy", o.lazy,
               "with --restore: return once the process runs; its memory is filled on first touch by a "
               "criu lazy-pages daemon (userfaultfd), which exits when all is in");
  app.add_option("--criu", o.criu_bin, "the CRIU (>= 4.1) for --restore; default: $NECRO_CRIU, else criu on PATH");
}

/// Options that do not go together: a message and exit code 2, else 0.
int check_usage(const cli_options& o) {
  if (o.images_dir.empty() && o.out_dir.empty() && !o.explain && !o.inspect) {
    fmt::print(stderr, "criu-necromancer: without a donor (-i), -o OUT_DIR says where the synthesized set goes\n");
    return 2;
  }
  if (!o.images_dir.empty() && (!o.choice.stdio.empty() || !o.choice.cwd.empty())) {
    fmt::print(stderr, "criu-necromancer: --stdio and --cwd choose what a donor-less set lacks; with -i the donor's "
                       "files serve\n");
    return 2;
  }
  if (o.no_capture && !o.capture_dir.empty()) {
    fmt::print(stderr, "criu-necromancer: --capture names a capture to use, --no-capture uses none: choose one\n");
    return 2;
  }
  if ((o.stopped || o.gdb || o.lazy || !o.criu_bin.empty()) && !o.restore) {
    fmt::print(stderr, "criu-necromancer: --stopped, --gdb, --lazy and --criu go with --restore\n");
    return 2;
  }
  if (o.restore && o.explain) {
    fmt::print(stderr, "criu-necromancer: --restore writes and restores; --explain writes nothing: choose one\n");
    return 2;
  }
  return 0;
}

/// The CRIU for --restore, checked before anything is written: a too old one fails now.
std::filesystem::path locate_criu(const cli_options& o) {
  auto found = necro::criu::rpc::locate(o.criu_bin.empty() ? std::nullopt
                                                           : std::optional<std::filesystem::path>(o.criu_bin));
  if (!found) die(found.error());
  if (auto v = necro::criu::rpc::require_version(*found); !v) die(v.error());
  return *found;
}

void print_summary(const necro::plan::resurrection& plan, const necro::write::commit_report& rep, bool restore) {
  const auto& pg = rep.pages;
  fmt::print("resurrected pid {} ({} thread(s)) into {}\n", plan.pid, plan.threads.size(), printable(rep.out_dir.string()));
  fmt::print("  {} VMAs, {} pages written ({} MiB), {} relocations\n", plan.vmas.size(), pg.pages.kept_pages,
             rep.page_bytes >> 20, plan.relocations.size());
  fmt::print("  elided {} MiB: {} zero pages ({} of them holes in the core), {} pages equal to their file\n",
             pg.bytes_elided >> 20, pg.pages.zero_pages, pg.hole_pages, pg.pages.file_pages);
  if (pg.bytes_cloned > 0)
    fmt::print("  cloned {} MiB from the core: extents shared, no page read (--no-reflink reads and elides)\n",
               pg.bytes_cloned >> 20);
  for (const auto& t : plan.threads)
    if (!t.rewind.empty()) fmt::print("  thread {}: {}\n", t.tid, printable(t.rewind));
  if (plan.capture)
    fmt::print("  from the capture {}: {} fds and settings; {} closed, {} lost (--explain lists them)\n",
               printable(plan.capture->dir), plan.capture->restored.size(), plan.capture->closed.size(),
               plan.capture->lost.size());
  for (const auto& w : plan.warnings) fmt::print("  warning: {}\n", printable(w));
  if (!rep.kept_donor.empty()) fmt::print("  the donor's original images are in {}\n", printable(rep.kept_donor.string()));
  if (!restore)
    fmt::print("restore with: criu restore -D {} -d   (add -s to leave it stopped for a debugger)\n",
               printable(rep.out_dir.string()));
}

progress_line::mode progress_mode(const cli_options& o) {
  return o.quiet || o.progress == "never" ? progress_line::mode::never
         : o.progress == "always"         ? progress_line::mode::always
                                          : progress_line::mode::automatic;
}

/// Writes the image set (and restores it with --restore).
template <class Arch>
int write_and_restore(const cli_options& o, const necro::elf::core_view<Arch>& core, const necro::criu::image_set& donor,
                      const necro::plan::resurrection& plan, const necro::io::file_facts& disk,
                      const std::filesystem::path& criu) {
  const std::filesystem::path target = o.out_dir.empty() ? std::filesystem::path(o.images_dir) : std::filesystem::path(o.out_dir);
  progress_line bar(progress_mode(o), ::isatty(STDERR_FILENO) == 1);
  stop_signals signals;  // from here on a signal must not leave half a set behind
  auto rep = necro::write::commit(plan, core, donor, target,
                                  {.method = *necro::write::parse_copy_method(o.method),
                                   .files = &disk,
                                   .progress = bar.callback(),
                                   .reflink = !o.no_reflink,
                                   .durable = !o.no_sync,
                                   .cancel = &stop_requested});
  bar.finish();
  if (!rep) {
    if (const int sig = stop_signal.load()) {
      fmt::print(stderr, "criu-necromancer: {} ({})\n", printable(rep.error().message()), stop_signals::name(sig));
      std::fflush(stderr);
      signals.settle();
      return 128 + sig;  // the signal was blocked or handled elsewhere
    }
    die(rep.error());
  }
  if (!o.quiet) print_summary(plan, *rep, o.restore);
  // A signal that came once the set was moving into place: the set is
  // complete; now take the signal's default action.
  std::fflush(stdout);
  signals.settle();
  if (!o.restore) return 0;
  return restore_and_report(criu, plan, rep->out_dir,
                            {.stopped = o.stopped || o.gdb, .gdb = o.gdb, .quiet = o.quiet, .lazy = o.lazy});
}

/// --inspect: the core, and the donor when one is given.
template <class Arch>
int inspect(const cli_options& o, necro::elf::core_view<Arch>& core) {
  const auto dm = read_donor_and_mappings(o.images_dir, core, o.offline, /*tolerant=*/true);
  inspect_core(core);
  if (!dm.rebuilt.empty()) fmt::print("{}", dm.rebuilt);
  for (const auto& w : dm.warnings) fmt::print("  warning: {}\n", printable(w));
  if (dm.donor) inspect_donor<Arch>(*dm.donor);
  return 0;
}

/// Everything after the architecture is known: `file` maps an Arch core.
template <class Arch>
int run(const cli_options& o, necro::io::mapped_file file) {
  auto core = necro::elf::core_view<Arch>::open(std::move(file));
  if (!core) die(core.error());
  if (o.inspect) return inspect(o, *core);
  const std::filesystem::path criu = o.restore ? locate_criu(o) : std::filesystem::path{};
  auto dm = read_donor_and_mappings(o.images_dir, *core, o.offline);
  // The mapped files, mapped, not read: pages of private file mappings are
  // compared with the file while writing (and by --explain, which counts what
  // the write will elide); build-ids are compared with the ones the victim ran.
  const auto disk = necro::disk::gather_disk_facts(*core, {.offline = o.offline});
  const auto cap = read_capture(o, core->pid(), dm.warnings);
  const necro::plan::options plan_options{.offline = o.offline, .shares = shares_of(cap)};
  const donor_source donor = load_donor(*core, std::move(dm.donor), disk, o.choice, plan_options.shares);
  auto plan = plan_with(*core, donor, disk, plan_options);
  if (!plan) die(plan.error());
  if (cap) {
    const auto scope = donor.synthetic ? necro::plan::capture_scope::everything : necro::plan::capture_scope::regular_files;
    if (auto applied = necro::plan::apply_capture(*plan, donor.images(), cap->capture, cap->facts, scope); !applied)
      die(applied.error());
  }
  plan->warnings.insert(plan->warnings.begin(), dm.warnings.begin(), dm.warnings.end());
  if (o.explain) {
    if (!dm.rebuilt.empty()) fmt::print("{}\n", dm.rebuilt);
    print_explanation(*core, *plan, disk, o.verbose);
    return 0;
  }
  return write_and_restore(o, *core, donor.images(), *plan, disk, criu);
}

/// Maps the core, reads its ELF identity and runs the flow of its architecture.
/// Arguments first: a compressed core is decompressed only for a run that can go on.
int dispatch(const cli_options& o) {
  if (const int usage = check_usage(o)) return usage;
  auto file = open_core(o.core_path, scratch_dir_for(!o.explain && !o.inspect, o.out_dir, o.images_dir),
                        progress_mode(o));
  if (!file) die(file.error());
  auto id = necro::elf::identify(file->view());
  if (!id) die(id.error());
  int code = 1;
  const bool known = necro::map::for_machine(
      id->machine, [&](auto tag) { code = run<typename decltype(tag)::type>(o, std::move(*file)); });
  if (!known)
    die(file->view().error_at(18, necro::errc::unsupported,
                              fmt::format("ELF machine {} (e_machine) is not an architecture necro reads; it reads {}",
                                          id->machine, necro::map::known_machines())));
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"criu-necromancer: resurrect a dead process from its core dump, with the CRIU images of a donor "
               "(a live run of the same program, dumped with `criu dump`) or, without -i, with images synthesized "
               "from the core alone."};
  cli_options o;
  add_input_options(app, o);
  add_write_options(app, o);
  add_restore_options(app, o);
  app.set_version_flag("--version", NECRO_VERSION_STRING);
  CLI11_PARSE(app, argc, argv);
  return dispatch(o);
}
