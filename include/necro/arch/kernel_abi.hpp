/// The kernel's process ABI constants necro reads or writes outside the core
/// notes: open(2) flags, st_mode file types, rlimits and socket states. Our
/// own copies of asm-generic's values, the same on x86-64 and aarch64 (no host
/// <fcntl.h> or <sys/stat.h> needed); each is defined here once.
#ifndef NECRO_ARCH_KERNEL_ABI_HPP
#define NECRO_ARCH_KERNEL_ABI_HPP
#pragma once

#include <cstddef>
#include <cstdint>

namespace necro::arch {

/// glibc's rseq registration length (struct rseq_area, 32 bytes), which kernels
/// before 6.3 do not record per task.
inline constexpr std::uint32_t rseq_area_bytes = 32;

/// open(2) flags (asm-generic/fcntl.h): what synthetic files are opened with,
/// and what a captured fd's flags are read for.
namespace o {
inline constexpr std::uint32_t rdonly = 0, wronly = 01, rdwr = 02, accmode = 03;
inline constexpr std::uint32_t append = 02000, nonblock = 04000, largefile = 0100000, cloexec = 02000000;
}  // namespace o

/// st_mode file-type bits (S_IF*; `mask` is S_IFMT): reg_file_entry.mode, a captured fd's mode.
namespace s_if {
inline constexpr std::uint32_t mask = 0170000, sock = 0140000, dir = 0040000, chr = 0020000, fifo = 0010000;
}  // namespace s_if

/// Resource limits.
namespace rlim {
/// RLIMIT_NLIMITS: the rlimits the kernel (and CRIU, for a task) keeps.
inline constexpr std::size_t count = 16;
/// RLIM_INFINITY.
inline constexpr std::uint64_t infinity = ~std::uint64_t{0};
}  // namespace rlim

/// Sockets: the families, protocols and types a capture names, and the TCP
/// states of /proc/net/tcp (include/net/tcp_states.h).
namespace sock {
inline constexpr std::uint32_t af_inet6 = 10, ipproto_tcp = 6, stream = 1, dgram = 2;
inline constexpr std::uint32_t tcp_established = 1, tcp_close = 7, tcp_listen = 10;
/// socket_state: SS_UNCONNECTED, SS_CONNECTED.
inline constexpr std::uint32_t ss_unconnected = 1, ss_connected = 3;
}  // namespace sock

/// madvise(2) advice CRIU records as a bit each in vma_entry.madv.
namespace madv {
inline constexpr std::uint32_t dontdump = 16;
}  // namespace madv

}  // namespace necro::arch

#endif
