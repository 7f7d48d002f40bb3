// Fuzzes the journal reader (plugin/journal.h): a record read from bytes must write back and
// read back.
#include <cstdlib>
#include <exception>

#include "plugin/journal.h"
#include "test/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::quiet();
  // Journal::load's bounds: cnimux's own records nest a few levels deeper than its inputs.
  std::optional<nlohmann::json> j = fuzz::json(
      data, size, {.max_bytes = plugin::kMaxJournalBytes, .max_depth = cni::kMaxJsonDepth + 8});
  if (!j) return 0;
  plugin::JournalRecord record;
  try {
    record = plugin::journal_from_json(*j);
  } catch (const std::exception&) {
    return 0;
  }
  nlohmann::json out = plugin::to_json(record);
  try {
    (void)plugin::journal_from_json(out);
  } catch (const std::exception& e) {
    fprintf(stderr, "journal written does not read back: %s\n%s\n", e.what(), out.dump().c_str());
    abort();
  }
  return 0;
}
