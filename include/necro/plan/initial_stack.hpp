/// necro::plan::find_initial_stack: argc/argv/envp/auxv as the kernel laid them
/// on the victim's stack at exec, found by locating NT_AUXV's bytes in the
/// stack and walking back. Gives mm's start_stack and arg/env ranges.
#ifndef NECRO_PLAN_INITIAL_STACK_HPP
#define NECRO_PLAN_INITIAL_STACK_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>

#include <necro/elf/core_view.hpp>

namespace necro::plan {

/// The kernel's mm fields for the initial stack.
struct initial_stack {
  std::uint64_t start_stack = 0;  ///< address of argc
  std::uint64_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
  std::uint64_t argc = 0, envc = 0;
};

/// At most this many argv or envp entries are walked.
inline constexpr std::uint64_t max_initial_stack_entries = 1u << 16;

template <class Arch>
std::optional<initial_stack> find_initial_stack(const elf::core_view<Arch>& core, const elf::segment& stack) {
  const auto& auxv = core.process().auxv_bytes;
  if (!auxv || auxv->size() < 16 || stack.bytes.size() < auxv->size()) return std::nullopt;
  const auto* hay = stack.bytes.data();
  const auto* end = hay + stack.bytes.size();
  // The auxv vector is 8-byte aligned on the stack; search from the top down.
  const std::byte* found = nullptr;
  for (const std::byte* p = std::search(hay, end, auxv->data(), auxv->data() + auxv->size()); p != end;
       p = std::search(p + 1, end, auxv->data(), auxv->data() + auxv->size())) {
    if ((p - hay) % 8 == 0) found = p;
  }
  if (!found) return std::nullopt;
  const std::uint64_t auxv_addr = stack.vaddr + static_cast<std::uint64_t>(found - hay);
  auto word = [&](std::uint64_t addr) { return core.template read_memory<std::uint64_t>(addr); };
  auto in_stack = [&](std::uint64_t a) { return a >= stack.vaddr && a < stack.end(); };

  // auxv is preceded by envp's NULL, the env pointers, argv's NULL, argv, argc.
  std::uint64_t p = auxv_addr - 8;
  if (word(p).value_or(1) != 0) return std::nullopt;
  std::uint64_t q = p;
  initial_stack s;
  while (true) {
    q -= 8;
    const auto w = word(q);
    if (!w) return std::nullopt;
    if (*w == 0) break;
    if (!in_stack(*w) || ++s.envc > max_initial_stack_entries) return std::nullopt;
  }
  const std::uint64_t argv_null = q;
  for (std::uint64_t k = 0; k < max_initial_stack_entries; ++k) {
    const auto w = word(argv_null - 8 * (k + 1));
    if (!w) return std::nullopt;
    if (*w == k) {
      s.argc = k;
      s.start_stack = argv_null - 8 * (k + 1);
      break;
    }
    if (!in_stack(*w)) return std::nullopt;
  }
  if (s.start_stack == 0) return std::nullopt;

  auto str_end = [&](std::uint64_t a) -> std::optional<std::uint64_t> {
    auto sv = core.read_string(a, 1u << 20);
    if (!sv) return std::nullopt;
    return a + sv->size() + 1;
  };
  const auto execfn = core.auxv(arch::at::execfn);
  if (s.argc > 0) {
    s.arg_start = word(s.start_stack + 8).value_or(0);
    const auto last = word(s.start_stack + 8 * s.argc).value_or(0);
    const auto e = str_end(last);
    if (!e) return std::nullopt;
    s.arg_end = *e;
  } else {
    s.arg_start = s.arg_end = execfn.value_or(0);
  }
  if (s.envc > 0) {
    s.env_start = word(argv_null + 8).value_or(0);
    const auto e = str_end(word(argv_null + 8 * s.envc).value_or(0));
    if (!e) return std::nullopt;
    s.env_end = *e;
  } else {
    s.env_start = s.env_end = s.arg_end;
  }
  return s;
}

}  // namespace necro::plan

#endif
