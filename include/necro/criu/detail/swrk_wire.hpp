/// necro::criu::rpc::detail: one criu_req out and one criu_resp in over the
/// SOCK_SEQPACKET socket of `criu swrk` (criu/rpc.hpp).
#ifndef NECRO_CRIU_DETAIL_SWRK_WIRE_HPP
#define NECRO_CRIU_DETAIL_SWRK_WIRE_HPP
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>

#include <necro/io/error.hpp>
#include <necro/pb/rpc.pb.h>

namespace necro::criu::rpc::detail {

/// A CRIU answer is a few hundred bytes; anything larger is not one.
inline constexpr std::size_t max_response_size = 1u << 20;

inline result<void> send_request(int fd, const pb::criu_req& req, const std::string& who) {
  std::string wire;
  if (!req.SerializeToString(&wire)) return fail(error(errc::bad_value, who, "criu_req could not be encoded"));
  ssize_t n;
  do n = ::send(fd, wire.data(), wire.size(), MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return fail(error::from_errno(who, "sending the request to criu swrk", errno));
  return {};
}

/// One SOCK_SEQPACKET message: its size first (MSG_PEEK|MSG_TRUNC), then it.
inline result<std::optional<pb::criu_resp>> read_response(int fd, const std::string& who) {
  char probe;
  ssize_t size;
  do size = ::recv(fd, &probe, 1, MSG_PEEK | MSG_TRUNC);
  while (size < 0 && errno == EINTR);
  if (size < 0) return fail(error::from_errno(who, "reading criu's answer", errno));
  if (size == 0) return std::optional<pb::criu_resp>{};  // criu closed without answering
  if (static_cast<std::size_t>(size) > max_response_size)
    return fail(error(errc::limit, who, fmt::format("criu's answer has {} bytes, more than {}", size, max_response_size)));
  std::string buf(static_cast<std::size_t>(size), '\0');
  ssize_t got;
  do got = ::recv(fd, buf.data(), buf.size(), 0);
  while (got < 0 && errno == EINTR);
  if (got != size) return fail(error::from_errno(who, "reading criu's answer", got < 0 ? errno : EIO));
  pb::criu_resp resp;
  if (!resp.ParseFromString(buf)) return fail(error(errc::bad_value, who, "criu's answer is not a criu_resp"));
  return std::optional<pb::criu_resp>{std::move(resp)};
}

}  // namespace necro::criu::rpc::detail

#endif
