/// What a resurrection reads of this machine and of the necro process before
/// planning (the planner itself reads nothing): the stat modes of --stdio,
/// --cwd and of the paths a capture would reopen; necro's own rlimits and
/// capabilities; whether the victim's pid is taken; where glibc's rseq
/// symbols are.
#ifndef NECRO_RESURRECT_DETAIL_MACHINE_FACTS_HPP
#define NECRO_RESURRECT_DETAIL_MACHINE_FACTS_HPP
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>

#include <fmt/format.h>

#include <necro/arch/kernel_abi.hpp>
#include <necro/capture/model.hpp>
#include <necro/disk/locate.hpp>
#include <necro/elf/dynamic_symbols.hpp>
#include <necro/io/error.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/plan/capture.hpp>
#include <necro/plan/donorless_options.hpp>

namespace necro::detail {

/// `path` with its stat mode, or an error naming it.
inline result<plan::opened_path> opened(const std::string& path, bool want_dir, bool given) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail(error::from_errno(path, "cannot stat", errno));
  if (want_dir != S_ISDIR(st.st_mode))
    return fail(error(errc::bad_value, path, want_dir ? "is not a directory" : "is a directory"));
  std::error_code ec;  // the throwing overload would let an exception out of the library
  const auto absolute = std::filesystem::absolute(path, ec);
  if (ec) return fail(error::from_errno(path, "cannot make the path absolute", ec.value()));
  return plan::opened_path{absolute.lexically_normal().string(), static_cast<std::uint32_t>(st.st_mode), given};
}

/// The capability words of line `key` ("CapEff:") of /proc/self/status; none
/// when the line is missing or not hexadecimal.
inline std::array<std::uint32_t, 2> own_capabilities(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (!line.starts_with(key)) continue;
    const auto digits = line.find_first_not_of(" \t", key.size());
    if (digits == std::string::npos) break;
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(line.data() + digits, line.data() + line.size(), v, 16);
    if (ec != std::errc{}) break;
    return {static_cast<std::uint32_t>(v), static_cast<std::uint32_t>(v >> 32)};
  }
  return {0, 0};
}

/// glibc's __rseq_offset and __rseq_size in the first mapped file that
/// defines them (ld.so since glibc 2.35), read from the files on disk.
inline std::optional<plan::rseq_symbols> find_rseq_symbols(const io::file_facts& disk, std::string& why) {
  for (const auto& [path, fact] : disk) {
    if (!fact || !fact->content) continue;
    const auto off = elf::dynamic_symbol(fact->content->view(), "__rseq_offset");
    const auto size = elf::dynamic_symbol(fact->content->view(), "__rseq_size");
    if (off && size && *off && *size) return plan::rseq_symbols{path, **off, **size};
  }
  why = disk.empty() ? "--offline: the mapped files were not read"
                     : "no mapped file defines glibc's __rseq_offset (glibc < 2.35, or another libc)";
  return std::nullopt;
}

/// Everything plan::synthesize_donor takes from this machine.
inline result<plan::donorless_options> donorless_facts(std::int32_t pid, const io::file_facts& disk,
                                                       const std::string& stdio, const std::string& cwd) {
  plan::donorless_options o;
  if (!stdio.empty()) {
    NECRO_TRY_ASSIGN(o.stdio, opened(stdio, false, true));
  }
  if (!cwd.empty()) {
    NECRO_TRY_ASSIGN(o.cwd, opened(cwd, true, true));
  }
  for (int r = 0; r < static_cast<int>(plan::rlimit_count); ++r) {
    struct rlimit rl {};
    if (::getrlimit(r, &rl) != 0) rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
    o.rlimits.emplace_back(rl.rlim_cur, rl.rlim_max);
  }
  o.cap_eff = own_capabilities("CapEff:");
  o.cap_bnd = own_capabilities("CapBnd:");
  std::error_code ec;
  o.pid_taken = std::filesystem::exists(fmt::format("/proc/{}", pid), ec);
  o.rseq = find_rseq_symbols(disk, o.rseq_missing);
  return o;
}

