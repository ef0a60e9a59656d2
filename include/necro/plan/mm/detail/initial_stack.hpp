/// necro::plan::detail: the search of plan/mm/initial_stack.hpp: the auxv and
/// argc on the victim's initial stack, the arg/env strings, and the estimates
/// when the process rewrote them, into plan::initial_stack
/// (plan/mm/initial_stack_types.hpp).
#ifndef NECRO_PLAN_MM_DETAIL_INITIAL_STACK_HPP
#define NECRO_PLAN_MM_DETAIL_INITIAL_STACK_HPP
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
#include <necro/plan/mm/initial_stack_types.hpp>

namespace necro::plan::detail {

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

/// argc's slot: start_stack, argc, envc.
struct argc_slot {
  std::uint64_t start = 0, argc = 0, envc = 0;
};

/// Reads of the victim's memory for the initial-stack search.
template <class Arch>
struct stack_memory {
  const elf::core_view<Arch>& core;
  const elf::segment* stack;  ///< the initial stack, nullptr if the core has none

  std::optional<std::uint64_t> word(std::uint64_t a) const { return core.template read_memory<std::uint64_t>(a); }
  bool in_stack(std::uint64_t a) const { return stack && a >= stack->vaddr && a < stack->end(); }
  /// The address one past a string's NUL, if the whole string is dumped.
  std::optional<std::uint64_t> string_end(std::uint64_t a) const {
    const auto s = core.read_string(a, max_arg_strlen);
    if (!s) return std::nullopt;
    return a + s->size() + 1;
  }
  /// The stack's dumped bytes in [from, to), clipped to the stack.
  std::span<const std::byte> stack_bytes(std::uint64_t from, std::uint64_t to) const {
    if (!stack) return {};
    const std::uint64_t lo = std::max(from, stack->vaddr);
    const std::uint64_t hi = std::min({to, stack->end(), stack->vaddr + stack->bytes.size()});
    if (lo >= hi) return {};
    return stack->bytes.bytes().subspan(static_cast<std::size_t>(lo - stack->vaddr), static_cast<std::size_t>(hi - lo));
  }
  /// The first address in [from, to) whose byte is not zero, else `to`
  /// (bytes the core lacks read as zero).
  std::uint64_t first_nonzero(std::uint64_t from, std::uint64_t to) const {
    const auto b = stack_bytes(from, to);
    const auto it = std::find_if(b.begin(), b.end(), [](std::byte x) { return x != std::byte{0}; });
    if (it == b.end()) return to;
    return std::max(from, stack->vaddr) + static_cast<std::uint64_t>(it - b.begin());
  }
  /// The highest address at or below `at` in the stack (at most a string's
  /// length away) whose byte is zero, else the lowest one looked at, less one.
  std::uint64_t last_nul_below(std::uint64_t at) const {
    const std::uint64_t from = at - std::min<std::uint64_t>(at, max_arg_strlen);
    const auto b = stack_bytes(from, at + 1);
    const auto base = std::max(from, stack ? stack->vaddr : from);
    for (std::size_t i = b.size(); i > 0; --i)
      if (b[i - 1] == std::byte{0}) return base + (i - 1);
    return base - 1;
  }
  std::uint64_t auxv_words() const {
    const auto& b = core.process().auxv_bytes;
    return b ? b->size() / 8 : 0;
  }
};

/// The auxv's address on the stack: the last 8-aligned copy of NT_AUXV's bytes.
template <class Arch>
std::optional<std::uint64_t> auxv_on_stack(const stack_memory<Arch>& m) {
  const auto& auxv = m.core.process().auxv_bytes;
  if (!m.stack || !auxv || auxv->size() < 16 || m.stack->bytes.size() < auxv->size()) return std::nullopt;
  const auto found = last_aligned_match(m.stack->bytes.bytes(), auxv->bytes(), 8);
  if (!found) return std::nullopt;
  return m.stack->vaddr + *found;
}

/// Where the kernel's layout puts the auxv when its copy was overwritten:
/// start_stack = (AT_RANDOM - 8 * (auxv words + argc + envc + 3)) & ~15, so the
/// auxv starts at one of the two 8-aligned words at most 16 bytes below
/// AT_RANDOM - 8 * auxv words. Both candidates, higher first.
template <class Arch>
std::vector<std::uint64_t> auxv_by_random(const stack_memory<Arch>& m) {
  const auto random = m.core.auxv(arch::at::random);
  if (!random || m.auxv_words() == 0 || *random < 8 * m.auxv_words() + 16) return {};
  const std::uint64_t top = (*random - 8 * m.auxv_words()) & ~std::uint64_t{7};
  return {top, top - 8};
}

/// argc's slot below the auxv: the highest 16-aligned word c holding n >= 1
/// with argv's NULL at c + 8(n+1) and envp's NULL right below the auxv. argv
/// and envp entries are pointers or NULL, never a small count, so the first
/// match is argc even when entries were repointed or cleared.
template <class Arch>
std::optional<argc_slot> find_argc(const stack_memory<Arch>& m, std::uint64_t auxv_addr) {
  if (auxv_addr < 24 || m.word(auxv_addr - 8).value_or(1) != 0) return std::nullopt;
  const std::uint64_t envp_null = auxv_addr - 8;
  const std::uint64_t lowest = envp_null > 16 * max_initial_stack_entries ? envp_null - 16 * max_initial_stack_entries : 0;
  for (std::uint64_t c = (envp_null - 16) & ~std::uint64_t{15}; c >= lowest && c > 0; c -= 16) {
    const auto n = m.word(c);
    if (!n) return std::nullopt;
    if (*n == 0 || *n > max_initial_stack_entries) continue;
    const std::uint64_t argv_null = c + 8 * (*n + 1);
    if (argv_null >= envp_null || m.word(argv_null).value_or(1) != 0) continue;
    return argc_slot{c, *n, (envp_null - argv_null) / 8 - 1};
  }
  return std::nullopt;
}

/// Whether argc's slot is where AT_RANDOM says the kernel put it.
template <class Arch>
bool agrees_with_random(const stack_memory<Arch>& m, const argc_slot& s) {
  const auto random = m.core.auxv(arch::at::random);
  if (!random) return true;  // nothing to compare with
  const std::uint64_t below = 8 * (m.auxv_words() + s.argc + s.envc + 3);
  return *random >= below && ((*random - below) & ~std::uint64_t{15}) == s.start;
}

/// The lowest address argv's strings can start at: above the auxv, AT_RANDOM's
/// 16 bytes and the AT_PLATFORM / AT_BASE_PLATFORM strings the kernel put there.
template <class Arch>
std::uint64_t string_floor(const stack_memory<Arch>& m, std::uint64_t floor) {
  if (const auto r = m.core.auxv(arch::at::random); r && m.in_stack(*r)) floor = std::max(floor, *r + 16);
  for (const auto key : {arch::at::platform, arch::at::base_platform})
    if (const auto p = m.core.auxv(key); p && m.in_stack(*p))
      if (const auto e = m.string_end(*p)) floor = std::max(floor, *e);
  return floor;
}

/// env_end: AT_EXECFN (the kernel copies the executable's name right above the
/// env strings), else the start of the last string below the stack's top 8
/// bytes, else an estimate.
template <class Arch>
void find_env_end(const stack_memory<Arch>& m, initial_stack& s) {
  if (const auto e = m.core.auxv(arch::at::execfn); e && (!m.stack || m.in_stack(*e))) {
    s.env_end = *e;
    s.env_end_from = "AT_EXECFN";
    return;
  }
  if (!m.stack || m.stack->end() - m.stack->vaddr < 16) return;
  // The top string ends with its NUL 9 bytes below the stack's end.
  const std::uint64_t a = m.last_nul_below(m.stack->end() - 10) + 1;
  s.env_end = a;
  s.env_end_from = "the executable's name at the top of the stack";
  s.estimates.push_back(fmt::format("env_end {:#x}: NT_AUXV has no AT_EXECFN in the stack; taken from the last "
                                    "string below the stack's top",
                                    a));
}

/// arg_start: argv[0] where it still points into the string area, else the
/// first byte that is not zero above the auxv's strings, else env_end.
template <class Arch>
void find_arg_start(const stack_memory<Arch>& m, const argc_slot& slot, std::uint64_t floor, initial_stack& s) {
  const auto argv0 = m.word(slot.start + 8);
  if (argv0 && *argv0 >= floor && *argv0 <= s.env_end) {
    s.arg_start = *argv0;
    s.arg_start_from = "argv[0]";
    return;
  }
  const std::uint64_t a = m.first_nonzero(floor, s.env_end);
  s.arg_start = a;
  s.arg_start_from = a < s.env_end ? "the first string above the auxv" : "env_end (no argv string left)";
  s.estimates.push_back(fmt::format("arg_start {:#x}: argv[0] no longer points at the argument strings; "
                                    "estimated from {}",
                                    a, s.arg_start_from));
}

/// Σ (strlen + 1) over `n` strings whose pointers are at `array`: the lengths
/// the kernel copied, wherever the program moved the strings since.
template <class Arch>
std::optional<std::uint64_t> strings_size(const stack_memory<Arch>& m, std::uint64_t array, std::uint64_t n) {
  std::uint64_t total = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto p = m.word(array + 8 * i);
    if (!p || *p == 0) return std::nullopt;
    const auto e = m.string_end(*p);
    if (!e) return std::nullopt;
    total += *e - *p;
  }
  return total;
}

