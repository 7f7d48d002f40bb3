// What a plugin binary does first, before its static initialisers: it starts at every call,
// so its start is on the runtime's critical path (docs/performance.md).
#pragma once

namespace cni {

// Asks the kernel to map the executable's read-only segments (code, constants) page by
// page as they are touched (MADV_RANDOM) instead of 16 pages around every fault. A plugin
// call touches a small part of a multi-megabyte binary, and each page mapped around a fault
// is also unmapped at exit: on this VM that cost an ADD about 0.4 ms. Also turns off
// read-ahead for those segments, which matters only when the binary is not in the page
// cache (the first call after a boot). Errors are ignored: it is advice.
void map_executable_on_demand() noexcept;

}  // namespace cni
