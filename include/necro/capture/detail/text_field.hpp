/// The rows of capture.txt's field tables (detail/text_tables.hpp): a row
/// names one member of a record, the word it is written as (`name=value`), its
/// format and when the word is there. write_fields() and read_fields() walk a
/// table in order, so a record's table is the whole format of its words;
/// NECRO_TEXT_ASSERT_COMPLETE checks that it names every member once.
#ifndef NECRO_CAPTURE_DETAIL_TEXT_FIELD_HPP
#define NECRO_CAPTURE_DETAIL_TEXT_FIELD_HPP
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/hana/at.hpp>
#include <boost/hana/fold_left.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/length.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/pfr/core.hpp>
#include <boost/pfr/tuple_size.hpp>
#include <fmt/format.h>

#include <necro/capture/detail/escape.hpp>
#include <necro/capture/detail/lines.hpp>
#include <necro/io/error.hpp>
#include <necro/map/detail/completeness.hpp>
#include <necro/map/detail/member_traits.hpp>

namespace necro::capture::detail {

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

/// Whether a member has something to write: an optional its value, a string
/// (for an optional word) its bytes.
template <class T>
bool is_set(const T& v) {
  if constexpr (is_optional<T>::value) return v.has_value();
  else return true;
}
template <class T>
bool is_filled(const T& v) {
  if constexpr (std::is_same_v<T, std::string>) return !v.empty();
  else return is_set(v);
}

// ---------------------------------------------------------------- formats
// A format writes one value after its `name=` and reads it back from a line
// (every error naming the line); `rec` is the record, for a format that
// depends on another of its fields.

/// A number as /proc writes it, in `base`; 0 when it is not one.
template <class T>
T proc_number(std::string_view s, int base) {
  T v{};
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  return ec == std::errc{} && p == s.data() + s.size() ? v : T{};
}

/// Calls `f(word)` for each blank-separated word of `s`.
template <class F>
void for_each_word(std::string_view s, F&& f) {
  while (!s.empty()) {
    const auto b = s.find_first_not_of(" \t");
    if (b == std::string_view::npos) return;
    s.remove_prefix(b);
    const auto e = s.find_first_of(" \t");
    f(s.substr(0, e));
    s.remove_prefix(e == std::string_view::npos ? s.size() : e);
  }
}

/// Numbers, written in decimal, 0x hex or 0o octal; any of the three reads.
struct dec_format {
  static constexpr int proc_base = 10;  ///< how /proc/PID/status writes the value
  void write(std::string& o, const auto& v, const auto&) const { fmt::format_to(std::back_inserter(o), "{}", v); }
  template <class T>
  result<void> read(const line& l, std::string_view name, T& v, const auto&) const {
    return assign(v, number<T>(l, name));
  }
  /// The value of a /proc/PID/status line; 0 when it is not a number (a
  /// kernel's text is trusted as far as its shape, never further).
  template <class T>
  void read_proc(std::string_view value, T& v) const {
    v = proc_number<T>(value, proc_base);
  }
};
struct hex_format : dec_format {
  static constexpr int proc_base = 16;  // SigCgt, CapEff: hex without 0x
  void write(std::string& o, const auto& v, const auto&) const { fmt::format_to(std::back_inserter(o), "{:#x}", v); }
  template <class T>
  void read_proc(std::string_view value, T& v) const {
    v = proc_number<T>(value, proc_base);
  }
};
struct oct_format : dec_format {
  static constexpr int proc_base = 8;  // Umask
  void write(std::string& o, const auto& v, const auto&) const { fmt::format_to(std::back_inserter(o), "0o{:o}", v); }
  template <class T>
  void read_proc(std::string_view value, T& v) const {
    v = proc_number<T>(value, proc_base);
  }
};

/// A string, %-escaped (detail/escape.hpp).
struct text_format {
  void write(std::string& o, const std::string& v, const auto&) const { o += escape(v); }
  result<void> read(const line& l, std::string_view name, std::string& v, const auto&) const {
    return assign(v, text(l, name));
  }
};

/// "1,2,3" (or "-" for none) into at most `cap` numbers.
inline result<std::vector<std::uint32_t>> number_list(const line& l, std::string_view name, std::size_t cap) {
  const auto r = l.raw(name);
  if (!r) return fail(l.fail(fmt::format("{}: no {}=", l.key, name)));
  std::vector<std::uint32_t> out;
  if (*r == "-") return out;
  std::string_view s = *r;
  while (true) {
    if (out.size() == cap) return fail(l.fail(fmt::format("{}: {}= lists more than {} values", l.key, name, cap)));
    const auto comma = s.find(',');
    const auto v = parse_number<std::uint32_t>(s.substr(0, comma));
    if (!v) return fail(l.fail(fmt::format("{}: {}= holds a bad number", l.key, name)));
    out.push_back(*v);
    if (comma == std::string_view::npos) return out;
    s.remove_prefix(comma + 1);
  }
}

/// How many values a list word holds (after number_list took it).
inline std::size_t list_length(const line& l, std::string_view name) {
  const auto r = l.raw(name);
  if (!r || *r == "-") return 0;
  return static_cast<std::size_t>(std::count(r->begin(), r->end(), ',')) + 1;
}

/// A list of ids, "1,2,3" or "-", of at most `cap` values (a std::array
/// takes at most its size; a check row says when fewer are wrong).
struct id_list_format {
  std::size_t cap;
  void write(std::string& o, const auto& v, const auto&) const {
    const auto start = o.size();
    for (const auto x : v) fmt::format_to(std::back_inserter(o), "{}{}", o.size() == start ? "" : ",", x);
    if (o.size() == start) o += '-';
  }
  template <class T>
  result<void> read(const line& l, std::string_view name, T& v, const auto&) const {
    NECRO_TRY_ASSIGN(auto ids, number_list(l, name, cap));
    if constexpr (map::detail::is_std_array<T>::value) std::copy(ids.begin(), ids.end(), v.begin());
    else v = std::move(ids);
    return {};
  }
  /// /proc/PID/status writes the ids blank-separated ("Uid:\t0\t0\t0\t0").
  template <class T>
  void read_proc(std::string_view value, T& v) const {
    std::size_t n = 0;
    for_each_word(value, [&](std::string_view w) {
      if constexpr (map::detail::is_std_array<T>::value) {
        if (n < v.size()) v[n] = proc_number<std::uint32_t>(w, 10);
      } else if (n < cap) {
        v.push_back(proc_number<std::uint32_t>(w, 10));
      }
      ++n;
    });
  }
};

/// How a format's value sits on the line: `name=value` (the default), a
/// bare value (the line's first word), or a nested record's own words.
enum class layout { named, lead, nested };
template <class Format>
constexpr layout layout_of() {
  if constexpr (requires { Format::placement; }) return Format::placement;
  else return layout::named;
}

// ---------------------------------------------------------------- when a word is there
/// On every line of its kind (an optional member: written when it holds a value).
struct always_t {
  bool writes(const auto&, const auto& v) const { return is_set(v); }
  bool reads(const line&, std::string_view, const auto&) const { return true; }
};
inline constexpr always_t always{};

/// Written (an optional: when set) and required only when `pred(record)`.
template <class Pred>
struct when_t {
  Pred pred;
  bool writes(const auto& rec, const auto& v) const { return pred(rec) && is_set(v); }
  bool reads(const line&, std::string_view, const auto& rec) const { return pred(rec); }
};
template <class Pred>
constexpr when_t<Pred> when(Pred p) {
  return {p};
}

/// An optional member written whenever it is set; on reading, required when
/// `pred(record)` holds and not looked for otherwise (an fd kind's own words).
template <class Pred>
struct read_when_t {
  Pred pred;
  bool writes(const auto&, const auto& v) const { return is_set(v); }
  bool reads(const line&, std::string_view, const auto& rec) const { return pred(rec); }
};
template <class Pred>
constexpr read_when_t<Pred> read_when(Pred p) {
  return {p};
}

/// A word that may be absent: written when `pred(record)` and the member is
/// set (an optional) or not empty (a string); read when `pred(record)` and the
/// line has it.
template <class Pred>
struct optional_word_t {
  Pred pred;
  bool writes(const auto& rec, const auto& v) const { return pred(rec) && is_filled(v); }
  bool reads(const line& l, std::string_view name, const auto& rec) const { return pred(rec) && l.raw(name); }
};
inline constexpr auto anywhere = [](const auto&) { return true; };
template <class Pred = decltype(anywhere)>
constexpr optional_word_t<Pred> optional_word(Pred p = anywhere) {
  return {p};
}

// ---------------------------------------------------------------- rows
/// One member of a record as one word of its line.
template <class Member, class Format, class When>
struct text_field {
  using record_type = typename map::detail::member_traits<Member>::class_type;
  using value_type = typename map::detail::member_traits<Member>::value_type;

