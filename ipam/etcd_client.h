// ipam::EtcdClient: etcd's v3 JSON gateway (/v3/kv/range, /v3/kv/txn, ...) over one libcurl
// handle (keep-alive), with endpoint failover, TLS, authentication and a caller's deadline.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "ipam/config.h"

namespace ipam {

using EtcdDeadline = std::chrono::steady_clock::time_point;

// etcd answered that the revision a transaction read at was compacted away: the caller
// retries the transaction at a newer revision, as after a conflict.
struct EtcdCompacted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class EtcdClient {
 public:
  // Loads libcurl (cni::curl_api) and sets TLS up; connects lazily.
  explicit EtcdClient(const EtcdStoreConfig& cfg);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // POSTs `body` to `path` (e.g. "/v3/kv/txn") and returns etcd's answer. An endpoint that
  // cannot be reached, or answers that it has no leader, is skipped for the next one; the
  // round is repeated until `deadline`, then Error(kTryAgainLater) names every endpoint and
  // its last failure. An error answer from etcd itself is Error(kIoFailure) with etcd's
  // message; a compacted revision is EtcdCompacted. A request is only ever resent when
  // resending it is harmless: every transaction cnimux sends is guarded by compares on each
  // key it writes, so a resent transaction that had committed fails its compares.
  nlohmann::json call(const std::string& path, const nlohmann::json& body, EtcdDeadline deadline);

  // "http://a:2379,http://b:2379", for messages (no credentials).
  std::string endpoints() const;

 private:
  struct Curl;
  struct Answer;
  Answer post(const std::string& url, const std::string& body, EtcdDeadline deadline,
              bool with_token);
  void authenticate(size_t endpoint, EtcdDeadline deadline);

  EtcdStoreConfig cfg_;
  std::unique_ptr<Curl> curl_;
  size_t current_ = 0;  // the endpoint that answered last: tried first
  std::string token_;   // from /v3/auth/authenticate when a username is configured
};

// base64 (standard alphabet, padded), as the gateway carries keys and values.
std::string base64_encode(const std::string& in);
std::string base64_decode(const std::string& in);

}  // namespace ipam
