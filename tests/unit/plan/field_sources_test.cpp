// necro::plan::field_sources: every field of every message necro writes has a
// source (walked from the protobuf descriptors), each table row writes the
// field the list says, docs/fields.md is the list's, and on the counter
// fixture the donor-mode sources hold: fields "kept from the donor" equal the
// donor's and follow a changed donor; fields from a table are the core's and
// do not follow it.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <boost/hana/for_each.hpp>
#include <catch2/catch.hpp>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <necro/necro.hpp>
#include <necro/plan/docs/field_sources.hpp>

#include "support/fixtures.hpp"
#include "support/planned.hpp"

namespace fs = std::filesystem;
namespace gp = google::protobuf;
using necro::plan::field_sources;
using necro::plan::origin;

namespace {

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> out;
  std::size_t at = 0;
  for (std::size_t dot; (dot = path.find('.', at)) != std::string::npos; at = dot + 1)
    out.push_back(path.substr(at, dot - at));
  out.push_back(path.substr(at));
  return out;
}

std::string scalar_text(const gp::Message& m, const gp::FieldDescriptor& f, int i) {
  const auto* r = m.GetReflection();
  const bool rep = f.is_repeated();
  switch (f.cpp_type()) {
    case gp::FieldDescriptor::CPPTYPE_INT32: return std::to_string(rep ? r->GetRepeatedInt32(m, &f, i) : r->GetInt32(m, &f));
    case gp::FieldDescriptor::CPPTYPE_INT64: return std::to_string(rep ? r->GetRepeatedInt64(m, &f, i) : r->GetInt64(m, &f));
    case gp::FieldDescriptor::CPPTYPE_UINT32: return std::to_string(rep ? r->GetRepeatedUInt32(m, &f, i) : r->GetUInt32(m, &f));
    case gp::FieldDescriptor::CPPTYPE_UINT64: return std::to_string(rep ? r->GetRepeatedUInt64(m, &f, i) : r->GetUInt64(m, &f));
    case gp::FieldDescriptor::CPPTYPE_BOOL: return (rep ? r->GetRepeatedBool(m, &f, i) : r->GetBool(m, &f)) ? "true" : "false";
    case gp::FieldDescriptor::CPPTYPE_ENUM: return std::to_string(rep ? r->GetRepeatedEnumValue(m, &f, i) : r->GetEnumValue(m, &f));
    case gp::FieldDescriptor::CPPTYPE_STRING: return "'" + (rep ? r->GetRepeatedString(m, &f, i) : r->GetString(m, &f)) + "'";
    default: return "?";
  }
}

/// Every value at `path` (below the root message `m`), flattened over
/// repeated messages; an absent optional reads "<unset>".
void values_at(const gp::Message& m, std::span<const std::string> parts, std::vector<std::string>& out) {
  const auto* f = m.GetDescriptor()->FindFieldByName(parts[0]);
  REQUIRE(f);
  const auto* r = m.GetReflection();
  if (parts.size() == 1) {
    if (f->is_repeated()) {
      out.push_back("[" + std::to_string(r->FieldSize(m, f)) + "]");
      for (int i = 0; i < r->FieldSize(m, f); ++i) out.push_back(scalar_text(m, *f, i));
    } else {
      out.push_back(r->HasField(m, f) ? scalar_text(m, *f, 0) : "<unset>");
    }
    return;
  }
  if (f->is_repeated()) {
    out.push_back("[" + std::to_string(r->FieldSize(m, f)) + "]");
    for (int i = 0; i < r->FieldSize(m, f); ++i) values_at(r->GetRepeatedMessage(m, f, i), parts.subspan(1), out);
  } else if (r->HasField(m, f)) {
    values_at(r->GetMessage(m, f), parts.subspan(1), out);
  } else {
    out.push_back("<no " + parts[0] + ">");
  }
}

std::string values_at(const gp::Message& m, const std::string& path) {
  std::vector<std::string> out;
  const auto parts = split(path);
  values_at(m, std::span(parts).subspan(1), out);  // parts[0] is the root message's name
  std::string s;
  for (const auto& v : out) s += (s.empty() ? "" : " ") + v;
  return s;
}

