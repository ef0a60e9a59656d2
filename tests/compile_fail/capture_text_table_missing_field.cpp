// expect: necro: capture text table misses a field of its record
// expect: text_field_coverage<cf::rec, cf::rec_fields, .*[.:]sigmask[)}]*, 0>
// A capture text table that forgets a field of its record must not compile; the compiler
// names the table and the field (g++: `probe<cf::rec>.…fields.cf::rec::sigmask`, clang: `{&probe.fields.sigmask}`).
#include <cstdint>
#include <optional>
#include <string>

#include <boost/hana/tuple.hpp>

#include <necro/capture/detail/text_field.hpp>

namespace cf {

namespace cd = necro::capture::detail;

struct rec {
  std::uint32_t tfd = 0;
  std::string path;
  std::optional<std::uint64_t> sigmask;
};

#ifdef NECRO_COMPILE_FAIL_CONTROL
inline constexpr auto rec_fields = boost::hana::make_tuple(
    cd::row("tfd", &rec::tfd, cd::dec_format{}), cd::row("path", &rec::path, cd::text_format{}),
    cd::row("sigmask", &rec::sigmask, cd::hex_format{}));
#else
// `sigmask` has no row.
inline constexpr auto rec_fields = boost::hana::make_tuple(cd::row("tfd", &rec::tfd, cd::dec_format{}),
                                                           cd::row("path", &rec::path, cd::text_format{}));
#endif
NECRO_TEXT_ASSERT_COMPLETE(rec, rec_fields);

}  // namespace cf

void use_table(std::string& o) { necro::capture::detail::write_fields(o, cf::rec_fields, cf::rec{}); }
