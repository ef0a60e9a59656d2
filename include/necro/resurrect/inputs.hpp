/// The inputs of a resurrection, read and checked: the core (decompressed
/// when it is a .zst, its file mappings rebuilt when it has no NT_FILE, from
/// its executable, found and checked, and the dynamic linker's list) and
/// the donor's images. `open_core()`, `load_donor()`, `read_inputs()`.
#ifndef NECRO_RESURRECT_INPUTS_HPP
#define NECRO_RESURRECT_INPUTS_HPP
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/arch/common.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/disk/object_files.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/elf/link_map.hpp>
#include <necro/io/error.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/io/zstd_file.hpp>
#include <necro/plan/address_space/executable.hpp>
#include <necro/plan/address_space/file_mappings.hpp>
#include <necro/plan/resurrection.hpp>
#include <necro/resurrect/options.hpp>

namespace necro {

/// Where a compressed core is decompressed: on the output's file system (the
/// new set's parent, or the donor directory patched in place), so page runs
/// can still be cloned from it; the temporary directory when nothing is written.
inline std::filesystem::path scratch_dir_for(const resurrect_options& o, bool writes) {
  std::error_code ec;
  if (writes && !o.out.empty()) {
    const auto parent = std::filesystem::absolute(o.out, ec).parent_path();
    if (!ec && !parent.empty()) return parent;
  }
  if (writes && !o.donor.empty()) return o.donor;
  auto tmp = std::filesystem::temp_directory_path(ec);
  return ec ? std::filesystem::path("/tmp") : tmp;
}

/// The core's bytes; a zstd one (systemd-coredump's core.*.zst) is
/// decompressed once into an unnamed sparse file (scratch_dir_for). `writes`:
/// a set will be written (not --explain or --inspect).
inline result<io::mapped_file> open_core(const resurrect_options& o, bool writes,
                                         const io::decompress_progress_fn& progress = {}) {
  return io::open_decompressed(o.core.string(), {.scratch_dir = scratch_dir_for(o, writes), .progress = progress});
}

/// The donor's images (none without resurrect_options::donor).
inline result<std::optional<criu::image_set>> load_donor(const resurrect_options& o) {
  if (o.donor.empty()) return std::optional<criu::image_set>{};
  NECRO_TRY_ASSIGN(auto d, criu::image_set::load(o.donor));
  return std::optional<criu::image_set>(std::move(d));
}

/// The core and the donor, checked against each other.
template <class Arch>
struct inputs {
  elf::core_view<Arch> core;
  std::optional<criu::image_set> donor;
  std::string rebuilt;                ///< the report of rebuilt file mappings ("" with NT_FILE)
  std::vector<std::string> warnings;  ///< read before the plan; they head its warnings
};

namespace detail {

/// The executable of a core without NT_FILE, from its candidates
/// (plan::exe_candidates: --exe, else AT_EXECFN, the donor's, NT_PRPSINFO),
/// read from disk (under `sysroot` first) and checked against the core
/// (plan::choose_executable).
/// `link_map_problem`: why the dynamic linker's list could not be read ("" when
/// it could), said with the refusal.
template <class Arch>
result<plan::chosen_executable> find_executable(const elf::core_view<Arch>& core, const std::string& exe,
                                                const criu::image_set* donor, const std::string& link_map_problem,
                                                const std::filesystem::path& sysroot, disk::object_files& objects) {
  std::string donor_exe;
  if (donor)
    if (const auto* f = donor->reg_file(donor->mm().exe_file_id())) donor_exe = f->name();
  const auto candidates = plan::exe_candidates(core, exe, donor_exe);
  for (const auto& c : candidates)
    if (objects.find(c.path) == objects.end()) objects.emplace(c.path, disk::read_object_file(c.path, sysroot));
  auto chosen = plan::choose_executable(core, candidates, objects);
  if (chosen) return chosen;
  auto e = chosen.error();
  if (!link_map_problem.empty()) e.prefix(fmt::format("no NT_FILE, and {}; ", link_map_problem));
  else e.prefix("no NT_FILE; ");
  return fail(error(e.code(), e.path(), e.what() + (exe.empty() ? "; name the program with --exe PATH" : "")));
}

/// A core without NT_FILE (the kernel leaves it out past
/// kernel.core_file_note_size_limit; qemu-user never writes it): its file
/// mappings are rebuilt from the executable (find_executable) and the dynamic
/// linker's link_map when there is one (a static program has none, and a
/// core may lack the executable's program headers that lead to it), with the
/// objects' program headers read from disk. Returns the report ("" when the
/// core has NT_FILE).
template <class Arch>
result<std::string> rebuild_mappings(elf::core_view<Arch>& core, const criu::image_set* donor,
                                     const resurrect_options& o, std::vector<std::string>& warnings) {
  if (core.process().nt_file) return std::string{};
  auto loaded = elf::read_loaded_objects(core);
  std::string link_map_problem;
  if (!loaded) {
    auto e = loaded.error();
    // A dynamically linked program (its interpreter at AT_BASE) without its
    // libraries' names would come back with their code missing.
    if (core.auxv(arch::at::base).value_or(0) != 0)
      return fail(e.prefix("no NT_FILE, and the dynamic linker's list cannot be read: "));
    link_map_problem = fmt::format("the dynamic linker's list cannot be read: {}{}",
                                   e.offset() ? fmt::format("offset {:#x}: ", *e.offset()) : std::string(), e.what());
  }
  if (o.offline)
    return fail(error(errc::missing, std::string(core.path()),
                      "the core has no NT_FILE note: its file mappings can only be rebuilt from the files on disk, "
                      "which --offline does not read"));
  disk::object_files objects;
  NECRO_TRY_ASSIGN(auto exe, find_executable(core, o.exe.string(), donor, link_map_problem, o.sysroot, objects));
  elf::loaded_objects use = loaded ? std::move(*loaded) : elf::loaded_objects{};
  use.exe.bias = exe.bias;
  std::vector<std::string> names;
  for (const auto& obj : use.objects)
    if (!obj.name.empty() && obj.name.front() == '/') names.emplace_back(obj.name);
  objects.merge(disk::read_object_files(names, o.sysroot));
  NECRO_TRY_ASSIGN(auto rebuilt, plan::rebuild_file_mappings(core, use, {exe.candidate.path}, objects));
  for (auto& w : rebuilt.warnings) warnings.push_back(std::move(w));
  std::string report = plan::explain_executable(exe) + plan::explain_rebuilt(rebuilt);
  core.adopt_file_mappings(std::move(rebuilt.entries));
  return report;
}

}  // namespace detail

/// How read_inputs treats what does not fit: as errors (to plan), or, for a
/// summary of the inputs (--inspect), as warnings.
enum class input_check { strict, tolerant };

/// The core with its donor: the donor must be of the core's architecture, and
/// a core without NT_FILE gets its file mappings rebuilt.
template <class Arch>
result<inputs<Arch>> read_inputs(elf::core_view<Arch> core, std::optional<criu::image_set> donor,
                                 const resurrect_options& o, input_check check = input_check::strict) {
  inputs<Arch> in{std::move(core), std::move(donor), {}, {}};
  const bool strict = check == input_check::strict;
  if (in.donor && strict) {
    NECRO_TRY(plan::check_donor_architecture<Arch>(std::string(in.core.path()), *in.donor));
  }
  auto rebuilt = detail::rebuild_mappings(in.core, in.donor ? &*in.donor : nullptr, o, in.warnings);
  if (rebuilt)
    in.rebuilt = std::move(*rebuilt);
  else if (strict)
    return fail(rebuilt.error());
  else
    in.warnings.push_back("file mappings not rebuilt: " + rebuilt.error().message());
  return in;
}

}  // namespace necro

#endif
