// Runs one plugin invocation the way a container runtime does (environment + stdin config)
// and measures it: wall time from fork to reaping, and optionally the process's own peak RSS.
#pragma once

#include <string>
#include <vector>

namespace bench {

struct Invocation {
  std::string binary;
  std::vector<std::string> env;  // "KEY=value", the whole environment of the process
  std::string stdin_bytes;
  // > 0: the process (and so every plugin it starts) runs at SCHED_FIFO with this priority,
  // set in the child before exec; 0: the caller's scheduling, as a runtime runs plugins.
  int rt_priority = 0;
};

struct Measurement {
  double wall_ms = 0;   // fork() to the child being reaped
  double start_ms = 0;  // CLOCK_MONOTONIC at the fork, in ms (cnimux's phase trace's clock)
  // User + system CPU of the process and every descendant it reaped (wait4's rusage), plus
  // the caller's own CPU for forking and reaping it: unlike wall time, it hardly grows when
  // other work competes for the CPUs.
  double cpu_ms = 0;
  int exit_code = -1;  // -1 when a signal ended it
  std::string out;
  std::string err;
  // wait4()'s ru_maxrss: the maximum of the process and every child it reaped, so for a meta
  // plugin it is the biggest of cnimux and its delegates.
  long reaped_maxrss_kb = 0;
  // The process's own VmHWM read at its exit; -1 unless traced.
  long own_peak_rss_kb = -1;
};

// Runs `inv` to completion; throws std::runtime_error when it cannot be started. With
// `trace_own_rss` the process (not its children) is ptraced so that its VmHWM can be read at
// PTRACE_EVENT_EXIT, before its memory is torn down; the wall time of a traced run includes
// the tracing and is not meant to be compared.
Measurement run_timed(const Invocation& inv, bool trace_own_rss = false);

// Median and nearest-rank 90th percentile of `samples` (milliseconds); 0 when empty.
double median(std::vector<double> samples);
double p90(std::vector<double> samples);

}  // namespace bench