/// The scalar at `path` changed in place (through singular messages only);
/// false when it is absent, repeated or under a repeated message.
bool perturb(gp::Message& m, const std::string& path) {
  const auto parts = split(path);
  gp::Message* cur = &m;
  for (std::size_t i = 1; i + 1 < parts.size(); ++i) {
    const auto* f = cur->GetDescriptor()->FindFieldByName(parts[i]);
    if (!f || f->is_repeated() || !cur->GetReflection()->HasField(*cur, f)) return false;
    cur = cur->GetReflection()->MutableMessage(cur, f);
  }
  const auto* f = cur->GetDescriptor()->FindFieldByName(parts.back());
  const auto* r = cur->GetReflection();
  if (!f || f->is_repeated() || !r->HasField(*cur, f)) return false;
  switch (f->cpp_type()) {
    case gp::FieldDescriptor::CPPTYPE_INT32: r->SetInt32(cur, f, r->GetInt32(*cur, f) ^ 0x10); return true;
    case gp::FieldDescriptor::CPPTYPE_INT64: r->SetInt64(cur, f, r->GetInt64(*cur, f) ^ 0x10); return true;
    case gp::FieldDescriptor::CPPTYPE_UINT32: r->SetUInt32(cur, f, r->GetUInt32(*cur, f) ^ 0x10); return true;
    case gp::FieldDescriptor::CPPTYPE_UINT64: r->SetUInt64(cur, f, r->GetUInt64(*cur, f) ^ 0x10); return true;
    case gp::FieldDescriptor::CPPTYPE_BOOL: r->SetBool(cur, f, !r->GetBool(*cur, f)); return true;
    case gp::FieldDescriptor::CPPTYPE_STRING: r->SetString(cur, f, r->GetString(*cur, f) + "~"); return true;
    case gp::FieldDescriptor::CPPTYPE_ENUM: {
      const auto* e = f->enum_type();
      const int now = r->GetEnumValue(*cur, f);
      for (int i = 0; i < e->value_count(); ++i)
        if (e->value(i)->number() != now) {
          r->SetEnumValue(cur, f, e->value(i)->number());
          return true;
        }
      return false;
    }
    default: return false;
  }
}

const necro::plan::field_entry* entry_of(const std::string& path) {
  for (const auto& e : field_sources())
    if (e.path == path) return &e;
  return nullptr;
}

/// Leaf fields under `root` (a message name) whose donor-mode source is `kind`.
std::vector<std::string> donor_mode_paths(std::string_view root, origin kind) {
  std::set<std::string> messages;
  for (const auto& r : necro::plan::field_rows())
    if (r.is_message) messages.insert(r.path);
  std::vector<std::string> out;
  for (const auto& e : field_sources())
    if (e.donor.kind == kind && e.path.starts_with(std::string(root) + ".") && !messages.count(e.path))
      out.push_back(e.path);
  return out;
}

/// A temporary copy of a donor directory, removed at the end.
struct donor_copy {
  fs::path dir;
  explicit donor_copy(const fs::path& from) {
    char tmpl[] = "/tmp/necro-field-sources.XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    dir = fs::path(tmpl) / from.filename();
    fs::copy(from, dir, fs::copy_options::recursive);
  }
  ~donor_copy() {
    std::error_code ec;
    fs::remove_all(dir.parent_path(), ec);
  }
  template <class Msg>
  void write(const std::string& image, std::uint32_t magic, const std::vector<Msg>& msgs) const {
    necro::criu::image_builder b(magic);
    for (const auto& m : msgs) b.add(m);
    std::ofstream(dir / image, std::ios::binary | std::ios::trunc) << b.bytes();
  }
};

/// The messages a plan writes, by root message name: every thread's core,
/// mm, pstree, files.img's entries, and the carried images (inventory, fs-,
/// ids-, fdinfo-) parsed from their bytes (a synthetic donor's) or the donor's files.
struct written {
  std::map<std::string, std::vector<const gp::Message*>> by_root;
  std::vector<std::unique_ptr<gp::Message>> parsed;

  written() = default;

