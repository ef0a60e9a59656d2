// expect: necro: capture text table has a row for a field of another record
// expect: text_row_source<cf::rec, cf::rec_fields, &cf::other::path, false>
// A capture text table for one record with a row of another record's field must not compile;
// the compiler names the foreign row (`&cf::other::path`) and the field left unnamed (rec::path).
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
struct other {
  std::string path;
};

#ifdef NECRO_COMPILE_FAIL_CONTROL
inline constexpr auto rec_fields = boost::hana::make_tuple(cd::row("tfd", &rec::tfd, cd::dec_format{}),
                                                           cd::row("path", &rec::path, cd::text_format{}));
#else
// `path` of another record.
inline constexpr auto rec_fields = boost::hana::make_tuple(cd::row("tfd", &rec::tfd, cd::dec_format{}),
                                                           cd::row("path", &other::path, cd::text_format{}));
#endif
NECRO_TEXT_ASSERT_COMPLETE(rec, rec_fields);

}  // namespace cf
