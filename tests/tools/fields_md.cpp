// Writes docs/fields.md: the field-source list of
// include/necro/plan/docs/field_sources.hpp as markdown, to the file named by its
// argument (stdout without one). Run by the `update_fields_md` target;
// plan/field_sources_test fails while the committed docs/fields.md differs.
#include <cstdio>
#include <fstream>

#include <necro/plan/docs/field_sources.hpp>

int main(int argc, char** argv) {
  const auto md = necro::plan::field_sources_markdown();
  if (argc < 2) return std::fwrite(md.data(), 1, md.size(), stdout) == md.size() ? 0 : 1;
  std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
  out << md;
  out.close();
  if (!out) {
    std::fprintf(stderr, "%s: cannot write\n", argv[1]);
    return 1;
  }
  return 0;
}
