/// necro::session<Arch>: a resurrection planned and ready to write — the
/// inputs, this machine's facts, the capture at death, the donor (loaded or
/// synthesized from the core) and the plan. `plan_session()` makes one;
/// `explain()` says what it will do, `commit()` writes the image set.
#ifndef NECRO_RESURRECT_SESSION_HPP
#define NECRO_RESURRECT_SESSION_HPP
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/capture/model.hpp>
#include <necro/capture/reader.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/disk/facts.hpp>
#include <necro/disk/locate.hpp>
#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/plan/address_space/located_files.hpp>
#include <necro/plan/capture.hpp>
#include <necro/plan/cpu/cpu_check.hpp>
#include <necro/plan/donorless.hpp>
#include <necro/plan/explain.hpp>
#include <necro/plan/resurrection.hpp>
#include <necro/resurrect/detail/cpu_facts.hpp>
#include <necro/resurrect/detail/machine_facts.hpp>
#include <necro/resurrect/inputs.hpp>
#include <necro/resurrect/options.hpp>
#include <necro/write/commit.hpp>
#include <necro/write/page_engine.hpp>

namespace necro {

/// The capture at death in use, with what this machine has of its paths now.
struct capture_input {
  capture::process_capture capture;
  plan::capture_facts facts;
};

template <class Arch>
struct session {
  inputs<Arch> in;
  /// The mapped files, mapped, not read: pages of private file mappings are
  /// compared with the file while writing; build-ids are checked.
  io::file_facts disk;
  /// Where each mapped file was found on this machine (disk::locate_files).
  disk::file_locations located;
  std::optional<capture_input> capture;
  std::optional<plan::synthetic_donor> synthetic;  ///< without a donor: the one made from the core
  plan::resurrection plan;

