// expect: necro: load<T> needs a trivially copyable T
// byte_view::load copies bytes into a T: a T with a non-trivial copy must not compile.
#include <string>

#include <necro/io/byte_view.hpp>

#ifdef NECRO_COMPILE_FAIL_CONTROL
using loaded = std::uint64_t;
#else
using loaded = std::string;
#endif

bool try_load(const necro::io::byte_view& v) { return v.load<loaded>(0, "value").has_value(); }
