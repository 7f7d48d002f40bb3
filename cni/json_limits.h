// Parsing JSON from outside within a nesting-depth and a size limit. Every place that decodes
// text it did not write itself (stdin, NADs, API answers, annotations, files, delegate
// output) goes through here, so hostile input is refused with a CNI error at parse time
// instead of overflowing the stack later (nlohmann::json copies and dumps recursively).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "cni/limits.h"

namespace cni {

struct JsonLimits {
  size_t max_bytes = kMaxJsonBytes;
  int max_depth = kMaxJsonDepth;  // containers nested in each other; a scalar is depth 0
};

enum class JsonRefusal { kNone, kSyntax, kTooLarge, kTooDeep };

struct JsonParse {
  std::optional<nlohmann::json> value;  // set when the text parsed within the limits
  JsonRefusal refusal = JsonRefusal::kNone;
  // Why not, without the source: "JSON nested deeper than 128 levels",
  // "5000000 bytes of JSON, more than the limit of 4194304", "invalid JSON at byte 7: ...".
  std::string why;
};

// Never throws for bad input. The parser stops at the first container past max_depth, so it
// never builds (or recurses into) more than the limit; text past max_bytes is not parsed.
JsonParse try_parse_json(std::string_view text, const JsonLimits& limits = {});

// As try_parse_json, but a refusal throws Error(code, "<source>: <why>"); `source` names
// where the text came from ("stdin", "NAD default/foo spec.config", ...).
nlohmann::json parse_json(std::string_view text, std::string_view source, int code,
                          const JsonLimits& limits = {});

}  // namespace cni
