// The process-group guard (a clone or fork that watches a pipe for our death, then killpg), the
// registry of running delegate groups, the forked call that runs in-process delegates, and signal
// names.
#include "cni/process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <system_error>

#include "cni/scope_guard.h"

namespace cni {
namespace {

// ---- Process-wide registry of running delegate groups, for kill_running_delegates(). ----

constexpr size_t kGroupSlots = 64;
std::atomic<pid_t> g_running_groups[kGroupSlots];
std::atomic<unsigned> g_kill_generation{0};
static_assert(std::atomic<pid_t>::is_always_lock_free, "needed in a signal handler");
static_assert(std::atomic<unsigned>::is_always_lock_free, "needed in a signal handler");

// ---- Guards killed but not yet reaped (ProcessGroupGuard's destructor). ----
//
// A killed guard takes a wake-up and a context switch to die; waiting for that in the
// destructor put both on the critical path of every delegate (about 0.1 ms per call on
// this VM; docs/performance.md). Instead the killed guard stays a zombie, which keeps its
// pid and so its group id from being reused, until reap_killed_guards() reaps it: when
// the list is full, in the forked child before it leaves, and at exit (an atexit handler),
// by when it has long died. Nothing is left for the runtime or a subreaper to reap.

struct KilledGuard {
  pid_t pid;
  void* stack;  // the clone guard's stack, or nullptr for a fork
};
constexpr size_t kKilledGuardSlots = 16;
std::mutex g_killed_mutex;
KilledGuard g_killed[kKilledGuardSlots];
size_t g_killed_count = 0;

void unmap_guard_stack(void* stack);

// Waits until the killed guard is gone, then frees its stack. ECHILD (it is not our child:
// we are a fork that inherited the list) ends the wait too.
void reap(const KilledGuard& g) {
  while (::waitpid(g.pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  unmap_guard_stack(g.stack);
}

void reap_killed_guards_locked() {
  for (size_t i = 0; i < g_killed_count; ++i) reap(g_killed[i]);
  g_killed_count = 0;
}

void reap_later(pid_t pid, void* stack) {
  std::lock_guard lock(g_killed_mutex);
  static const bool at_exit = std::atexit(reap_killed_guards) == 0;
  if (!at_exit) {  // nothing would reap it at exit: reap it now, as before
    reap({pid, stack});
    return;
  }
  if (g_killed_count == kKilledGuardSlots) reap_killed_guards_locked();
  g_killed[g_killed_count++] = {pid, stack};
}

// Closes every descriptor from `from` up. close_range() needs Linux 5.9.
void close_from(int from) {
  if (::close_range(static_cast<unsigned>(from), ~0U, 0) == 0) return;
  struct rlimit lim {};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  const int max = static_cast<int>(std::min<rlim_t>(lim.rlim_cur, 65536));
  for (int fd = from; fd < max; ++fd) ::close(fd);
}

// The guard's whole life when it is a fork of a possibly multi-threaded process: it makes
// async-signal-safe calls only.
[[noreturn]] void guard_main(int watch_fd) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_NAME, "cnimux-guard", 0, 0, 0);  // how operators see it in ps
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  // Keep only the read end, as fd 0: holding our stdout would keep the runtime waiting for
  // our result, and holding another delegate's pipes or the write end would hide an EOF.
  if (::dup2(watch_fd, 0) < 0) ::kill(0, SIGKILL);
  close_from(1);
  char c;
  for (;;) {
    const ssize_t n = ::read(0, &c, 1);
    if (n == 0 || (n < 0 && errno != EINTR)) break;  // EOF: every writer, i.e. we, died
  }
  ::kill(0, SIGKILL);  // the whole group, this guard included
  ::_exit(0);
}

// ---- The guard as a clone(CLONE_VM) child: no copy of our page tables. ----
//
// A fork copies this process's page tables and makes every page we touch afterwards a
// copy-on-write fault; for a guard that only waits, that was 58 page faults and 0.2 to
// 0.6 ms of CPU per delegate (docs/performance.md). A CLONE_VM child shares our memory instead, so
// it must not touch any of it: it runs on a stack of its own, with every signal blocked from its
// first instruction (it inherits the mask), and makes raw system calls only, since glibc's wrappers
// write errno, which lives in the calling thread's TLS, i.e. in our memory. Where raw calls are not
// written for the architecture, under valgrind, or when clone() fails, the guard is a fork as
// before.
#if defined(__x86_64__) || defined(__aarch64__)

// A system call with up to three arguments; returns the kernel's value (-errno on failure).
[[gnu::always_inline]] inline long raw_syscall(long nr, long a = 0, long b = 0, long c = 0) {
#if defined(__x86_64__)
  long ret;
  asm volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return ret;
#else
  register long x8 asm("x8") = nr;
  register long x0 asm("x0") = a;
  register long x1 asm("x1") = b;
  register long x2 asm("x2") = c;
  asm volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
  return x0;
#endif
}

constexpr size_t kCloneGuardStack = 64 * 1024;
constexpr char kGuardName[] = "cnimux-guard";

// What the clone child needs, placed at the top of its own stack before it starts.
struct CloneGuardArgs {
  int watch_fd;
};

// The guard's whole life as a CLONE_VM child. Not instrumented: a sanitizer's bookkeeping
// would write our memory from another process.
[[gnu::no_sanitize_address, gnu::no_sanitize_undefined, gnu::no_stack_protector]] int
clone_guard_main(void* arg) {
  const int watch_fd = static_cast<const CloneGuardArgs*>(arg)->watch_fd;
  // Lead a group of our own before anything else: killing group 0 below must never reach
  // the group we were started in (the runtime's).
  if (raw_syscall(SYS_setpgid, 0, 0) != 0) raw_syscall(SYS_exit_group, 1);
  raw_syscall(SYS_prctl, PR_SET_NAME, reinterpret_cast<long>(kGuardName), 0);
  // Keep only the read end (see guard_main); close_range() is known to work (probed first).
  if (watch_fd > 0) raw_syscall(SYS_close_range, 0, watch_fd - 1, 0);
  raw_syscall(SYS_close_range, watch_fd + 1, ~0U, 0);
  char c;
  for (;;) {
    const long n = raw_syscall(SYS_read, watch_fd, reinterpret_cast<long>(&c), 1);
    if (n == 0 || (n < 0 && n != -EINTR)) break;  // EOF: every writer, i.e. we, died
  }
  raw_syscall(SYS_kill, 0, SIGKILL);  // the whole group, this guard included
  raw_syscall(SYS_exit_group, 0);
  return 0;
}

// The clone guard can run here: close_range() exists (Linux 5.9; the guard cannot fall back
// to a close() loop), and we are not under valgrind, which ends the whole process at a
// CLONE_VM clone without CLONE_THREAD rather than failing it. Valgrind always preloads its
// vgpreload_core library, which is how it is recognised.
bool clone_guard_possible() {
  static const bool possible = [] {
    const char* preload = ::getenv("LD_PRELOAD");
    if (preload && ::strstr(preload, "/vgpreload_")) return false;
    return ::close_range(~0U, ~0U, 0) == 0;
  }();
  return possible;
}

// Starts the guard as a CLONE_VM child on `stack`; -1 with errno when clone() refuses.
pid_t clone_guard(int watch_fd, void* stack, size_t size) {
  // The arguments sit at the top of the stack, which grows down from below them, aligned.
  char* top = static_cast<char*>(stack) + size - 64;
  auto* args = reinterpret_cast<CloneGuardArgs*>(top);
  args->watch_fd = watch_fd;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // the child starts with every signal blocked
  const pid_t pid = ::clone(clone_guard_main, top, CLONE_VM | SIGCHLD, args);
  const int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = clone_errno;
  return pid;
}
#else
constexpr size_t kCloneGuardStack = 0;
pid_t clone_guard(int, void*, size_t) {
  errno = ENOSYS;
  return -1;
}
bool clone_guard_possible() {
  return false;
}
#endif

void unmap_guard_stack(void* stack) {
  if (stack) ::munmap(stack, kCloneGuardStack);
}

// Writes all of `data`; false on any failure. Async-signal-safe.
bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// The forked child's whole life: its own group, death with the calling thread, the work, the
// payload on `fd`, then _exit (no atexit handlers, no static destructors of the parent's).
[[noreturn]] void fork_child_main(pid_t parent, int fd, const std::function<std::string()>& work) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
  ::prctl(PR_SET_NAME, "cnimux-inproc", 0, 0, 0);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  // The parent's handlers would act on the parent's registry copy: the child just dies.
  sigaction(SIGTERM, &dfl, nullptr);
  sigaction(SIGINT, &dfl, nullptr);
  int status = 0;
  try {
    const std::string payload = work();
    if (!write_all(fd, payload.data(), payload.size())) status = 1;
  } catch (...) {
    status = 70;  // work() must not throw; the parent reports an unfinished call
  }
  if (auto logger = spdlog::default_logger_raw()) logger->flush();
  reap_killed_guards();  // _exit skips the atexit handler; leave no zombie to a subreaper
  ::_exit(status);
}

// Reads `fd` until EOF or `deadline`, keeping at most `cap` bytes. False when the deadline
// passed first.
bool read_until_eof(int fd, std::chrono::steady_clock::time_point deadline, size_t cap,
                    std::string& out, bool& truncated) {
  char buf[16384];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count() + 1, 1 << 30)));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) continue;  // re-check the deadline
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;  // EOF (or an error, which ends the stream the same way)
    const size_t room = cap - std::min(cap, out.size());
    out.append(buf, std::min(static_cast<size_t>(n), room));
    if (static_cast<size_t>(n) > room) truncated = true;
  }
}

}  // namespace

