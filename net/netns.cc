// Network namespaces: opening by path with "gone" detection, and the setns RAII guard.
#include "net/netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

namespace net {

using cni::Error;
using cni::kIoFailure;
namespace {

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

[[noreturn]] void throw_io(const std::string& what, const std::string& path, int err) {
  throw Error(kIoFailure, what + " " + quoted(path) + ": " + std::strerror(err));
}

// Checks that an open fd is a network namespace. An fd that is not on nsfs means the
// namespace was unmounted and only the mount point file remains: gone.
void check_is_netns(int fd, const std::string& path) {
  struct statfs fs {};
  if (fstatfs(fd, &fs) != 0) throw_io("statfs netns", path, errno);
  if (fs.f_type != static_cast<decltype(fs.f_type)>(NSFS_MAGIC)) {
    throw NetnsGoneError(path, "not an nsfs mount (the namespace was unmounted)");
  }
  int type = ioctl(fd, NS_GET_NSTYPE);
  if (type < 0) throw_io("query namespace type of", path, errno);
  if (type != CLONE_NEWNET) {
    throw Error(kIoFailure, "netns " + quoted(path) + ": not a network namespace (type " +
                                std::to_string(type) + ")");
  }
}

}  // namespace

NetnsGoneError::NetnsGoneError(const std::string& path, const std::string& why)
    : Error(kIoFailure, "netns " + quoted(path) + " is gone: " + why), path_(path) {}

Netns Netns::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) throw NetnsGoneError(path, std::strerror(err));
    throw_io("open netns", path, err);
  }
  Netns ns(fd, path);  // owns fd from here, so a throw below closes it
  check_is_netns(ns.fd_, path);
  return ns;
}

Netns Netns::current() {
  // thread-self, not self: another thread of this process may sit in another namespace.
  return open("/proc/thread-self/ns/net");
}

Netns::Netns(Netns&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

Netns& Netns::operator=(Netns&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

Netns::~Netns() {
  if (fd_ >= 0) ::close(fd_);
}

ino_t Netns::inode() const {
  struct stat st {};
  if (fstat(fd_, &st) != 0) throw_io("stat netns", path_, errno);
  return st.st_ino;
}

NetnsEnter::NetnsEnter(const Netns& target)
    : original_(Netns::current()), target_path_(target.path()) {
  if (setns(target.fd(), CLONE_NEWNET) != 0) throw_io("enter netns", target_path_, errno);
}

NetnsEnter::~NetnsEnter() {
  if (setns(original_.fd(), CLONE_NEWNET) == 0) return;
  // See the header: continuing in the wrong namespace would corrupt the host silently.
  spdlog::critical("cannot return from netns \"{}\" to the thread's own netns: {}", target_path_,
                   std::strerror(errno));
  std::terminate();
}

}  // namespace net
