/// necro::criu::image_set: a CRIU dump directory as typed messages — the
/// images necro reads (inventory, pstree, per-thread core, mm, files, pagemap
/// head) — plus the list of every file in it. The other images `criu restore`
/// needs (fs-<pid>, ids-<pid>) must be there and well framed; pages-*.img are
/// never loaded. A set can also be made in memory (image_set::from_parts): a
/// synthetic donor, whose further images are held as bytes, not files.
#ifndef NECRO_CRIU_IMAGE_SET_HPP
#define NECRO_CRIU_IMAGE_SET_HPP
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include <necro/criu/image.hpp>
#include <necro/criu/magic.hpp>
#include <necro/criu/shared_memory.hpp>
#include <necro/io/error.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/pb/core.pb.h>
#include <necro/pb/fdinfo.pb.h>
#include <necro/pb/fs.pb.h>
#include <necro/pb/inventory.pb.h>
#include <necro/pb/mm.pb.h>
#include <necro/pb/pagemap.pb.h>
#include <necro/pb/pstree.pb.h>

namespace necro::criu {

/// Caps on what a dump directory may hold.
inline constexpr std::size_t max_image_files = 1u << 16;

/// The name of a per-id image: image_name("core-", 42) == "core-42.img".
inline std::string image_name(std::string_view prefix, std::uint64_t id) {
  return fmt::format("{}{}.img", prefix, id);
}

/// Every entry of an image's bytes as Msg (the image must have `magic`).
template <class Msg>
result<std::vector<Msg>> read_entries(const io::byte_view& whole, std::uint32_t image_magic) {
  NECRO_TRY_ASSIGN(entry_reader r, entry_reader::open(whole, image_magic));
  return r.template read_all<Msg>();
}

/// Every entry of an image held in memory; `name` names it in errors.
template <class Msg>
result<std::vector<Msg>> read_entries(std::string_view bytes, const std::string& name, std::uint32_t image_magic) {
  return read_entries<Msg>(io::byte_view(std::as_bytes(std::span(bytes.data(), bytes.size())), 0, name), image_magic);
}

/// The one entry of `all` (read from `origin`), or an error saying how many there are.
template <class Msg>
result<Msg> only_entry(result<std::vector<Msg>> all, const std::string& origin) {
  if (!all) return fail(std::move(all).error_value());
  if (all->size() != 1)
    return fail(error(errc::bad_value, origin,
                      fmt::format("expected one {} entry, found {}", Msg::descriptor()->name(), all->size())));
  return std::move(all->front());
}

/// Reads every entry of `dir/name` as Msg (the image must have `magic`).
template <class Msg>
result<std::vector<Msg>> read_image(const std::filesystem::path& dir, const std::string& name,
                                    std::uint32_t image_magic) {
  NECRO_TRY_ASSIGN(io::mapped_file f, io::mapped_file::open((dir / name).string()));
  return read_entries<Msg>(f.view(), image_magic);
}

/// Reads the single entry of `dir/name`.
template <class Msg>
result<Msg> read_single(const std::filesystem::path& dir, const std::string& name, std::uint32_t image_magic) {
  return only_entry(read_image<Msg>(dir, name, image_magic), (dir / name).string());
}

/// The messages of a dump made in memory (plan/donorless.hpp builds them
/// from a core): what image_set::load reads from a directory, plus the
/// further images restore needs (inventory.img, fs-, ids-, fdinfo-...) as
/// whole image files, by name.
struct image_parts {
  pb::inventory_entry inventory;
  pb::pstree_entry process;
  std::map<std::uint32_t, pb::core_entry> cores;  ///< per tid
  pb::mm_entry mm;
  std::vector<pb::file_entry> files;
  std::uint32_t pages_id = 1;
  std::map<std::string, std::string, std::less<>> images;  ///< name -> image bytes (magics and entries)
};

/// A donor's dump: one process (possibly many threads).
class image_set {
 public:
  /// A set held in memory, checked like a loaded one (threads, the leader's
  /// tc, registers of every thread). It has no directory: dir() is empty and
  /// file_names() lists the images of `parts.images`, whose bytes image_bytes() gives.
  static result<image_set> from_parts(image_parts parts) {
    image_set s;
    s.inventory_ = std::move(parts.inventory);
    s.pstree_.push_back(std::move(parts.process));
    s.cores_ = std::move(parts.cores);
    s.mm_ = std::move(parts.mm);
    s.files_img_ = std::move(parts.files);
    s.pages_id_ = parts.pages_id;
    s.images_ = std::move(parts.images);
    for (const auto& [name, bytes] : s.images_) s.files_.push_back(name);
    NECRO_TRY(s.check_threads());
    for (const auto tid : s.process().threads())
      if (!s.cores_.contains(tid))
        return fail(error(errc::missing, "", fmt::format("no core_entry for thread {}", tid)));
    for (const auto& [tid, c] : s.cores_)
      if (!has_registers(c))
        return fail(error(errc::missing, "", fmt::format("core_entry of thread {} has no registers", tid)));
    if (!s.leader_core().has_tc()) return fail(error(errc::missing, "", "the main thread's core_entry has no tc"));
    NECRO_TRY_ASSIGN(s.ids_, s.parse_single<pb::task_kobj_ids_entry>(image_name("ids-", s.pid()), magic::ids));
    NECRO_TRY_ASSIGN(s.fs_, s.parse_single<pb::fs_entry>(image_name("fs-", s.pid()), magic::fs));
    if (s.images_.contains(s.fdinfo_name())) {
      NECRO_TRY_ASSIGN(s.fdinfo_, read_entries<pb::fdinfo_entry>(s.images_.at(s.fdinfo_name()), s.fdinfo_name(), magic::fdinfo));
    }
    return s;
  }

