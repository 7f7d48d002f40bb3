// fork/exec/wait4 with pipes, a monotonic clock around the whole run, and an optional ptrace
// of the child alone to read its own VmHWM at exit (wait4 would report its delegates' too).
#include "test/bench/meta/timed_run.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace bench {
namespace {

double cpu_ms_of(const rusage& ru) {
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

// This process's own CPU so far: forking the child and reaping it are charged here, not to
// the child, and reaping a plugin costs the same whoever is its parent.
double self_cpu_ms() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return cpu_ms_of(ru);
}

double now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe2: " + std::string(strerror(errno)));
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    close_r();
    close_w();
  }
  void close_r() {
    if (r >= 0) ::close(r);
    r = -1;
  }
  void close_w() {
    if (w >= 0) ::close(w);
    w = -1;
  }
};

// The child side: wire the pipes, optionally ask to be traced, exec. Never returns.
[[noreturn]] void exec_child(const Invocation& inv, char** envp, Pipe& in, Pipe& out, Pipe& err,
                             bool traced) {
  ::dup2(in.r, 0);
  ::dup2(out.w, 1);
  ::dup2(err.w, 2);
  if (inv.rt_priority > 0) {
    sched_param p{};
    p.sched_priority = inv.rt_priority;
    if (::sched_setscheduler(0, SCHED_FIFO, &p) != 0) ::_exit(126);
  }
  if (traced) ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
  char* argv[] = {const_cast<char*>(inv.binary.c_str()), nullptr};
  ::execve(inv.binary.c_str(), argv, envp);
  ::_exit(127);
}

long vm_hwm_kb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// Reads whatever is ready on the open descriptors; a descriptor at EOF is set to -1.
void drain(pollfd* fds, std::string* sinks, int timeout_ms) {
  if (::poll(fds, 2, timeout_ms) <= 0) return;
  char buf[65536];
  for (int i = 0; i < 2; ++i) {
    if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
    if (n > 0) {
      sinks[i].append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      fds[i].fd = -1;
    }
  }
}

// Handles one ptrace stop: sets options at the post-exec trap, reads VmHWM at the exit
// event, passes other signals through.
void on_stop(pid_t pid, int status, bool& first, long& hwm) {
  const int sig = WSTOPSIG(status);
  int deliver = 0;
  if (first && sig == SIGTRAP) {
    first = false;
    ::ptrace(PTRACE_SETOPTIONS, pid, nullptr, PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL);
  } else if ((status >> 8) == (SIGTRAP | (PTRACE_EVENT_EXIT << 8))) {
    hwm = vm_hwm_kb(pid);
  } else {
    deliver = sig;
  }
  ::ptrace(PTRACE_CONT, pid, nullptr, reinterpret_cast<void*>(static_cast<long>(deliver)));
}

}  // namespace

Measurement run_timed(const Invocation& inv, bool trace_own_rss) {
  std::vector<std::string> env = inv.env;
  std::vector<char*> envp;
  for (auto& v : env) envp.push_back(v.data());
  envp.push_back(nullptr);
  Pipe in, out, err;
  Measurement m;
  const double self_start = self_cpu_ms();
  const double start = now_ms();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork: " + std::string(strerror(errno)));
  if (pid == 0) exec_child(inv, envp.data(), in, out, err, trace_own_rss);
  in.close_r();
  out.close_w();
  err.close_w();
  // Configs are far below the pipe buffer: written whole before any output is read.
  if (::write(in.w, inv.stdin_bytes.data(), inv.stdin_bytes.size()) < 0) { /* EPIPE: it exited */
  }
  in.close_w();

  pollfd fds[2] = {{out.r, POLLIN, 0}, {err.r, POLLIN, 0}};
  std::string sinks[2];
  int status = 0;
  rusage ru{};
  if (trace_own_rss) {
    // A stopped tracee holds its pipes open: poll briefly and service stops in between.
    bool first = true;
    for (;;) {
      drain(fds, sinks, 2);
      pid_t r = ::wait4(pid, &status, WNOHANG, &ru);
      if (r == pid && WIFSTOPPED(status)) {
        on_stop(pid, status, first, m.own_peak_rss_kb);
      } else if (r == pid) {
        break;
      }
    }
    while (fds[0].fd >= 0 || fds[1].fd >= 0) drain(fds, sinks, -1);
  } else {
    while (fds[0].fd >= 0 || fds[1].fd >= 0) drain(fds, sinks, -1);
    while (::wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
    }
  }
  m.start_ms = start;
  m.wall_ms = now_ms() - start;
  m.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  m.out = std::move(sinks[0]);
  m.err = std::move(sinks[1]);
  m.reaped_maxrss_kb = ru.ru_maxrss;
  m.cpu_ms = cpu_ms_of(ru) + (self_cpu_ms() - self_start);
  return m;
}

double median(std::vector<double> samples) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  return n % 2 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
}

double p90(std::vector<double> samples) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const size_t rank = static_cast<size_t>(std::ceil(0.9 * static_cast<double>(samples.size())));
  return samples[std::max<size_t>(rank, 1) - 1];
}

}  // namespace bench
