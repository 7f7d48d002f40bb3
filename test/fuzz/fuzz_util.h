// Shared by the fuzz targets: quiet logging, and the input as JSON (invalid JSON is not
// interesting to targets that take a parsed document; the JSON parser is nlohmann's own).
#pragma once
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace fuzz {

// Logs would flood the fuzzer's output and slow it; the targets check behaviour, not logs.
inline void quiet() {
  spdlog::set_level(spdlog::level::off);
}

inline std::string text(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// nullopt when the bytes are not JSON, so the target returns early.
inline std::optional<nlohmann::json> json(const uint8_t* data, size_t size) {
  nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

}  // namespace fuzz
