// libFuzzer target: capture::parse_text over arbitrary bytes. Whatever parses
// must write back (to_text) to text that parses to the same text again, and
// convert to CRIU messages (to_criu) without a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <necro/capture/criu_files.hpp>
#include <necro/capture/text.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto c = necro::capture::parse_text(text, "fuzz");
  if (!c) return 0;
  const auto once = necro::capture::to_text(*c);
  const auto again = necro::capture::parse_text(once, "fuzz");
  if (!again || necro::capture::to_text(*again) != once) std::abort();
  (void)necro::capture::criu_images(*c);
  return 0;
}