void kill_running_delegates() noexcept {
  g_kill_generation.fetch_add(1);
  for (auto& slot : g_running_groups) {
    const pid_t pgid = slot.load();
    if (pgid > 0) ::killpg(pgid, SIGKILL);
  }
}

RunningGroup::RunningGroup() : generation_(g_kill_generation.load()) {}

void RunningGroup::set(pid_t pgid) {
  for (size_t i = 0; i < kGroupSlots; ++i) {
    pid_t expected = 0;
    if (g_running_groups[i].compare_exchange_strong(expected, pgid)) {
      slot_ = static_cast<int>(i);
      break;
    }
  }
  if (slot_ < 0)
    spdlog::warn("more than {} delegates running; pgid {} not registered", kGroupSlots, pgid);
  if (stop_requested()) ::killpg(pgid, SIGKILL);
}

void RunningGroup::clear() {
  if (slot_ >= 0) g_running_groups[slot_].store(0);
  slot_ = -1;
}

bool RunningGroup::stop_requested() const {
  return g_kill_generation.load() != generation_;
}

ForkOutcome run_in_fork(const std::function<std::string()>& work, std::chrono::milliseconds timeout,
                        size_t max_payload) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (auto logger = spdlog::default_logger_raw()) logger->flush();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::system_category(), "pipe2");
  RunningGroup group;
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    fork_child_main(parent, fds[1], work);
  }
  const int fork_errno = errno;
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    throw std::system_error(fork_errno, std::system_category(), "fork");
  }
  ::setpgid(pid, pid);  // also here: no window where the group is unset
  group.set(pid);
  // Whatever happens below, the child is killed and reaped before this returns.
  int status = 0;
  ScopeGuard reap([&] {
    ::killpg(pid, SIGKILL);
    group.clear();
    ::close(fds[0]);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  });
  ForkOutcome outcome;
  bool truncated = false;
  if (!read_until_eof(fds[0], deadline, max_payload, outcome.payload, truncated)) {
    outcome.timed_out = true;
    ::killpg(pid, SIGKILL);
  }
  group.clear();
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  reap.commit();
  ::close(fds[0]);
  outcome.term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  outcome.finished =
      WIFEXITED(status) && WEXITSTATUS(status) == 0 && !truncated && !outcome.timed_out;
  outcome.stopped = group.stop_requested() && outcome.term_signal == SIGKILL;
  return outcome;
}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

