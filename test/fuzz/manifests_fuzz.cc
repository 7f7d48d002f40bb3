// Fuzzes the YAML manifest reader (plugin/manifests.h): YAML to JSON, as nadDir and podDir
// files are read.
#include <exception>

#include "plugin/manifests.h"
#include "test/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::quiet();
  try {
    (void)plugin::yaml_to_json(fuzz::text(data, size)).dump();
  } catch (const std::exception&) {
  }
  return 0;
}