/// Whether a v6 address is an IPv4-mapped one (::ffff:a.b.c.d).
template <class Bytes>
bool v4_mapped(const Bytes& a) {
  for (std::size_t i = 0; i < 10; ++i)
    if (a[i] != 0) return false;
  return a[10] == 0xff && a[11] == 0xff;
}

/// Why no socket of `k`'s kind can be bound to its address on this machine
/// now (the address is not this machine's, the port is taken, a unix
/// socket's directory is gone); "" when it can, or when nothing is bound.
inline std::string bind_problem(const capture::socket_info& k, capture::fd_kind kind) {
  if (kind == capture::fd_kind::unix_sk) {
    if (k.unix_name.empty() || k.unix_name.front() != '/') return {};
    const auto dir = std::filesystem::path(k.unix_name).parent_path();
    std::error_code ec;
    return std::filesystem::is_directory(dir, ec) ? std::string() : fmt::format("no directory {}", dir.string());
  }
  if (k.local_port == 0) return {};
  const bool listening = k.proto == arch::sock::ipproto_tcp && k.state == arch::sock::tcp_listen;
  const bool udp = k.proto != arch::sock::ipproto_tcp;
  if (!listening && !udp) return {};  // connections come back as stand-ins anyway
  const bool v6 = k.family == arch::sock::af_inet6;
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) return fmt::format("socket: {}", std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // The victim's v4 twin may bind beside a v6 address; but a v4-mapped one
  // (::ffff:a.b.c.d, a JVM's sockets) is only bindable without V6ONLY.
  if (v6 && !v4_mapped(k.local_addr)) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<std::uint16_t>(k.local_port));
    std::memcpy(&a->sin6_addr, k.local_addr.data(), 16);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<std::uint16_t>(k.local_port));
    std::memcpy(&a->sin_addr, k.local_addr.data(), 4);
    len = sizeof *a;
  }
  const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&ss), len);
  const int err = errno;
  ::close(fd);
  return rc == 0 ? std::string() : fmt::format("bind: {}", std::strerror(err));
}

/// What a capture's paths and sockets find on this machine: the st_mode of
/// each path it would reopen (fd targets, cwd, root; a regular file under
/// `sysroot` first), what holds the fd of a missing regular file, and which
/// listening or bound sockets cannot be bound again.
inline plan::capture_facts stat_captured_paths(const capture::process_capture& c, const std::string& dir,
                                               const std::filesystem::path& sysroot = {},
                                               const std::string& missing_files_as = "/dev/null") {
  plan::capture_facts facts;
  facts.dir = dir;
  auto add = [&](const std::string& path, bool look_in_sysroot) {
    if (path.empty() || path.front() != '/') return;
    for (const auto& [there, origin] : disk::candidates(look_in_sysroot ? sysroot : std::filesystem::path(), path)) {
      struct stat st {};
      if (::stat(there.c_str(), &st) != 0) continue;
      facts.present.emplace(path, static_cast<std::uint32_t>(st.st_mode));
      if (origin == disk::file_origin::sysroot) facts.relocated.emplace(path, there);
      return;
    }
  };
  for (const auto& f : c.fds) {
    if (f.kind == capture::fd_kind::reg) add(f.link, true);
    if (f.sock && (f.kind == capture::fd_kind::inet || f.kind == capture::fd_kind::unix_sk))
      if (auto why = bind_problem(*f.sock, f.kind); !why.empty()) facts.unbindable.emplace(f.fd, std::move(why));
  }
  add(c.cwd, false);
  add(c.root, false);
  struct stat st {};
  if (!missing_files_as.empty() && ::stat(missing_files_as.c_str(), &st) == 0) {
    facts.missing_stand_in = missing_files_as;
    facts.missing_stand_in_mode = static_cast<std::uint32_t>(st.st_mode);
  }
  return facts;
}

}  // namespace necro::detail

#endif
