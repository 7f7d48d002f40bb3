// The phase trace: a fixed array filled by phase_mark(), written by an atexit handler.
#include "cni/phase_trace.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>

#include "cni/state_file.h"

namespace cni {
namespace {

struct Mark {
  const char* name;
  timespec at;
};

constexpr int kMaxMarks = 64;
Mark g_marks[kMaxMarks];
int g_count = 0;
const char* g_file = nullptr;  // set when tracing is on

void write_marks() {
  phase_mark("exit");
  // As every file cnimux writes: 0600, and never through a symlink.
  const int fd = open_append_file(g_file);
  if (fd < 0) return;
  for (int i = 0; i < g_count; ++i) {
    const double ms = static_cast<double>(g_marks[i].at.tv_sec) * 1e3 +
                      static_cast<double>(g_marks[i].at.tv_nsec) / 1e6;
    ::dprintf(fd, "%s %.6f\n", g_marks[i].name, ms);
  }
  ::dprintf(fd, "--\n");
  ::close(fd);
}

}  // namespace

void phase_trace_start() noexcept {
  const char* file = std::getenv("CNIMUX_PHASE_TRACE");
  if (!file || !*file || std::atexit(write_marks) != 0) return;
  g_file = file;
  phase_mark("main");
}

void phase_mark(const char* name) noexcept {
  if (!g_file || g_count == kMaxMarks) return;
  clock_gettime(CLOCK_MONOTONIC, &g_marks[g_count].at);
  g_marks[g_count++].name = name;
}

}  // namespace cni