ProcessGroupGuard::ProcessGroupGuard(Start how) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::system_category(), "pipe2");
  }
  pid_ = start(fds[0], how);
  const int start_errno = errno;
  ::close(fds[0]);
  if (pid_ < 0) {
    ::close(fds[1]);
    release_stack();
    throw std::system_error(start_errno, std::system_category(), "fork");
  }
  death_pipe_ = fds[1];
  // Also here, so the group exists before any child tries to join it.
  ::setpgid(pid_, pid_);
}

pid_t ProcessGroupGuard::start(int watch_fd, Start how) {
  if (how == Start::kCloneWherePossible && clone_guard_possible()) {
    void* stack = ::mmap(nullptr, kCloneGuardStack, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack != MAP_FAILED) {
      const pid_t pid = clone_guard(watch_fd, stack, kCloneGuardStack);
      if (pid > 0) {
        stack_ = stack;
        return pid;
      }
      ::munmap(stack, kCloneGuardStack);
    }
  }
  const pid_t pid = ::fork();
  if (pid == 0) guard_main(watch_fd);
  return pid;
}

void ProcessGroupGuard::release_stack() noexcept {
  unmap_guard_stack(stack_);
  stack_ = nullptr;
}

void reap_killed_guards() noexcept {
  std::lock_guard lock(g_killed_mutex);
  reap_killed_guards_locked();
}

ProcessGroupGuard::~ProcessGroupGuard() {
  kill();
  ::close(death_pipe_);
  reap_later(pid_, stack_);  // keeps the stack until the guard that runs on it is gone
  stack_ = nullptr;
}

void ProcessGroupGuard::kill() const noexcept {
  ::killpg(pid_, SIGKILL);
}

}  // namespace cni
