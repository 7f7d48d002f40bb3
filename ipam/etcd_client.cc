// EtcdClient: JSON requests to etcd's v3 gateway through the dlopen()ed libcurl.
#include "ipam/etcd_client.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "cni/curl_api.h"
#include "cni/error.h"

namespace ipam {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t append_body(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

long remaining_ms(EtcdDeadline deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return std::max<long>(0, static_cast<long>(left));
}

// gRPC status codes etcd's gateway reports for a member that cannot serve right now (no
// leader, leader changed, request timed out): another member, or a later try, may.
bool transient(int grpc_code, const std::string& message) {
  return grpc_code == 14 /* Unavailable */ || grpc_code == 4 /* DeadlineExceeded */ ||
         message.find("leader") != std::string::npos ||
         message.find("timed out") != std::string::npos;
}

}  // namespace

std::string base64_encode(const std::string& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64_decode(const std::string& in) {
  std::string out;
  uint32_t v = 0;
  int bits = 0;
  for (char c : in) {
    const char* p = c ? std::strchr(kAlphabet, c) : nullptr;
    if (!p) continue;  // '=' padding (and nothing else etcd sends)
    v = (v << 6) | static_cast<uint32_t>(p - kAlphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((v >> bits) & 0xff);
    }
  }
  return out;
}

struct EtcdClient::Curl {
  CURL* handle = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {};
  ~Curl() {
    if (handle) cni::curl_api().easy_cleanup(handle);
  }
};

struct EtcdClient::Answer {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::string curl_error;
};

EtcdClient::EtcdClient(const EtcdStoreConfig& cfg) : cfg_(cfg), curl_(std::make_unique<Curl>()) {
  if (cfg_.endpoints.empty()) {
    throw cni::Error(cni::kInvalidConfig,
                     "ipam.store.endpoints: missing: the etcd store needs one");
  }
  const cni::CurlApi& api = cni::curl_api();
  curl_->handle = api.easy_init();
  if (!curl_->handle) throw cni::Error(cni::kIoFailure, "libcurl: curl_easy_init failed");
  CURL* h = curl_->handle;
  api.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  api.easy_setopt(h, CURLOPT_ERRORBUFFER, curl_->errbuf);
  api.easy_setopt(h, CURLOPT_USERAGENT, "cnimux-ipam/0.1");
  api.easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
  api.easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  if (!cfg_.ca_file.empty()) api.easy_setopt(h, CURLOPT_CAINFO, cfg_.ca_file.c_str());
  if (!cfg_.cert_file.empty()) api.easy_setopt(h, CURLOPT_SSLCERT, cfg_.cert_file.c_str());
  if (!cfg_.key_file.empty()) api.easy_setopt(h, CURLOPT_SSLKEY, cfg_.key_file.c_str());
}

EtcdClient::~EtcdClient() = default;

std::string EtcdClient::endpoints() const {
  std::string s;
  for (const auto& e : cfg_.endpoints) s += (s.empty() ? "" : ",") + e;
  return s;
}

EtcdClient::Answer EtcdClient::post(const std::string& url, const std::string& body,
                                    EtcdDeadline deadline, bool with_token) {
  const cni::CurlApi& api = cni::curl_api();
  CURL* h = curl_->handle;
  Answer a;
  curl_slist* headers = api.slist_append(nullptr, "Content-Type: application/json");
  if (with_token && !token_.empty()) {
    headers = api.slist_append(headers, ("Authorization: " + token_).c_str());
  }
  long left = std::max<long>(1, remaining_ms(deadline));
  curl_->errbuf[0] = 0;
  api.easy_setopt(h, CURLOPT_URL, url.c_str());
  api.easy_setopt(h, CURLOPT_WRITEDATA, &a.body);
  api.easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
  api.easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  api.easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  api.easy_setopt(h, CURLOPT_TIMEOUT_MS, left);
  // A member that does not even accept connections is skipped quickly for the next one.
  api.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, std::min<long>(left, 1000));
  a.code = api.easy_perform(h);
  api.easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  api.slist_free_all(headers);
  if (a.code == CURLE_OK) {
    api.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a.status);
  } else {
    a.curl_error = curl_->errbuf[0] ? curl_->errbuf : api.easy_strerror(a.code);
  }
  return a;
}

