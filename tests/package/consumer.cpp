// A program outside necro that uses it the way a tool builder would: reads
// the core named on the command line and prints its thread count; builds a
// one-entry CRIU image to prove the generated protobuf code links too.
#if __has_include(<necro/necro.hpp>)
#include <necro/necro.hpp>
#else
#include <necro/arch/x86_64.hpp>
#include <necro/criu/image.hpp>
#include <necro/elf/core_view.hpp>
#endif
#include <necro/pb/pstree.pb.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORE\n", argv[0]);
    return 2;
  }
  auto core = necro::elf::core_view<necro::arch::x86_64>::open(argv[1]);
  if (!core) {
    std::fprintf(stderr, "%s\n", core.error().message().c_str());
    return 1;
  }
  necro::pb::pstree_entry e;
  e.set_pid(static_cast<std::uint32_t>(core->pid()));
  e.set_ppid(0);
  e.set_pgid(e.pid());
  e.set_sid(e.pid());
  const auto image = necro::criu::image_builder(necro::criu::magic::pstree).add(e).bytes();
  std::printf("threads: %zu\npid: %d\npstree bytes: %zu\n", core->threads().size(), core->pid(), image.size());
  return 0;
}
