// Shared by the fuzz targets: quiet logging, and the input as JSON parsed the way cnimux parses
// text from outside (cni/json_limits.h: bounded depth and size), so a target sees only the
// documents production code can be handed; JSON refused there is not interesting here.
#pragma once
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cni/json_limits.h"

namespace fuzz {

// Logs would flood the fuzzer's output and slow it; the targets check behaviour, not logs.
inline void quiet() {
  spdlog::set_level(spdlog::level::off);
}

inline std::string text(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// nullopt when the bytes are not JSON within `limits`, so the target returns early.
inline std::optional<nlohmann::json> json(const uint8_t* data, size_t size,
                                          const cni::JsonLimits& limits = {}) {
  return cni::try_parse_json(std::string_view(reinterpret_cast<const char*>(data), size), limits)
      .value;
}

}  // namespace fuzz
