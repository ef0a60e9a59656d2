/// necro::plan::plan_resurrection: (core, donor images, disk facts) -> plan.
/// A pure function: it reads only its arguments and writes nothing.
#ifndef NECRO_PLAN_RESURRECTION_HPP
#define NECRO_PLAN_RESURRECTION_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/plan/address_space/address_space.hpp>
#include <necro/plan/address_space/build_ids.hpp>
#include <necro/plan/address_space/layout.hpp>
#include <necro/plan/detail/resurrection.hpp>
#include <necro/plan/files/eventpoll.hpp>
#include <necro/plan/mm/detail/mm.hpp>
#include <necro/plan/mm/initial_stack.hpp>
#include <necro/plan/pages/pages.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/threads/detail/donor_timers.hpp>
#include <necro/plan/threads/detail/threads.hpp>
#include <necro/plan/threads/threads.hpp>

namespace necro::plan {

/// What the caller decides.
struct options {
  /// Skip on-disk checks of mapped files (inspecting a core on another machine).
  bool offline = false;
  /// The share mode of the victim's VMAs, from a capture at death: decides
  /// memfd and deleted-file mappings the donor has no match for.
  share_modes shares = {};
};

/// The donor must be a dump of the core's architecture: an error naming the
/// core and the donor's core image otherwise.
template <class Arch>
result<void> check_donor_architecture(const std::string& core_path, const criu::image_set& donor) {
  const auto& dcore = donor.leader_core();
  if (static_cast<int>(dcore.mtype()) == Arch::criu_march) return {};
  return fail(error(errc::mismatch, core_path,
                    fmt::format("an {} core, but the donor's {} is a dump of {}: the donor must run on the same "
                                "architecture",
                                Arch::name, (donor.dir() / criu::image_name("core-", donor.pid())).string(),
                                pb::core_entry::march_Name(dcore.mtype()))));
}

/// Plans the resurrection of the process in `core` into the image set of `donor`.
template <class Arch>
result<resurrection> plan_resurrection(const elf::core_view<Arch>& core, const criu::image_set& donor,
                                       const io::file_facts& disk, const options& opt = {}) {
  resurrection out;
  const std::string core_path(core.path());
  out.pid = core.pid();
  out.donor_pid = donor.pid();
  if (out.pid <= 0) return fail(error(errc::bad_value, core_path, fmt::format("process id {} is not valid", out.pid)));
  NECRO_TRY(check_donor_architecture<Arch>(core_path, donor));

  NECRO_TRY_ASSIGN(auto as, plan_address_space(core, donor, disk, opt.offline, out.warnings, opt.shares));
  detail::adopt_address_space(core, as, out);
  // Files rebuilt or upgraded since the crash would run foreign code.
  if (!opt.offline) NECRO_TRY(check_build_ids(core, disk, out.warnings));
  NECRO_TRY(detail::check_file_sizes(disk, out));

  const auto reloc = detail::donor_relocator(core, donor);
  NECRO_TRY(detail::plan_threads(core, donor, reloc, out));
  detail::plan_pstree(donor, out);
  detail::remap_donor_timers(out);  // docs/pitfalls.md#posix-timers-name-threads

  detail::start_mm(donor, out);
  detail::plan_code_data(as, reloc, out);
  detail::plan_brk<Arch>(as, donor, out);
  relocate_eventpolls(out.files, reloc, epoll_targets_of(donor, out, as.heap, reloc), out);
  detail::plan_initial_stack(core, as, out);
  detail::plan_saved_auxv(core, out);

  plan_pages(core, out);
  out.pages_id = donor.pages_id();
  detail::warn_not_dumped(core, out);
  assign_pages_ids(donor, out.shared);

  detail::carry_donor_files(donor, out);
  detail::describe_changes(core, donor, out);
  return out;
}

}  // namespace necro::plan

#endif
