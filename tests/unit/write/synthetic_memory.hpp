// Test support for page elision: a small core written to disk with its PT_LOAD
// bytes page-aligned (as the kernel lays them out), a file it maps privately,
// and a hand-made plan of three VMAs over it:
//   anon  24 pages at 0x10000000: zero pages 1, 2, 20 written as zeros and
//         8..15 punched out of the file (holes of a sparse core), data elsewhere;
//   file   6 pages at 0x20000000 mapping the file from page 1: the file is
//         6 pages + 100 bytes, so the VMA's last page is the file's short last
//         page; VMA page 2 differs from the file, the others equal it;
//   vdso   2 pages at 0x30000000, one of them zeros: nothing elided there.
#ifndef NECRO_TEST_SYNTHETIC_MEMORY_HPP
#define NECRO_TEST_SYNTHETIC_MEMORY_HPP
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <necro/necro.hpp>

#include "support/core_builder.hpp"

namespace necro::test {

struct synthetic_memory {
  using core_t = elf::core_view<arch::x86_64>;
  static constexpr std::uint64_t page = 4096;
  static constexpr std::uint64_t anon_at = 0x10000000, file_at = 0x20000000, vdso_at = 0x30000000;
  static constexpr std::uint64_t anon_pages = 24, file_vma_pages = 6, vdso_pages = 2;
  static constexpr std::uint64_t file_size = 6 * page + 100;
  static constexpr std::uint64_t hole_first = 8, hole_pages = 8;

  std::filesystem::path dir, core_path, file_path;
  std::optional<core_t> core;
  plan::resurrection plan;  ///< candidate runs (plan_pages)
  io::file_facts files;     ///< the file, mapped
  bool sparse = false;      ///< the hole was punched (the file system can)

  synthetic_memory() {
    char tmpl[] = "/tmp/necro-elision-test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    dir = tmpl;
    core_path = dir / "synthetic.core";
    file_path = dir / "mapped.bin";

    // The file: bytes that are never zero.
    std::vector<std::byte> file(file_size);
    for (std::size_t i = 0; i < file.size(); ++i) file[i] = std::byte(static_cast<unsigned char>(i * 7 + 1) | 1);
    write_whole(file_path, file);

    bytes anon(anon_pages * page, std::byte{0});
    for (std::uint64_t k = 0; k < anon_pages; ++k) {
      if (k == 1 || k == 2 || k == 20 || (k >= hole_first && k < hole_first + hole_pages)) continue;
      for (std::uint64_t i = 0; i < page; i += 64) anon[k * page + i] = std::byte(static_cast<unsigned char>(k + 1));
    }
    bytes fmem(file_vma_pages * page, std::byte{0});  // memory past the file's end reads as zeros
    std::memcpy(fmem.data(), file.data() + page, file_size - page);
    fmem[2 * page + 10] ^= std::byte{0xff};  // written by the process: differs from the file
    bytes vdso(vdso_pages * page, std::byte{0});
    std::memset(vdso.data(), 0xcc, page);

    core_builder cb;
    cb.note("CORE", 1, prstatus(4711, 4711, sample_regs(1)));
    cb.load(anon_at, anon.size(), arch::elfc::pf_r | arch::elfc::pf_w, anon);
    cb.load(file_at, fmem.size(), arch::elfc::pf_r | arch::elfc::pf_w, fmem);
    cb.load(vdso_at, vdso.size(), arch::elfc::pf_r | arch::elfc::pf_x, vdso);
    auto built = cb.build();
    page_align_loads(built);
    write_whole(core_path, built.image);
    // Punch the anonymous pages hole_first.. out: a sparse core, as the kernel writes one.
    {
      const int fd = ::open(core_path.c_str(), O_RDWR | O_CLOEXEC);
      REQUIRE(fd >= 0);
      const auto at = static_cast<off_t>(built.load_data[0] + hole_first * page);
      sparse = ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, at, static_cast<off_t>(hole_pages * page)) == 0;
      ::close(fd);
    }

    auto c = core_t::open(core_path.string());
    REQUIRE(c);
    core.emplace(std::move(*c));

