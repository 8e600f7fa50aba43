// sdNotify(state, socketPath?) sends `state` ("READY=1\nSTATUS=sampling 2 CPUs") as one datagram to
// the unix socket systemd names in $NOTIFY_SOCKET (or to `socketPath`, for tests). Returns false
// when there is no socket to tell (not started by systemd with Type=notify); throws with errno
// and the path when the send fails, so the daemon can log why systemd was not told.
//
// The protocol is public (sd_notify(3), "NOTIFY_SOCKET"): a path socket, or an abstract one
// when the name starts with '@' (the '@' stands for the leading NUL byte).
#include "sd-notify.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

Napi::Error NotifyError(Napi::Env env, const std::string& message, int err) {
  Napi::Error error = Napi::Error::New(env, message + ": " + std::strerror(err));
  error.Set("code", Napi::String::New(env, "TAIL2_SD_NOTIFY"));
  error.Set("errno", Napi::Number::New(env, err));
  return error;
}

Napi::Value SdNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throw Napi::TypeError::New(env, "sdNotify(state: string, socketPath?: string)");
  }
  const std::string state = info[0].As<Napi::String>().Utf8Value();
  std::string path;
  if (info.Length() >= 2 && info[1].IsString()) {
    path = info[1].As<Napi::String>().Utf8Value();
  } else {
    const char* fromEnv = std::getenv("NOTIFY_SOCKET");
    if (fromEnv != nullptr) path = fromEnv;
  }
  if (path.empty()) return Napi::Boolean::New(env, false);

  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path[0] != '/' && path[0] != '@') {
    throw Napi::Error::New(env, "NOTIFY_SOCKET \"" + path + "\" is neither an absolute path nor an abstract socket (@name)");
  }
  if (path.size() >= sizeof(address.sun_path)) {
    throw Napi::Error::New(env, "NOTIFY_SOCKET \"" + path + "\" is longer than a unix socket address can be");
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  // An abstract name has no terminating NUL and its length counts exactly; '@' becomes the NUL.
  if (path[0] == '@') address.sun_path[0] = '\0';
  const socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1));

  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw NotifyError(env, "cannot create a socket to notify systemd", errno);
  ssize_t sent;
  do {
    sent = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&address), length);
  } while (sent < 0 && errno == EINTR);
  const int sendErrno = errno;
  close(fd);
  if (sent < 0) throw NotifyError(env, "cannot notify systemd at " + path, sendErrno);
  if (static_cast<size_t>(sent) != state.size()) {
    throw Napi::Error::New(env, "notifying systemd at " + path + " sent " + std::to_string(sent) + " of " + std::to_string(state.size()) + " bytes");
  }
  return Napi::Boolean::New(env, true);
}

}  // namespace

void InitSdNotify(Napi::Env env, Napi::Object exports) {
  exports.Set("sdNotify", Napi::Function::New(env, SdNotify, "sdNotify"));
}
