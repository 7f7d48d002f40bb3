// Process helpers shared by delegate execution and the meta plugin: the guard that kills a
// delegate's whole process group if this process dies, and signal names.
#pragma once

#include <sys/types.h>

#include <string>

namespace cni {

// "SIGTERM" for SIGTERM; "signal 77" for a number with no name.
std::string signal_name(int sig);

// A forked copy of this process (it never execs) that leads a new process group for a
// delegate to join, and holds only the read end of a pipe whose write end only this process
// holds (O_CLOEXEC). If this process dies first (SIGKILL, OOM kill, crash), the pipe reaches
// EOF and the guard SIGKILLs its whole group: the delegate and every process the delegate
// started that stayed in the group (bridge's IPAM plugin, a shell's commands).
// PR_SET_PDEATHSIG alone reaches only direct children.
//
// While the guard is unreaped its pid, which is the group's id, cannot be reused, so killing
// the group by pgid() never hits another process. The guard blocks every signal it can, so
// only SIGKILL or the EOF ends it. It costs one fork() and no exec.
class ProcessGroupGuard {
 public:
  // Forks the guard; the group exists when this returns. Throws std::system_error with the
  // errno of pipe2() or fork().
  ProcessGroupGuard();
  // kill(), then reaps the guard.
  ~ProcessGroupGuard();
  ProcessGroupGuard(const ProcessGroupGuard&) = delete;
  ProcessGroupGuard& operator=(const ProcessGroupGuard&) = delete;

  // The id of the group, for setpgid(0, pgid()) in a child before it execs.
  pid_t pgid() const { return pid_; }

  // SIGKILLs every process in the group, the guard included. Async-signal-safe; repeatable.
  void kill() const noexcept;

 private:
  pid_t pid_ = -1;
  int death_pipe_ = -1;  // the write end: closed only by our death or the destructor
};

}  // namespace cni