  /// Whether the set was made in memory (no directory behind it).
  bool in_memory() const noexcept { return dir_.empty(); }
  /// The bytes of image `name` of a set made in memory; null when it holds no such image.
  const std::string* image_bytes(std::string_view name) const noexcept {
    const auto it = images_.find(name);
    return it == images_.end() ? nullptr : &it->second;
  }

  /// Loads the images necro needs from `dir` and lists the rest.
  static result<image_set> load(const std::filesystem::path& dir) {
    image_set s;
    s.dir_ = dir;
    NECRO_TRY(s.list_files());
    if (!s.has("inventory.img"))
      return fail(error(errc::missing, dir.string(), "no inventory.img: not a CRIU image directory"));

    NECRO_TRY_ASSIGN(s.inventory_, read_single<pb::inventory_entry>(dir, "inventory.img", magic::inventory));
    NECRO_TRY(s.require("pstree.img"));
    NECRO_TRY_ASSIGN(s.pstree_, read_image<pb::pstree_entry>(dir, "pstree.img", magic::pstree));
    if (s.pstree_.empty()) return fail(error(errc::missing, (dir / "pstree.img").string(), "no process in pstree"));
    if (s.pstree_.size() > 1)
      return fail(error(errc::unsupported, (dir / "pstree.img").string(),
                        fmt::format("the dump holds {} processes; necro resurrects one process (dump the "
                                    "donor alone: criu dump -t PID of a process without children)",
                                    s.pstree_.size())));
    const auto& root = s.pstree_.front();
    NECRO_TRY(s.check_threads());
    NECRO_TRY(s.load_cores());
    if (!s.leader_core().has_tc())
      return fail(error(errc::missing, (dir / image_name("core-", root.pid())).string(),
                        "the main thread's core_entry has no task core (tc)"));
    NECRO_TRY(s.require(image_name("mm-", root.pid())));
    NECRO_TRY_ASSIGN(s.mm_, read_single<pb::mm_entry>(dir, image_name("mm-", root.pid()), magic::mm));
    // Not used by the planner, only renamed; but without them (or with a
    // broken one) the patch would succeed and `criu restore` fail.
    NECRO_TRY(s.require(image_name("fs-", root.pid())));
    NECRO_TRY_ASSIGN(s.fs_, read_single<pb::fs_entry>(dir, image_name("fs-", root.pid()), magic::fs));
    NECRO_TRY(s.require(image_name("ids-", root.pid())));
    NECRO_TRY_ASSIGN(s.ids_, read_single<pb::task_kobj_ids_entry>(dir, image_name("ids-", root.pid()), magic::ids));
    if (s.has(s.fdinfo_name())) {
      NECRO_TRY_ASSIGN(s.fdinfo_, read_image<pb::fdinfo_entry>(dir, s.fdinfo_name(), magic::fdinfo));
    }
    if (s.has("files.img")) {
      NECRO_TRY_ASSIGN(s.files_img_, read_image<pb::file_entry>(dir, "files.img", magic::files));
    }
    {
      const auto pm = image_name("pagemap-", root.pid());
      NECRO_TRY(s.require(pm));
      NECRO_TRY_ASSIGN(io::mapped_file f, io::mapped_file::open((dir / pm).string()));
      NECRO_TRY_ASSIGN(entry_reader r, entry_reader::open(f.view(), magic::pagemap));
      pb::pagemap_head head;
      NECRO_TRY_ASSIGN(const bool ok, r.next(head));
      if (!ok) return fail(error(errc::missing, (dir / pm).string(), "pagemap has no head"));
      s.pages_id_ = head.pages_id();
    }
    NECRO_TRY_ASSIGN(s.shared_, load_shared_memory(dir, s.files_));
    return s;
  }