/// The end of argv's strings when they are untouched: each argv[i] starts
/// where argv[i-1] ended, from arg_start on.
template <class Arch>
std::optional<std::uint64_t> intact_argv_end(const stack_memory<Arch>& m, const argc_slot& slot, std::uint64_t arg_start) {
  std::uint64_t at = arg_start;
  for (std::uint64_t i = 0; i < slot.argc; ++i) {
    if (m.word(slot.start + 8 * (i + 1)).value_or(0) != at) return std::nullopt;
    const auto e = m.string_end(at);
    if (!e) return std::nullopt;
    at = *e;
  }
  return at;
}

/// env_start (= arg_end): envp[0] where it still points into the string area;
/// else env_end less the lengths of the strings envp now points at (nginx
/// copies them to the heap and repoints envp); else the end of untouched argv
/// strings; else env_end (every string counted as an argument).
template <class Arch>
void find_env_start(const stack_memory<Arch>& m, const argc_slot& slot, initial_stack& s) {
  const std::uint64_t envp = slot.start + 8 * (slot.argc + 2);
  auto take = [&](std::uint64_t v, const char* from) {
    s.env_start = v;
    s.env_start_from = from;
  };
  if (slot.envc == 0) return take(s.env_end, "no environment");
  if (const auto e0 = m.word(envp); e0 && *e0 >= s.arg_start && *e0 <= s.env_end) return take(*e0, "envp[0]");
  if (const auto n = strings_size(m, envp, slot.envc); n && *n <= s.env_end - s.arg_start)
    return take(s.env_end - *n, "the lengths of the env strings envp points at");
  if (const auto e = intact_argv_end(m, slot, s.arg_start); e && *e <= s.env_end) return take(*e, "argv's strings");
  take(s.env_end, "env_end");
  s.estimates.push_back(fmt::format("arg_end/env_start {:#x}: neither envp nor argv leads to the boundary between "
                                    "the argument and the environment strings; set to env_end (/proc/PID/environ "
                                    "reads empty)",
                                    s.env_end));
}

