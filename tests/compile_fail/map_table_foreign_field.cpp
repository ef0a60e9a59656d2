// expect: necro: map table has a row for a field of another structure
// expect: row_source<cf::regs, cf::regs_table, &cf::other::sp, false>
// A table for one structure that maps another structure's field instead must not compile;
// the compiler names the foreign row (`&cf::other::sp`) and the field left unnamed (regs::sp).
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
constexpr auto regs_table = boost::hana::make_tuple(NECRO_MAP_IGNORE(regs, ip, "test"), NECRO_MAP_IGNORE(regs, sp, "test"));
#else
constexpr auto regs_table = boost::hana::make_tuple(NECRO_MAP_IGNORE(regs, ip, "test"), NECRO_MAP_IGNORE(other, sp, "test"));
#endif
NECRO_MAP_ASSERT_COMPLETE(regs, regs_table);

}  // namespace cf

std::size_t rows() { return necro::map::row_count(cf::regs_table); }
