/// necro::plan::detail: the threads of plan_resurrection (plan/resurrection.hpp):
/// each victim thread paired with the donor thread whose image is its
/// template (plan_thread, plan/threads/threads.hpp), and pstree.img.
#ifndef NECRO_PLAN_THREADS_DETAIL_THREADS_HPP
#define NECRO_PLAN_THREADS_DETAIL_THREADS_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/image_set.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/io/error.hpp>
#include <necro/plan/address_space/layout.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/threads/threads.hpp>

namespace necro::plan::detail {

/// Threads: the leader first, then the others in the core's order. Templates:
/// the donor's leader for the leader, the donor's other threads in order for
/// the rest (the last one again when the donor has fewer).
template <class Arch>
result<void> plan_threads(const elf::core_view<Arch>& core, const criu::image_set& donor, const relocator& reloc,
                          resurrection& out) {
  std::vector<std::uint32_t> donor_others;
  for (const auto tid : donor.process().threads()) {
    out.donor_tids.push_back(tid);
    if (tid != donor.pid()) donor_others.push_back(tid);
  }
  const auto& leader = core.leader();
  {
    NECRO_TRY_ASSIGN(auto tp, plan_thread(core, leader, donor.pid(), donor.leader_core(), true, reloc, out));
    out.threads.push_back(std::move(tp));
  }
  std::size_t next_template = 0;
  for (const auto& t : core.threads()) {
    if (&t == &leader) continue;
    std::uint32_t tmpl_tid = donor.pid();
    if (!donor_others.empty()) tmpl_tid = donor_others[std::min(next_template++, donor_others.size() - 1)];
    const auto* tmpl = donor.thread_core(tmpl_tid);
    if (!tmpl) return fail(error(errc::missing, donor.dir().string(), fmt::format("no core image of thread {}", tmpl_tid)));
    NECRO_TRY_ASSIGN(auto tp, plan_thread(core, t, tmpl_tid, *tmpl, false, reloc, out));
    out.threads.push_back(std::move(tp));
  }
  return {};
}

/// pstree: the victim's pid and tids; group and session follow the donor's
/// relation to its own pid (a setsid'd donor leads its session).
inline void plan_pstree(const criu::image_set& donor, resurrection& out) {
  out.pstree = donor.process();
  out.pstree.set_pid(static_cast<std::uint32_t>(out.pid));
  if (out.pstree.pgid() == donor.pid()) out.pstree.set_pgid(static_cast<std::uint32_t>(out.pid));
  if (out.pstree.sid() == donor.pid()) out.pstree.set_sid(static_cast<std::uint32_t>(out.pid));
  out.pstree.clear_threads();
  for (const auto& t : out.threads) out.pstree.add_threads(static_cast<std::uint32_t>(t.tid));
}

}  // namespace necro::plan::detail

#endif
