/// necro::capture: what a core lacks, read from /proc/PID while the kernel
/// pipes the core to necro-catch — open fds, cwd, root, rlimits, creds,
/// signal masks, personality, mapped files' build-ids. Plain data: the text
/// form is capture/text.hpp, the CRIU form capture/criu_files.hpp.
#ifndef NECRO_CAPTURE_MODEL_HPP
#define NECRO_CAPTURE_MODEL_HPP
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace necro::capture {

/// The capture format's version, and the oldest a reader still takes.
/// Version 2 added the share mode of the VMAs (`shared-vmas`, `shared`).
inline constexpr unsigned format_version = 2, oldest_format_version = 1;

/// What an open file descriptor refers to (from its /proc/PID/fd link).
enum class fd_kind {
  reg,       ///< a path on a file system (files, directories, devices, FIFOs: see mode)
  pipe,      ///< pipe:[ino]
  inet,      ///< a TCP or UDP socket found in /proc/PID/net/{tcp,tcp6,udp,udp6}
  unix_sk,   ///< a unix socket found in /proc/PID/net/unix
  socket,    ///< a socket of another family (netlink, packet...): recorded, not described
  eventfd,   ///< anon_inode:[eventfd]
  epoll,     ///< anon_inode:[eventpoll]
  signalfd,  ///< anon_inode:[signalfd]
  timerfd,   ///< anon_inode:[timerfd]
  other,     ///< any other anon inode or unknown link: recorded by kind, skipped
};

/// The name of a kind in the text form ("reg", "pipe", ...).
constexpr std::string_view kind_name(fd_kind k) noexcept {
  constexpr std::array<std::string_view, 10> names{"reg",     "pipe",  "inet",     "unix",    "socket",
                                                   "eventfd", "epoll", "signalfd", "timerfd", "other"};
  return names[static_cast<std::size_t>(k)];
}

/// One epoll registration (a `tfd:` line of the epoll fd's fdinfo).
struct epoll_target {
  std::uint32_t tfd = 0;
  std::uint32_t events = 0;
  std::uint64_t data = 0;
  std::uint64_t ino = 0;  ///< the target file's inode (hex in fdinfo)
  std::uint64_t pos = 0;
};

/// timerfd settings (fdinfo of a timerfd).
struct timer_setting {
  std::uint32_t clockid = 0;
  std::uint64_t ticks = 0;
  std::uint32_t settime_flags = 0;
  std::uint64_t value_sec = 0, value_nsec = 0;        ///< it_value: time left
  std::uint64_t interval_sec = 0, interval_nsec = 0;  ///< it_interval
};

/// A socket's identity and local end (from /proc/PID/net/*).
struct socket_info {
  std::uint32_t family = 0;  ///< AF_INET 2, AF_INET6 10, AF_UNIX 1
  std::uint32_t type = 0;    ///< SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5
  std::uint32_t proto = 0;   ///< IPPROTO_TCP 6, IPPROTO_UDP 17; 0 for unix
  std::uint32_t state = 0;   ///< the kernel's TCP_* state number (10 = LISTEN, 7 = CLOSE)
  std::array<std::uint8_t, 16> local_addr{};  ///< network byte order; first 4 bytes for IPv4
  std::uint32_t local_port = 0;
  std::array<std::uint8_t, 16> remote_addr{};
  std::uint32_t remote_port = 0;
  std::uint32_t backlog = 0;   ///< /proc shows no backlog: 0 for inet (state says LISTEN); unix: 1 if listening
  std::string unix_name;       ///< unix: bound path, or "@name" for an abstract one; may be empty
};

/// One open file descriptor of the dead process.
struct fd_entry {
  std::int32_t fd = -1;
  fd_kind kind = fd_kind::other;
  std::string link;               ///< readlink of /proc/PID/fd/N, verbatim (may hold any byte)
  std::uint32_t flags = 0;        ///< fdinfo `flags:` (O_* including O_APPEND, O_CLOEXEC)
  std::uint64_t pos = 0;          ///< fdinfo `pos:`
  std::int32_t mnt_id = -1;       ///< fdinfo `mnt_id:`
  std::uint64_t ino = 0;          ///< fdinfo `ino:` (or the stat below)
  std::uint32_t mode = 0;         ///< st_mode from stat of /proc/PID/fd/N
  std::uint64_t size = 0;         ///< st_size
  std::uint64_t dev = 0;          ///< st_dev
  std::optional<std::uint64_t> eventfd_count;
  std::optional<std::uint64_t> sigmask;  ///< signalfd
  std::optional<timer_setting> timer;
  std::vector<epoll_target> targets;     ///< epoll
  std::optional<socket_info> sock;
  /// The lowest fd sharing this fd's open file description (one offset and
  /// status flags: dup, dup2, stdout and stderr of `>log 2>&1`), when another does.
  std::optional<std::int32_t> shares;
};

/// A resource limit; `unlimited` is RLIM_INFINITY (~0).
struct rlimit_entry {
  std::string name;  ///< the /proc/PID/limits row ("Max open files") mapped to RLIMIT_* below
  int resource = -1;
  std::uint64_t cur = 0, max = 0;
};

/// Credentials from /proc/PID/status.
struct credentials {
  std::array<std::uint32_t, 4> uid{}, gid{};  ///< real, effective, saved, fs
  std::vector<std::uint32_t> groups;
  std::uint64_t cap_inh = 0, cap_prm = 0, cap_eff = 0, cap_bnd = 0, cap_amb = 0;
  std::uint32_t no_new_privs = 0;
};

/// Signal masks from /proc/PID/status (bit n-1 for signal n).
struct signal_masks {
  std::uint64_t caught = 0, blocked = 0, ignored = 0, pending = 0, shared_pending = 0;
};

/// A file mapped into the address space, with its build-id when it is ELF.
struct mapped_file {
  std::string path;
  std::uint64_t ino = 0;
  std::string build_id;  ///< lowercase hex; empty when the file has none or could not be read
};

/// An address range of the process: a VMA.
struct vma_range {
  std::uint64_t start = 0, end = 0;
};

/// Everything necro-catch recorded about one dead process.
struct process_capture {
  unsigned version = format_version;
  std::int32_t pid = 0;       ///< initial pid namespace (%P)
  std::string comm;           ///< /proc/PID/comm
  std::string exe;            ///< readlink /proc/PID/exe
  std::string cwd, root;      ///< readlink /proc/PID/{cwd,root}
  std::optional<std::uint32_t> umask;
  std::optional<std::uint32_t> personality;
  std::optional<credentials> creds;
  std::optional<signal_masks> signals;
  std::vector<rlimit_entry> rlimits;
  std::vector<fd_entry> fds;             ///< in fd order
  std::vector<mapped_file> mapped_files;
  /// The VMAs mapped MAP_SHARED (`s` in /proc/PID/maps; a core does not say),
  /// when the maps were read: nullopt in a version 1 capture.
  std::optional<std::vector<vma_range>> shared_vmas;
  std::vector<std::string> skipped;      ///< what the capture could not read (one reason each)
  bool complete = false;                 ///< the `end` line was reached
};

}  // namespace necro::capture

#endif
