// A stand-in for `criu swrk FD` in the RPC unit tests: it reads one criu_req
// from FD and answers as NECRO_FAKE_CRIU says, so that the client's handling
// of each kind of answer is tested without CRIU:
//   version:MAJOR.MINOR   a VERSION answer
//   restored:PID          a successful RESTORE answer (checks the request)
//   failed                an unsuccessful answer with cr_errno 17
//   garbage               bytes that are no criu_resp
//   silent                exit 3 without answering
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <necro/pb/rpc.pb.h>

int main(int argc, char** argv) {
  if (argc != 3 || std::string(argv[1]) != "swrk") return 2;
  const int fd = std::atoi(argv[2]);
  std::string buf(4096, '\0');
  const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
  necro::pb::criu_req req;
  if (n <= 0 || !req.ParseFromArray(buf.data(), static_cast<int>(n))) return 4;
  const char* mode_env = std::getenv("NECRO_FAKE_CRIU");
  const std::string mode = mode_env ? mode_env : "";
  necro::pb::criu_resp resp;
  resp.set_type(req.type());
  resp.set_success(true);
  if (mode.rfind("version:", 0) == 0) {
    int major = 0, minor = 0;
    std::sscanf(mode.c_str() + 8, "%d.%d", &major, &minor);
    resp.mutable_version()->set_major_number(major);
    resp.mutable_version()->set_minor_number(minor);
  } else if (mode.rfind("restored:", 0) == 0) {
    // The request must carry what the client promised: our own image
    // directory descriptor (CRIU opens it through /proc/<peer>/fd) and a log.
    if (req.type() != necro::pb::REQ_RESTORE || !req.opts().has_images_dir_fd() || !req.opts().leave_stopped() ||
        req.opts().log_file() != "restore.log")
      resp.set_success(false);
    resp.mutable_restore()->set_pid(std::atoi(mode.c_str() + 9));
  } else if (mode == "failed") {
    resp.set_success(false);
    resp.set_cr_errno(17);
  } else if (mode == "garbage") {
    const char junk[] = "\xff\xff\xff\xff not protobuf";
    return ::send(fd, junk, sizeof junk, 0) > 0 ? 0 : 5;
  } else {
    return 3;
  }
  std::string wire;
  resp.SerializeToString(&wire);
  return ::send(fd, wire.data(), wire.size(), 0) == static_cast<ssize_t>(wire.size()) ? 0 : 6;
}
