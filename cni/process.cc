// The process-group guard (fork, watch a pipe for our death, killpg) and signal names.
#include "cni/process.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace cni {
namespace {

// Closes every descriptor from `from` up. close_range() needs Linux 5.9.
void close_from(int from) {
  if (::close_range(static_cast<unsigned>(from), ~0U, 0) == 0) return;
  struct rlimit lim {};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  const int max = static_cast<int>(std::min<rlim_t>(lim.rlim_cur, 65536));
  for (int fd = from; fd < max; ++fd) ::close(fd);
}

// The guard's whole life. It runs in a fork of a possibly multi-threaded process, so it makes
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

}  // namespace

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

ProcessGroupGuard::ProcessGroupGuard() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::system_category(), "pipe2");
  }
  pid_ = ::fork();
  if (pid_ == 0) guard_main(fds[0]);
  const int fork_errno = errno;
  ::close(fds[0]);
  if (pid_ < 0) {
    ::close(fds[1]);
    throw std::system_error(fork_errno, std::system_category(), "fork");
  }
  death_pipe_ = fds[1];
  // Also here, so the group exists before any child tries to join it.
  ::setpgid(pid_, pid_);
}

ProcessGroupGuard::~ProcessGroupGuard() {
  kill();
  ::close(death_pipe_);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

void ProcessGroupGuard::kill() const noexcept {
  ::killpg(pid_, SIGKILL);
}

}  // namespace cni
