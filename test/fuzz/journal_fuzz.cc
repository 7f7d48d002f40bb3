// Fuzzes the journal reader (plugin/journal.h): a file's bytes are split into its current
// record (the log's framing, or a format-2 file), which must never crash; a record read from
// them must write back, frame, split and read back to the same JSON.
#include <cstdlib>
#include <exception>

#include "plugin/journal.h"
#include "test/fuzz/fuzz_util.h"

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail) {
  fprintf(stderr, "%s\n%s\n", what, detail.c_str());
  abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::quiet();
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  plugin::JournalFileView view;
  try {
    view = plugin::split_journal_file(bytes);
  } catch (const std::exception&) {
    return 0;  // rejected as damaged: what load() reports as corrupt
  }
  if (view.valid_end > size) fail("valid_end past the end of the file", std::to_string(size));
  // Journal::load's bounds: cnimux's own records nest a few levels deeper than its inputs.
  std::optional<nlohmann::json> j =
      fuzz::json(reinterpret_cast<const uint8_t*>(view.record.data()), view.record.size(),
                 {.max_bytes = plugin::kMaxJournalBytes, .max_depth = cni::kMaxJsonDepth + 8});
  if (!j) return 0;
  plugin::JournalRecord record;
  try {
    record = plugin::journal_from_json(*j);
  } catch (const std::exception&) {
    return 0;
  }
  nlohmann::json out = plugin::to_json(record);
  const std::string payload = out.dump();
  try {
    // Written as the writer writes it, after whatever whole frames the input held.
    const std::string log = std::string(bytes.substr(0, view.legacy ? 0 : view.valid_end)) +
                            plugin::encode_journal_frame(payload);
    const plugin::JournalFileView back = plugin::split_journal_file(log);
    if (back.record != payload) fail("the frame written is not the record read back", payload);
    (void)plugin::journal_from_json(nlohmann::json::parse(back.record));
  } catch (const std::exception& e) {
    fail("journal written does not read back", std::string(e.what()) + "\n" + payload);
  }
  return 0;
}
