/// The writer of capture::to_text: the process lines, then each record's line
/// through its table (detail/text_tables.hpp), every value escaped.
#ifndef NECRO_CAPTURE_DETAIL_TEXT_WRITE_HPP
#define NECRO_CAPTURE_DETAIL_TEXT_WRITE_HPP
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

#include <necro/capture/detail/escape.hpp>
#include <necro/capture/detail/text_field.hpp>
#include <necro/capture/detail/text_tables.hpp>
#include <necro/capture/detail/text_timers.hpp>
#include <necro/capture/model.hpp>

namespace necro::capture::detail {

/// One record's line: its key, then the words of its table.
template <class Table, class Record>
void put_line(std::string& o, std::string_view key, const Table& table, const Record& rec) {
  o += key;
  write_fields(o, table, rec);
  o += '\n';
}

inline void put_process(std::string& o, const process_capture& c) {
  o += fmt::format("necro-capture {}\npid {}\ncomm {}\nexe {}\ncwd {}\nroot {}\n", c.version, c.pid,
                   escape(c.comm), escape(c.exe), escape(c.cwd), escape(c.root));
  if (c.umask) o += fmt::format("umask 0o{:o}\n", *c.umask);
  if (c.personality) o += fmt::format("personality {:#x}\n", *c.personality);
  if (c.creds) put_line(o, "creds", creds_fields, *c.creds);
  if (c.signals) put_line(o, "signals", signals_fields, *c.signals);
  for (const auto& r : c.rlimits) put_line(o, "rlimit", rlimit_fields, r);
}

/// An `fd` line and the `tfd` lines of its epoll registrations.
inline void put_fd(std::string& o, const fd_entry& f) {
  put_line(o, "fd", fd_fields, f);
  for (const auto& t : f.targets) put_line(o, fmt::format("tfd {}", f.fd), tfd_fields, t);
}

/// The kernel's state: `kernel-state read ...` and its `action`, `thread`,
/// `process` and `madvise` lines, or `kernel-state missing why=...`.
inline void put_kernel(std::string& o, const kernel_state& k, unsigned version) {
  if (!k.read()) {
    o += fmt::format("kernel-state missing why={}\n", escape(k.missing));
    return;
  }
  o += fmt::format("kernel-state read actions={} threads={}", k.actions.size(), k.threads.size());
  o += version >= 4 ? fmt::format(" vmas={}\n", k.vmas.size()) : "\n";
  for (const auto& a : k.actions) put_line(o, "action", action_fields, a);
  for (const auto& t : k.threads) put_line(o, "thread", thread_fields, t);
  if (k.process) put_line(o, "process", process_fields, *k.process);
  for (const auto& v : k.vmas) put_line(o, "madvise", advice_fields, v);
  if (k.timers) put_timers(o, *k.timers);
}

}  // namespace necro::capture::detail

#endif
