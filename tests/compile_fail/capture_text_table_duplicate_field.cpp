// expect: necro: capture text table names a field of its record more than once
// expect: text_field_coverage<cf::rec, cf::rec_fields, .*[.:]tfd[)}]*, 2>
// A capture text table that writes one field twice must not compile; the compiler names the
// table and the field.
#include <cstdint>
#include <string>

#include <boost/hana/tuple.hpp>

#include <necro/capture/detail/text_field.hpp>

namespace cf {

namespace cd = necro::capture::detail;

struct rec {
  std::uint32_t tfd = 0;
  std::string path;
};

#ifdef NECRO_COMPILE_FAIL_CONTROL
inline constexpr auto rec_fields = boost::hana::make_tuple(cd::row("tfd", &rec::tfd, cd::dec_format{}),
                                                           cd::row("path", &rec::path, cd::text_format{}));
#else
// `tfd` twice, under two names.
inline constexpr auto rec_fields = boost::hana::make_tuple(
    cd::row("tfd", &rec::tfd, cd::dec_format{}), cd::row("fd", &rec::tfd, cd::hex_format{}),
    cd::row("path", &rec::path, cd::text_format{}));
#endif
NECRO_TEXT_ASSERT_COMPLETE(rec, rec_fields);

}  // namespace cf

void use_table(std::string& o) { necro::capture::detail::write_fields(o, cf::rec_fields, cf::rec{}); }