void EtcdClient::authenticate(size_t endpoint, EtcdDeadline deadline) {
  nlohmann::json req = {{"name", cfg_.username}, {"password", cfg_.password}};
  const std::string& ep = cfg_.endpoints[endpoint];
  Answer a = post(ep + "/v3/auth/authenticate", req.dump(), deadline, false);
  if (a.code != CURLE_OK) {
    throw cni::Error(cni::kTryAgainLater, "etcd " + ep + ": " + a.curl_error);
  }
  auto j = nlohmann::json::parse(a.body, nullptr, false);
  if (a.status != 200 || !j.is_object() || !j.contains("token")) {
    std::string why = j.is_object() && j.contains("message") ? j["message"].dump() : a.body;
    throw cni::Error(cni::kIoFailure, "etcd " + ep + ": authentication as user \"" + cfg_.username +
                                          "\" failed: " + why);
  }
  token_ = j["token"].get<std::string>();
}

nlohmann::json EtcdClient::call(const std::string& path, const nlohmann::json& body,
                                EtcdDeadline deadline) {
  const std::string payload = body.dump();
  const size_t n = cfg_.endpoints.size();
  std::vector<std::string> failures(n);
  bool reauthenticated = false;
  for (int round = 0;; ++round) {
    for (size_t k = 0; k < n; ++k) {
      size_t i = (current_ + k) % n;
      const std::string& ep = cfg_.endpoints[i];
      if (!cfg_.username.empty() && token_.empty()) {
        try {
          authenticate(i, deadline);
        } catch (const cni::Error& e) {
          if (e.code() != cni::kTryAgainLater) throw;
          failures[i] = e.msg();
          continue;
        }
      }
      Answer a = post(ep + path, payload, deadline, true);
      if (a.code != CURLE_OK) {
        failures[i] = a.curl_error;
        continue;
      }
      auto j = nlohmann::json::parse(a.body, nullptr, false);
      if (a.status == 200 && j.is_object()) {
        current_ = i;
        return j;
      }
      std::string message = j.is_object() && j.contains("message") && j["message"].is_string()
                                ? j["message"].get<std::string>()
                                : "HTTP " + std::to_string(a.status) + ": " + a.body;
      int code = j.is_object() && j.contains("code") && j["code"].is_number_integer()
                     ? j["code"].get<int>()
                     : 0;
      if (message.find("compacted") != std::string::npos) throw EtcdCompacted(message);
      if (!cfg_.username.empty() && code == 16 /* Unauthenticated */ && !reauthenticated) {
        token_.clear();  // expired: authenticate again, once
        reauthenticated = true;
        --k;
        continue;
      }
      if (transient(code, message)) {
        failures[i] = message;
        continue;
      }
      if (message.find("too many operations") != std::string::npos) {
        message += " (raise etcd's --max-txn-ops; see docs/ipam.md)";
      }
      throw cni::Error(cni::kIoFailure, "etcd " + ep + ": " + path + ": " + message);
    }
    if (Clock::now() >= deadline) break;
    // Every member failed this round: wait a little (the cluster may be electing a leader),
    // never past the deadline.
    std::this_thread::sleep_for(
        milliseconds(std::min<long>(remaining_ms(deadline), 20L * (1 + std::min(round, 10)))));
  }
  std::string why;
  for (size_t i = 0; i < n; ++i) {
    why += (why.empty() ? "" : "; ") + cfg_.endpoints[i] + ": " +
           (failures[i].empty() ? "not tried" : failures[i]);
  }
  throw cni::Error(cni::kTryAgainLater, "etcd unreachable within the store timeout of " +
                                            std::to_string(cfg_.timeout_ms) + " ms (" + why + ")");
}

}  // namespace ipam
