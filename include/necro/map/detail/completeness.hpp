/// necro::map::detail: the compile-time completeness check behind
/// NECRO_MAP_ASSERT_COMPLETE (map/field.hpp). One static_assert per mistake
/// (a field missing, a field named twice, a row of another structure), each
/// inside a class template whose arguments are the table and the offending
/// field, so that the compiler's "in instantiation of" line names both.
#ifndef NECRO_MAP_DETAIL_COMPLETENESS_HPP
#define NECRO_MAP_DETAIL_COMPLETENESS_HPP
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

#include <boost/hana/at.hpp>
#include <boost/hana/fold_left.hpp>
#include <boost/hana/length.hpp>
#include <boost/pfr/core.hpp>
#include <boost/pfr/tuple_size.hpp>

#include <necro/map/detail/member_traits.hpp>

namespace necro::map::detail {

/// One value-initialised Src whose field addresses stand for the fields: the
/// compilers print `&source_object<Src>.Src::name` (g++) or
/// `&source_object.name` (clang) for them. Only its addresses are used.
template <class Src>
inline constexpr Src source_object{};

/// Whether member pointer `m` names PFR field I of Src (constant-evaluated).
template <class Src, std::size_t I, class Member>
constexpr bool names_field(Member m) {
  using field_t = boost::pfr::tuple_element_t<I, Src>;
  using member_t = typename member_traits<Member>::value_type;
  if constexpr (!std::is_same_v<field_t, member_t> ||
                !std::is_same_v<typename member_traits<Member>::class_type, Src>) {
    return false;
  } else {
    return &(source_object<Src>.*m) == &boost::pfr::get<I>(source_object<Src>);
  }
}

/// How many rows of `table` name PFR field I of Src.
template <class Src, std::size_t I, class Table>
constexpr std::size_t times_covered(const Table& table) {
  return boost::hana::fold_left(table, std::size_t{0}, [](std::size_t n, const auto& row) {
    return n + (names_field<Src, I>(row.member) ? 1 : 0);
  });
}

template <class Src, class Table, std::size_t... I>
constexpr bool covers_each(const Table& table, std::index_sequence<I...>) {
  return ((times_covered<Src, I>(table) == 1) && ...);
}

/// A field's address as a template argument (clang 14 takes a pointer to a
/// subobject only inside a class-type argument).
template <class T>
struct field_address {
  const T* address;
};
template <class T>
field_address(const T*) -> field_address<T>;

/// Field `Field` of Src is named `TimesNamed` times by map table `Table`.
template <class Src, const auto& Table, field_address Field, std::size_t TimesNamed>
struct field_coverage {
  static_assert(TimesNamed != 0,
                "necro: map table misses a field of its source structure (map it or NECRO_MAP_IGNORE it)");
  static_assert(TimesNamed <= 1, "necro: map table names a field of its source structure more than once");
  static constexpr bool ok = TimesNamed == 1;
};

/// Row `Member` of map table `Table` belongs to Src (when `Belongs`).
template <class Src, const auto& Table, auto Member, bool Belongs>
struct row_source {
  static_assert(Belongs, "necro: map table has a row for a field of another structure");
  static constexpr bool ok = Belongs;
};

template <class Src, const auto& Table, std::size_t... I>
constexpr bool each_field_named_once(std::index_sequence<I...>) {
  return (field_coverage<Src, Table, field_address{&boost::pfr::get<I>(source_object<Src>)},
                         times_covered<Src, I>(Table)>::ok &&
          ...);
}

template <class Member>
using member_class_t = typename member_traits<std::remove_cv_t<Member>>::class_type;

template <class Src, const auto& Table, std::size_t... K>
constexpr bool each_row_of_source(std::index_sequence<K...>) {
  return (row_source<Src, Table, boost::hana::at_c<K>(Table).member,
                     std::is_same_v<member_class_t<decltype(boost::hana::at_c<K>(Table).member)>, Src>>::ok &&
          ...);
}

/// Every row of `Table` is a field of Src and every field of Src is named by
/// exactly one row; a violation fails one of the static_asserts above.
template <class Src, const auto& Table>
constexpr bool assert_complete() {
  constexpr std::size_t rows = decltype(boost::hana::length(Table))::value;
  constexpr std::size_t fields = boost::pfr::tuple_size_v<Src>;
  return each_row_of_source<Src, Table>(std::make_index_sequence<rows>{}) &&
         each_field_named_once<Src, Table>(std::make_index_sequence<fields>{});
}

}  // namespace necro::map::detail

#endif
