// Fuzzes the CNI_ARGS parser (cni/env.h): what parses must encode and parse back to the same
// pairs.
#include <cstdlib>
#include <exception>

#include "cni/env.h"
#include "test/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::quiet();
  cni::CniArgs args;
  try {
    args = cni::CniArgs::parse(fuzz::text(data, size));
  } catch (const std::exception&) {
    return 0;
  }
  (void)args.get("K8S_POD_NAME");
  (void)args.ignore_unknown();
  try {
    args.check_known({"K8S_POD_NAMESPACE", "K8S_POD_NAME", "IgnoreUnknown"});
  } catch (const std::exception&) {
  }
  std::string encoded = args.encode();
  try {
    if (cni::CniArgs::parse(encoded).pairs() != args.pairs()) {
      fprintf(stderr, "CNI_ARGS do not survive encode: \"%s\"\n", encoded.c_str());
      abort();
    }
  } catch (const std::exception& e) {
    fprintf(stderr, "encoded CNI_ARGS do not parse: \"%s\": %s\n", encoded.c_str(), e.what());
    abort();
  }
  return 0;
}
