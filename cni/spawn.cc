// A child that executes a program while its parent goes on (cni/spawn.h). The child's code
// follows cni/clone_vm.h: raw system calls on its own stack, nothing of ours written.
#include "cni/spawn.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

#include "cni/clone_vm.h"

namespace cni {
namespace {

constexpr size_t kStackSize = 64 * 1024;

// What the child needs, copied to the top of its stack before it starts.
struct ChildArgs {
  const char* path;
  char* const* argv;
  char* const* envp;
  int stdio[3];
  int report_fd;  // the write end of the exec report pipe (close-on-exec)
  pid_t pgid;
  pid_t parent;
};

// The kernel's struct sigaction as rt_sigaction() takes it. Only the handler, first on every
// architecture, is read; a default action is all zeros whatever the layout.
struct KernelSigaction {
  unsigned long handler;
  unsigned long flags;
  unsigned long restorer;
  uint64_t mask;
};

// Reports `err` (a negative kernel return) on the pipe and exits as a failed exec does.
[[noreturn, gnu::always_inline]] inline void fail(int report_fd, long err) {
  const int code = static_cast<int>(-err);
  raw_syscall(SYS_write, report_fd, reinterpret_cast<long>(&code), sizeof code);
  for (;;) raw_syscall(SYS_exit_group, 127);
}

// Every descriptor from 3 up close-on-exec, where close_range() cannot do it (Linux < 5.11).
[[gnu::always_inline]] inline void cloexec_from_3_slowly() {
  struct {
    uint64_t cur, max;
  } lim{65536, 65536};
  raw_syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, reinterpret_cast<long>(&lim));
  const long max = static_cast<long>(lim.cur < 65536 ? lim.cur : 65536);
  for (long fd = 3; fd < max; ++fd) raw_syscall(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC);
}

// The child's whole life until the exec (cni/clone_vm.h). Every signal is blocked when it
// starts (the parent's mask, set so around the clone), so none of our handlers runs here
// before they are reset.
[[gnu::no_sanitize_address, gnu::no_sanitize_undefined, gnu::no_stack_protector]] int
spawned_child_main(void* arg) {
  const ChildArgs& a = *static_cast<const ChildArgs*>(arg);
  // The guard's group, so a timeout, a stop or our death kills grandchildren too.
  if (long r = raw_syscall(SYS_setpgid, 0, a.pgid); r != 0) fail(a.report_fd, r);
  raw_syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);  // dies with the parent's thread at once
  if (raw_syscall(SYS_getppid) != a.parent) fail(a.report_fd, -ESRCH);  // it died before that
  // Handlers back to the default (the program would get that at exec anyway, but one must not
  // run here once signals are unblocked), SIGPIPE's too; what is ignored stays ignored.
  const KernelSigaction dfl{};
  for (int sig = 1; sig <= 64; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    KernelSigaction old{};
    if (raw_syscall(SYS_rt_sigaction, sig, 0, reinterpret_cast<long>(&old), 8) != 0) continue;
    const bool ignored = old.handler == reinterpret_cast<unsigned long>(SIG_IGN);
    if (sig == SIGPIPE || (old.handler != 0 && !ignored)) {
      raw_syscall(SYS_rt_sigaction, sig, reinterpret_cast<long>(&dfl), 0, 8);
    }
  }
  const uint64_t none = 0;
  raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&none), 0, 8);
  // stdio: first out of 0 to 2 whatever sits there, so that no dup3() overwrites a source.
  int fds[3] = {a.stdio[0], a.stdio[1], a.stdio[2]};
  for (int& fd : fds) {
    if (fd >= 3) continue;
    const long moved = raw_syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 3);
    if (moved < 0) fail(a.report_fd, moved);
    fd = static_cast<int>(moved);
  }
  for (int i = 0; i < 3; ++i) {
    if (long r = raw_syscall(SYS_dup3, fds[i], i, 0); r < 0) fail(a.report_fd, r);
  }
  // Descriptors of our files and of other delegates must not leak into the program. Marked
  // rather than closed, so the report pipe stays open until the exec succeeds.
  if (raw_syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) cloexec_from_3_slowly();
  const long r = raw_syscall(SYS_execve, reinterpret_cast<long>(a.path),
                             reinterpret_cast<long>(a.argv), reinterpret_cast<long>(a.envp));
  fail(a.report_fd, r);
}

// Blocks every signal in this thread for its lifetime: the child starts with this mask.
class SignalsBlocked {
 public:
  SignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old_);
  }
  ~SignalsBlocked() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  SignalsBlocked(const SignalsBlocked&) = delete;
  SignalsBlocked& operator=(const SignalsBlocked&) = delete;

 private:
  sigset_t old_;
};

}  // namespace

SpawnedChild::SpawnedChild(const std::string& binary, char* const* envp, Stdio stdio, pid_t pgid)
    : binary_(binary), argv_{const_cast<char*>(binary_.c_str()), nullptr} {
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::system_category(), "pipe2");
  }
  stack_ = ::mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack_ == MAP_FAILED) {
    const int mmap_errno = errno;
    stack_ = nullptr;
    ::close(report[0]);
    ::close(report[1]);
    throw std::system_error(mmap_errno, std::system_category(), "mmap");
  }
  // The arguments sit at the top of the stack, which grows down from below them, aligned.
  char* top = static_cast<char*>(stack_) + kStackSize - 128;
  auto* args = new (top) ChildArgs{
      binary_.c_str(), argv_, envp, {stdio.in, stdio.out, stdio.err}, report[1], pgid, ::getpid()};
  const int flags = CLONE_VM | SIGCHLD | (clone_vm_child_possible() ? 0 : CLONE_VFORK);
  int clone_errno = 0;
  {
    SignalsBlocked blocked;
    pid_ = ::clone(spawned_child_main, top, flags, args);
    clone_errno = errno;
  }
  ::close(report[1]);
  report_fd_ = report[0];
  if (pid_ < 0) {
    ::close(report_fd_);
    release_stack();
    throw std::system_error(clone_errno, std::system_category(), "clone");
  }
  ::setpgid(pid_, pgid);  // also here: the group is right when this returns
}

SpawnedChild::~SpawnedChild() {
  if (!reaped_) {
    ::kill(pid_, SIGKILL);
    wait();
  }
  if (report_fd_ >= 0) ::close(report_fd_);
}

int SpawnedChild::exec_errno() {
  if (report_fd_ < 0) return exec_errno_;
  int code = 0;
  size_t got = 0;
  // EOF with nothing read: the exec closed the pipe (or the child died before it).
  while (got < sizeof code) {
    const ssize_t n = ::read(report_fd_, reinterpret_cast<char*>(&code) + got, sizeof code - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(report_fd_);
  report_fd_ = -1;
  exec_errno_ = got == sizeof code ? code : 0;
  return exec_errno_;
}

bool SpawnedChild::running() const {
  if (reaped_) return false;
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return false;
  }
  return info.si_pid == 0;
}

int SpawnedChild::wait() {
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  // Only now: a child that failed before its exec may still be running on its stack.
  release_stack();
  return status;
}

void SpawnedChild::release_stack() noexcept {
  if (stack_) ::munmap(stack_, kStackSize);
  stack_ = nullptr;
}

}  // namespace cni
