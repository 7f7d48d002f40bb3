// Timestamps of the stages of one call, for the breakdown of where an ADD's or a DEL's time
// goes (docs/performance.md, "An ADD's timeline"; scripts/bench_phases.sh). Off unless the
// environment variable CNIMUX_PHASE_TRACE names a file; then each mark costs one
// clock_gettime(CLOCK_MONOTONIC), and at exit the marks are appended to that file, one
// "<name> <milliseconds>" line each, then a line "--". Nothing is ever written to stdout.
#pragma once

namespace cni {

// Reads CNIMUX_PHASE_TRACE; call once, first thing in main. The first mark is "main".
void phase_trace_start() noexcept;

// Records `name` (a string literal: only the pointer is kept) and the time now. At most 64
// marks are kept; later ones are dropped. Single-threaded use only, like the plugin.
void phase_mark(const char* name) noexcept;

}  // namespace cni
