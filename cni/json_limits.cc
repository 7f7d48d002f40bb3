// Bounded JSON parsing: a size check before, and a parser callback that aborts at the first
// container opened past the depth limit.
#include "cni/json_limits.h"

#include "cni/error.h"

namespace cni {
namespace {

using Json = nlohmann::json;

struct TooDeep {};  // thrown out of the parser callback; never leaves this file

}  // namespace

JsonParse try_parse_json(std::string_view text, const JsonLimits& limits) {
  JsonParse out;
  if (text.size() > limits.max_bytes) {
    out.refusal = JsonRefusal::kTooLarge;
    out.why = std::to_string(text.size()) + " bytes of JSON, more than the limit of " +
              std::to_string(limits.max_bytes);
    return out;
  }
  // `depth` counts the containers already open around the event; the parser builds the
  // tree with an explicit stack, so stopping here bounds everything built from it.
  const int max_depth = limits.max_depth;
  Json::parser_callback_t stop_when_too_deep = [max_depth](int depth, Json::parse_event_t event,
                                                           Json&) {
    bool opens =
        event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start;
    if (opens && depth >= max_depth) throw TooDeep{};
    return true;
  };
  try {
    out.value = Json::parse(text.begin(), text.end(), stop_when_too_deep);
  } catch (const TooDeep&) {
    out.refusal = JsonRefusal::kTooDeep;
    out.why = "JSON nested deeper than " + std::to_string(max_depth) + " levels";
  } catch (const Json::parse_error& e) {
    out.refusal = JsonRefusal::kSyntax;
    out.why = "invalid JSON at byte " + std::to_string(e.byte) + ": " + e.what();
  } catch (const Json::exception& e) {
    // A number too large for a double (1e999) is out_of_range, not a parse_error: still
    // input we refuse, never an abort (found by the cni_result and nad_config fuzzers).
    out.refusal = JsonRefusal::kSyntax;
    out.why = std::string("invalid JSON: ") + e.what();
  }
  return out;
}

Json parse_json(std::string_view text, std::string_view source, int code,
                const JsonLimits& limits) {
  JsonParse parsed = try_parse_json(text, limits);
  if (!parsed.value) throw Error(code, std::string(source) + ": " + parsed.why);
  return std::move(*parsed.value);
}

}  // namespace cni