  const std::filesystem::path& dir() const noexcept { return dir_; }
  /// Every regular file in the directory, sorted.
  const std::vector<std::string>& file_names() const noexcept { return files_; }
  bool has(std::string_view name) const noexcept {
    return std::binary_search(files_.begin(), files_.end(), name);
  }

  const pb::inventory_entry& inventory() const noexcept { return inventory_; }
  const pb::pstree_entry& process() const noexcept { return pstree_.front(); }
  std::uint32_t pid() const noexcept { return process().pid(); }
  /// core_entry per tid (the main thread's carries tc and ids).
  const std::map<std::uint32_t, pb::core_entry>& cores() const noexcept { return cores_; }
  /// The core_entry of thread `tid`, or null when the process has no such thread.
  const pb::core_entry* thread_core(std::uint32_t tid) const noexcept {
    const auto it = cores_.find(tid);
    return it == cores_.end() ? nullptr : &it->second;
  }
  /// The leader's core_entry (load checked that the leader is among the threads).
  const pb::core_entry& leader_core() const noexcept { return cores_.find(pid())->second; }
  const pb::mm_entry& mm() const noexcept { return mm_; }
  /// files.img entries (empty when the dump has none).
  const std::vector<pb::file_entry>& files() const noexcept { return files_img_; }
  std::uint32_t pages_id() const noexcept { return pages_id_; }
  /// memfd inodes, ghost files and shmem pagemaps (criu/shared_memory.hpp).
  const shared_memory_images& shared_memory() const noexcept { return shared_; }

  /// ids-<pid>.img: the ids of the task's kernel objects (files_id names its fd table).
  const pb::task_kobj_ids_entry& ids() const noexcept { return ids_; }
  /// fs-<pid>.img: the ids of cwd and root in files.img, and the umask.
  const pb::fs_entry& fs() const noexcept { return fs_; }
  /// The name of the fd table's image: fdinfo-<files_id>.img.
  std::string fdinfo_name() const { return image_name("fdinfo-", ids_.files_id()); }
  /// The fd table: which files.img entry is open at which fd (empty when the set has none).
  const std::vector<pb::fdinfo_entry>& fdinfo() const noexcept { return fdinfo_; }

  /// The regular file entry with id `id`, if any.
  const pb::reg_file_entry* reg_file(std::uint64_t id) const noexcept {
    for (const auto& f : files_img_)
      if (f.id() == id && f.has_reg()) return &f.reg();
    return nullptr;
  }

 private:
  /// The one entry of in-memory image `name`.
  template <class Msg>
  result<Msg> parse_single(const std::string& name, std::uint32_t image_magic) const {
    if (!images_.contains(name)) return fail(error(errc::missing, name, "not among the images made in memory"));
    return only_entry(read_entries<Msg>(images_.at(name), name, image_magic), name);
  }

  /// Lists the regular files of dir_, sorted; errors keep errno and the path.
  result<void> list_files() {
    std::error_code ec;
    std::filesystem::directory_iterator it(dir_, ec);
    for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      if (files_.size() >= max_image_files)
        return fail(error(errc::limit, dir_.string(), fmt::format("more than {} files", max_image_files)));
      std::error_code type_ec;
      if (it->is_regular_file(type_ec)) files_.push_back(it->path().filename().string());
    }
    if (ec) return fail(error::from_errno(dir_.string(), "cannot read the image directory", ec.value()));
    std::sort(files_.begin(), files_.end());
    return {};
  }

