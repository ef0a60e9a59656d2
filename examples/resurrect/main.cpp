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
// The command line and what is printed; the work is the library's
// (necro/resurrect/: open_core, with_core, plan_core, commit, restore).

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <necro/necro.hpp>

namespace {

using necro::io::printable;

/// Everything the command line says.
struct cli_options {
  std::string core_path, images_dir, out_dir, method = "copy_file_range", progress = "auto", criu_bin, capture_dir;
  std::string stdio, cwd, exe, sysroot, missing_files_as = "/dev/null", lazy_source = "auto";
  std::string lazy_daemon = "necro", lazy_push = "yes";
  bool debuginfod = false, no_debuginfod = false;
  bool explain = false, inspect = false, offline = false, quiet = false, verbose = false, no_sync = false,
       no_reflink = false, restore = false, stopped = false, gdb = false, lazy = false, no_capture = false,
       force_cpu = false;
};

necro::resurrect_options resurrect_options_of(const cli_options& o) {
  return {.core = o.core_path,
          .donor = o.images_dir,
          .out = o.out_dir,
          .capture = o.no_capture              ? necro::capture_choice::none
                     : !o.capture_dir.empty() ? necro::capture_choice::given
                                              : necro::capture_choice::beside_core,
          .capture_dir = o.capture_dir,
          .stdio = o.stdio,
          .cwd = o.cwd,
          .exe = o.exe,
          .offline = o.offline,
          .sysroot = o.sysroot,
          .debuginfod = o.debuginfod ? std::optional<bool>(true) : o.no_debuginfod ? std::optional<bool>(false) : std::nullopt,
          .missing_files_as = o.missing_files_as,
          .force_cpu = o.force_cpu,
          .method = *necro::write::parse_copy_method(o.method),
          .reflink = !o.no_reflink,
          .durable = !o.no_sync,
          .pages_from = *necro::parse_lazy_source(o.lazy_source)};
}

necro::progress_line::mode progress_mode(const cli_options& o) {
  using mode = necro::progress_line::mode;
  return o.quiet || o.progress == "never" ? mode::never : o.progress == "always" ? mode::always : mode::automatic;
}

/// Messages quote paths and names from the core, escaped by printable(): an
/// error stays one line and sends no terminal escapes.
int report(const necro::error& e) {
  fmt::print(stderr, "criu-necromancer: {}\n", printable(e.message()));
  return 1;
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
  app.add_option("--stdio", o.stdio,
                 "without -i: fds 0, 1 and 2 of the resurrected process on this file or tty (default /dev/null)");
  app.add_option("--cwd", o.cwd, "without -i: the resurrected process's working directory (default: the "
                 "captured one, else /)");
  app.add_option("--capture", o.capture_dir,
                 "the capture at death to use (necro-catch's CORE.necro/, found beside the core by default): "
                 "without -i the victim's own fds, cwd, rlimits and credentials; with -i its regular files")
      ->check(CLI::ExistingDirectory);
  app.add_option("--exe", o.exe,
                 "the dead process's program, for a core without NT_FILE that does not name it (a static program, "
                 "a qemu-user core); default: AT_EXECFN, then the core's process name. Used only if its ELF headers "
                 "fit the core");
  app.add_flag("--no-capture", o.no_capture, "do not use the capture found beside the core");
  app.add_flag("--explain", o.explain, "print the plan (VMAs, threads, relocations, pages) and write nothing");
  app.add_flag("--inspect", o.inspect, "summarise the core (and the donor images) and write nothing");
  app.add_flag("--offline", o.offline,
               "do not check the mapped files on this machine's disk nor its CPU (plan a core from another machine)");
  app.add_option("--sysroot", o.sysroot,
                 "look each mapped or open file P up as DIR/P first, then P; the first that is the file the process "
                 "ran (same build-id) is used (a core from another machine)")
      ->check(CLI::ExistingDirectory);
  auto* on = app.add_flag("--debuginfod", o.debuginfod,
                          "fetch mapped ELF objects found nowhere by build-id from the servers in DEBUGINFOD_URLS "
                          "(default: on when DEBUGINFOD_URLS is set)");
  app.add_flag("--no-debuginfod", o.no_debuginfod, "ask no debuginfod server, even with DEBUGINFOD_URLS set")->excludes(on);
  app.add_option("--missing-files-as", o.missing_files_as,
                 "without -i: what holds the fd of a captured regular file missing on this machine (\"\": the fd "
                 "is closed)")
      ->capture_default_str();
  app.add_flag("--force-cpu", o.force_cpu,
               "go on when the dead process may use CPU features this CPU lacks (XSAVE components, HWCAP): "
               "a warning, and the XSAVE state this CPU lacks is dropped");
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
               "lazy-pages daemon (userfaultfd), which exits when all is in");
  app.add_option("--lazy-source", o.lazy_source,
                 "with --lazy: where the memory comes from: core (necro's lazy-pages daemon copies it straight from "
                 "the core: no copy on disk, no space), images (pages-*.img, cloned or copied), auto (images where "
                 "the output's file system shares extents with the core, else core); --explain says which and why")
      ->check(CLI::IsMember({"auto", "core", "images"}))
      ->capture_default_str();
  app.add_option("--lazy-daemon", o.lazy_daemon,
                 "with memory from the core: necro (its own lazy-pages daemon: UFFDIO_COPY from the core) or criu "
                 "(criu lazy-pages asking a page server of necro's, which sends the core's bytes over a socket)")
      ->check(CLI::IsMember({"necro", "criu"}))
      ->capture_default_str();
  app.add_option("--lazy-push", o.lazy_push,
                 "with necro's lazy-pages daemon: yes (every page is pushed once the process is restored; with "
                 "--gdb once gdb has attached and gone quiet), no (a page comes only when the process touches it: its "
                 "memory holds its working set only; the daemon stays until it exits; a debugger cannot read "
                 "untouched pages). Either way the pages a debugger reads first go in at once: the threads' stacks "
                 "and control blocks, the dynamic linker's library list")
      ->check(CLI::IsMember({"yes", "no"}))
      ->capture_default_str();
  app.add_option("--criu", o.criu_bin, "the CRIU (>= 4.1) for --restore; default: $NECRO_CRIU, else criu on PATH");
}