  template <class Msg>
  void parse(const std::string& bytes, std::uint32_t magic) {
    const necro::io::byte_view v(std::span(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()), 0, "image");
    auto r = necro::criu::entry_reader::open(v, magic);
    REQUIRE(r);
    auto all = r->template read_all<Msg>();
    REQUIRE(all);
    for (auto& m : *all) {
      parsed.push_back(std::make_unique<Msg>(std::move(m)));
      by_root[std::string(Msg::descriptor()->name())].push_back(parsed.back().get());
    }
  }

  written(const necro::plan::resurrection& p, const fs::path& donor_dir) {
    for (const auto& t : p.threads) by_root["core_entry"].push_back(&t.core);
    by_root["mm_entry"].push_back(&p.mm);
    by_root["pstree_entry"].push_back(&p.pstree);
    for (const auto& f : p.files) by_root["file_entry"].push_back(&f);
    for (const auto& m : p.shared.memfd_inodes) by_root["memfd_inode_entry"].push_back(&m);
    for (const auto& r : p.shared.remaps) by_root["remap_file_path_entry"].push_back(&r);
    for (const auto& o : p.shared.objects)
      if (o.kind == necro::plan::vma_kind::deleted_file) by_root["ghost_file_entry"].push_back(&o.ghost);
    for (const auto& c : p.carried) {
      const std::string bytes = c.bytes ? *c.bytes : necro::test::slurp(donor_dir / c.from);
      if (c.to == "inventory.img") parse<necro::pb::inventory_entry>(bytes, necro::criu::magic::inventory);
      else if (c.to.starts_with("fs-")) parse<necro::pb::fs_entry>(bytes, necro::criu::magic::fs);
      else if (c.to.starts_with("ids-")) parse<necro::pb::task_kobj_ids_entry>(bytes, necro::criu::magic::ids);
      else if (c.to.starts_with("fdinfo-")) parse<necro::pb::fdinfo_entry>(bytes, necro::criu::magic::fdinfo);
    }
  }
};

/// Checks every field whose source in the mode states a fixed value
/// (field_source::expect) against every instance the plan writes: absent
/// parents and element counts aside, each value must be the stated one.
/// Returns how many values were compared.
std::size_t check_expectations(const written& w, bool donorless) {
  std::size_t compared = 0;
  for (const auto& e : field_sources()) {
    const auto& src = donorless ? e.donorless : e.donor;
    if (src.expect.empty()) continue;
    const auto root = e.path.substr(0, e.path.find('.'));
    const auto it = w.by_root.find(root);
    if (it == w.by_root.end()) continue;  // not in the plan (pagemap: written by the page engine)
    for (const auto* m : it->second) {
      std::vector<std::string> values;
      const auto parts = split(e.path);
      values_at(*m, std::span(parts).subspan(1), values);
      for (const auto& v : values) {
        if (v.starts_with("[") || v.starts_with("<no ")) continue;
        INFO(e.path << " is listed as " << describe(src.kind) << " '" << src.by << "' (" << src.expect << ")");
        CHECK(v == src.expect);
        ++compared;
      }
    }
  }
  return compared;
}

