// Fuzzes the kubeconfig parser (plugin/kubeconfig.h) on YAML text. File references are
// resolved against a directory that does not exist, so nothing is read.
#include <exception>

#include "plugin/kubeconfig.h"
#include "test/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::quiet();
  try {
    (void)plugin::parse_kubeconfig(fuzz::text(data, size), "fuzz", "/nonexistent/cnimux-fuzz");
  } catch (const std::exception&) {
  }
  return 0;
}
