/// necro::disk::debuginfod: fetches an ELF object by its GNU build-id from the
/// debuginfod servers in DEBUGINFOD_URLS, through elfutils' libdebuginfod
/// (`/buildid/ID/executable`, into the client's own cache). The library is
/// loaded when first asked for (dlopen of libdebuginfod.so.1), so that the
/// header-only library and its users link nothing more, and a machine without
/// it only loses this one way of finding files.
#ifndef NECRO_DISK_DEBUGINFOD_HPP
#define NECRO_DISK_DEBUGINFOD_HPP
#pragma once

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <necro/io/error.hpp>

#if __has_include(<elfutils/debuginfod.h>)
#include <elfutils/debuginfod.h>
#define NECRO_HAVE_DEBUGINFOD_H 1
#endif

namespace necro::disk {

/// The servers debuginfod would ask: DEBUGINFOD_URLS, "" when unset.
inline std::string debuginfod_urls() {
  const char* u = std::getenv("DEBUGINFOD_URLS");
  return u ? std::string(u) : std::string();
}

/// One object fetched: where the client cached it, and which server gave it.
struct fetched_object {
  std::string path;
  std::string url;
};

namespace detail {

/// libdebuginfod's entry points (elfutils/debuginfod.h, stable since 0.179).
struct debuginfod_api {
  using client = struct debuginfod_client_opaque;
  using begin_fn = client* (*)();
  using find_fn = int (*)(client*, const unsigned char*, int, char**);
  using get_url_fn = const char* (*)(client*);
  using end_fn = void (*)(client*);
  void* lib = nullptr;
  begin_fn begin = nullptr;
  find_fn find_executable = nullptr;
  get_url_fn get_url = nullptr;  ///< may be missing in old versions: the URL is then DEBUGINFOD_URLS
  end_fn end = nullptr;
};

#ifdef NECRO_HAVE_DEBUGINFOD_H
// The signatures above, checked against the real header where it is installed.
static_assert(std::is_same_v<decltype(&::debuginfod_find_executable),
                             int (*)(::debuginfod_client*, const unsigned char*, int, char**)>);
static_assert(std::is_same_v<decltype(&::debuginfod_get_url), const char* (*)(::debuginfod_client*)>);
#endif

/// Loads libdebuginfod once per process; the error says why it cannot be used.
inline result<const debuginfod_api*> load_debuginfod() {
  static const auto loaded = []() -> result<debuginfod_api> {
    debuginfod_api api;
    api.lib = ::dlopen("libdebuginfod.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!api.lib)
      return fail(error(errc::missing, "libdebuginfod.so.1",
                        fmt::format("cannot be loaded ({}): install libdebuginfod1", ::dlerror())));
    api.begin = reinterpret_cast<debuginfod_api::begin_fn>(::dlsym(api.lib, "debuginfod_begin"));
    api.find_executable = reinterpret_cast<debuginfod_api::find_fn>(::dlsym(api.lib, "debuginfod_find_executable"));
    api.get_url = reinterpret_cast<debuginfod_api::get_url_fn>(::dlsym(api.lib, "debuginfod_get_url"));
    api.end = reinterpret_cast<debuginfod_api::end_fn>(::dlsym(api.lib, "debuginfod_end"));
    if (!api.begin || !api.find_executable || !api.end)
      return fail(error(errc::missing, "libdebuginfod.so.1", "lacks debuginfod_begin/find_executable/end"));
    return api;
  }();
  if (!loaded) return fail(loaded.error());
  return &*loaded;
}

}  // namespace detail

/// A debuginfod session: one client for all the objects of a resurrection.
class debuginfod_client {
 public:
  /// A client of the servers in DEBUGINFOD_URLS; an error when none is set or
  /// libdebuginfod cannot be loaded.
  static result<debuginfod_client> open() {
    const auto urls = debuginfod_urls();
    if (urls.find_first_not_of(" \t") == std::string::npos)
      return fail(error(errc::missing, "DEBUGINFOD_URLS", "is not set: no debuginfod server to ask"));
    NECRO_TRY_ASSIGN(const auto* api, detail::load_debuginfod());
    auto* c = api->begin();
    if (!c) return fail(error(errc::io, "libdebuginfod", "debuginfod_begin failed"));
    return debuginfod_client(api, c, urls);
  }

  /// The executable or shared object with build-id `hex` (lower-case hex):
  /// the path of the client's cached copy, and the server that gave it. The
  /// copy is made executable by its owner (the exe of a restored process must be).
  result<fetched_object> executable(std::string_view hex) {
    char* path = nullptr;
    const std::string id(hex);
    const int fd = api_->find_executable(client_.get(), reinterpret_cast<const unsigned char*>(id.c_str()), 0, &path);
    if (fd < 0)
      return fail(error(errc::missing, "debuginfod",
                        fmt::format("build-id {}: {} (servers: {})", id, std::strerror(-fd), urls_)));
    // libdebuginfod caches with mode 0400; the kernel sets a process's exe
    // (CRIU's PR_SET_MM_MAP) only to a file it may execute: add the owner's x.
    struct stat st {};
    if (::fstat(fd, &st) == 0 && !(st.st_mode & S_IXUSR)) ::fchmod(fd, (st.st_mode & 07777) | S_IXUSR);
    ::close(fd);
    std::unique_ptr<char, decltype(&std::free)> owned(path, &std::free);
    fetched_object o;
    o.path = path ? path : "";
    const char* url = api_->get_url ? api_->get_url(client_.get()) : nullptr;
    o.url = url ? url : urls_;
    return o;
  }

 private:
  struct closer {
    const detail::debuginfod_api* api;
    void operator()(detail::debuginfod_api::client* c) const { api->end(c); }
  };
  debuginfod_client(const detail::debuginfod_api* api, detail::debuginfod_api::client* c, std::string urls)
      : api_(api), client_(c, closer{api}), urls_(std::move(urls)) {}

  const detail::debuginfod_api* api_;
  std::unique_ptr<detail::debuginfod_api::client, closer> client_;
  std::string urls_;
};

}  // namespace necro::disk

#endif
