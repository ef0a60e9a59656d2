// expect: necro: field table for regs must name every field of it exactly once
// A field table that names a field twice (here: mapped and ignored) must not compile.
#include <boost/hana/tuple.hpp>

#include <necro/map/field.hpp>

namespace cf {

struct regs {
  unsigned long ip, sp;
};

struct msg {
  unsigned long ip_ = 0, sp_ = 0;
  unsigned long ip() const { return ip_; }
  void set_ip(unsigned long v) { ip_ = v; }
  unsigned long sp() const { return sp_; }
  void set_sp(unsigned long v) { sp_ = v; }
};

#ifdef NECRO_COMPILE_FAIL_CONTROL
constexpr auto table = boost::hana::make_tuple(NECRO_MAP_SCALAR(regs, ip, ip), NECRO_MAP_SCALAR(regs, sp, sp));
#else
constexpr auto table = boost::hana::make_tuple(NECRO_MAP_SCALAR(regs, ip, ip), NECRO_MAP_SCALAR(regs, sp, sp),
                                               NECRO_MAP_IGNORE(regs, sp, "twice"));
#endif
NECRO_MAP_ASSERT_COMPLETE(regs, table);

}  // namespace cf

void use_table(cf::msg& m) { necro::map::apply(cf::table, cf::regs{1, 2}, m); }
