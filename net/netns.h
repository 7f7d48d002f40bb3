// Network namespaces: open one by path, tell "gone" apart from other failures, and run code
// inside one with an RAII guard that always puts the thread back where it was.
#pragma once

#include <sys/types.h>

#include <string>
#include <type_traits>
#include <utility>

#include "cni/error.h"

namespace net {

// The namespace no longer exists: the path is missing, or it is no longer an nsfs mount
// (the empty file a runtime leaves behind after unmounting it). DEL treats this as "nothing
// to clean up"; ADD reports it like any other error. Code 5, message names the path.
class NetnsGoneError : public cni::Error {
 public:
  explicit NetnsGoneError(const std::string& path, const std::string& why);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// An open network-namespace fd (O_CLOEXEC). Move-only; closes on destruction.
class Netns {
 public:
  // Opens `path` (e.g. /var/run/netns/x or /proc/<pid>/ns/net). Throws NetnsGoneError when
  // the namespace is gone (see above); Error(5) naming the path on any other failure:
  // permission, not a directory on the way, or an nsfs file of another namespace type.
  static Netns open(const std::string& path);
  // The calling thread's own namespace (/proc/thread-self/ns/net).
  static Netns current();

  Netns(Netns&& other) noexcept;
  Netns& operator=(Netns&& other) noexcept;
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  ~Netns();

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // The namespace's inode number; two fds name the same namespace iff inodes are equal
  // (nsfs has a single device).
  ino_t inode() const;
  bool same_as(const Netns& other) const { return inode() == other.inode(); }

 private:
  Netns(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

// Moves the calling thread into `target` for the guard's lifetime. setns(2) affects only the
// calling thread, so other threads are untouched and the guard must be destroyed on the
// thread that created it. Throws Error(5) naming the target's path if entering fails (the
// thread is then still in its own namespace).
//
// If returning to the original namespace fails, the destructor logs a critical message and
// calls std::terminate(): a thread that silently stayed in a pod's namespace would run all
// later "host" operations (links, routes, addresses) against the pod. That can only happen
// if the kernel refuses setns on an fd we already hold, i.e. never in a sane process.
class NetnsEnter {
 public:
  explicit NetnsEnter(const Netns& target);
  ~NetnsEnter();
  NetnsEnter(const NetnsEnter&) = delete;
  NetnsEnter& operator=(const NetnsEnter&) = delete;

 private:
  Netns original_;
  std::string target_path_;
};

// Runs `f()` inside `ns` and returns its result; the thread is back in its own namespace when
// this returns or throws.
template <class F>
auto with_netns(const Netns& ns, F&& f) -> std::invoke_result_t<F> {
  NetnsEnter guard(ns);
  return std::forward<F>(f)();
}

}  // namespace net
