// Spinner and fsync-writer processes for BackgroundLoad, each bounded by an alarm and tied
// to the benchmark's life.
#include "test/bench/meta/background_load.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace bench {
namespace {

[[noreturn]] void spin() {
  for (unsigned long n = 0;; ++n) asm volatile("" : : "r"(n));  // kept, never optimised away
}

[[noreturn]] void write_and_sync(const std::string& file) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) ::_exit(1);
  char block[4096];
  std::memset(block, 'x', sizeof block);
  for (unsigned i = 0;; ++i) {
    // Rewrite a 1 MiB window so the file stays small while every sync has work to do.
    if (::pwrite(fd, block, sizeof block, (i % 256) * sizeof block) < 0) ::_exit(1);
    ::fdatasync(fd);
  }
}

}  // namespace

BackgroundLoad::BackgroundLoad(unsigned cpus, const std::string& dir, unsigned max_seconds)
    : file_(dir + "/background-load.dat"), cpus_(cpus) {
  try {
    for (unsigned i = 0; i < cpus; ++i) spawn(false, max_seconds);
    spawn(true, max_seconds);
  } catch (...) {
    stop();
    throw;
  }
}

void BackgroundLoad::spawn(bool writer, unsigned max_seconds) {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(0);  // the benchmark died before the line above
    ::alarm(max_seconds);                   // SIGALRM's default action ends the process
    if (writer) write_and_sync(file_);
    spin();
  }
  pids_.push_back(pid);
}

BackgroundLoad::~BackgroundLoad() {
  stop();
}

void BackgroundLoad::stop() noexcept {
  for (pid_t p : pids_) ::kill(p, SIGKILL);
  for (pid_t p : pids_) ::waitpid(p, nullptr, 0);
  pids_.clear();
  ::unlink(file_.c_str());
}

std::string BackgroundLoad::describe() const {
  return std::to_string(cpus_) + " CPU spinners + 1 writer doing 4 KiB write + fdatasync in a loop";
}

}  // namespace bench
