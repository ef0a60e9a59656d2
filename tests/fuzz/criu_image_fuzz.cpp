// libFuzzer target: criu::entry_reader over arbitrary bytes, tried against
// every image magic necro knows. Entries of images necro has messages for are
// decoded; whatever decodes must re-encode with image_builder and decode again
// to the same messages.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <google/protobuf/stubs/logging.h>

#include <necro/criu/image.hpp>
#include <necro/criu/magic.hpp>
#include <necro/pb/core.pb.h>
#include <necro/pb/creds.pb.h>
#include <necro/pb/fdinfo.pb.h>
#include <necro/pb/fs.pb.h>
#include <necro/pb/inventory.pb.h>
#include <necro/pb/mm.pb.h>
#include <necro/pb/pagemap.pb.h>
#include <necro/pb/pstree.pb.h>
#include <necro/pb/regfile.pb.h>

namespace {

namespace magic = necro::criu::magic;
namespace pb = necro::pb;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

necro::io::byte_view view_of(const std::uint8_t* data, std::size_t size) {
  return necro::io::byte_view(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size), 0,
                              "fuzz.img");
}

/// Decodes the rest of `r` as Msg; on success checks the encode/decode round trip.
template <class Msg>
void decode(necro::criu::entry_reader& r, std::uint32_t m, const std::vector<std::string>& prefix = {}) {
  auto all = r.read_all<Msg>();
  if (!all) {
    check(all.error().path() == "fuzz.img");
    return;
  }
  necro::criu::image_builder b(m);
  for (const auto& p : prefix) b.add_raw(p);
  for (const auto& msg : *all) b.add(msg);
  const std::string& bytes = b.bytes();
  auto again = necro::criu::entry_reader::open(
      view_of(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), m);
  check(again.has_value());
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    auto raw = again->next_raw("prefix");
    check(raw.has_value() && raw->has_value());
  }
  auto back = again->read_all<Msg>();
  check(back.has_value() && back->size() == all->size());
  for (std::size_t i = 0; i < all->size(); ++i)
    check((*back)[i].SerializeAsString() == (*all)[i].SerializeAsString());
}

void fuzz_one(const necro::io::byte_view& v, std::uint32_t m) {
  auto r = necro::criu::entry_reader::open(v, m);
  if (!r) return;
  switch (m) {
    case magic::inventory: return decode<pb::inventory_entry>(*r, m);
    case magic::pstree: return decode<pb::pstree_entry>(*r, m);
    case magic::files: return decode<pb::file_entry>(*r, m);
    case magic::reg_files: return decode<pb::reg_file_entry>(*r, m);
    case magic::core: return decode<pb::core_entry>(*r, m);
    case magic::ids: return decode<pb::task_kobj_ids_entry>(*r, m);
    case magic::mm: return decode<pb::mm_entry>(*r, m);
    case magic::fs: return decode<pb::fs_entry>(*r, m);
    case magic::fdinfo: return decode<pb::fdinfo_entry>(*r, m);
    case magic::creds: return decode<pb::creds_entry>(*r, m);
    case magic::pagemap: {
      pb::pagemap_head head;
      auto first = r->next(head);
      if (!first || !*first) return;
      return decode<pb::pagemap_entry>(*r, m, {head.SerializeAsString()});
    }
    default:
      // Known magic, no message of ours: walk the framing only.
      for (int i = 0; i < 1 << 16; ++i) {
        auto raw = r->next_raw("entry");
        if (!raw || !*raw) return;
      }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const google::protobuf::LogSilencer quiet;  // no "missing required fields" spam
  const auto v = view_of(data, size);
  for (const auto& kind : necro::criu::known_images) fuzz_one(v, kind.magic);
  return 0;
}
