/// necro::lazy::serve_uffd: necro's own lazy-pages daemon. `criu restore
/// --lazy-pages` connects to `lazy-pages.socket` in its work directory and
/// sends, for each task, its pid (an int) and its userfaultfd (SCM_RIGHTS
/// with one byte), then LAZY_PAGES_RESTORE_FINISHED (criu/uffd.c). This
/// daemon answers each page fault with the faulting pages and, once the
/// restore has finished, pushes every other pending page, straight from the
/// core: pread(2) into one buffer, then UFFDIO_COPY (or UFFDIO_ZEROPAGE for a
/// page of zeros, which then costs the process no memory). Unlike CRIU's
/// daemon with a page server, no byte goes through a socket, and the push
/// moves 4 MiB per ioctl with the disk reading ahead of it (docs/performance.md).
///
/// The process's address space is followed through the userfaultfd's
/// non-cooperative events: UNMAP and REMOVE drop pending pages (REMOVE also
/// unregisters the range, so a later touch reads zeros as after
/// MADV_DONTNEED), REMAP moves them, FORK adds the child's userfaultfd with a
/// copy of what is pending. The core's size and modification time are checked
/// after every read: a core that changed, ended early or could not be read is
/// an error naming it, and the restored process is killed before the
/// userfaultfd closes (pages never delivered would otherwise read as zeros).
#ifndef NECRO_LAZY_UFFD_DAEMON_HPP
#define NECRO_LAZY_UFFD_DAEMON_HPP
#pragma once

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include <necro/io/error.hpp>
#include <necro/io/unique_fd.hpp>
#include <necro/lazy/detail/copy_helper.hpp>
#include <necro/lazy/detail/core_reader.hpp>
#include <necro/lazy/page_server.hpp>
#include <necro/lazy/pending_pages.hpp>
#include <necro/lazy/served_ranges.hpp>

