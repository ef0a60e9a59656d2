// expect: necro: field table for regs must name every field of it exactly once
// A table for one structure that maps another structure's field instead must not compile.
#include <boost/hana/tuple.hpp>

#include <necro/map/field.hpp>

namespace cf {

struct regs {
  unsigned long ip, sp;
};
struct other {
  unsigned long ip, sp;
};

#ifdef NECRO_COMPILE_FAIL_CONTROL
constexpr auto table = boost::hana::make_tuple(NECRO_MAP_IGNORE(regs, ip, "test"), NECRO_MAP_IGNORE(regs, sp, "test"));
#else
constexpr auto table = boost::hana::make_tuple(NECRO_MAP_IGNORE(regs, ip, "test"), NECRO_MAP_IGNORE(other, sp, "test"));
#endif
NECRO_MAP_ASSERT_COMPLETE(regs, table);

}  // namespace cf

std::size_t rows() { return necro::map::row_count(cf::table); }