  std::string_view name;
  Member member;
  Format format;
  When presence;
  std::string_view proc_key;  ///< its /proc/PID/status key ("CapEff"), or none

  /// The same row, read also from the /proc/PID/status line `key`.
  constexpr text_field proc(std::string_view key) const {
    auto r = *this;
    r.proc_key = key;
    return r;
  }

  void write(std::string& o, const record_type& rec) const {
    const auto& v = rec.*member;
    if (!presence.writes(rec, v)) return;
    if constexpr (layout_of<Format>() != layout::nested) o += ' ';
    if constexpr (layout_of<Format>() == layout::named) o.append(name).push_back('=');
    if constexpr (is_optional<value_type>::value) format.write(o, *v, rec);
    else format.write(o, v, rec);
  }

  result<void> read(const line& l, record_type& rec) const {
    if (!presence.reads(l, name, rec)) return {};
    if constexpr (is_optional<value_type>::value) {
      typename value_type::value_type v{};
      NECRO_TRY(format.read(l, name, v, rec));
      rec.*member = std::move(v);
      return {};
    } else {
      return format.read(l, name, rec.*member, rec);
    }
  }
};

/// A row: `row("cur", &rlimit_entry::cur, dec_format{})` is ` cur=N`.
template <class Member, class Format, class When = always_t>
constexpr auto row(std::string_view name, Member member, Format format, When presence = {}) {
  return text_field<Member, Format, When>{name, member, format, presence, {}};
}

/// A member that is not a word of its record's line (it has lines of its own).
template <class Member>
struct elsewhere_field {
  using record_type = typename map::detail::member_traits<Member>::class_type;
  Member member;
  std::string_view where;
  void write(std::string&, const record_type&) const {}
  result<void> read(const line&, record_type&) const { return {}; }
};
template <class Member>
constexpr auto elsewhere(Member member, std::string_view where) {
  return elsewhere_field<Member>{member, where};
}

/// A check between words: `check(line, record)` on the words read so far.
template <class Record, class Check>
struct check_row {
  using record_type = Record;
  Check check;
  void write(std::string&, const Record&) const {}
  result<void> read(const line& l, Record& rec) const { return check(l, static_cast<const Record&>(rec)); }
};
template <class Record, class Check>
constexpr auto check(Check c) {
  return check_row<Record, Check>{c};
}

/// A record nested in its parent's line: its table's words, in place.
template <class Table>
struct record_format {
  static constexpr layout placement = layout::nested;
  const Table& table;
  void write(std::string& o, const auto& v, const auto&) const;
  template <class T>
  result<void> read(const line& l, std::string_view, T& v, const auto&) const;
};

/// The /proc/PID/status line `key: value` into the row of `table` whose
/// proc key it is; false when no row has it.
template <class Table, class Record>
bool read_proc_line(const Table& table, std::string_view key, std::string_view value, Record& rec) {
  bool found = false;
  boost::hana::for_each(table, [&](const auto& r) {
    if constexpr (requires { r.proc_key; r.format.read_proc(value, rec.*(r.member)); }) {
      if (!found && !r.proc_key.empty() && r.proc_key == key) {
        r.format.read_proc(value, rec.*(r.member));
        found = true;
      }
    }
  });
  return found;
}

/// Appends ` name=value` for every row of `table` that `rec` has.
template <class Table, class Record>
void write_fields(std::string& o, const Table& table, const Record& rec) {
  boost::hana::for_each(table, [&](const auto& r) { r.write(o, rec); });
}

/// Reads every row of `table` from `l`, in order; the first bad word is the error.
template <class Record, class Table>
result<Record> read_fields(const line& l, const Table& table) {
  Record rec{};
  result<void> status;
  boost::hana::for_each(table, [&](const auto& r) {
    if (status) status = r.read(l, rec);
  });
  if (!status) return fail(std::move(status).error_value());
  return rec;
}

/// The format of a record nested in another's line (clang 14 has no CTAD for aggregates).
template <class Table>
constexpr record_format<Table> nested(const Table& table) {
  return {table};
}

template <class Table>
void record_format<Table>::write(std::string& o, const auto& v, const auto&) const {
  write_fields(o, table, v);
}
template <class Table>
template <class T>
result<void> record_format<Table>::read(const line& l, std::string_view, T& v, const auto&) const {
  return assign(v, read_fields<T>(l, table));
}

// ---------------------------------------------------------------- completeness
/// A Src whose field addresses stand for its fields. A union, so that no Src
/// is constructed: a std::string member is not constexpr for clang with
/// libstdc++. Only its addresses are used.
template <class Src>
union field_probe {
  char none;
  Src fields;
  constexpr field_probe() : none() {}
  constexpr ~field_probe() {}
};
template <class Src>
inline constexpr field_probe<Src> probe{};

template <class Row>
concept names_a_member = requires(const Row& r) { r.member; };

/// How many rows of `table` name PFR field I of Src (check rows name none).
template <class Src, std::size_t I, class Table>
constexpr std::size_t times_named(const Table& table) {
  return boost::hana::fold_left(table, std::size_t{0}, [](std::size_t n, const auto& r) {
    using row_t = std::decay_t<decltype(r)>;
    if constexpr (!names_a_member<row_t>) {
      return n;
    } else {
      using traits = map::detail::member_traits<std::remove_cv_t<decltype(r.member)>>;
      using field_t = boost::pfr::tuple_element_t<I, Src>;
      if constexpr (!std::is_same_v<typename traits::class_type, Src> ||
                    !std::is_same_v<typename traits::value_type, field_t>)
        return n;
      else
        return n + (&(probe<Src>.fields.*r.member) == &boost::pfr::get<I>(probe<Src>.fields) ? 1 : 0);
    }
  });
}

/// Field `Field` of Src is named `Times` times by capture text table `Table`.
template <class Src, const auto& Table, map::detail::field_address Field, std::size_t Times>
struct text_field_coverage {
  static_assert(Times != 0,
                "necro: capture text table misses a field of its record (give it a row, or an `elsewhere` row)");
  static_assert(Times <= 1, "necro: capture text table names a field of its record more than once");
  static constexpr bool ok = Times == 1;
};

/// Row `Row` (its member, or its index for a check) of capture text table
/// `Table` is a row of Src (when `Belongs`).
template <class Src, const auto& Table, auto Row, bool Belongs>
struct text_row_source {
  static_assert(Belongs, "necro: capture text table has a row for a field of another record");
  static constexpr bool ok = Belongs;
};

template <class Src, const auto& Table, std::size_t... I>
constexpr bool each_field_named_once(std::index_sequence<I...>) {
  return (text_field_coverage<Src, Table, map::detail::field_address{&boost::pfr::get<I>(probe<Src>.fields)},
                              times_named<Src, I>(Table)>::ok &&
          ...);
}

/// What names row K in a diagnostic: its member pointer, or K for a check.
template <const auto& Table, std::size_t K>
constexpr auto row_id() {
  constexpr const auto& r = boost::hana::at_c<K>(Table);
  if constexpr (names_a_member<std::decay_t<decltype(r)>>) return r.member;
  else return K;
}

template <class Src, const auto& Table, std::size_t... K>
constexpr bool each_row_of_record(std::index_sequence<K...>) {
  return (text_row_source<Src, Table, row_id<Table, K>(),
                          std::is_same_v<typename std::decay_t<decltype(boost::hana::at_c<K>(Table))>::record_type,
                                         Src>>::ok &&
          ...);
}

/// Every row of `Table` is one of Src's and every field of Src is named by
/// exactly one row; a mistake fails one of the static_asserts above, whose
/// instantiation line names the table and the field.
template <class Src, const auto& Table>
constexpr bool assert_complete() {
  constexpr std::size_t rows = decltype(boost::hana::length(Table))::value;
  return each_row_of_record<Src, Table>(std::make_index_sequence<rows>{}) &&
         each_field_named_once<Src, Table>(std::make_index_sequence<boost::pfr::tuple_size_v<Src>>{});
}

}  // namespace necro::capture::detail

/// The check every capture text table carries (`table` names a constexpr
/// table at namespace scope): each member of `Record` is named by one row.
#define NECRO_TEXT_ASSERT_COMPLETE(Record, table)                                                  \
  static_assert(::necro::capture::detail::assert_complete<Record, table>(),                        \
                "necro: capture text table " #table " must name every field of " #Record " exactly " \
                "once (see the field named above)")

#endif