/// argc's slot: below NT_AUXV's copy on the stack, else where AT_RANDOM puts it.
template <class Arch>
std::optional<std::pair<argc_slot, std::uint64_t>> find_slot(const stack_memory<Arch>& m, initial_stack& s) {
  if (const auto a = auxv_on_stack(m))
    if (const auto slot = find_argc(m, *a)) {
      s.start_stack_from = "argc below the auxv";
      if (!agrees_with_random(m, *slot))
        s.estimates.push_back(fmt::format("start_stack {:#x}: argc, argv and envp below the auxv do not add up to "
                                          "AT_RANDOM's place; taken as found",
                                          slot->start));
      return std::pair{*slot, *a};
    }
  for (const auto a : auxv_by_random(m))
    if (const auto slot = find_argc(m, a); slot && agrees_with_random(m, *slot)) {
      s.start_stack_from = "argc below AT_RANDOM";
      return std::pair{*slot, a};
    }
  return std::nullopt;
}

/// start_stack when argc was not found: a 16-aligned word in the stack below
/// AT_RANDOM (or the stack's top), where the kernel puts it.
template <class Arch>
void estimate_start_stack(const stack_memory<Arch>& m, initial_stack& s) {
  const auto random = m.core.auxv(arch::at::random);
  std::uint64_t top = random && m.in_stack(*random) ? *random : (m.stack ? m.stack->end() : s.env_end);
  top -= std::min(top, 8 * (m.auxv_words() + 3));
  if (m.stack) top = std::max(top, m.stack->vaddr);
  s.start_stack = top & ~std::uint64_t{15};
  s.start_stack_from = "estimate below AT_RANDOM";
  s.estimates.push_back(fmt::format("start_stack {:#x}: argc, argv and envp were not found below the auxv; "
                                    "estimated below AT_RANDOM",
                                    s.start_stack));
}

/// Keeps arg_start <= arg_end = env_start <= env_end, as prctl(PR_SET_MM_MAP) requires.
inline void order(initial_stack& s) {
  s.arg_start = std::min(s.arg_start, s.env_end);
  s.env_start = std::clamp(s.env_start, s.arg_start, s.env_end);
  s.arg_end = s.env_start;
}

}  // namespace necro::plan::detail

#endif