/// Options that do not go together: a message and exit code 2, else 0.
int check_usage(const cli_options& o) {
  if (o.images_dir.empty() && o.out_dir.empty() && !o.explain && !o.inspect) {
    fmt::print(stderr, "criu-necromancer: without a donor (-i), -o OUT_DIR says where the synthesized set goes\n");
    return 2;
  }
  if (!o.images_dir.empty() && (!o.stdio.empty() || !o.cwd.empty())) {
    fmt::print(stderr, "criu-necromancer: --stdio and --cwd choose what a donor-less set lacks; with -i the donor's "
                       "files serve\n");
    return 2;
  }
  if (o.no_capture && !o.capture_dir.empty()) {
    fmt::print(stderr, "criu-necromancer: --capture names a capture to use, --no-capture uses none: choose one\n");
    return 2;
  }
  if ((o.stopped || o.gdb || !o.criu_bin.empty()) && !o.restore) {
    fmt::print(stderr, "criu-necromancer: --stopped, --gdb and --criu go with --restore\n");
    return 2;
  }
  if (o.lazy && !o.restore && !o.explain) {
    fmt::print(stderr, "criu-necromancer: --lazy goes with --restore (or --explain, to see where its memory would come from)\n");
    return 2;
  }
  if ((o.lazy_source != "auto" || o.lazy_daemon != "necro" || o.lazy_push != "yes") && !o.lazy) {
    fmt::print(stderr, "criu-necromancer: --lazy-source, --lazy-daemon and --lazy-push go with --lazy\n");
    return 2;
  }
  if (o.restore && o.explain) {
    fmt::print(stderr, "criu-necromancer: --restore writes and restores; --explain writes nothing: choose one\n");
    return 2;
  }
  return 0;
}

/// Restores the written set through CRIU's RPC; with --gdb, becomes gdb.
int restore_and_report(const cli_options& o, const std::filesystem::path& criu, const necro::plan::resurrection& plan,
                       const std::filesystem::path& dir, const necro::lazy::page_source* served) {
  auto r = necro::restore(criu, plan, dir, {.stopped = o.stopped || o.gdb, .lazy = o.lazy, .serve_from = served,
                                          .criu_daemon = o.lazy_daemon == "criu",
                                          .push = o.lazy_push == "yes", .debugger = o.gdb});
  if (!r) {
    // One printable line per line of the report (CRIU's log lines are quoted).
    const std::string message = r.error().message();
    std::string_view text = message;
    for (bool first = true; !text.empty(); first = false) {
      const auto nl = text.find('\n');
      fmt::print(stderr, "{}{}\n", first ? "criu-necromancer: the image set is complete, but " : "  ",
                 printable(text.substr(0, nl)));
      text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    }
    return 1;
  }
  if (!o.quiet || o.gdb)
    fmt::print("restored pid {} ({}); CRIU's log: {}\n", r->pid, o.stopped || o.gdb ? "stopped" : "running",
               printable(r->log.string()));
  if (r->lazy_daemon && (!o.quiet || o.gdb))
    fmt::print("memory loads on first touch: criu lazy-pages pid {} serves it and exits once all is in (log {})\n",
               r->lazy_daemon->pid, printable(r->lazy_daemon->log.string()));
  if (r->core_daemon && (!o.quiet || o.gdb))
    fmt::print("memory is served from the core {}: necro lazy-pages daemon pid {} copies it in and exits once all "
               "is in (log {})\n", printable(o.core_path), r->core_daemon->pid, printable(r->core_daemon->log.string()));
  if (r->page_server && (!o.quiet || o.gdb))
    fmt::print("memory is served from the core {}: necro page server pid {} (log {})\n", printable(o.core_path),
               r->page_server->pid, printable(r->page_server->log.string()));
  if (!o.gdb) return 0;
  std::fflush(stdout);
  const std::string pid = std::to_string(r->pid);
  // The program's path first (where it was found), so gdb loads its symbols.
  const std::string program = necro::plan::restored_exe_path(plan);
  std::vector<char*> args{const_cast<char*>("gdb"), const_cast<char*>(program.c_str()),
                          const_cast<char*>("-p"), const_cast<char*>(pid.c_str()), nullptr};
  ::execvp("gdb", args.data());
  fmt::print(stderr, "criu-necromancer: cannot run gdb ({}); pid {} is restored and stopped: attach with gdb -p {}\n",
             std::strerror(errno), r->pid, r->pid);
  return 1;
}

