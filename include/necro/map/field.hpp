/// necro::map: compile-time field tables from a core structure (reflected with
/// Boost.PFR) into a protobuf message (getter/setter pairs), with one generic
/// apply() that fills a message and one extract() that reads it back.
#ifndef NECRO_MAP_FIELD_HPP
#define NECRO_MAP_FIELD_HPP
#pragma once

#include <cstddef>
#include <string_view>
#include <type_traits>
#include <utility>

#include <boost/hana/for_each.hpp>
#include <boost/hana/length.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/pfr/tuple_size.hpp>
#include <fmt/format.h>

#include <necro/io/error.hpp>
#include <necro/map/detail/completeness.hpp>
#include <necro/map/detail/member_traits.hpp>

namespace necro::map {

/// One table row: source member `Src::*member` <-> a message field read by
/// `get(msg)` and written by `set(msg, value)`. Arrays map to repeated fields:
/// then `get(msg)` returns the repeated field and `set(msg)` the mutable one.
template <class Member, class Get, class Set>
struct field {
  using src_type = typename detail::member_traits<Member>::class_type;
  using value_type = typename detail::member_traits<Member>::value_type;
  static constexpr bool is_ignored = false;

  Member member;
  std::string_view name;  ///< the source field's name, for --explain
  std::string_view dst;   ///< the message field's name (plan/docs/field_sources.hpp lists it)
  Get get;
  Set set;

  template <class Msg>
  void store(const src_type& src, Msg& msg) const {
    const auto& v = src.*member;
    if constexpr (detail::is_std_array<value_type>::value) {
      auto* rep = set(msg);
      rep->Clear();
      rep->Reserve(static_cast<int>(v.size()));
      for (const auto& e : v) rep->Add(e);
    } else {
      using dst_t = std::decay_t<decltype(get(msg))>;
      set(msg, static_cast<dst_t>(v));
    }
  }

  template <class Msg>
  result<void> load(src_type& src, const Msg& msg) const {
    auto& v = src.*member;
    if constexpr (detail::is_std_array<value_type>::value) {
      const auto& rep = get(msg);
      if (static_cast<std::size_t>(rep.size()) != v.size())
        return fail(error(errc::bad_value, "", fmt::format("{}.{} has {} elements, expected {}",
                                                           Msg::descriptor()->name(), name, rep.size(), v.size())));
      for (std::size_t i = 0; i < v.size(); ++i)
        v[i] = static_cast<typename value_type::value_type>(rep.Get(static_cast<int>(i)));
    } else {
      v = static_cast<value_type>(get(msg));
    }
    return {};
  }
};

template <class Member, class Get, class Set>
constexpr auto make_field(Member m, std::string_view name, std::string_view dst, Get g, Set s) {
  return field<Member, Get, Set>{m, name, dst, g, s};
}

/// A source field deliberately not carried into the message.
template <class Member>
struct ignored {
  using src_type = typename detail::member_traits<Member>::class_type;
  static constexpr bool is_ignored = true;
  Member member;
  std::string_view name;
  std::string_view why;
  template <class Msg>
  void store(const src_type&, Msg&) const {}
  template <class Msg>
  result<void> load(src_type&, const Msg&) const {
    return {};
  }
};
template <class Member>
constexpr auto ignore(Member m, std::string_view name, std::string_view why) {
  return ignored<Member>{m, name, why};
}

/// Fills `msg` from `src` through every row of `table`.
template <class Table, class Src, class Msg>
void apply(const Table& table, const Src& src, Msg& msg) {
  boost::hana::for_each(table, [&](const auto& row) { row.store(src, msg); });
}

/// Reads `msg` back into a Src through `table` (the inverse of apply).
template <class Src, class Table, class Msg>
result<Src> extract(const Table& table, const Msg& msg) {
  Src src{};
  result<void> status;
  boost::hana::for_each(table, [&](const auto& row) {
    if (status) status = row.load(src, msg);
  });
  if (!status) return fail(std::move(status).error_value());
  return src;
}

/// True when every PFR field of Src is named exactly once (mapped or ignored).
template <class Src, class Table>
constexpr bool covers_all_fields(const Table& table) {
  return detail::covers_each<Src>(table, std::make_index_sequence<boost::pfr::tuple_size_v<Src>>{});
}

/// The number of rows in a table.
template <class Table>
constexpr std::size_t row_count(const Table&) {
  return decltype(boost::hana::length(std::declval<Table>()))::value;
}

}  // namespace necro::map

/// One scalar row: NECRO_MAP_SCALAR(user_regs, r15, r15) maps Src::r15 to msg.r15().
#define NECRO_MAP_SCALAR(Src, member, dst)                                          \
  ::necro::map::make_field(                                                         \
      &Src::member, #member, #dst, [](const auto& m) { return m.dst(); },           \
      [](auto& m, auto v) { m.set_##dst(v); })

/// One array row: a std::array member to a repeated field.
#define NECRO_MAP_REPEATED(Src, member, dst)                                        \
  ::necro::map::make_field(                                                         \
      &Src::member, #member, #dst, [](const auto& m) -> const auto& { return m.dst(); }, \
      [](auto& m) { return m.mutable_##dst(); })

/// A row that is deliberately not mapped, with the reason.
#define NECRO_MAP_IGNORE(Src, member, why) ::necro::map::ignore(&Src::member, #member, why)

/// The compile-time completeness check every table carries (`table` names a
/// constexpr table at namespace scope). Each mistake fails its own
/// static_assert, and the compiler's instantiation line names the table and
/// the field: `necro: map table misses a field of its source structure`,
/// `... names a field of its source structure more than once`, `... has a row
/// for a field of another structure`.
#define NECRO_MAP_ASSERT_COMPLETE(Src, table)                                                   \
  static_assert(::necro::map::detail::assert_complete<Src, table>(),                            \
                "necro: map table " #table " must name every field of " #Src " exactly once " \
                "(see the field named above)")

#endif
