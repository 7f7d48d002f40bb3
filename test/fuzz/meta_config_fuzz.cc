// Fuzzes the meta config parser (plugin/meta_config.h) on the stdin NetConf.
#include <exception>

#include "plugin/meta_config.h"
#include "test/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::quiet();
  std::optional<nlohmann::json> conf = fuzz::json(data, size);
  if (!conf) return 0;
  try {
    plugin::MetaConfig meta = plugin::parse_meta_config(*conf);
    (void)plugin::delegate_path(meta, {"/opt/cni/bin", "/usr/lib/cni"});
  } catch (const std::exception&) {
  }
  return 0;
}