/// Writes the image set (and restores it with --restore). A signal while
/// writing removes what was written, then takes its course.
template <class Arch>
int write_and_restore(const cli_options& o, necro::resurrect_options r, const necro::session<Arch>& s,
                      const std::filesystem::path& criu) {
  std::optional<necro::lazy::page_source> served;  // the core as planned, before anything is written
  if (o.restore && r.serve_lazy) {
    auto src = necro::page_source_of(s);
    if (!src) return report(src.error());
    served = std::move(*src);
  }
  necro::progress_line bar(progress_mode(o), ::isatty(STDERR_FILENO) == 1);
  necro::interrupt_guard signals;
  r.cancel = signals.flag();
  auto rep = necro::commit(s, r, bar.callback());
  bar.finish();
  if (!rep) {
    if (const int sig = signals.signal()) {
      fmt::print(stderr, "criu-necromancer: {} ({})\n", printable(rep.error().message()), signals.name(sig));
      std::fflush(stderr);
      signals.settle();
      return 128 + sig;  // the signal was blocked or handled elsewhere
    }
    return report(rep.error());
  }
  if (!o.quiet) fmt::print("{}", necro::summary(s.plan, *rep, o.restore));
  // A signal that came once the set was moving into place: the set is
  // complete; now take the signal's default action.
  std::fflush(stdout);
  signals.settle();
  return o.restore ? restore_and_report(o, criu, s.plan, rep->out_dir, served ? &*served : nullptr) : 0;
}

/// Everything after the architecture is known.
template <class Arch>
necro::result<int> run(const cli_options& o, necro::resurrect_options r, necro::elf::core_view<Arch> core) {
  if (o.inspect) {
    NECRO_TRY_ASSIGN(auto donor, necro::load_donor(r));
    NECRO_TRY_ASSIGN(const auto in, necro::read_inputs(std::move(core), std::move(donor), r, necro::input_check::tolerant));
    fmt::print("{}", necro::inspect(in));
    return 0;
  }
  std::filesystem::path criu;  // checked before anything is written: a too old one fails now
  if (o.restore) {
    NECRO_TRY_ASSIGN(criu, necro::find_criu(o.criu_bin.empty() ? std::nullopt
                                                                : std::optional<std::filesystem::path>(o.criu_bin)));
  }
  NECRO_TRY_ASSIGN(const auto s, necro::plan_core(std::move(core), r));
  std::optional<necro::lazy_path> lazy;
  if (o.lazy) {
    lazy = necro::choose_lazy_path(s, r);
    r.serve_lazy = lazy->from_core;
  }
  if (!o.explain) return write_and_restore(o, r, s, criu);
  if (!s.in.rebuilt.empty()) fmt::print("{}\n", s.in.rebuilt);
  NECRO_TRY_ASSIGN(const auto text, necro::explain(s, o.verbose));
  fmt::print("{}", text);
  if (lazy)
    fmt::print("lazy restore: memory from {}: {}\n", lazy->from_core ? (o.lazy_daemon == "criu" ? "the core (necro's page server)"
                                                                                  : "the core (necro's lazy-pages daemon)")
                                                : "the image set",
               printable(lazy->why));
  return 0;
}

/// Arguments first: a compressed core is decompressed only for a run that can go on.
int dispatch(const cli_options& o) {
  if (const int usage = check_usage(o)) return usage;
  const auto r = resurrect_options_of(o);
  necro::progress_line bar(progress_mode(o), ::isatty(STDERR_FILENO) == 1, fmt::format("decompressing {}", o.core_path));
  auto file = necro::open_core(r, !o.explain && !o.inspect, bar.decompress_callback());
  bar.finish();
  if (!file) return report(file.error());
  auto code = necro::with_core<int>(std::move(*file), [&](auto core) { return run(o, r, std::move(core)); });
  return code ? *code : report(code.error());
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