    plan.vmas.push_back(make_vma(0, anon_at, anon_pages, criu::vma_status::anon_private, "[anon]", true));
    plan.vmas.push_back(make_vma(1, file_at, file_vma_pages, criu::vma_status::file_private, file_path.string(), false));
    plan.vmas.back().entry.set_pgoff(page);
    plan.vmas.push_back(make_vma(2, vdso_at, vdso_pages, criu::vma_status::vdso, "[vdso]", false));
    plan::plan_pages(*core, plan);
    files = io::stat_files(std::vector<std::string>{file_path.string()}, {.map_content = true});
  }
  ~synthetic_memory() {
    core.reset();
    files.clear();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  synthetic_memory(const synthetic_memory&) = delete;
  synthetic_memory& operator=(const synthetic_memory&) = delete;

  /// Pages the rules leave out: anonymous zeros, and file pages equal to the file.
  static constexpr std::uint64_t zero_pages = 3 + hole_pages, file_pages = file_vma_pages - 1;

  /// The pagemap the rules give, as (vaddr, pages): anon 0, 3-7, 16-19,
  /// 21-23; file page 2; both vDSO pages.
  static std::vector<std::pair<std::uint64_t, std::uint64_t>> kept_entries() {
    return {{anon_at, 1}, {anon_at + 3 * page, 5}, {anon_at + 16 * page, 4},
            {anon_at + 21 * page, 3}, {file_at + 2 * page, 1}, {vdso_at, 2}};
  }

  /// The memory a restore builds from a pagemap and its pages (the pages image's
  /// bytes, in order): present pages from the image, the rest zero in anonymous
  /// memory and the file's bytes in the file VMA. Returns the pages that differ
  /// from the core (or are missing where they may not be).
  std::uint64_t restore_mismatches(const std::vector<pb::pagemap_entry>& pagemap, std::string_view pages_image,
                                   bool with_file = true) const {
    std::map<std::uint64_t, const char*> present;
    std::uint64_t at = 0;
    for (const auto& e : pagemap)
      for (std::uint64_t k = 0; k < e.nr_pages(); ++k, at += page) {
        if (at + page > pages_image.size()) return UINT64_MAX;
        present[e.vaddr() + k * page] = pages_image.data() + at;
      }
    if (at != pages_image.size()) return UINT64_MAX;
    std::uint64_t bad = 0;
    for (const auto& v : plan.vmas) {
      const auto& seg = core->segments()[static_cast<std::size_t>(v.segment)];
      for (std::uint64_t a = v.entry.start(); a < v.entry.end(); a += page) {
        std::vector<char> got(page, 0);
        if (auto it = present.find(a); it != present.end()) {
          std::memcpy(got.data(), it->second, page);
        } else if (v.label == file_path.string() && with_file) {
          const std::uint64_t off = v.entry.pgoff() + (a - v.entry.start());
          const auto& content = *files.at(v.label)->content;
          std::memcpy(got.data(), content.view().data() + off, std::min<std::uint64_t>(page, content.size() - off));
        } else if (!v.anonymous) {
          ++bad;
          continue;
        }
        if (std::memcmp(got.data(), seg.bytes.data() + (a - seg.vaddr), page) != 0) ++bad;
      }
    }
    return bad;
  }

 private:
  static void write_whole(const std::filesystem::path& p, const std::vector<std::byte>& b) {
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, b.data(), b.size()) == static_cast<ssize_t>(b.size()));
    ::close(fd);
  }

  /// Moves each PT_LOAD's bytes to a page boundary (the builder packs them).
  static void page_align_loads(built_core& c) {
    bytes out(c.image.begin(), c.image.begin() + static_cast<std::ptrdiff_t>(c.load_data.front()));
    for (std::size_t i = 0; i < c.load_data.size(); ++i) {
      const auto ph = peek<elf::phdr64>(c.image, c.load_phdrs[i]);
      pad_to(out, page);
      const std::uint64_t at = out.size();
      out.insert(out.end(), c.image.begin() + static_cast<std::ptrdiff_t>(ph.offset),
                 c.image.begin() + static_cast<std::ptrdiff_t>(ph.offset + ph.filesz));
      auto moved = ph;
      moved.offset = at;
      poke(out, c.load_phdrs[i], moved);
      c.load_data[i] = at;
    }
    c.image = std::move(out);
  }

  static plan::vma make_vma(std::int64_t seg, std::uint64_t start, std::uint64_t pages, std::uint32_t status,
                            std::string label, bool anonymous) {
    plan::vma v;
    v.entry.set_start(start);
    v.entry.set_end(start + pages * page);
    v.entry.set_status(criu::vma_status::regular | status);
    v.entry.set_prot(criu::mmap_bits::prot_read | criu::mmap_bits::prot_write);
    v.entry.set_flags(criu::mmap_bits::map_private | (anonymous ? criu::mmap_bits::map_anonymous : 0u));
    v.entry.set_pgoff(0);
    v.label = std::move(label);
    v.segment = seg;
    v.page_limit = start + pages * page;
    v.carries_pages = true;
    v.anonymous = anonymous;
    return v;
  }
};

}  // namespace necro::test

#endif
