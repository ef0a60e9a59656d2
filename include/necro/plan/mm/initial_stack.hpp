/// necro::plan::find_initial_stack: mm's start_stack and arg/env ranges as the
/// kernel set them at exec, recovered from what survives on the victim's
/// initial stack even when the program rewrote its process title.
///
/// At exec the kernel writes, from the top of the stack down: 8 bytes of zero,
/// the executable's name (AT_EXECFN), the env strings, the argv strings
/// (arg_start .. arg_end = env_start .. env_end = AT_EXECFN), a random gap,
/// AT_PLATFORM and AT_RANDOM's bytes, then from a 16-byte aligned start_stack
/// upwards: argc, argv[], NULL, envp[], NULL and the auxv (NT_AUXV's bytes).
/// Programs that set their title (Redis, nginx, PostgreSQL, setproctitle)
/// overwrite the strings and repoint argv/envp entries; the kernel's mm fields
/// never change. Each value is taken from the first source that still holds
/// it; a value no source holds is estimated, ordered so that CRIU and the
/// kernel's prctl(PR_SET_MM_MAP) accept it, and named in `estimates`.
#ifndef NECRO_PLAN_MM_INITIAL_STACK_HPP
#define NECRO_PLAN_MM_INITIAL_STACK_HPP
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <necro/elf/core_view.hpp>
#include <necro/plan/mm/detail/initial_stack.hpp>
#include <necro/plan/mm/initial_stack_types.hpp>

namespace necro::plan {

/// The initial stack of the victim. `stack` is the segment of the main
/// thread's initial stack (nullptr if the core has none). nullopt only when
/// nothing is left to go by: no stack and no AT_EXECFN.
template <class Arch>
std::optional<initial_stack> find_initial_stack(const elf::core_view<Arch>& core, const elf::segment* stack) {
  const detail::stack_memory<Arch> m{core, stack};
  initial_stack s;
  detail::find_env_end(m, s);
  if (s.env_end_from.empty()) return std::nullopt;
  const auto found = detail::find_slot(m, s);
  if (!found) {
    detail::estimate_start_stack(m, s);
    detail::find_arg_start(m, detail::argc_slot{}, detail::string_floor(m, s.start_stack), s);
    s.env_start = s.env_end;
    s.env_start_from = "env_end";
    s.estimates.push_back(fmt::format("arg_end/env_start {:#x}: envp was not found; set to env_end (/proc/PID/environ "
                                      "reads empty)",
                                      s.env_end));
    detail::order(s);
    return s;
  }
  const auto& [slot, auxv_addr] = *found;
  s.start_stack = slot.start;
  s.argc = slot.argc;
  s.envc = slot.envc;
  detail::find_arg_start(m, slot, detail::string_floor(m, auxv_addr + 8 * m.auxv_words()), s);
  detail::find_env_start(m, slot, s);
  detail::order(s);
  return s;
}

/// The same, for a stack segment known to exist.
template <class Arch>
std::optional<initial_stack> find_initial_stack(const elf::core_view<Arch>& core, const elf::segment& stack) {
  return find_initial_stack(core, &stack);
}

}  // namespace necro::plan

#endif
