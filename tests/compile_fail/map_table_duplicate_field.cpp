// expect: necro: map table names a field of its source structure more than once
// expect: field_coverage<cf::regs, cf::regs_table, [^,]*[.:]sp[)}]*, 2>
// A field table that names a field twice (here: mapped and ignored) must not compile; the
// compiler names the table and the field (g++: `source_object<cf::regs>.cf::regs::sp`, clang: `{&source_object.sp}`).
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
constexpr auto regs_table = boost::hana::make_tuple(NECRO_MAP_SCALAR(regs, ip, ip), NECRO_MAP_SCALAR(regs, sp, sp));
#else
constexpr auto regs_table = boost::hana::make_tuple(NECRO_MAP_SCALAR(regs, ip, ip), NECRO_MAP_SCALAR(regs, sp, sp),
                                               NECRO_MAP_IGNORE(regs, sp, "twice"));
#endif
NECRO_MAP_ASSERT_COMPLETE(regs, regs_table);

}  // namespace cf

void use_table(cf::msg& m) { necro::map::apply(cf::regs_table, cf::regs{1, 2}, m); }
