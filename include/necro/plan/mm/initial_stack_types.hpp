/// necro::plan::initial_stack: the kernel's mm fields for the victim's
/// initial stack (start_stack, arg and env ranges), where each came from and
/// what was estimated, as find_initial_stack (plan/mm/initial_stack.hpp)
/// gives them; and the caps on its walk.
#ifndef NECRO_PLAN_MM_INITIAL_STACK_TYPES_HPP
#define NECRO_PLAN_MM_INITIAL_STACK_TYPES_HPP
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace necro::plan {

/// The kernel's mm fields for the initial stack, and where each came from.
struct initial_stack {
  std::uint64_t start_stack = 0;  ///< address of argc
  std::uint64_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
  std::uint64_t argc = 0, envc = 0;
  /// The source of each value, e.g. "argv[0]", "AT_EXECFN" (for --explain).
  std::string start_stack_from, arg_start_from, env_start_from, env_end_from;
  /// One sentence per value that could only be estimated (empty: all exact).
  std::vector<std::string> estimates;
};

/// At most this many argv or envp entries are walked.
inline constexpr std::uint64_t max_initial_stack_entries = 1u << 16;
/// The longest argv or env string the kernel accepts (MAX_ARG_STRLEN).
inline constexpr std::size_t max_arg_strlen = 32 * 4096;

}  // namespace necro::plan

#endif
