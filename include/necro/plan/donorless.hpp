/// necro::plan::synthesize_donor: from a core alone (plus facts about this
/// machine's files and the caller's defaults), the messages a CRIU dump of the
/// dead process would hold — a synthetic donor. plan_resurrection runs on it
/// unchanged: its layout is the victim's, so every relocation is a zero delta,
/// and the images it carries (inventory, fs-, ids-, fdinfo-) are written from
/// the bytes made here. Every value the core does not hold is a default,
/// listed with its consequence in synthetic_donor::defaults (--explain's "not
/// in the core"). Pure: no I/O.
#ifndef NECRO_PLAN_DONORLESS_HPP
#define NECRO_PLAN_DONORLESS_HPP
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/image.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/plan/address_space/detail/synthetic_vmas.hpp>
#include <necro/plan/detail/donorless.hpp>
#include <necro/plan/donorless_options.hpp>
#include <necro/plan/files/detail/synthetic_files.hpp>
#include <necro/plan/mm/detail/synthetic_mm.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/resurrection.hpp>
#include <necro/plan/threads/detail/synthetic_threads.hpp>

namespace necro::plan {

/// The synthetic donor and what it had to choose.
struct synthetic_donor {
  criu::image_set images;
  std::vector<default_taken> defaults;
  std::vector<std::string> warnings;
};

/// Builds the donor a CRIU dump of the dead process would have been, from
/// the core, this machine's file facts and `opt`.
template <class Arch>
result<synthetic_donor> synthesize_donor(const elf::core_view<Arch>& core, const io::file_facts& disk,
                                         const donorless_options& opt = {}) {
  const std::string core_path(core.path());
  if (core.pid() <= 0)
    return fail(error(errc::bad_value, core_path, fmt::format("process id {} is not valid", core.pid())));
  if (core.threads().empty()) return fail(error(errc::missing, core_path, "the core has no thread (no NT_PRSTATUS)"));
  synthetic_donor out;
  criu::image_parts parts;
  parts.pages_id = synthetic_ids::pages;
  const auto ids = detail::synthesize_files(core, disk, opt, parts.files);
  NECRO_TRY_ASSIGN(const auto exe, detail::executable_path(core));
  if (!ids.mapped.contains(exe))
    return fail(error(errc::unsupported, core_path, fmt::format("the executable {} is shared or deleted memory", exe)));
  parts.mm = detail::synthesize_mm(core, ids, ids.mapped.at(exe), opt.shares, out.defaults);
  parts.process = detail::synthesize_pstree(core);
  NECRO_TRY(detail::synthesize_threads(core, opt, parts.cores, out.warnings, out.defaults));
  detail::synthesize_images(static_cast<std::uint32_t>(core.pid()), ids, opt, parts.images);
  detail::list_defaults(opt, static_cast<std::uint32_t>(core.pid()), out.defaults);
  if (opt.pid_taken)
    out.warnings.push_back(fmt::format("pid {} is in use on this machine: criu restore needs it free (end that "
                                       "process, or restore where the pid is free)",
                                       core.pid()));
  NECRO_TRY_ASSIGN(out.images, criu::image_set::from_parts(std::move(parts)));
  return out;
}

/// plan_resurrection on a synthetic donor, with its defaults and warnings in the plan.
template <class Arch>
result<resurrection> plan_donorless(const elf::core_view<Arch>& core, const synthetic_donor& donor,
                                    const io::file_facts& disk, const options& opt = {}) {
  NECRO_TRY_ASSIGN(auto plan, plan_resurrection(core, donor.images, disk, opt));
  plan.not_in_core = donor.defaults;
  plan.warnings.insert(plan.warnings.begin(), donor.warnings.begin(), donor.warnings.end());
  return plan;
}

}  // namespace necro::plan

#endif
