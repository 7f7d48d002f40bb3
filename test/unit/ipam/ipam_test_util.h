// Helpers shared by the IPAM tests: a unique temporary directory removed on scope exit, and
// config builders.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace ipam_test {

// /tmp/cxipam<pid>-<n>/, removed (recursively) by the destructor even when a test fails.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = "/tmp/cxipam" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A network config whose ipam uses `ranges` and a store at `db`.
inline nlohmann::json netconf(const std::string& name, const nlohmann::json& ranges,
                              const std::string& db) {
  return {{"cniVersion", "1.0.0"},
          {"name", name},
          {"type", "cnimux-ipam"},
          {"ipam", {{"type", "cnimux-ipam"}, {"ranges", ranges}, {"store", {{"path", db}}}}}};
}

}  // namespace ipam_test
