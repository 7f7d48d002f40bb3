// A bounded background load for the benchmark: one CPU spinner per CPU and one writer that
// fsyncs in a loop, as on a node that is busy when pods start. Started and stopped by its
// owner; every process of it dies with the benchmark and after a deadline at the latest.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace bench {

class BackgroundLoad {
 public:
  // Starts `cpus` spinners and one fsync writer (4 KiB write + fdatasync, in `dir`). No
  // process outlives `max_seconds` (alarm) or the caller (PR_SET_PDEATHSIG).
  BackgroundLoad(unsigned cpus, const std::string& dir, unsigned max_seconds);
  ~BackgroundLoad();  // SIGKILLs and reaps every process; removes the writer's file
  BackgroundLoad(const BackgroundLoad&) = delete;
  BackgroundLoad& operator=(const BackgroundLoad&) = delete;

  std::string describe() const;

 private:
  void spawn(bool writer, unsigned max_seconds);
  void stop() noexcept;

  std::vector<pid_t> pids_;
  std::string file_;
  unsigned cpus_;
};

}  // namespace bench