  /// The process's threads: at least one, each once, the leader among them.
  result<void> check_threads() const {
    const auto& root = process();
    const std::string path = (dir_ / "pstree.img").string();
    if (root.threads_size() == 0) return fail(error(errc::missing, path, "the process has no threads"));
    if (static_cast<std::size_t>(root.threads_size()) > max_image_files)
      return fail(error(errc::limit, path, fmt::format("{} threads exceed the cap of {}", root.threads_size(),
                                                       max_image_files)));
    std::vector<std::uint32_t> tids(root.threads().begin(), root.threads().end());
    std::sort(tids.begin(), tids.end());
    if (const auto twice = std::adjacent_find(tids.begin(), tids.end()); twice != tids.end())
      return fail(error(errc::bad_value, path, fmt::format("thread {} is listed twice", *twice)));
    if (!std::binary_search(tids.begin(), tids.end(), root.pid()))
      return fail(error(errc::bad_value, path,
                        fmt::format("pid {} is not among the process's threads ({}{})", root.pid(),
                                    fmt::join(root.threads().begin(), root.threads().begin() + std::min(root.threads_size(), 8), ", "),
                                    root.threads_size() > 8 ? ", ..." : "")));
    return {};
  }

  /// core-<tid>.img of every thread: all of the leader's architecture, each
  /// with its registers (a thread's image is the template of a victim thread).
  result<void> load_cores() {
    for (const auto tid : process().threads()) {
      NECRO_TRY(require(image_name("core-", tid)));
      NECRO_TRY_ASSIGN(auto core, read_single<pb::core_entry>(dir_, image_name("core-", tid), magic::core));
      cores_.emplace(tid, std::move(core));
    }
    const auto leader_mtype = leader_core().mtype();
    for (const auto& [tid, c] : cores_) {
      const std::string path = (dir_ / image_name("core-", tid)).string();
      if (c.mtype() != leader_mtype)
        return fail(error(errc::mismatch, path,
                          fmt::format("core_entry of thread {} has mtype {}, the leader's has {}", tid,
                                      static_cast<int>(c.mtype()), static_cast<int>(leader_mtype))));
      if (!has_registers(c))
        return fail(error(errc::missing, path,
                          fmt::format("core_entry of thread {} has no registers (thread_info) for its architecture "
                                      "(mtype {})", tid, static_cast<int>(c.mtype()))));
    }
    return {};
  }

  /// Whether `c` carries the thread_info of its own architecture.
  static bool has_registers(const pb::core_entry& c) noexcept {
    switch (c.mtype()) {
      case pb::core_entry::X86_64: return c.has_thread_info();
      case pb::core_entry::AARCH64: return c.has_ti_aarch64();
      case pb::core_entry::ARM: return c.has_ti_arm();
      case pb::core_entry::PPC64: return c.has_ti_ppc64();
      case pb::core_entry::S390: return c.has_ti_s390();
      case pb::core_entry::MIPS: return c.has_ti_mips();
      case pb::core_entry::LOONGARCH64: return c.has_ti_loongarch64();
      case pb::core_entry::RISCV64: return c.has_ti_riscv64();
      default: return false;
    }
  }

  /// errc::missing naming dir/name when the directory has no such entry. An
  /// entry that is there but not a regular file is left to the reader, which
  /// says what it is.
  result<void> require(const std::string& name) const {
    if (has(name)) return {};
    std::error_code ec;
    const auto st = std::filesystem::symlink_status(dir_ / name, ec);
    if (!ec && st.type() != std::filesystem::file_type::not_found) return {};
    return fail(error(errc::missing, (dir_ / name).string(), "missing from the donor dump (criu restore needs it)"));
  }

  std::filesystem::path dir_;
  std::vector<std::string> files_;
  pb::inventory_entry inventory_;
  std::vector<pb::pstree_entry> pstree_;
  std::map<std::uint32_t, pb::core_entry> cores_;
  pb::mm_entry mm_;
  std::vector<pb::file_entry> files_img_;
  pb::task_kobj_ids_entry ids_;
  pb::fs_entry fs_;
  std::vector<pb::fdinfo_entry> fdinfo_;
  std::uint32_t pages_id_ = 0;
  shared_memory_images shared_;
  std::map<std::string, std::string, std::less<>> images_;  ///< in memory only
};

}  // namespace necro::criu

#endif
