/// necro::write::detail process images: what write::commit writes for the
/// process itself, step by step — its cores, mm, pstree and files images, its
/// pages and pagemap (by the page engine), and the donor's images it carries.
#ifndef NECRO_WRITE_DETAIL_PROCESS_IMAGES_HPP
#define NECRO_WRITE_DETAIL_PROCESS_IMAGES_HPP
#pragma once

#include <cstdint>
#include <filesystem>
#include <utility>

#include <necro/criu/image.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/criu/magic.hpp>
#include <necro/criu/pagemap.hpp>
#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/plan/plan.hpp>
#include <necro/write/detail/image_files.hpp>
#include <necro/write/detail/staging.hpp>
#include <necro/write/page_engine.hpp>

namespace necro::write::detail {

/// core-<tid>.img of every thread, mm-<pid>.img, pstree.img and files.img,
/// unsynced (the syncfs of the set covers them); `go_on` between threads.
inline result<void> write_process_images(const plan::resurrection& p, const std::filesystem::path& dir,
                                         const interruption& go_on) {
  for (const auto& t : p.threads) {
    criu::image_builder b(criu::magic::core);
    b.add(t.core);
    NECRO_TRY(write_image(dir / criu::image_name("core-", static_cast<std::uint64_t>(t.tid)), b.bytes(), false));
    NECRO_TRY(go_on());
  }
  criu::image_builder mm(criu::magic::mm);
  mm.add(p.mm);
  NECRO_TRY(write_image(dir / criu::image_name("mm-", static_cast<std::uint64_t>(p.pid)), mm.bytes(), false));
  criu::image_builder pstree(criu::magic::pstree);
  pstree.add(p.pstree);
  NECRO_TRY(write_image(dir / "pstree.img", pstree.bytes(), false));
  criu::image_builder files(criu::magic::files);
  for (const auto& f : p.files) files.add(f);
  return write_image(dir / "files.img", files.bytes(), false);
}

/// pages-<pages_id>.img by the page engine, which decides which pages need
/// data, and then pagemap-<pid>.img with the engine's entries. A failure
/// while `go_on` says stop is reported as the interruption of the whole set.
template <class Arch>
result<pages_report> write_process_pages(const plan::resurrection& p, const io::mapped_file& core,
                                         const std::filesystem::path& dir, const io::file_facts* files,
                                         const engine_options& eo, const interruption& go_on) {
  pages_report rep;
  {
    NECRO_TRY_ASSIGN(auto pages, image_out::create(dir / criu::image_name("pages-", p.pages_id)));
    const io::file_facts no_files;
    auto written = write_pages<Arch>(core, p, files ? *files : no_files, pages.fd(), pages.path(), eo);
    if (!written) {
      NECRO_TRY(go_on());  // stopped by `cancel`: one message for the whole set, not the staging file's
      return fail(std::move(written).error_value());
    }
    rep = std::move(*written);
  }  // closed unsynced: the syncfs of the set covers it
  NECRO_TRY(go_on());
  NECRO_TRY(write_image(dir / criu::image_name("pagemap-", static_cast<std::uint64_t>(p.pid)),
                        criu::pagemap_image(criu::magic::pagemap, p.pages_id, rep.pagemap), false));
  return rep;
}

/// The donor's images the plan carries: copied, renamed, or made in memory.
inline result<void> write_carried(const plan::resurrection& p, const std::filesystem::path& donor_dir,
                                  const std::filesystem::path& dir) {
  for (const auto& c : p.carried) {
    if (c.bytes) NECRO_TRY(write_image(dir / c.to, *c.bytes, false));
    else NECRO_TRY(copy_image(donor_dir / c.from, dir / c.to, false));
  }
  return {};
}

}  // namespace necro::write::detail

#endif
