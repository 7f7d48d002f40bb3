// Parsing JSON from outside within a nesting-depth and a size limit. Every place that decodes
// text it did not write itself (stdin, NADs, API answers, annotations, files, delegate
// output) goes through here, so hostile input is refused with a CNI error at parse time
// instead of overflowing the stack later (nlohmann::json copies and dumps recursively).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

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

// `v` as a T when it is a JSON integer that T can hold; else throws std::out_of_range naming
// `what` and the value. For reading numbers from files and peers: nlohmann's get<T>() casts a
// float, and a float out of T's range is undefined behaviour.
template <class T>
T json_integer(const nlohmann::json& v, const std::string& what) {
  static_assert(std::is_integral_v<T>);
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (std::in_range<T>(u)) return static_cast<T>(u);
  } else if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (std::in_range<T>(i)) return static_cast<T>(i);
  }
  throw std::out_of_range(what + ": want an integer of at most " +
                          std::to_string(std::numeric_limits<T>::max()) + ", got " + v.dump());
}

// json_integer of `obj[key]`, or `fallback` when `obj` has no such key.
template <class T>
T json_integer_or(const nlohmann::json& obj, const char* key, T fallback) {
  const auto it = obj.find(key);
  return it == obj.end() ? fallback : json_integer<T>(*it, std::string("\"") + key + "\"");
}

}  // namespace cni
