// Fuzzes the CNI result parser and the version converters (cni/result.h): a result read as
// each version is written back in every version, and what is written must read back.
#include <cstdlib>
#include <exception>

#include "cni/result.h"
#include "test/fuzz/fuzz_util.h"

namespace {
const char* const kVersions[] = {"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::quiet();
  if (size < 1) return 0;
  // The first byte picks the version a result without cniVersion is assumed to have.
  std::string assumed = kVersions[data[0] % std::size(kVersions)];
  std::optional<nlohmann::json> j = fuzz::json(data + 1, size - 1);
  if (!j) return 0;
  cni::Result r;
  try {
    r = cni::Result::from_json(*j, assumed);
  } catch (const std::exception&) {
    return 0;
  }
  for (const char* v : kVersions) {
    nlohmann::json out;
    try {
      out = r.to_json(v);
    } catch (const std::exception&) {
      continue;  // e.g. 0.2.0 asked of an address-less result
    }
    // What cnimux writes, cnimux (and the runtime) must be able to read.
    try {
      (void)cni::Result::from_json(out, v);
    } catch (const std::exception& e) {
      fprintf(stderr, "result written as %s does not read back: %s\n%s\n", v, e.what(),
              out.dump().c_str());
      abort();
    }
  }
  return 0;
}
