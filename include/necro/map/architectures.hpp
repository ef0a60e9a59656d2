/// necro::map::architectures: the list of architectures necro reads cores of
/// (each with its traits in arch/ and its CRIU bridge in map/), and
/// for_machine(), which calls a function with the traits an ELF e_machine
/// names. Adding an architecture: its two headers and one line here.
#ifndef NECRO_MAP_ARCHITECTURES_HPP
#define NECRO_MAP_ARCHITECTURES_HPP
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>

#include <fmt/format.h>

#include <necro/map/aarch64.hpp>
#include <necro/map/x86_64.hpp>

namespace necro::map {

/// Every supported architecture's traits, as std::type_identity tags.
using architectures = std::tuple<std::type_identity<arch::x86_64>, std::type_identity<arch::aarch64>>;

/// Calls `f(std::type_identity<Arch>{})` for the architecture whose e_machine
/// is `machine`; false (f not called) when necro knows none.
template <class F>
bool for_machine(std::uint16_t machine, F&& f) {
  return std::apply(
      [&](auto... tag) {
        return ((decltype(tag)::type::e_machine == machine ? (f(tag), true) : false) || ...);
      },
      architectures{});
}

/// "x86_64 (62), aarch64 (183)": the supported machines, for messages.
inline std::string known_machines() {
  std::string out;
  std::apply(
      [&](auto... tag) {
        ((out += fmt::format("{}{} ({})", out.empty() ? "" : ", ", decltype(tag)::type::name,
                             decltype(tag)::type::e_machine)),
         ...);
      },
      architectures{});
  return out;
}

}  // namespace necro::map

#endif