  /// The images the plan patches: the donor's, or the synthesized ones.
  const criu::image_set& donor() const { return synthetic ? synthetic->images : *in.donor; }
  const elf::core_view<Arch>& core() const { return in.core; }
};

namespace detail {

/// The capture to use: a given one (unreadable: an error), else CORE.necro/
/// when it exists (unreadable: a warning, and none), never with capture_choice::none.
inline result<std::optional<capture_input>> read_capture(const resurrect_options& o, std::int32_t pid,
                                                         std::vector<std::string>& warnings) {
  if (o.capture == capture_choice::none) return std::optional<capture_input>{};
  const bool given = o.capture == capture_choice::given;
  const std::string dir = given ? o.capture_dir.string() : capture::dir_for_core(o.core.string());
  std::error_code ec;
  if (!given && !std::filesystem::is_directory(dir, ec)) return std::optional<capture_input>{};
  auto c = capture::read(dir, pid);
  if (!c) {
    if (given) return fail(c.error());
    warnings.push_back(fmt::format("the capture beside the core is not used: {}", c.error().message()));
    return std::optional<capture_input>{};
  }
  auto facts = stat_captured_paths(*c, dir, o.sysroot, o.missing_files_as);
  facts.cwd_chosen = !o.cwd.empty();
  return std::optional<capture_input>(capture_input{std::move(*c), std::move(facts)});
}

/// The share mode of the VMAs, when the capture recorded it.
inline plan::share_modes shares_of(const std::optional<capture_input>& cap) {
  plan::share_modes s;
  if (!cap || !cap->capture.shared_vmas) return s;
  s.known = true;
  for (const auto& v : *cap->capture.shared_vmas) s.shared.emplace_back(v.start, v.end);
  return s;
}

/// The CPU check (plan/cpu/cpu_check.hpp) of `core` against this machine's
/// CPU, or none with --offline; the refusal names the core.
template <class Arch>
result<plan::cpu_check> check_this_cpu(const elf::core_view<Arch>& core, const resurrect_options& o) {
  const auto here = o.offline ? std::nullopt : std::optional<plan::cpu_facts>(this_machine_cpu());
  auto c = plan::check_cpu(plan::core_cpu(core), here, o.force_cpu);
  if (!c) return fail(error(c.error().code(), o.core.string(), c.error().what()));
  return c;
}

/// The CPU check's outcome into the plan: its line for --explain, its
/// warning, and a forced plan's xsave state cut to this CPU's components.
inline void apply_cpu_check(plan::resurrection& p, const plan::cpu_check& c) {
  plan::fit_xsave(p, c);
  p.cpu = c.line;
  if (c.warning) p.warnings.insert(p.warnings.begin(), *c.warning);
}

}  // namespace detail

/// Plans the resurrection of `in`: the CPU check, this machine's facts, the
/// capture, the donor (without one, synthesized from the core), the plan,
/// completed by the capture. Reads files; writes nothing.
template <class Arch>
result<session<Arch>> plan_session(inputs<Arch> in, const resurrect_options& o) {
  session<Arch> s{std::move(in), {}, {}, {}, {}, {}};
  auto& core = s.in.core;
  NECRO_TRY_ASSIGN(const auto cpu, detail::check_this_cpu(core, o));
  auto located = disk::locate_files(core, {.facts = {.offline = o.offline},
                                           .sysroot = o.sysroot,
                                           .debuginfod = o.debuginfod.value_or(!disk::debuginfod_urls().empty())});
  s.disk = std::move(located.facts);
  s.located = std::move(located.locations);
  s.in.warnings.insert(s.in.warnings.end(), located.warnings.begin(), located.warnings.end());
  if (o.offline && !o.sysroot.empty())
    s.in.warnings.push_back("--sysroot is not used with --offline: no file of this machine is read");
  NECRO_TRY_ASSIGN(s.capture, detail::read_capture(o, core.pid(), s.in.warnings));
  const plan::options plan_options{.offline = o.offline, .shares = detail::shares_of(s.capture)};
  NECRO_TRY_ASSIGN(const auto unfound, plan::judge_unfound_files(core, s.located, plan_options.shares));
  core.forget_file_mappings(unfound.anonymous);
  for (const auto& path : unfound.anonymous) s.disk.erase(path);
  s.in.warnings.insert(s.in.warnings.end(), unfound.warnings.begin(), unfound.warnings.end());
  if (s.in.donor) {
    NECRO_TRY_ASSIGN(s.plan, plan::plan_resurrection(core, *s.in.donor, s.disk, plan_options));
  } else {
    NECRO_TRY_ASSIGN(auto facts, detail::donorless_facts(core.pid(), s.disk, o.stdio, o.cwd));
    facts.shares = plan_options.shares;
    NECRO_TRY_ASSIGN(s.synthetic, plan::synthesize_donor(core, s.disk, facts));
    NECRO_TRY_ASSIGN(s.plan, plan::plan_donorless(core, *s.synthetic, s.disk, plan_options));
  }
  if (s.capture) {
    const auto scope = s.synthetic ? plan::capture_scope::everything : plan::capture_scope::regular_files;
    NECRO_TRY(plan::apply_capture(s.plan, s.donor(), s.capture->capture, s.capture->facts, scope));
  }
  plan::place_located_files(s.plan, s.located, unfound.anonymous);
  detail::apply_cpu_check(s.plan, cpu);
  s.plan.warnings.insert(s.plan.warnings.begin(), s.in.warnings.begin(), s.in.warnings.end());
  return s;
}

/// The plan in words (--explain), with the pages the write will write and
/// elide: the page engine's own decision, made by reading the candidate pages.
template <class Arch>
result<std::string> explain(const session<Arch>& s, bool verbose = false) {
  NECRO_TRY_ASSIGN(const auto decided, write::classify_pages<Arch>(*s.core().file(), s.plan, s.disk));
  const plan::page_decision d{decided.pages, decided.hole_pages, decided.pagemap.size()};
  return plan::explain(s.plan, verbose, &d);
}

/// Where the set goes: resurrect_options::out, else the donor's directory,
/// patched in place; without either, an error.
inline result<std::filesystem::path> set_directory(const resurrect_options& o) {
  if (!o.out.empty()) return o.out;
  if (!o.donor.empty()) return o.donor;
  return fail(error(errc::bad_value, o.core.string(), "without a donor the synthesized set needs an output directory"));
}

/// Writes the image set into set_directory(o).
template <class Arch>
result<write::commit_report> commit(const session<Arch>& s, const resurrect_options& o,
                                    const write::progress_fn& progress = {}) {
  NECRO_TRY_ASSIGN(const auto target, set_directory(o));
  return write::commit(s.plan, s.core(), s.donor(), target,
                       {.method = o.method,
                        .files = &s.disk,
                        .progress = progress,
                        .reflink = o.reflink,
                        .serve_lazy = o.serve_lazy,
                        .durable = o.durable,
                        .cancel = o.cancel});
}

}  // namespace necro

#endif