namespace necro::lazy {

/// The word `criu restore` sends once every task is restored (criu/uffd.c).
inline constexpr std::uint32_t restore_finished_word = 0x52535446;  // "FTSR": ReSTore Finished

/// The socket `criu restore --lazy-pages` connects to, in its work directory.
inline constexpr const char* lazy_pages_socket_name = "lazy-pages.socket";

struct uffd_options {
  std::uint64_t page = 4096;
  std::uint64_t push_bytes = 4u << 20;      ///< one background UFFDIO_COPY at most
  std::uint64_t fault_pages = 16;           ///< pages delivered for one fault (from the faulting one on)
  /// What a thread of its own holds read ahead of the push, in buffers of
  /// push_bytes (the daemon's memory); 0: no such thread, the push reads.
  std::uint64_t readahead_bytes = 24u << 20;
  /// A push chunk of at least split_bytes is copied by two threads, half
  /// each (detail::copy_helper), when copy_threads is 2 and the machine has
  /// two CPUs or more; a fault's few pages are copied at once.
  unsigned copy_threads = 2;
  std::uint64_t split_bytes = 1u << 20;
  /// The restored process (the pid the restore sends) is killed on an error.
  bool kill_on_error = true;
  /// Push every pending page once the restore finished (else pages come only
  /// as the process touches them, and the daemon stays until the process
  /// exits: for a look at a large core; the hot pages below are pushed all
  /// the same, for a debugger).
  bool push = true;
  /// Pushed first: `hot_bytes` from the page below each of these addresses
  /// on (the threads' stack pointers: a debugger's first reads, a running
  /// thread's first touches). A debugger cannot fault a missing page in:
  /// the kernel refuses ptrace and /proc/PID/mem reads of it.
  std::vector<std::uint64_t> hot;
  std::uint64_t hot_bytes = 1u << 20;
  /// Pushed before those: the page holding each of these addresses and the
  /// pages either side of it (what a debugger reads as it attaches: the
  /// dynamic linker's list of libraries and their names, each thread's
  /// control block).
  std::vector<std::uint64_t> hot_pages;
  /// A debugger attaches once the restore finished (--restore --gdb): the
  /// bulk push waits until a tracer is attached and has read nothing for
  /// debugger_quiet (its start: its own files and the libraries' symbols,
  /// which the push's reading of the core would otherwise queue behind on
  /// the same disk), debugger_wait at most. Faults and hot pages go at once.
  bool debugger = false;
  std::chrono::milliseconds debugger_quiet{250}, debugger_wait{10000};
  /// Called with the pid and the userfaultfd of each task the restore sends,
  /// before anything is served (the launcher starts its guardian there).
  std::function<void(int pid, int uffd)> on_task;
  /// Called with the userfaultfd of each child a task forks (UFFD_EVENT_FORK)
  /// and the pid the restore sent for the task it descends from (the
  /// launcher gives it to that task's guardian to keep open).
  std::function<void(int restored_pid, int uffd)> on_fork;
  /// A line for the log (the daemon's events); may be empty.
  std::function<void(const std::string&)> log;
};

/// What a serve_uffd() did.
struct uffd_report {
  std::uint64_t faults = 0;         ///< page faults answered
  std::uint64_t pages_copied = 0;   ///< UFFDIO_COPY'd from the core
  std::uint64_t pages_zeroed = 0;   ///< pages of zeros mapped with UFFDIO_ZEROPAGE
  std::uint64_t pages_dropped = 0;  ///< unmapped or removed by the process before they were delivered
  std::uint64_t bytes_read = 0;     ///< read from the core
  std::uint64_t forks = 0, tasks = 0;
  bool exited = false;              ///< a process exited before all its pages were in
};

namespace detail {

/// The message CRIU's send_fd sends: one byte, and room for one fd passed
/// with SCM_RIGHTS. The msghdr points into the struct, so it is not copied.
struct one_fd_message {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr m{};
  one_fd_message() noexcept {
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
  }
  one_fd_message(const one_fd_message&) = delete;
  one_fd_message& operator=(const one_fd_message&) = delete;
};

/// Sends `fd` with SCM_RIGHTS and one byte (CRIU's send_fd). Whether it went.
inline bool send_one_fd(int sock, int fd, char byte = 0) {
  one_fd_message msg;
  msg.byte = byte;
  cmsghdr* c = CMSG_FIRSTHDR(&msg.m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  ssize_t n;
  do n = ::sendmsg(sock, &msg.m, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == 1;
}

/// One fd sent with SCM_RIGHTS and one byte (CRIU's send_fd); -1 on error
/// or when the message held no fd. The byte goes to `byte` when one came.
/// Async-signal-safe (the guardian calls it).
inline int recv_one_fd(int sock, char* byte_out = nullptr) {
  one_fd_message msg;
  ssize_t n;
  do n = ::recvmsg(sock, &msg.m, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return -1;
  if (byte_out) *byte_out = msg.byte;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg.m); c; c = CMSG_NXTHDR(&msg.m, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return fd;
    }
  return -1;
}

/// Whether `len` bytes at `p` (a multiple of 64) are all zero. A page of
/// data shows it in its first 64 bytes: only zero pages are read whole.
inline bool all_zero(const unsigned char* p, std::size_t len) {
  const auto* w = reinterpret_cast<const std::uint64_t*>(p);
  for (std::size_t i = 0; i < len / 8; i += 8)
    if ((w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7]) != 0) return false;
  return true;
}

/// What place_run() put in: pages from the start of its range, until the
/// first refusal (`err`, 0 if none).
struct placed {
  std::uint64_t copied = 0, zeroed = 0;
  int err = 0;
  const char* op = "";  ///< the refused ioctl
  std::uint64_t pages() const { return copied + zeroed; }
};

/// The ioctls alone, for `pages` pages at `vaddr` from `data`: runs of zero
/// pages with UFFDIO_ZEROPAGE, the rest with UFFDIO_COPY, up to the first
/// refusal. Touches nothing but the process: safe on the copy helper.
inline placed place_run(int uffd, std::uint64_t vaddr, std::uint64_t pages, const unsigned char* data,
                        std::uint64_t page) {
  placed out;
  std::uint64_t k = 0;
  while (k < pages) {
    const bool zero = all_zero(data + k * page, page);
    std::uint64_t e = k + 1;
    while (e < pages && all_zero(data + e * page, page) == zero) ++e;
    const std::uint64_t at = vaddr + k * page, bytes = (e - k) * page;
    std::int64_t done = 0;
    if (zero) {
      uffdio_zeropage z{};
      z.range.start = at;
      z.range.len = bytes;
      if (::ioctl(uffd, UFFDIO_ZEROPAGE, &z) != 0) out.err = errno, out.op = "UFFDIO_ZEROPAGE";
      done = out.err ? std::max<std::int64_t>(z.zeropage, 0) : static_cast<std::int64_t>(bytes);
    } else {
      uffdio_copy c{};
      c.dst = at;
      c.src = reinterpret_cast<std::uint64_t>(data + k * page);
      c.len = bytes;
      if (::ioctl(uffd, UFFDIO_COPY, &c) != 0) out.err = errno, out.op = "UFFDIO_COPY";
      done = out.err ? std::max<std::int64_t>(c.copy, 0) : static_cast<std::int64_t>(bytes);
    }
    const std::uint64_t n = static_cast<std::uint64_t>(done) / page;
    (zero ? out.zeroed : out.copied) += n;
    k += n;
    if (out.err) break;
  }
  return out;
}

struct aligned_free {
  void operator()(unsigned char* p) const noexcept { std::free(p); }
};

/// One restored process (or a child it forked) and its pending pages.
struct uffd_task {
  int pid = 0;  ///< as the restore sent it; a forked child's is its parent's
  io::unique_fd uffd;
  pending_pages pending;
  bool gone = false;  ///< exited: nothing more to deliver
  std::uint64_t busy = 0;  ///< consecutive UFFDIO_COPY refusals for a busy VMA
  io::unique_fd pidfd;  ///< readable once the process exits (not for a forked child: its pid is not known)
};

/// epoll's word for a source: 0 the restore's socket, else the task's index
/// + 1, shifted, with the low bit set for its pidfd.
inline std::uint64_t source_word(std::size_t task, bool pidfd) { return ((task + 1) << 1) | (pidfd ? 1u : 0u); }

/// The daemon's state: the core, the buffer, the tasks.
class uffd_server {
 public:
  uffd_server(int core_fd, std::string core, std::span<const served_range> ranges, std::uint64_t pid,
              core_identity planned, uffd_options o)
      : core_fd_(core_fd), core_(std::move(core)), ranges_(ranges.begin(), ranges.end()), pid_(pid),
        planned_(planned), o_(std::move(o)) {}

  result<uffd_report> run(int restore_sock) {
    NECRO_TRY(check_ranges(ranges_, planned_.size, o_.page, core_));
    buf_.reset(static_cast<unsigned char*>(std::aligned_alloc(o_.page, o_.push_bytes)));
    if (!buf_) return fail(error(errc::io, core_, "no memory for the lazy-pages buffer"));
    if (o_.copy_threads > 1 && std::thread::hardware_concurrency() > 1) helper_ = std::make_unique<copy_helper>();
    ::posix_fadvise(core_fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
    ep_ = io::unique_fd(::epoll_create1(EPOLL_CLOEXEC));
    if (ep_.get() < 0) return fail(error::from_errno(core_, "epoll_create1", errno));
    NECRO_TRY(watch(restore_sock, 0));
    bool sock_open = true;
    std::size_t next = 0;  // round robin over the tasks for the push
    epoll_event ev[16];
    for (;;) {
      const bool pending = std::any_of(tasks_.begin(), tasks_.end(), [](const auto& t) { return !t->gone && !t->pending.empty(); });
      if (finished_ && !pending) return rep_;
      // On demand only: once the restored processes are gone, what their
      // forked children still lack is pushed (their pids are not known).
      if (!o_.push && finished_ && std::none_of(tasks_.begin(), tasks_.end(), [](const auto& t) { return t->pidfd.get() >= 0 && !t->gone; }))
        o_.push = true;
      if (!sock_open && !finished_)
        return fail(error(errc::io, core_, "criu restore closed the lazy-pages socket before it finished restoring "
                                           "(the restore failed: see its log)"));
      // Busy VMAs (an mremap under way) get a millisecond; a push is due at once.
      const bool busy = std::any_of(tasks_.begin(), tasks_.end(), [](const auto& t) { return t->busy > 0; });
      const bool wait_reader = reader_ && reader_waiting_;
      const int timeout = finished_ && pending && o_.push && held_ ? 20
                          : finished_ && pending && o_.push && !wait_reader ? (busy ? 1 : 0) : -1;
      const int n = ::epoll_wait(ep_.get(), ev, 16, timeout);
      if (n < 0 && errno != EINTR) return stop(error::from_errno(core_, "epoll_wait", errno));
      for (int i = 0; i < n; ++i) {
        const std::uint64_t w = ev[i].data.u64;
        if (w == reader_word) {  // a buffer is ready (drained: before the restore finished nobody takes it)
          std::uint64_t v;
          if (reader_) [[maybe_unused]] auto got = ::read(reader_->event_fd(), &v, sizeof v);
          reader_waiting_ = false;
          continue;
        }
        if (w == 0) {
          auto r = from_restore(restore_sock);
          if (!r) return stop(r.error());
          sock_open = *r;
          if (!sock_open) ::epoll_ctl(ep_.get(), EPOLL_CTL_DEL, restore_sock, nullptr);
          continue;
        }
        auto& t = *tasks_[(w >> 1) - 1];
        if (w & 1) {  // the process exited
          say(fmt::format("pid {} exited{}", t.pid, t.pending.empty() ? "" : fmt::format(" with {} pages never touched", t.pending.pages())));
          ::epoll_ctl(ep_.get(), EPOLL_CTL_DEL, t.pidfd.get(), nullptr);
          leave(t);
        } else if (auto r = events_of(t); !r) {
          return stop(r.error());
        }
      }
      if (!finished_) continue;
      if (!hot_pushed_) {  // on demand too: a debugger cannot fault them in
        hot_pushed_ = true;
        if (auto hot = push_hot(); !hot) return stop(hot.error());
      }
      if (!o_.push || !debugger_done()) continue;
      start_reader();
      // One chunk of the background push, then the faults again: the
      // reader's next buffer while it has one, then what is left.
      if (reader_) {
        if (auto c = reader_->try_next()) {
          auto placed = place_chunk(*c);
          reader_->release();
          if (!placed) return stop(placed.error());
          continue;
        }
        if (!reader_->done()) {
          reader_waiting_ = true;
          continue;
        }
        ::epoll_ctl(ep_.get(), EPOLL_CTL_DEL, reader_->event_fd(), nullptr);
        reader_.reset();
      }
      for (std::size_t k = 0; k < tasks_.size(); ++k) {
        auto& t = *tasks_[(next + k) % tasks_.size()];
        if (t.gone || t.pending.empty()) continue;
        next = (next + k + 1) % tasks_.size();
        auto chunk = t.pending.take_first(o_.push_bytes / o_.page);
        if (chunk)
          if (auto d = deliver(t, *chunk); !d) return stop(d.error());
        break;
      }
    }
  }

 private:
  void say(const std::string& line) const {
    if (o_.log) o_.log(line);
  }

  /// On an error: the restored process dies first, while its uffd is open.
  result<uffd_report> stop(error e) {
    if (o_.kill_on_error)
      for (const auto& t : tasks_)
        if (t->pid > 0) ::kill(t->pid, SIGKILL);
    return fail(std::move(e));
  }

  result<void> watch(int fd, std::uint64_t word) {
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = word;
    if (::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &e) != 0) return fail(error::from_errno(core_, "epoll_ctl", errno));
    return {};
  }

  /// A message from the restore: a task's pid and uffd, a zombie, or the
  /// end of the restore. False: the socket closed.
  result<bool> from_restore(int sock) {
    std::int32_t word = 0;
    const ssize_t got = read_full(sock, &word, sizeof word);
    if (got == 0) return false;
    if (got < 0) return fail(error::from_errno(core_, "cannot read from criu restore's lazy-pages socket", errno));
    if (got != sizeof word)
      return fail(error(errc::truncated, core_, fmt::format("criu restore went away in the middle of a message on the "
                                                            "lazy-pages socket ({} of {} bytes)", got, sizeof word)));
    if (static_cast<std::uint32_t>(word) == restore_finished_word) {
      finished_ = true;
      finished_at_ = std::chrono::steady_clock::now();
      held_ = o_.debugger;
      say(fmt::format("restore finished: {} task(s), pushing the pending pages", tasks_.size()));
      return true;
    }
    if (word < 0) return true;  // a zombie: no memory, no uffd
    errno = 0;
    const int fd = recv_one_fd(sock);
    if (fd < 0 && errno == 0)  // the socket closed, or the message held no fd
      return fail(error(errc::truncated, core_, fmt::format("criu restore sent pid {} but no userfaultfd with it", word)));
    if (fd < 0) return fail(error::from_errno(core_, fmt::format("no userfaultfd came with pid {}", word), errno));
    io::unique_fd uffd(fd);
    if (static_cast<std::uint64_t>(word) != pid_)
      return fail(error(errc::mismatch, core_, fmt::format("criu restore sent the userfaultfd of pid {}; this daemon "
                                                           "serves the pages of pid {} only", word, pid_)));
    auto t = std::make_unique<uffd_task>(uffd_task{word, std::move(uffd), pending_pages(ranges_, o_.page), false, 0,
                                                   io::unique_fd(static_cast<int>(::syscall(SYS_pidfd_open, word, 0)))});
    if (o_.on_task) o_.on_task(word, t->uffd.get());
    if (o_.push) start_reader();  // the disk starts while CRIU finishes the restore
    say(fmt::format("pid {}: userfaultfd received, {} pages in {} ranges pending", word, t->pending.pages(),
                    t->pending.ranges()));
    ++rep_.tasks;
    NECRO_TRY(add_task(std::move(t)));
    return true;
  }

  /// A task joins: its uffd non-blocking and watched, its pidfd (if any) too.
  result<void> add_task(std::unique_ptr<uffd_task> t) {
    const int fd = t->uffd.get();
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    NECRO_TRY(watch(fd, source_word(tasks_.size(), false)));
    if (t->pidfd.get() >= 0) NECRO_TRY(watch(t->pidfd.get(), source_word(tasks_.size(), true)));
    tasks_.push_back(std::move(t));
    return {};
  }

  /// Every message waiting on `t`'s userfaultfd.
  result<void> events_of(uffd_task& t) {
    for (;;) {
      if (t.gone) return {};
      uffd_msg msg{};
      const ssize_t n = ::read(t.uffd.get(), &msg, sizeof msg);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return {};
      if (n < 0) return fail(error::from_errno(core_, fmt::format("cannot read the userfaultfd of pid {}", t.pid), errno));
      if (n == 0) {  // nothing more will come
        leave(t);
        return {};
      }
      if (n != sizeof msg) return fail(error(errc::io, core_, "short read from a userfaultfd"));
      switch (msg.event) {
        case UFFD_EVENT_PAGEFAULT:
          NECRO_TRY(fault(t, msg.arg.pagefault.address));
          break;
        case UFFD_EVENT_REMOVE:
        case UFFD_EVENT_UNMAP:
          NECRO_TRY(removed(t, msg.arg.remove.start, msg.arg.remove.end, msg.event == UFFD_EVENT_REMOVE));
          break;
        case UFFD_EVENT_REMAP:
          t.pending.remap(msg.arg.remap.from, msg.arg.remap.to, msg.arg.remap.len);
          break;
        case UFFD_EVENT_FORK: {
          auto child = std::make_unique<uffd_task>(uffd_task{t.pid, io::unique_fd(static_cast<int>(msg.arg.fork.ufd)),
                                                             t.pending, false, 0, io::unique_fd()});
          say(fmt::format("pid {} forked: its child gets the {} pending pages too", t.pid, child->pending.pages()));
          if (o_.on_fork) o_.on_fork(t.pid, child->uffd.get());
          ++rep_.forks;
          NECRO_TRY(add_task(std::move(child)));
          break;
        }
        default:
          return fail(error(errc::unsupported, core_, fmt::format("unexpected userfaultfd event {:#x}", msg.event)));
      }
    }
  }

  void leave(uffd_task& t) {
    if (t.gone) return;
    t.gone = true;
    if (!t.pending.empty()) rep_.exited = true;
    ::epoll_ctl(ep_.get(), EPOLL_CTL_DEL, t.uffd.get(), nullptr);
  }

  result<void> fault(uffd_task& t, std::uint64_t address) {
    ++rep_.faults;
    const std::uint64_t at = address - address % o_.page;
    if (auto chunk = t.pending.take_at(at, o_.fault_pages)) return deliver(t, *chunk);
    // Not pending: a page the core has no bytes for (a hole: zeros), or one
    // delivered since the fault was queued (then the zero page is refused).
    uffdio_zeropage z{};
    z.range.start = at;
    z.range.len = o_.page;
    if (::ioctl(t.uffd.get(), UFFDIO_ZEROPAGE, &z) == 0) {
      ++rep_.pages_zeroed;
      return {};
    }
    return settle(t, errno, at, "UFFDIO_ZEROPAGE");
  }

  /// An ioctl's failure: the page already there (wake whoever waits), the
  /// process gone, or an error.
  result<void> settle(uffd_task& t, int e, std::uint64_t at, const char* op) {
    if (e == EEXIST) {
      uffdio_range r{at, o_.page};
      ::ioctl(t.uffd.get(), UFFDIO_WAKE, &r);
      return {};
    }
    if (e == ESRCH || e == ENOSPC) {
      leave(t);
      return {};
    }
    if (e == ENOENT || e == EAGAIN) return {};  // the VMA is changing; its event follows
    return fail(error::from_errno(core_, fmt::format("{} at {:#x} for pid {}", op, at, t.pid), e));
  }

  result<void> removed(uffd_task& t, std::uint64_t start, std::uint64_t end, bool remove) {
    const std::uint64_t before = t.pending.pages();
    if (remove) {
      // The VMA stays: later touches must read zeros, not the core's bytes.
      uffdio_range r{start, end - start};
      if (::ioctl(t.uffd.get(), UFFDIO_UNREGISTER, &r) != 0) {
        if (errno == ENOMEM) {
          leave(t);
          return {};
        }
        return fail(error::from_errno(core_, fmt::format("UFFDIO_UNREGISTER of {:#x}-{:#x} for pid {}", start, end, t.pid), errno));
      }
    }
    t.pending.erase(start, end);
    rep_.pages_dropped += before - t.pending.pages();
    return {};
  }

  /// Whether the bulk push may go (uffd_options::debugger): no debugger is
  /// awaited, or the tracer has been quiet long enough, or waited for too long.
  bool debugger_done() {
    if (!held_) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now - finished_at_ >= o_.debugger_wait) {
      say(fmt::format("no debugger attached and went quiet within {} ms: pushing the pending pages", o_.debugger_wait.count()));
      held_ = false;
      return true;
    }
    const int tracer = tracer_of(static_cast<int>(pid_));
    if (tracer <= 0) return false;
    const std::uint64_t work = activity_of(tracer);
    if (tracer != tracer_ || work != tracer_work_) {
      tracer_ = tracer;
      tracer_work_ = work;
      tracer_since_ = now;
      return false;
    }
    if (now - tracer_since_ < o_.debugger_quiet) return false;
    say(fmt::format("debugger pid {} attached and quiet for {} ms: pushing the pending pages", tracer, o_.debugger_quiet.count()));
    held_ = false;
    return true;
  }

  /// TracerPid of /proc/PID/status (0: none, -1: unreadable).
  static int tracer_of(int pid) {
    const std::string st = read_proc(fmt::format("/proc/{}/status", pid));
    const auto at = st.find("\nTracerPid:");
    return at == std::string::npos ? -1 : std::atoi(st.c_str() + at + 11);
  }

  /// What `pid` has read (rchar of /proc/PID/io), else its CPU time and
  /// block I/O wait (/proc/PID/stat): it changes while the debugger works.
  static std::uint64_t activity_of(int pid) {
    const std::string io = read_proc(fmt::format("/proc/{}/io", pid));
    if (const auto at = io.find("rchar:"); at != std::string::npos) return std::strtoull(io.c_str() + at + 6, nullptr, 10);
    const std::string st = read_proc(fmt::format("/proc/{}/stat", pid));
    const auto close = st.rfind(')');
    if (close == std::string::npos) return 0;
    std::uint64_t sum = 0;
    int field = 2;  // the next is field 3 (state)
    for (const char* p = st.c_str() + close + 1; *p; ++field) {
      while (*p == ' ') ++p;
      char* end = nullptr;
      const auto v = std::strtoull(p, &end, 10);
      if (field == 14 || field == 15 || field == 42) sum += v;  // utime, stime, delayacct_blkio_ticks
      p = end && end != p ? end : p + 1;
      while (*p && *p != ' ') ++p;
    }
    return sum;
  }

  static std::string read_proc(const std::string& path) {
    io::unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    std::string out;
    if (fd.get() < 0) return out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }

  /// The reading thread, once (uffd_options::readahead_bytes).
  void start_reader() {
    if (reader_started_) return;
    reader_started_ = true;
    if (o_.readahead_bytes < 2 * o_.push_bytes) return;
    auto r = std::make_unique<core_reader>(core_fd_, ranges_, o_.page, o_.push_bytes, o_.readahead_bytes / o_.push_bytes);
    if (r->ready() && watch(r->event_fd(), reader_word)) reader_ = std::move(r);
  }

  /// The hot pages of every task first (uffd_options::hot_pages, then hot).
  result<void> push_hot() {
    for (auto& tp : tasks_) {
      for (const std::uint64_t a : o_.hot_pages) {
        const std::uint64_t at = a - a % o_.page, from = at >= o_.page ? at - o_.page : at;
        for (int part = 0; part < 3 && !tp->gone; ++part) {  // a busy VMA puts pages back: no endless retry
          auto c = tp->pending.take_from(from, at + 2 * o_.page);
          if (!c) break;
          NECRO_TRY(deliver(*tp, *c));
        }
      }
      for (const std::uint64_t a : o_.hot) {
        if (tp->gone) break;
        const std::uint64_t at = a - a % o_.page;
        if (auto c = tp->pending.take_at(at >= o_.page ? at - o_.page : at, o_.hot_bytes / o_.page))
          NECRO_TRY(deliver(*tp, *c));
      }
    }
    return {};
  }

  /// A buffer of the reader: its pages that are still pending, in every
  /// task, go in from it; pages it holds for another place (moved by an
  /// mremap since) or that it could not read are read again by deliver().
  result<void> place_chunk(const core_reader::chunk& c) {
    bool checked = false;
    for (auto& tp : tasks_) {
      auto& t = *tp;
      while (!t.gone) {
        auto sub = t.pending.take_from(c.extent.vaddr, c.extent.end(o_.page));
        if (!sub) break;
        const std::uint64_t skip = sub->vaddr - c.extent.vaddr;
        if (!c.ok || sub->core_offset != c.extent.core_offset + skip) {
          NECRO_TRY(deliver(t, *sub));
          continue;
        }
        if (!checked) {  // the buffer was read before: a change since shows here
          NECRO_TRY(check_unchanged(core_fd_, planned_, core_));
          checked = true;
        }
        rep_.bytes_read += sub->pages * o_.page;
        NECRO_TRY(place(t, *sub, c.data + skip));
      }
    }
    return {};
  }

  /// Reads the chunk's bytes from the core and puts them into the process.
  result<void> deliver(uffd_task& t, const served_range& chunk) {
    const std::uint64_t len = chunk.pages * o_.page;
    std::uint64_t got = 0;
    while (got < len) {
      const ssize_t n = ::pread(core_fd_, buf_.get() + got, len - got, static_cast<off_t>(chunk.core_offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        return fail(error::from_errno(core_, fmt::format("cannot read the pages at {:#x} from the core (offset {})",
                                                         chunk.vaddr, chunk.core_offset + got), errno));
      if (n == 0)
        return fail(error(errc::truncated, core_, chunk.core_offset + got,
                          fmt::format("the core ends before the pages at {:#x}: truncated while being served", chunk.vaddr)));
      got += static_cast<std::uint64_t>(n);
    }
    rep_.bytes_read += len;
    // After the read: a change before or during it shows in the size or mtime.
    NECRO_TRY(check_unchanged(core_fd_, planned_, core_));
    return place(t, chunk, buf_.get());
  }

  /// The chunk's bytes (at `data`) into the process. A large chunk is
  /// copied by two threads, half each; a half the kernel refused a page of
  /// goes on from there, alone, through place_serial().
  result<void> place(uffd_task& t, const served_range& chunk, const unsigned char* data) {
    if (!helper_ || chunk.pages * o_.page < o_.split_bytes || chunk.pages < 2) return place_serial(t, chunk, data);
    const std::uint64_t h = chunk.pages / 2;
    placed second;
    helper_->start([&] { second = place_run(t.uffd.get(), chunk.vaddr + h * o_.page, chunk.pages - h, data + h * o_.page, o_.page); });
    const placed first = place_run(t.uffd.get(), chunk.vaddr, h, data, o_.page);
    helper_->wait();
    rep_.pages_copied += first.copied + second.copied;
    rep_.pages_zeroed += first.zeroed + second.zeroed;
    if (!first.err && !second.err) t.busy = 0;
    for (const auto& [r, from, n] : {std::tuple{first, std::uint64_t{0}, h}, std::tuple{second, h, chunk.pages - h}}) {
      if (!r.err || t.gone) continue;
      const std::uint64_t at = from + r.pages();  // the refused page, from the chunk's start
      NECRO_TRY(place_serial(t, {chunk.vaddr + at * o_.page, from + n - at, chunk.core_offset + at * o_.page}, data + at * o_.page));
    }
    return {};
  }

  /// The chunk's bytes into the process by this thread, page runs in
  /// order; each refusal handled as what it means.
  result<void> place_serial(uffd_task& t, const served_range& chunk, const unsigned char* data) {
    std::uint64_t k = 0;
    while (k < chunk.pages) {
      const placed r = place_run(t.uffd.get(), chunk.vaddr + k * o_.page, chunk.pages - k, data + k * o_.page, o_.page);
      rep_.pages_copied += r.copied;
      rep_.pages_zeroed += r.zeroed;
      k += r.pages();
      if (!r.err) {
        t.busy = 0;
        continue;
      }
      const std::uint64_t at = chunk.vaddr + k * o_.page;
      if (r.err == EEXIST) {  // that page came in another way (a fault's delivery): skip it
        ++k;
        continue;
      }
      if (r.err == ENOENT || r.err == EAGAIN) {  // the VMA is changing: later, after its event
        if (++t.busy > 10000)
          return fail(error(errc::io, core_, fmt::format("pid {}: the pages at {:#x} cannot be delivered (the kernel "
                                                         "keeps refusing them: {})", t.pid, at, std::strerror(r.err))));
        t.pending.put_back({at, chunk.pages - k, chunk.core_offset + k * o_.page});
        return {};
      }
      if (r.err == ESRCH || r.err == ENOSPC) {
        leave(t);
        return {};
      }
      return fail(error::from_errno(core_, fmt::format("{} at {:#x} for pid {}", r.op, at, t.pid), r.err));
    }
    return {};
  }

  int core_fd_;
  std::string core_;
  std::vector<served_range> ranges_;
  std::uint64_t pid_;
  core_identity planned_;
  uffd_options o_;
  std::unique_ptr<unsigned char, aligned_free> buf_;
  io::unique_fd ep_;
  std::vector<std::unique_ptr<uffd_task>> tasks_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point finished_at_, tracer_since_;
  bool held_ = false;  ///< the bulk push waits for a debugger (uffd_options::debugger)
  int tracer_ = 0;
  std::uint64_t tracer_work_ = 0;
  uffd_report rep_;
  bool reader_started_ = false, reader_waiting_ = false, hot_pushed_ = false;
  static constexpr std::uint64_t reader_word = ~0ull;
  std::unique_ptr<copy_helper> helper_;  // idle whenever run() is not inside place()
  std::unique_ptr<core_reader> reader_;  // last: its thread stops before the rest goes
};

}  // namespace detail

/// Serves the lazy pages of pid `pid` (`ranges`, already cut at the plan's
/// VMAs: split_at_vmas) from the core open on `core_fd` to the tasks `criu
/// restore --lazy-pages` sends on `restore_sock` (its accepted connection),
/// until every page is in or every task is gone. `core` names the core in
/// errors; `planned` is the core as it was planned.
inline result<uffd_report> serve_uffd(int restore_sock, int core_fd, const std::string& core,
                                      std::span<const served_range> ranges, std::uint64_t pid,
                                      const core_identity& planned, uffd_options o = {}) {
  detail::uffd_server s(core_fd, core, ranges, pid, planned, std::move(o));
  return s.run(restore_sock);
}

}  // namespace necro::lazy

#endif
