// Writes small seed inputs for the fuzz targets into the directories named on
// the command line: `make_seeds CORE_DIR IMAGE_DIR`. The real fixtures are
// seeds too, but they are large; these are a few KiB and parse fully.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <necro/criu/image.hpp>
#include <necro/pb/core.pb.h>
#include <necro/pb/pagemap.pb.h>
#include <necro/pb/pstree.pb.h>

#include "support/core_builder.hpp"

namespace {

void write(const std::filesystem::path& p, const void* data, std::size_t size) {
  std::ofstream out(p, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s CORE_DIR IMAGE_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path cores = argv[1], images = argv[2];
  std::filesystem::create_directories(cores);
  std::filesystem::create_directories(images);

  const auto small = necro::test::small_core().build();
  write(cores / "small.core", small.image.data(), small.image.size());
  auto one = necro::test::small_core();
  one.notes().erase(one.notes().begin(), one.notes().begin() + 3);  // one thread
  const auto single = one.build();
  write(cores / "single-thread.core", single.image.data(), single.image.size());

  namespace magic = necro::criu::magic;
  necro::pb::pstree_entry ps;
  ps.set_pid(10);
  ps.set_ppid(1);
  ps.set_pgid(10);
  ps.set_sid(10);
  ps.add_threads(10);
  ps.add_threads(11);
  const auto pstree = necro::criu::image_builder(magic::pstree).add(ps).bytes();
  write(images / "pstree.img", pstree.data(), pstree.size());

  necro::pb::pagemap_head head;
  head.set_pages_id(1);
  necro::pb::pagemap_entry pe;
  pe.set_vaddr(0x400000);
  pe.set_compat_nr_pages(0);
  pe.set_nr_pages(3);
  pe.set_flags(necro::criu::pe::present);
  const auto pagemap = necro::criu::image_builder(magic::pagemap).add(head).add(pe).add(pe).bytes();
  write(images / "pagemap-10.img", pagemap.data(), pagemap.size());
  return 0;
}