/// Table fields of the leader are the core's registers, rewound as plan_thread does.
std::size_t check_tables(const necro::test::x86_64_core_view& core, const necro::pb::core_entry& leader, bool donorless) {
  auto regs = core.leader().regs();
  (void)necro::arch::x86_64::rewind_syscall(regs);
  necro::pb::user_x86_regs_entry from_core;
  necro::map::apply(necro::map::x86_64::gpregs, regs, from_core);
  std::size_t n = 0;
  for (const auto& e : field_sources()) {
    if ((donorless ? e.donorless : e.donor).kind != origin::table) continue;
    if (!e.path.starts_with("core_entry.thread_info.gpregs.")) continue;
    INFO(e.path << " is listed as set from a table");
    CHECK(values_at(leader, e.path) == values_at(from_core, "user_x86_regs_entry." + e.path.substr(e.path.rfind('.') + 1)));
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("field sources: every field of every message necro writes has one", "[plan][field_sources]") {
  const auto problems = necro::plan::field_source_problems();
  for (const auto& p : problems) UNSCOPED_INFO(p);
  CHECK(problems.empty());
  // The walk reaches the nested messages, not only the roots.
  std::set<std::string> paths;
  for (const auto& r : necro::plan::field_rows()) paths.insert(r.path);
  for (const char* p : {"core_entry.thread_info.fpregs.xsave.ymmh_space", "core_entry.thread_core.creds.cap_eff",
                        "core_entry.tc.timers.posix.sival_ptr", "core_entry.ti_aarch64.pac_keys.pac_generic_keys.apgakey_hi",
                        "mm_entry.vmas.madv", "file_entry.epfd.tfd.data", "inventory_entry.root_ids.time_ns_id"})
    CHECK(paths.count(p) == 1);
}

TEST_CASE("field sources: a field the list lacks, or an entry naming no field, is reported", "[plan][field_sources]") {
  // The check must be able to fail: a list with one entry taken away, one
  // misspelt, one twice and one unnamed function.
  auto list = field_sources();
  const auto drop = std::find_if(list.begin(), list.end(), [](const auto& e) { return e.path == "core_entry.tc.comm"; });
  REQUIRE(drop != list.end());
  list.erase(drop);
  list.push_back({"core_entry.tc.comn", necro::plan::sources::kept(), necro::plan::sources::pending()});
  list.push_back(list.front());
  list.push_back({"pstree_entry.ppid", necro::plan::sources::set_by(""), necro::plan::sources::pending()});
  const auto problems = necro::plan::field_source_problems(list);
  for (const auto& p : problems) UNSCOPED_INFO(p);
  REQUIRE(problems.size() == 5);  // missing comm, comn names nothing, front twice, ppid twice and unnamed
  CHECK_THAT(problems[0], Catch::Matchers::StartsWith("field core_entry.tc.comm (number 6, string) of core-<tid>.img "
                                                      "has no source: add it to necro::plan::field_sources() in "
                                                      "include/necro/plan/docs/field_sources.hpp"));
  CHECK_THAT(problems[1], Catch::Matchers::StartsWith("core_entry.tc.comn names no field"));
  CHECK_THAT(problems[2], Catch::Matchers::StartsWith(list.front().path + " is listed more than once"));
  CHECK_THAT(problems[3], Catch::Matchers::StartsWith("pstree_entry.ppid is listed more than once"));
  CHECK_THAT(problems[4], Catch::Matchers::StartsWith("pstree_entry.ppid: a function source must name"));
  // Every leaf field has exactly one entry in the real list; the other
  // entries say what decides a message field's presence.
  std::size_t leaves = 0, listed_messages = 0;
  for (const auto& r : necro::plan::field_rows()) {
    leaves += r.is_message ? 0 : 1;
    listed_messages += r.is_message && r.entry ? 1 : 0;
  }
  CHECK(leaves + listed_messages == field_sources().size());
  CHECK(necro::plan::count_fields(false).total() == leaves);
  CHECK(necro::plan::count_fields(true).total() == leaves);
}

TEST_CASE("field sources: every table and function a source names is in the library", "[plan][field_sources]") {
  // A renamed or removed function must not leave the list pointing at nothing:
  // each name before a source's ": " (e.g. "plan_thread", "criu_thread<x86_64>::
  // set_registers", "map::x86_64::gpregs row rax") must occur in include/necro.
  std::string code;
  const auto include = necro::test::data_dir().parent_path().parent_path() / "include" / "necro";
  for (const auto& f : fs::recursive_directory_iterator(include))
    if (f.is_regular_file() && f.path().filename() != "field_sources.hpp") code += necro::test::slurp(f.path());
  const auto defined = [&](const std::string& name) {
    for (std::size_t at = code.find(name); at != std::string::npos; at = code.find(name, at + 1)) {
      const auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
      if ((at == 0 || !word(code[at - 1])) && (at + name.size() >= code.size() || !word(code[at + name.size()])))
        return true;
    }
    return false;
  };
  std::set<std::string> names;
  for (const auto& e : field_sources())
    for (const auto* s : {&e.donor, &e.donorless}) {
      if (s->kind == origin::donor || s->kind == origin::pending || s->by.starts_with("not written")) continue;
      auto head = s->by.substr(0, s->by.find(": "));
      head = head.substr(0, head.find(" row "));
      for (std::size_t at = 0; at <= head.size();) {
        auto next = head.find(", ", at);
        if (next == std::string::npos) next = head.size();
        auto name = head.substr(at, next - at);
        if (const auto colons = name.rfind("::"); colons != std::string::npos) name = name.substr(colons + 2);
        INFO(e.path << ": source '" << s->by << "'");
        CHECK(!name.empty());
        CHECK(name.find(' ') == std::string::npos);
        names.insert(name);
        at = next + 2;
      }
    }
  for (const auto& n : names) {
    INFO(n << " is named as a source in include/necro/plan/docs/field_sources.hpp but occurs nowhere else in include/necro");
    CHECK(defined(n));
  }
  CHECK(names.size() > 25);
}

TEST_CASE("field sources: each table row writes the message field the list names", "[plan][field_sources]") {
  auto check_table = [](const auto& table, const auto& msg_proto) {
    boost::hana::for_each(table, [&](const auto& row) {
      using row_t = std::remove_cvref_t<decltype(row)>;
      if constexpr (!row_t::is_ignored) {
        typename row_t::src_type src{};
        auto& v = src.*(row.member);
        if constexpr (necro::map::detail::is_std_array<typename row_t::value_type>::value)
          v.fill(0x5a);
        else
          v = 0x5a;
        auto msg = msg_proto;
        row.store(src, msg);
        std::vector<const gp::FieldDescriptor*> set;
        msg.GetReflection()->ListFields(msg, &set);
        INFO("row " << row.name << " -> " << row.dst);
        REQUIRE(set.size() == 1);
        CHECK(set[0]->name() == row.dst);
      }
    });
  };
  check_table(necro::map::x86_64::gpregs, necro::pb::user_x86_regs_entry{});
  check_table(necro::map::x86_64::fpregs_table, necro::pb::user_x86_fpregs_entry{});
  check_table(necro::map::aarch64::gpregs, necro::pb::user_aarch64_regs_entry{});
  check_table(necro::map::aarch64::fpsimd, necro::pb::user_aarch64_fpsimd_context_entry{});
  // And the list names them as table rows.
  const auto* ax = entry_of("core_entry.thread_info.gpregs.ax");
  REQUIRE(ax);
  CHECK(ax->donor.kind == origin::table);
  CHECK(ax->donor.by.starts_with("map::x86_64::gpregs row rax (NT_PRSTATUS user_regs_struct"));
  CHECK(ax->donorless.by == ax->donor.by);
}

TEST_CASE("field sources: docs/fields.md is generated from the list", "[plan][field_sources]") {
  const auto doc = necro::test::data_dir().parent_path().parent_path() / "docs" / "fields.md";
  const auto want = necro::plan::field_sources_markdown();
  const auto have = necro::test::slurp(doc);
  if (have != want)
    FAIL("docs/fields.md differs from the list in include/necro/plan/docs/field_sources.hpp: regenerate it with\n"
         "  cmake --build build --target update_fields_md\nand commit it");
  const auto c = necro::plan::count_fields(false);
  CHECK_THAT(want, Catch::Matchers::Contains(fmt::format("| donor | {} | {} | {} | {} |", c.total(), c.table,
                                                         c.function, c.donor)));
}

TEST_CASE("field sources: on the counter fixture, kept fields equal the donor's, table fields the core's",
          "[plan][field_sources]") {
  const auto p = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(p, "x86_64/counter.core + counter.donor");
  const auto& plan = p->plan;
  const auto& donor = p->donor;
  const auto& leader = plan.threads.front().core;
  std::size_t checked = 0;
  auto same = [&](const gp::Message& planned, const gp::Message& was, std::string_view root) {
    for (const auto& path : donor_mode_paths(root, origin::donor)) {
      INFO(path << " is listed as kept from the donor");
      CHECK(values_at(planned, path) == values_at(was, path));
      ++checked;
    }
  };
  same(leader, donor.leader_core(), "core_entry");
  same(plan.pstree, donor.process(), "pstree_entry");
  for (const auto& path : donor_mode_paths("mm_entry", origin::donor))
    if (!path.starts_with("mm_entry.vmas.")) {
      INFO(path << " is listed as kept from the donor");
      CHECK(values_at(plan.mm, path) == values_at(donor.mm(), path));
    }
  REQUIRE(plan.files.size() >= donor.files().size());
  for (std::size_t i = 0; i < donor.files().size(); ++i) same(plan.files[i], donor.files()[i], "file_entry");
  CHECK(checked > 100);

  // Table fields: the core's registers (rewound as plan_thread does), and
  // those the fixture makes differ do differ from the donor's.
  CHECK(check_tables(p->core, leader, false) == 27);
  std::size_t differ = 0;
  for (const auto& path : donor_mode_paths("core_entry.thread_info.gpregs", origin::table))
    if (values_at(leader, path) != values_at(donor.leader_core(), path)) ++differ;
  for (const char* path : {"core_entry.thread_info.gpregs.ip", "core_entry.thread_info.gpregs.sp",
                           "core_entry.thread_info.gpregs.fs_base", "mm_entry.mm_start_brk", "mm_entry.mm_arg_start",
                           "pstree_entry.pid"}) {
    const auto* e = entry_of(path);
    REQUIRE(e);
    CHECK(e->donor.kind != origin::donor);
  }
  CHECK(differ >= 3);  // ASLR: ip, sp, fs_base at least
  CHECK(values_at(plan.mm, "mm_entry.mm_start_brk") != values_at(donor.mm(), "mm_entry.mm_start_brk"));
  CHECK(values_at(plan.pstree, "pstree_entry.pid") != values_at(donor.process(), "pstree_entry.pid"));
}

TEST_CASE("field sources: on the pool fixture, every thread's kept fields are its template thread's",
          "[plan][field_sources]") {
  const auto p = necro::test::plan_pool();
  NECRO_REQUIRE_FIXTURE(p, "x86_64/pool.core + pool.donor");
  std::size_t threads = 0;
  for (const auto& t : p->plan.threads) {
    const auto* tmpl = p->donor.thread_core(t.template_tid);
    REQUIRE(tmpl);
    for (const auto& path : donor_mode_paths("core_entry", origin::donor)) {
      if (!t.leader && (path.starts_with("core_entry.tc.") || path.starts_with("core_entry.ids."))) {
        // Thread images carry no process-wide parts (docs/pitfalls.md#thread-images).
        CHECK(values_at(t.core, path).starts_with("<no "));
        continue;
      }
      INFO("thread " << t.tid << " (template " << t.template_tid << "): " << path << " is listed as kept from the donor");
      CHECK(values_at(t.core, path) == values_at(*tmpl, path));
    }
    ++threads;
  }
  CHECK(threads == 5);
}

TEST_CASE("field sources: on the shmem fixture, the donor's files, memfd inodes and ghosts keep their kept fields",
          "[plan][field_sources]") {
  const auto p = necro::test::plan_shmem();
  NECRO_REQUIRE_FIXTURE(p, "x86_64/shmem.core + shmem.donor");
  const auto& sm = p->donor.shared_memory();
  std::size_t compared = 0;
  auto same = [&](const gp::Message& planned, const gp::Message& was) {
    const std::string root(planned.GetDescriptor()->name());
    for (const auto& path : donor_mode_paths(root, origin::donor)) {
      INFO(path << " is listed as kept from the donor");
      CHECK(values_at(planned, path) == values_at(was, path));
      ++compared;
    }
  };
  REQUIRE(p->plan.files.size() >= p->donor.files().size());
  for (std::size_t i = 0; i < p->donor.files().size(); ++i) same(p->plan.files[i], p->donor.files()[i]);
  REQUIRE(!sm.memfd_inodes.empty());
  REQUIRE(p->plan.shared.memfd_inodes.size() >= sm.memfd_inodes.size());
  for (std::size_t i = 0; i < sm.memfd_inodes.size(); ++i) same(p->plan.shared.memfd_inodes[i], sm.memfd_inodes[i]);
  for (std::size_t i = 0; i < sm.remaps.size(); ++i) same(p->plan.shared.remaps[i], sm.remaps[i]);
  for (const auto& o : p->plan.shared.objects)
    if (o.from_donor && o.kind == necro::plan::vma_kind::deleted_file) same(o.ghost, sm.ghosts.at(o.content_id));
  CHECK(compared > 50);
}

TEST_CASE("field sources: on the counter fixture, kept fields follow a changed donor, table fields do not",
          "[plan][field_sources]") {
  const auto p = necro::test::plan_counter();
  NECRO_REQUIRE_FIXTURE(p, "x86_64/counter.core + counter.donor");
  const donor_copy copy(*necro::test::x86_64_donor());
  const auto pid = p->donor.pid();
  const auto core_image = necro::criu::image_name("core-", pid);
  const auto mm_image = necro::criu::image_name("mm-", pid);

  // Changes one field of the donor's leader core, mm or pstree, plans again,
  // and returns the new value at `path` in the plan (or why planning failed).
  auto replan = [&](const std::string& path, bool& changed) -> std::string {
    auto core = p->donor.leader_core();
    auto mm = p->donor.mm();
    auto ps = p->donor.process();
    gp::Message* root = path.starts_with("core_entry.") ? static_cast<gp::Message*>(&core)
                        : path.starts_with("mm_entry.") ? static_cast<gp::Message*>(&mm)
                                                        : static_cast<gp::Message*>(&ps);
    changed = perturb(*root, path);
    if (!changed) return {};
    copy.write(core_image, necro::criu::magic::core, std::vector{core});
    copy.write(mm_image, necro::criu::magic::mm, std::vector{mm});
    copy.write("pstree.img", necro::criu::magic::pstree, std::vector{ps});
    std::string got;
    {
      auto d = necro::criu::image_set::load(copy.dir);
      if (!d) got = "load failed: " + d.error().message();
      else if (auto q = necro::plan::plan_resurrection(p->core, *d, {}, {.offline = true}); !q)
        got = "plan failed: " + q.error().message();
      else if (path.starts_with("core_entry.")) got = values_at(q->threads.front().core, path);
      else if (path.starts_with("mm_entry.")) got = values_at(q->mm, path);
      else got = values_at(q->pstree, path);
    }
    // Put the donor back for the next field.
    copy.write(core_image, necro::criu::magic::core, std::vector{p->donor.leader_core()});
    copy.write(mm_image, necro::criu::magic::mm, std::vector{p->donor.mm()});
    copy.write("pstree.img", necro::criu::magic::pstree, std::vector{p->donor.process()});
    return got;
  };

  std::size_t followed = 0, checked_refusals = 0, stayed = 0;
  for (const char* root : {"core_entry", "mm_entry", "pstree_entry"}) {
    for (const auto& path : donor_mode_paths(root, origin::donor)) {
      if (path.starts_with("mm_entry.vmas.")) continue;
      auto core = p->donor.leader_core();
      auto mm = p->donor.mm();
      auto ps = p->donor.process();
      gp::Message& m = path.starts_with("core_entry.") ? static_cast<gp::Message&>(core)
                       : path.starts_with("mm_entry.") ? static_cast<gp::Message&>(mm)
                                                       : static_cast<gp::Message&>(ps);
      if (!perturb(m, path)) continue;  // absent in the fixture's donor, or repeated
      const auto want = values_at(m, path);
      bool changed = false;
      const auto got = replan(path, changed);
      REQUIRE(changed);
      INFO(path << " is listed as kept from the donor; the plan has " << got << ", the changed donor " << want);
      if (got.find(" failed: ") != std::string::npos) {
        // A donor field the planner checks may refuse a changed donor: the
        // list must say it is checked.
        CHECK_THAT(entry_of(path)->donor.by, Catch::Matchers::Contains("checked"));
        ++checked_refusals;
        continue;
      }
      CHECK(got == want);
      ++followed;
    }
  }
  for (const auto& path : donor_mode_paths("core_entry", origin::table)) {
    const auto before = values_at(p->plan.threads.front().core, path);
    bool changed = false;
    const auto got = replan(path, changed);
    if (!changed) continue;
    INFO(path << " is listed as set from a table (the core): a changed donor must not change it");
    CHECK(got == before);
    ++stayed;
  }
  CHECK(followed >= 30);
  CHECK(checked_refusals >= 1);  // mtype
  CHECK(stayed >= 30);
}

TEST_CASE("field sources: donor-less on the fixture cores, defaults are the stated ones, tables the core's",
          "[plan][field_sources]") {
  std::size_t cores = 0;
  for (const char* name : {"x86_64/counter.core", "x86_64/pool.core", "x86_64/shmem.core"}) {
    const auto c = necro::test::fixture(name);
    if (!c) {
      WARN("fixture " << name << " is missing (tests/data/make-fixtures.sh)");
      continue;
    }
    INFO(name);
    auto core = necro::test::x86_64_core_view::open(c->string());
    REQUIRE(core);
    const auto donor = necro::plan::synthesize_donor(*core, {}, {});
    if (!donor) FAIL(donor.error().message());
    const auto plan = necro::plan::plan_donorless(*core, *donor, {}, {.offline = true});
    if (!plan) FAIL(plan.error().message());
    const written w(*plan, {});
    for (const char* root : {"inventory_entry", "fs_entry", "task_kobj_ids_entry", "fdinfo_entry"})
      CHECK(w.by_root.count(root) == 1);
    CHECK(check_expectations(w, true) > 300);
    CHECK(check_tables(*core, plan->threads.front().core, true) == 27);
    if (std::string_view(name) == "x86_64/shmem.core") {
      CHECK(w.by_root.count("memfd_inode_entry") == 1);
      CHECK(w.by_root.count("ghost_file_entry") == 1);
    }
    ++cores;
  }
  CHECK(cores >= 1);
  // Every field has a decided donor-less source.
  for (const auto& e : field_sources()) {
    INFO(e.path);
    CHECK(e.donorless.kind != origin::pending);
  }
}

TEST_CASE("field sources: on the aarch64 core, ti_aarch64 comes from its tables and defaults",
          "[plan][field_sources]") {
  // The qemu-written core alone (no NT_FILE; its mappings would need its
  // program, map/aarch64_test plans it so): the thread images are built as
  // synthesize_threads and plan_thread build them, through criu_thread<aarch64>.
  const auto c = necro::test::aarch64_core();
  NECRO_REQUIRE_FIXTURE(c, "aarch64/crash.core");
  auto core = necro::elf::core_view<necro::arch::aarch64>::open(c->string());
  REQUIRE(core);
  using bridge = necro::map::criu_thread<necro::arch::aarch64>;
  written w;
  std::vector<std::string> warnings;
  std::vector<necro::pb::core_entry> cores;
  for (const auto& t : core->threads()) {
    necro::pb::core_entry ce;
    bridge::synthetic_thread_info(ce, t);
    auto regs = t.regs();
    (void)necro::arch::aarch64::rewind_syscall(regs);
    REQUIRE(bridge::set_registers(ce, t, core->process(), regs, warnings));
    cores.push_back(std::move(ce));
  }
  for (const auto& ce : cores) w.by_root["core_entry"].push_back(&ce);
  CHECK(check_expectations(w, true) >= 6);  // the other architectures' slots: not written
  const auto& leader = cores.front();
  REQUIRE(leader.has_ti_aarch64());
  CHECK(!leader.has_thread_info());
  CHECK(values_at(leader, "core_entry.mtype") == "3");  // AARCH64
  CHECK(!leader.ti_aarch64().has_pac_keys());           // not written: the core holds none
  auto regs = core->threads().front().regs();
  necro::pb::user_aarch64_regs_entry from_core;
  necro::map::apply(necro::map::aarch64::gpregs, regs, from_core);
  std::size_t n = 0;
  for (const auto& e : field_sources()) {
    if (e.donorless.kind != origin::table || !e.path.starts_with("core_entry.ti_aarch64.gpregs.")) continue;
    INFO(e.path << " is listed as set from a table");
    CHECK(values_at(leader, e.path) ==
          values_at(from_core, "user_aarch64_regs_entry." + e.path.substr(e.path.rfind('.') + 1)));
    ++n;
  }
  CHECK(n == 4);
}
