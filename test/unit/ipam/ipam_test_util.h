// Helpers shared by the IPAM tests: a unique temporary directory removed on scope exit, and
// config builders.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "test/fakes/temp_dir.h"

namespace ipam_test {

// A unique temporary directory, removed (recursively) by the destructor even when a test
// fails: the one in test/fakes.
using TempDir = cnimux_test::TempDir;

// A network config whose ipam uses `ranges` and a store at `db`.
inline nlohmann::json netconf(const std::string& name, const nlohmann::json& ranges,
                              const std::string& db) {
  return {{"cniVersion", "1.0.0"},
          {"name", name},
          {"type", "cnimux-ipam"},
          {"ipam", {{"type", "cnimux-ipam"}, {"ranges", ranges}, {"store", {{"path", db}}}}}};
}

}  // namespace ipam_test
