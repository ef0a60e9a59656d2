/// necro::resurrect(options, progress): what criu-necromancer does, in one
/// call — the core opened (decompressed), its architecture read from its ELF
/// header, the donor loaded (or synthesized), the capture at death used, the
/// plan made and the image set written. `with_core()` runs any step-wise
/// flow (inputs, session, explain, commit) on the core's architecture.
#ifndef NECRO_RESURRECT_RESURRECT_HPP
#define NECRO_RESURRECT_RESURRECT_HPP
#pragma once

#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include <necro/elf/core_view.hpp>
#include <necro/elf/identity.hpp>
#include <necro/io/error.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/map/architectures.hpp>
#include <necro/plan/plan.hpp>
#include <necro/resurrect/inputs.hpp>
#include <necro/resurrect/options.hpp>
#include <necro/resurrect/session.hpp>
#include <necro/write/commit.hpp>

namespace necro {

/// Parses `file` as a core of the architecture its e_machine names and calls
/// `f(elf::core_view<Arch>)`, which returns a result<R>; an error for a
/// machine necro does not read.
template <class R, class F>
result<R> with_core(io::mapped_file file, F&& f) {
  NECRO_TRY_ASSIGN(const auto id, elf::identify(file.view()));
  std::optional<result<R>> out;
  const bool known = map::for_machine(id.machine, [&](auto tag) {
    using Arch = typename decltype(tag)::type;
    auto core = elf::core_view<Arch>::open(std::move(file));
    if (!core)
      out.emplace(fail(core.error()));
    else
      out.emplace(f(std::move(*core)));
  });
  if (!known)
    return fail(file.view().error_at(18, errc::unsupported,
                                     fmt::format("ELF machine {} (e_machine) is not an architecture necro reads; "
                                                 "it reads {}",
                                                 id.machine, map::known_machines())));
  return std::move(*out);
}

/// What a resurrection did: the plan it carried out and what the write did.
struct report {
  plan::resurrection plan;
  write::commit_report commit;
  std::string rebuilt;  ///< how file mappings were rebuilt for a core without NT_FILE ("")
};

/// The plan of `core` (read_inputs, then plan_session) for `o`.
template <class Arch>
result<session<Arch>> plan_core(elf::core_view<Arch> core, const resurrect_options& o) {
  NECRO_TRY_ASSIGN(auto donor, load_donor(o));
  NECRO_TRY_ASSIGN(auto in, read_inputs(std::move(core), std::move(donor), o));
  return plan_session(std::move(in), o);
}

/// The whole resurrection: core, donor or none, capture, plan, image set.
/// Restore it with necro::restore (resurrect/restore.hpp) or `criu restore`.
inline result<report> resurrect(const resurrect_options& o, const progress_callbacks& progress = {}) {
  NECRO_TRY(set_directory(o));  // before the core is read, not after planning
  NECRO_TRY_ASSIGN(auto file, open_core(o, true, progress.decompress));
  return with_core<report>(std::move(file), [&](auto core) -> result<report> {
    NECRO_TRY_ASSIGN(const auto s, plan_core(std::move(core), o));
    NECRO_TRY_ASSIGN(auto written, commit(s, o, progress.pages));
    return report{s.plan, std::move(written), s.in.rebuilt};
  });
}

}  // namespace necro

#endif
