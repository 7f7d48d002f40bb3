// Process helpers shared by delegate execution and the meta plugin: the guard that kills a
// delegate's whole process group if this process dies, the registry of running delegate
// groups that SIGTERM kills, the forked child that runs in-process delegates, signal names.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>

namespace cni {

// "SIGTERM" for SIGTERM; "signal 77" for a number with no name.
std::string signal_name(int sig);

// A child of this process (it never execs) that leads a new process group for a delegate to
// join, and holds only the read end of a pipe whose write end only this process holds
// (O_CLOEXEC). If this process dies first (SIGKILL, OOM kill, crash), the pipe reaches
// EOF and the guard SIGKILLs its whole group: the delegate and every process the delegate
// started that stayed in the group (bridge's IPAM plugin, a shell's commands).
// PR_SET_PDEATHSIG alone reaches only direct children.
//
// While the guard is unreaped its pid, which is the group's id, cannot be reused, so killing
// the group by pgid() never hits another process. The guard blocks every signal it can, so
// only SIGKILL or the EOF ends it. It costs one clone(CLONE_VM) on a 64 KiB stack of its own
// and no exec: it shares our memory (no copy of our page tables) and makes raw system calls
// only. Where that cannot be done (another architecture; under valgrind, which does not
// support such a clone) it is a fork, as before.
class ProcessGroupGuard {
 public:
  enum class Start {
    kCloneWherePossible,  // what every caller wants
    kFork,                // the fallback, chosen directly so that tests can reach it
  };
  // Starts the guard; the group exists when this returns. Throws std::system_error with the
  // errno of pipe2() or of fork().
  explicit ProcessGroupGuard(Start how = Start::kCloneWherePossible);
  // kill(). The guard is reaped later, by reap_killed_guards(), so that waiting for it to
  // die is not on the caller's path; until then it is a zombie that keeps the group id.
  ~ProcessGroupGuard();
  ProcessGroupGuard(const ProcessGroupGuard&) = delete;
  ProcessGroupGuard& operator=(const ProcessGroupGuard&) = delete;

  // The id of the group, for setpgid(0, pgid()) in a child before it execs.
  pid_t pgid() const { return pid_; }
  // The guard is a CLONE_VM child sharing our memory, not a fork.
  bool shares_memory() const { return stack_ != nullptr; }

  // SIGKILLs every process in the group, the guard included. Async-signal-safe; repeatable.
  void kill() const noexcept;

 private:
  pid_t start(int watch_fd, Start how);  // the guard's pid, or -1 with errno
  void release_stack() noexcept;         // after the guard is reaped

  pid_t pid_ = -1;
  int death_pipe_ = -1;    // the write end: closed only by our death or the destructor
  void* stack_ = nullptr;  // the clone guard's stack, unmapped once it is reaped
};

// Reaps every guard a ~ProcessGroupGuard killed and left a zombie. Runs at exit (an atexit
// handler registered by the first such destructor) and before a forked child's _exit; call it
// before any other exit that skips atexit handlers, so no zombie is left to a subreaper.
void reap_killed_guards() noexcept;

// Kills the process group of every delegate child currently running in this process with
// SIGKILL. Async-signal-safe (atomics and killpg only): the meta plugin calls it from its
// SIGTERM/SIGINT handler so that a stopped cnimux leaves no delegate behind. The affected
// invoke() calls then fail with code 100 ("stopped: cnimux is terminating"); delegates
// started afterwards (the rollback's DELs) run normally.
void kill_running_delegates() noexcept;

// One running delegate group's entry in the registry kill_running_delegates() walks (64
// slots; a 65th group runs unregistered, with a warning). A kill that lands between
// construction and set() is caught by a generation check in set(), so no delegate escapes.
class RunningGroup {
 public:
  RunningGroup();
  ~RunningGroup() { clear(); }
  RunningGroup(const RunningGroup&) = delete;
  RunningGroup& operator=(const RunningGroup&) = delete;

  void set(pid_t pgid);
  // Must run before the group's leader is reaped, so a late signal never hits a reused pgid.
  void clear();
  // kill_running_delegates() ran since this entry was constructed.
  bool stop_requested() const;

 private:
  unsigned generation_;
  int slot_ = -1;
};

// What a forked call produced.
struct ForkOutcome {
  std::string payload;     // what `work` returned, when the child finished
  bool finished = false;   // the child returned from `work` and wrote all of it
  int term_signal = 0;     // the signal that killed the child, 0 if it exited
  bool timed_out = false;  // the deadline killed it
  bool stopped = false;    // kill_running_delegates() killed it
};

// Runs `work` in a forked copy of this process that never execs, and returns what it
// returned. The parent's namespaces, working directory and memory are never touched by the
// work, whatever it does (setns, chdir, a crash). The child leads a process group of its
// own, registered for kill_running_delegates(), and dies with the calling thread
// (PR_SET_PDEATHSIG); what it executes must guard itself (ExecDelegate does). Past `timeout`
// the group is SIGKILLed (timed_out). The child never runs atexit handlers or static
// destructors (it leaves with _exit), and the parent's spdlog buffers are flushed before the
// fork so no line is written twice. Returns when the child is reaped. A payload over
// `max_payload` bytes is cut there and not `finished`. Throws std::system_error for pipe2()
// or fork(). Call it from a process with no other running thread: a fork copies only the
// calling thread, so a lock another thread held would stay locked in the child.
ForkOutcome run_in_fork(const std::function<std::string()>& work, std::chrono::milliseconds timeout,
                        size_t max_payload);

}  // namespace cni
