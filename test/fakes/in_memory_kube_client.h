// An in-memory plugin::KubeClient for unit tests: pods and NADs in maps, counted calls,
// and injected failures. No network; the HTTP path is tested against the fake server.
#pragma once

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cni/error.h"
#include "plugin/kube_client.h"

namespace fakes {

class InMemoryKubeClient : public plugin::KubeClient {
 public:
  struct Counts {
    int pod_gets = 0;
    int nad_gets = 0;
    int patches = 0;
  };

  // Stores a Pod / NAD object under its metadata.namespace (default "default") and name.
  void add_pod(const nlohmann::json& pod) {
    std::lock_guard lock(mu_);
    pods_[key(pod)] = pod;
  }
  void add_nad(const nlohmann::json& nad) {
    std::lock_guard lock(mu_);
    nads_[key(nad)] = nad;
  }
  // The next `n` calls (any method) throw cni::Error(kKubeApiFailure, `why`).
  void fail_next(int n, std::string why = "injected kube API failure") {
    std::lock_guard lock(mu_);
    fail_next_ = n;
    fail_why_ = std::move(why);
  }

  std::optional<nlohmann::json> get_pod(const std::string& ns, const std::string& name) override {
    std::lock_guard lock(mu_);
    ++counts_.pod_gets;
    record("GET pod " + ns + "/" + name);
    return lookup(pods_, ns, name);
  }
  std::optional<nlohmann::json> get_nad(const std::string& ns, const std::string& name) override {
    std::lock_guard lock(mu_);
    ++counts_.nad_gets;
    record("GET nad " + ns + "/" + name);
    return lookup(nads_, ns, name);
  }
  // Like the real API: a missing pod is an error here (404 on PATCH).
  void patch_pod_annotation(const std::string& ns, const std::string& name, const std::string& k,
                            const std::string& value) override {
    std::lock_guard lock(mu_);
    ++counts_.patches;
    record("PATCH pod " + ns + "/" + name + " " + k);
    auto it = pods_.find({ns, name});
    if (it == pods_.end())
      throw cni::Error(cni::kKubeApiFailure, "PATCH pod " + ns + "/" + name + ": HTTP 404");
    it->second["metadata"]["annotations"][k] = value;
  }

  // The stored pod (with patched annotations), without counting a call.
  std::optional<nlohmann::json> pod(const std::string& ns, const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = pods_.find({ns, name});
    if (it == pods_.end()) return std::nullopt;
    return it->second;
  }
  Counts counts() const {
    std::lock_guard lock(mu_);
    return counts_;
  }
  // Every call in order: "GET pod ns/name", "GET nad ns/name", "PATCH pod ns/name key".
  std::vector<std::string> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  using Key = std::pair<std::string, std::string>;
  static Key key(const nlohmann::json& obj) {
    const auto& meta = obj.at("metadata");
    return {meta.value("namespace", "default"), meta.at("name").get<std::string>()};
  }
  void record(std::string call) {
    calls_.push_back(std::move(call));
    if (fail_next_ > 0) {
      --fail_next_;
      throw cni::Error(cni::kKubeApiFailure, calls_.back() + ": " + fail_why_);
    }
  }
  static std::optional<nlohmann::json> lookup(const std::map<Key, nlohmann::json>& table,
                                              const std::string& ns, const std::string& name) {
    auto it = table.find({ns, name});
    if (it == table.end()) return std::nullopt;
    return it->second;
  }

  mutable std::mutex mu_;
  std::map<Key, nlohmann::json> pods_;
  std::map<Key, nlohmann::json> nads_;
  Counts counts_;
  std::vector<std::string> calls_;
  int fail_next_ = 0;
  std::string fail_why_;
};

}  // namespace fakes
