// Fuzzes the networks annotation parser (plugin/selection.h): comma form and JSON form, and the
// default-network annotation. Any exception is a rejected input; only sanitizer reports,
// crashes and hangs are findings.
#include <exception>

#include "plugin/selection.h"
#include "test/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::quiet();
  std::string value = fuzz::text(data, size);
  try {
    for (const plugin::NetworkSelection& s : plugin::parse_network_selection(value, "default")) {
      (void)s.key();
      (void)s.runtime_requests();
    }
  } catch (const std::exception&) {
  }
  try {
    (void)plugin::parse_default_network(value, "kube-system");
  } catch (const std::exception&) {
  }
  return 0;
}
