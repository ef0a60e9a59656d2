/// necro::map::detail: what a table row's member pointer names (its class and
/// value type) and whether a value type is a std::array (a repeated field).
#ifndef NECRO_MAP_DETAIL_MEMBER_TRAITS_HPP
#define NECRO_MAP_DETAIL_MEMBER_TRAITS_HPP
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>

namespace necro::map::detail {

template <class T>
struct is_std_array : std::false_type {};
template <class T, std::size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};

template <class M>
struct member_traits;
template <class C, class T>
struct member_traits<T C::*> {
  using class_type = C;
  using value_type = T;
};

}  // namespace necro::map::detail

#endif
