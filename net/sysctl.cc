// write_sysctl: open /proc/sys/<key> inside the target namespace, write, close.
#include "net/sysctl.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cni/error.h"

namespace net {

void write_sysctl(const Netns& ns, const std::string& key, const std::string& value) {
  const std::string path = "/proc/sys/" + key;
  int open_errno = 0;  // the namespace switch back may overwrite errno
  const int fd = with_netns(ns, [&] {
    const int f = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    open_errno = errno;
    return f;
  });
  if (fd < 0) {
    throw cni::Error(cni::kIoFailure, "sysctl " + key + ": " + std::strerror(open_errno));
  }
  const ssize_t n = ::write(fd, value.data(), value.size());
  const int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    throw cni::Error(cni::kIoFailure, "sysctl " + key + " = " + value + ": " + std::strerror(err));
  }
}

}  // namespace net
