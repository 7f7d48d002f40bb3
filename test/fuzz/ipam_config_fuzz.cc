// Fuzzes the IPAM config parser (ipam/config.h) on a network config object, and the CNI_ARGS
// "IP=" list parser on the raw bytes.
#include <exception>

#include "ipam/config.h"
#include "test/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::quiet();
  try {
    (void)ipam::parse_ip_list(fuzz::text(data, size));
  } catch (const std::exception&) {
  }
  std::optional<nlohmann::json> conf = fuzz::json(data, size);
  if (!conf) return 0;
  try {
    (void)ipam::parse_ipam_config(*conf);
  } catch (const std::exception&) {
  }
  try {
    (void)ipam::cnimux_ipam_store(*conf);
  } catch (const std::exception&) {
  }
  return 0;
}
