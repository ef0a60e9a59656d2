/// necro::plan::find_initial_stack: argc/argv/envp/auxv as the kernel laid them
/// on the victim's stack at exec, found by locating NT_AUXV's bytes in the
/// stack and walking back. Gives mm's start_stack and arg/env ranges.
#ifndef NECRO_PLAN_INITIAL_STACK_HPP
#define NECRO_PLAN_INITIAL_STACK_HPP
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

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

namespace detail {

/// Offset of the last occurrence of `needle` in `hay` at a multiple of
/// `align`, found in one pass (Knuth-Morris-Pratt): a hostile stack full of
/// near-copies of the auxv must not make the search take |hay| * |needle|.
inline std::optional<std::size_t> last_aligned_match(std::span<const std::byte> hay, std::span<const std::byte> needle,
                                                     std::size_t align) {
  const std::size_t m = needle.size();
  if (m == 0 || hay.size() < m) return std::nullopt;
  std::vector<std::size_t> border(m, 0);  // longest proper border of needle[0, i]
  for (std::size_t i = 1, k = 0; i < m; ++i) {
    while (k > 0 && needle[i] != needle[k]) k = border[k - 1];
    if (needle[i] == needle[k]) ++k;
    border[i] = k;
  }
  std::optional<std::size_t> found;
  for (std::size_t i = 0, k = 0; i < hay.size(); ++i) {
    while (k > 0 && hay[i] != needle[k]) k = border[k - 1];
    if (hay[i] == needle[k]) ++k;
    if (k == m) {
      if ((i + 1 - m) % align == 0) found = i + 1 - m;
      k = border[k - 1];
    }
  }
  return found;
}

}  // namespace detail

template <class Arch>
std::optional<initial_stack> find_initial_stack(const elf::core_view<Arch>& core, const elf::segment& stack) {
  const auto& auxv = core.process().auxv_bytes;
  if (!auxv || auxv->size() < 16 || stack.bytes.size() < auxv->size()) return std::nullopt;
  // The auxv vector is 8-byte aligned on the stack; the last copy is the kernel's.
  const auto found = detail::last_aligned_match(stack.bytes.bytes(), auxv->bytes(), 8);
  if (!found) return std::nullopt;
  const std::uint64_t auxv_addr = stack.vaddr + *found;
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
