// cni::SpawnedChild: a program started in a child process without waiting for its exec.
//
// vfork(), posix_spawn() and Boost.Process all return only once the child has executed the
// program: the parent sleeps until then. On a 2-CPU node the Go plugin being executed starts
// several threads at once, and the woken parent waited up to about a millisecond for a CPU
// (docs/performance.md). This child is a clone(CLONE_VM) on a stack of its own, under the
// rules of cni/clone_vm.h, so the parent goes on at once; whether the exec worked comes back
// through a close-on-exec pipe, read when the parent asks. Where such a child cannot run
// (clone_vm_child_possible() is false) it is started with CLONE_VFORK, and the constructor
// returns after the exec as vfork() would.
#pragma once

#include <sys/types.h>

#include <string>

namespace cni {

class SpawnedChild {
 public:
  // The descriptors the program gets as its stdin, stdout and stderr.
  struct Stdio {
    int in;
    int out;
    int err;
  };

  // Starts `binary`, with argv [binary] and environment `envp`. In the child, before the
  // exec: it joins process group `pgid` (the parent sets that too, so the group is right
  // when this returns), dies with the calling thread (PR_SET_PDEATHSIG, SIGKILL), puts every
  // signal with a handler, and SIGPIPE, back to the default, blocks none, takes `stdio` as
  // fds 0 to 2, and marks every other descriptor close-on-exec. `binary` is copied; `envp`
  // (the array and its strings) must stay unchanged until this object is destroyed. Throws
  // std::system_error for pipe2(), mmap() or clone().
  SpawnedChild(const std::string& binary, char* const* envp, Stdio stdio, pid_t pgid);
  // SIGKILLs and reaps the child unless wait() did.
  ~SpawnedChild();
  SpawnedChild(const SpawnedChild&) = delete;
  SpawnedChild& operator=(const SpawnedChild&) = delete;

  pid_t pid() const { return pid_; }

  // 0 once the program is executing, or the errno of the step that failed before it: the
  // exec's mostly (ENOENT, EACCES, ETXTBSY), then the child exits 127 without running it.
  // Blocks until that is known; a child killed before its exec reads 0.
  int exec_errno();

  // False once the child has terminated (it is not reaped by this).
  bool running() const;

  // Waits for the child to terminate, reaps it and returns its wait status. Once only.
  int wait();

 private:
  void release_stack() noexcept;

  const std::string binary_;  // the child reads it, and argv_, until its exec
  char* argv_[2];
  pid_t pid_ = -1;
  int report_fd_ = -1;  // our end of the exec report pipe, until exec_errno() has read it
  int exec_errno_ = 0;
  bool reaped_ = false;
  void* stack_ = nullptr;
};

}  // namespace cni
