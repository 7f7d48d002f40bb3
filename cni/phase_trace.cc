// The phase trace: a fixed array filled by phase_mark(), written by an atexit handler.
#include "cni/phase_trace.h"

#include <time.h>

#include <cstdio>
#include <cstdlib>

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
  FILE* f = std::fopen(g_file, "a");
  if (!f) return;
  for (int i = 0; i < g_count; ++i) {
    const double ms = static_cast<double>(g_marks[i].at.tv_sec) * 1e3 +
                      static_cast<double>(g_marks[i].at.tv_nsec) / 1e6;
    std::fprintf(f, "%s %.6f\n", g_marks[i].name, ms);
  }
  std::fputs("--\n", f);
  std::fclose(f);
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
