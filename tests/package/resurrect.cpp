// A tool builder's resurrection: the core and the donor's images in, a
// patched image set out, through necro's one call (README, "As a library").
//   necro_resurrect CORE DONOR_DIR OUT_DIR
#include <cstdio>

#include <necro/necro.hpp>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s CORE DONOR_DIR OUT_DIR\n", argv[0]);
    return 2;
  }
  necro::resurrect_options o;
  o.core = argv[1];   // the dead process's core (a .zst is fine)
  o.donor = argv[2];  // `criu dump` of a live run of the same program; empty: none
  o.out = argv[3];    // the new image set; then `criu restore -D OUT -d`
  o.offline = true;   // the bundled sample was made on another machine
  auto done = necro::resurrect(o);
  if (!done) {
    std::fprintf(stderr, "%s\n", done.error().message().c_str());
    return 1;
  }
  std::printf("pid %d: %zu thread(s), %zu VMAs, %llu page bytes in %s\n", done->plan.pid, done->plan.threads.size(),
              done->plan.vmas.size(), static_cast<unsigned long long>(done->commit.page_bytes),
              done->commit.out_dir.c_str());
  return 0;
}
