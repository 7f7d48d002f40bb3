// cnimux: the meta-CNI plugin binary. All logic lives in plugin/; this only hands it to the
// skeleton, which owns stdout and the exit status.
#include "cni/phase_trace.h"
#include "cni/skeleton.h"
#include "cni/startup.h"
#include "plugin/meta_plugin.h"

// Before every other static initialiser (priority 101 runs first), so that their code too
// is mapped only as it is touched.
__attribute__((constructor(101))) static void map_on_demand() {
  cni::map_executable_on_demand();
}

int main() {
  cni::phase_trace_start();  // off unless CNIMUX_PHASE_TRACE is set (docs/performance.md)
  plugin::MetaPlugin meta;
  return cni::run_plugin_main(meta, "cnimux");
}
