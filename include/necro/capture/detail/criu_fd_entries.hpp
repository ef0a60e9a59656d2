/// One captured fd as a files.img entry, by its kind (capture/criu_files.hpp):
/// regular file, pipe, eventfd, signalfd, timerfd, epoll, inet and unix socket.
#ifndef NECRO_CAPTURE_DETAIL_CRIU_FD_ENTRIES_HPP
#define NECRO_CAPTURE_DETAIL_CRIU_FD_ENTRIES_HPP
#pragma once

#include <cstdint>
#include <string_view>

#include <necro/arch/kernel_abi.hpp>
#include <necro/capture/detail/criu_common.hpp>
#include <necro/capture/detail/criu_sockets.hpp>
#include <necro/capture/model.hpp>
#include <necro/pb/eventfd.pb.h>
#include <necro/pb/eventpoll.pb.h>
#include <necro/pb/fdinfo.pb.h>
#include <necro/pb/pipe.pb.h>
#include <necro/pb/signalfd.pb.h>
#include <necro/pb/timerfd.pb.h>

namespace necro::capture::detail {

inline void timer_entry(pb::file_entry& e, std::uint32_t id, const fd_entry& f) {
  pb::timerfd_entry t;
  with_common(t, id, f);
  const auto& s = *f.timer;
  t.set_clockid(s.clockid), t.set_ticks(s.ticks), t.set_settime_flags(s.settime_flags);
  t.set_vsec(s.value_sec), t.set_vnsec(s.value_nsec), t.set_isec(s.interval_sec), t.set_insec(s.interval_nsec);
  e.set_type(pb::TIMERFD), e.set_tfd(t.SerializeAsString());
}

inline void epoll_entry(pb::file_entry& e, std::uint32_t id, const fd_entry& f) {
  auto* ep = e.mutable_epfd();
  ep->set_id(id), ep->set_flags(f.flags & ~arch::o::cloexec);
  criu::clear_owner(*ep->mutable_fown());
  for (const auto& t : f.targets) {
    auto* x = ep->add_tfd();
    x->set_id(id), x->set_tfd(t.tfd), x->set_events(t.events), x->set_data(t.data), x->set_inode(t.ino), x->set_pos(t.pos);
  }
  e.set_type(pb::EVENTPOLL);
}

/// One fd as a file_entry; false if CRIU has no form for it from a capture.
inline bool file_entry(pb::file_entry& e, std::uint32_t id, const fd_entry& f, std::string_view cwd) {
  e.set_id(id);
  switch (f.kind) {
    case fd_kind::reg: return e.set_type(pb::REG), *e.mutable_reg() = reg_entry(id, f.link, f.flags & ~arch::o::cloexec, &f), true;
    case fd_kind::pipe: {
      pb::pipe_entry p;
      with_common(p, id, f), p.set_pipe_id(static_cast<std::uint32_t>(f.ino));
      return e.set_type(pb::PIPE), e.set_pipe(p.SerializeAsString()), true;
    }
    case fd_kind::eventfd: {
      pb::eventfd_file_entry x;
      with_common(x, id, f), x.set_counter(f.eventfd_count.value_or(0));
      return e.set_type(pb::EVENTFD), e.set_efd(x.SerializeAsString()), true;
    }
    case fd_kind::signalfd: {
      pb::signalfd_entry x;
      with_common(x, id, f), x.set_sig_mask(f.sigmask.value_or(0));
      return e.set_type(pb::SIGNALFD), e.set_sgfd(x.SerializeAsString()), true;
    }
    case fd_kind::timerfd: return f.timer ? (timer_entry(e, id, f), true) : false;
    case fd_kind::epoll: return epoll_entry(e, id, f), true;
    case fd_kind::inet: return f.sock ? (inet_entry(e, id, f), true) : false;
    case fd_kind::unix_sk: return f.sock ? (unix_entry(e, id, f, cwd), true) : false;
    default: return false;
  }
}

}  // namespace necro::capture::detail

#endif
