// expect: necro: map table misses a field of its source structure
// expect: field_coverage<cf::regs, cf::regs_table, [^,]*[.:]flags[)}]*, 0>
// A field table that forgets a field of its source structure must not compile; the compiler
// names the table and the field (g++: `source_object<cf::regs>.cf::regs::flags`, clang: `{&source_object.flags}`).
#include <boost/hana/tuple.hpp>

#include <necro/map/field.hpp>

namespace cf {

struct regs {
  unsigned long ip, sp, flags;
};

struct msg {
  unsigned long ip_ = 0, sp_ = 0, flags_ = 0;
  unsigned long ip() const { return ip_; }
  void set_ip(unsigned long v) { ip_ = v; }
  unsigned long sp() const { return sp_; }
  void set_sp(unsigned long v) { sp_ = v; }
  unsigned long flags() const { return flags_; }
  void set_flags(unsigned long v) { flags_ = v; }
};

#ifdef NECRO_COMPILE_FAIL_CONTROL
constexpr auto regs_table = boost::hana::make_tuple(NECRO_MAP_SCALAR(regs, ip, ip), NECRO_MAP_SCALAR(regs, sp, sp),
                                               NECRO_MAP_SCALAR(regs, flags, flags));
#else
// `flags` is neither mapped nor ignored.
constexpr auto regs_table = boost::hana::make_tuple(NECRO_MAP_SCALAR(regs, ip, ip), NECRO_MAP_SCALAR(regs, sp, sp));
#endif
NECRO_MAP_ASSERT_COMPLETE(regs, regs_table);

}  // namespace cf

void use_table(cf::msg& m) { necro::map::apply(cf::regs_table, cf::regs{1, 2, 3}, m); }
